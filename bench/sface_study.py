"""SFace study on the development set: input colour order, runtimes, speed.

    python -m bench.sface_study [--dev ../shared/faces/dev] [--runs 30]

Every photo of ``dev/people`` is detected with our MTCNN (largest face) and aligned onto the
ArcFace template; SFace embeds it fed as BGR and as RGB, on OpenCV 5's DNN; the dev pairs give
TAR at FAR 0.1% and 0, and the EER, for each order. The same chips go through onnxruntime
(int8 graph, and weights turned to float at load): largest descriptor difference from OpenCV's,
and the median time per face of each runtime, taking turns in one process. Prints JSON.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from bench.pipeline_bench import DEFAULT_FACES, median_ms
from face_engine.cli import emit
from face_engine.config import load_settings
from face_engine.evaluation import equal_error_rate, read_pairs, tar_at_far
from face_engine.vision import sface
from face_engine.vision.pipeline import FaceEngine
from face_engine.vision.sface_onnx import OnnxRuntimeSFace
from face_engine.vision.weights import sface_model_path


def pair_figures(vectors: dict[Path, np.ndarray], pairs: list) -> dict:
    same, different = [], []
    for pair in pairs:
        a, b = vectors.get(pair.file_x), vectors.get(pair.file_y)
        if a is None or b is None:
            continue
        (same if pair.same else different).append(float(np.linalg.norm(a - b)))
    s, d = np.array(same), np.array(different)
    return {
        "same_pairs": len(s),
        "different_pairs": len(d),
        "tar_at_far": [tar_at_far(s, d, far) for far in (0.001, 0.0)],
        "eer": round(equal_error_rate(s, d)[0], 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sface_study", description=__doc__)
    parser.add_argument("--dev", type=Path, help="development set (default: FACE_TEST_DATA/dev)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per runtime")
    args = parser.parse_args(argv)
    dev = args.dev or Path(os.environ.get("FACE_TEST_DATA", DEFAULT_FACES)) / "dev"
    settings = load_settings(None, {"FACE_LOGIN_EMBEDDER_MODEL": "sface"})
    engine = FaceEngine(settings)
    pairs = read_pairs(dev / "pairs.csv")
    files = sorted({p.file_x for p in pairs} | {p.file_y for p in pairs})
    chips: dict[str, dict[Path, np.ndarray]] = {"bgr": {}, "rgb": {}}
    for path in files:
        image = engine.decode(path.read_bytes())
        faces = engine.detect(image)
        if faces:
            face = max(faces, key=lambda f: f.size)
            for order in ("bgr", "rgb"):
                chips[order][path] = sface.chip(image, face, order)  # type: ignore[arg-type]
    opencv = sface.SFaceNet(sface_model_path(), settings.embedder.threads)
    result: dict = {"photos": len(files), "faces": len(chips["bgr"]), "orders": {}}
    for order, by_path in chips.items():
        keys = list(by_path)
        vectors = opencv.embed_batch([by_path[k] for k in keys])
        result["orders"][order] = pair_figures(dict(zip(keys, vectors, strict=True)), pairs)
    keys = list(chips["bgr"])
    batch = [chips["bgr"][k] for k in keys]
    reference = opencv.embed_batch(batch)
    runtimes = {
        "onnxruntime_int8": OnnxRuntimeSFace(sface_model_path(), dequantize=False),
        "onnxruntime_float": OnnxRuntimeSFace(sface_model_path(), dequantize=True),
    }
    result["max_abs_difference_from_opencv"] = {
        name: float(np.abs(runtime.embed_batch(batch) - reference).max())
        for name, runtime in runtimes.items()
    }
    one = [batch[0]]
    stages = {"opencv_dnn": lambda: opencv.embed_batch(one)}
    stages.update(
        {name: (lambda r=runtime: r.embed_batch(one)) for name, runtime in runtimes.items()}
    )
    result["ms_per_face"] = median_ms(stages, max(1, args.runs))
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
