"""Milliseconds per face: our onnxruntime port of dlib's ResNet against dlib itself.

    python bench/dlib_port_bench.py [--runs 20] [--threads 2] [--faces ../shared/faces]

Cuts three chips with dlib (detector, 5-point shape predictor, ``get_face_chip``), then times, in
one process and alternating run by run, ``DlibEmbedder.embed_batch`` and dlib's
``compute_face_descriptor`` on the chips, at batch 1 and batch 3. Prints JSON: medians over the
runs, in milliseconds per face.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dlib  # type: ignore[import-untyped]  # noqa: E402

from face_engine.vision.dlib_embedding import DlibEmbedder  # noqa: E402
from face_engine.vision.weights import dlib_model_paths  # noqa: E402

PHOTOS = ("people/barack_obama/1.jpg", "people/kate_siegel/1.jpg", "people/joe_biden/1.jpg")


def chips(faces: Path, shape_predictor: Path) -> list[np.ndarray]:
    """dlib's 150x150 chips of the first face in each bench photo."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(shape_predictor))
    out = []
    for name in PHOTOS:
        rgb = dlib.load_rgb_image(str(faces / name))
        box = detector(rgb, 1)[0]
        out.append(np.asarray(dlib.get_face_chip(rgb, predictor(rgb, box), 150, 0.25)))
    return out


def time_per_face(fn: Callable[[], Any], faces: int, runs: list[float]) -> None:
    """Time one call and append its milliseconds per face to ``runs``."""
    start = time.perf_counter()
    fn()
    runs.append((time.perf_counter() - start) * 1000 / faces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    default_faces = os.environ.get("FACE_TEST_DATA", str(ROOT.parent / "shared" / "faces"))
    parser.add_argument("--faces", type=Path, default=Path(default_faces))
    args = parser.parse_args()

    resnet, shape_predictor = dlib_model_paths()
    batch = chips(args.faces, shape_predictor)
    reference = dlib.face_recognition_model_v1(str(resnet))
    with tempfile.TemporaryDirectory() as cache:
        ours = DlibEmbedder(resnet, Path(cache), threads=args.threads)
        cases: dict[str, tuple[Callable[[], Any], int]] = {
            "ours_batch1": (lambda: ours.embed_batch(batch[:1]), 1),
            "dlib_batch1": (lambda: reference.compute_face_descriptor(batch[0]), 1),
            "ours_batch3": (lambda: ours.embed_batch(batch), 3),
            "dlib_batch3": (lambda: reference.compute_face_descriptor(batch), 3),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for fn, _ in cases.values():
            fn()  # warm-up
        for _ in range(args.runs):
            for name, (fn, faces) in cases.items():
                time_per_face(fn, faces, times[name])
    result: dict[str, Any] = {
        name: round(statistics.median(values), 2) for name, values in times.items()
    }
    result |= {"runs": args.runs, "threads": args.threads, "unit": "ms per face (median)"}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
