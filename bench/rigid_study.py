"""The 68-point rigid-head features of saved attempts (``bench.warp_attacks --save DIR``):
per frame the five-point ``rc``, the 68-point PnP yaw and the fit's residual, to choose the
rigid check's thresholds by measurement (docs/liveness.md).

    nice -n 10 python -m bench.rigid_study DIR [--out features.npz]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from face_engine import load_settings
from face_engine.head_turn import HeadTurnCheck
from face_engine.liveness import yaw_proxy
from face_engine.liveness.rigid import rigid_fit
from face_engine.vision.landmarks68 import Landmarks68
from face_engine.vision.pipeline import FaceEngine


def features(check: HeadTurnCheck, marks: Landmarks68, frames: list[bytes]) -> np.ndarray:
    """(n, 5): frame index, rc, PnP yaw, pitch, residual (NaN where no face)."""
    images = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in frames]
    _, found = check.observe(images)
    rows = []
    for i, (image, face) in enumerate(zip(images, found, strict=True)):
        if face is None:
            rows.append([i, np.nan, np.nan, np.nan, np.nan])
            continue
        fit = rigid_fit(marks.points(image, face), image.shape[1], image.shape[0])
        rows.append([i, yaw_proxy(face.landmarks), fit.yaw, fit.pitch, fit.residual])
    return np.array(rows, np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings(None, {**os.environ, "FACE_LOGIN_DATA": data})
        check = HeadTurnCheck(FaceEngine(settings), settings.liveness)
    marks = Landmarks68()
    table = {}
    for path in sorted(args.folder.glob("*.pkl")):
        with open(path, "rb") as f:
            outcome, steps, frames = pickle.load(f)
        if frames:
            table[path.stem] = (outcome, steps, features(check, marks, frames))
    out = args.out or args.folder / "features.pkl"
    with open(out, "wb") as f:
        pickle.dump(table, f)
    print(f"{len(table)} attempts -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
