"""MTCNN against YuNet (``[detector] model``): faces found, recognition through the whole
pipeline, landmark stability on real head-turn clips, speed.

    python -m bench.detector_study [--faces ../shared/faces] [--liveness ../shared/liveness]

- Development set: photos of ``dev/people`` with a face, faces in ``dev/group``; SFace (the
  default embedder) on each detector's largest face: TAR and FAR at the shipped threshold, TAR
  at FAR 0.1% and 0, EER over ``dev/pairs.csv``.
- Liveness clips: frames with a face; landmark jitter, the median over frames of the largest
  second difference of a landmark between consecutive frames (steady motion cancels) divided
  by the eye distance; the yaw proxy's range (``[liveness] yaw_needed`` was measured on
  MTCNN's).
- Speed: median ms of ``detect`` and ``refine`` on the bench's 640x480 frame, taking turns.
Prints JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np

from bench.pipeline_bench import DEFAULT_FACES, FRAME_PHOTO, median_ms, webcam_frame
from bench.sface_study import pair_figures
from face_engine.cli import emit
from face_engine.config import Settings, load_settings
from face_engine.evaluation import read_pairs
from face_engine.liveness.yaw import yaw_proxy
from face_engine.types import Face
from face_engine.vision.pipeline import FaceEngine

CLIPS = ("intel_female_headturn", "liveportrait_d3_turns", "intel_male_frontal", "bioid_nod_pitch")


def jitter(faces: list[Face | None]) -> float | None:
    """Median over frames of max |p[t-1] - 2 p[t] + p[t+1]| / eye distance (consecutive
    frames with a face only)."""
    values = []
    for a, b, c in zip(faces, faces[1:], faces[2:], strict=False):
        if a is None or b is None or c is None:
            continue
        eye = float(np.linalg.norm(b.landmarks[1] - b.landmarks[0]))
        second = a.landmarks - 2 * b.landmarks + c.landmarks
        values.append(float(np.linalg.norm(second, axis=1).max()) / max(eye, 1e-6))
    return round(float(np.median(values)), 4) if values else None


def study(settings: Settings, faces_dir: Path, liveness_dir: Path) -> tuple[dict, FaceEngine]:
    engine = FaceEngine(settings)
    dev = faces_dir / "dev"
    pairs = read_pairs(dev / "pairs.csv")
    files = sorted({p.file_x for p in pairs} | {p.file_y for p in pairs})
    vectors = {}
    for path in files:
        image = engine.decode(path.read_bytes())
        found = engine.detect(image)
        if found:
            vectors[path] = engine.embed(image, max(found, key=lambda f: f.size)).embedding
    group_faces = sum(
        len(engine.detect(engine.decode(p.read_bytes()))) for p in sorted((dev / "group").iterdir())
    )
    same = np.array(
        [
            np.linalg.norm(vectors[p.file_x] - vectors[p.file_y])
            for p in pairs
            if p.same and p.file_x in vectors and p.file_y in vectors
        ]
    )
    different = np.array(
        [
            np.linalg.norm(vectors[p.file_x] - vectors[p.file_y])
            for p in pairs
            if not p.same and p.file_x in vectors and p.file_y in vectors
        ]
    )
    threshold = settings.model.threshold
    recognition = {
        "threshold": threshold,
        "tar": round(float((same < threshold).sum()) / sum(p.same for p in pairs), 4),
        "far": round(float((different < threshold).mean()), 5),
        **pair_figures(vectors, pairs),
    }
    clips = {}
    for name in CLIPS:
        frames = [cv2.imread(str(p)) for p in sorted((liveness_dir / name).glob("*.jpg"))]
        found = [next(iter(engine.detect(f)), None) for f in frames]
        yaws = [yaw_proxy(f.landmarks) for f in found if f is not None]
        clips[name] = {
            "frames": len(frames),
            "with_face": sum(f is not None for f in found),
            "jitter": jitter(found),
            "yaw_range": [round(min(yaws), 3), round(max(yaws), 3)] if yaws else None,
        }
    return {
        "dev_photos": len(files),
        "dev_photos_with_face": len(vectors),
        "dev_group_faces": group_faces,
        "recognition": recognition,
        "clips": clips,
    }, engine


def speed(engines: dict[str, FaceEngine], faces_dir: Path, runs: int) -> dict:
    """Median ms of each engine's detect, detect_all and refine on the bench frame, the
    engines taking turns."""
    stages = {}
    for name, engine in engines.items():
        frame = engine.decode(webcam_frame(faces_dir / FRAME_PHOTO))
        box = engine.find_dominant(frame).box
        stages[f"{name}.detect"] = lambda e=engine, f=frame: e.find_dominant(f)
        stages[f"{name}.detect_all"] = lambda e=engine, f=frame: e.detect(f)
        stages[f"{name}.refine"] = lambda e=engine, f=frame, b=box: e.detector.refine([f], [b])
    return median_ms(stages, runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detector_study", description=__doc__)
    parser.add_argument("--faces", type=Path, help="photo folder (default: FACE_TEST_DATA)")
    parser.add_argument("--liveness", type=Path, help="clips (default: beside --faces)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per stage")
    args = parser.parse_args(argv)
    faces_dir = args.faces or Path(os.environ.get("FACE_TEST_DATA", DEFAULT_FACES))
    liveness_dir = args.liveness or faces_dir.parent / "liveness"
    base = load_settings(None, os.environ)
    result, engines = {}, {}
    for model in ("mtcnn", "yunet"):
        detector = dataclasses.replace(base.detector, model=model)
        settings = dataclasses.replace(base, detector=detector)
        result[model], engines[model] = study(settings, faces_dir, liveness_dir)
    timings = speed(engines, faces_dir, max(1, args.runs))
    emit({"embedder": base.embedder.model, "detectors": result, "ms": timings})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
