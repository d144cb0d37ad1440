"""The stretched-picture figures (``face_engine/liveness/stretch.py``) of attempts that pass
every earlier check, to choose ``[liveness] max_streak_gain`` and ``max_side_streak_loss``.

    nice -n 10 python -m bench.warp_attacks --seeds 0:120 --families relief40,relief30 \\
        --liveness-only --save DIR
    nice -n 10 python -m bench.stretch_study --attacks DIR --genuine 60 --genuine-seed 13
    nice -n 10 python -m bench.stretch_study --genuine 60 --genuine-seed 14 --assume-10fps

Genuine resamplings use the seeds ``[genuine-seed, clip, k]``, not the bench's own (``99``),
and never the held-out attack seeds. Prints, per family or clip, the percentiles of the largest
gain and the smallest side change over the steps, and how many the shipped thresholds refuse.
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

from bench.warp_attacks import CLIPS, ORDERS, ROOT
from bench.warp_sources import CLIP_FPS, NATIVE_FPS, Sources, resample_clip
from face_engine import load_settings
from face_engine.head_turn import HeadTurnCheck
from face_engine.liveness import check_liveness
from face_engine.liveness.sheet import step_residuals
from face_engine.liveness.stretch import step_stretch
from face_engine.vision.pipeline import FaceEngine


def figures(check: HeadTurnCheck, frames: list[bytes], steps: tuple[str, ...]) -> tuple | None:
    """(largest gain, smallest side change) over the steps; None when an earlier check fails."""
    images = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in frames]
    observations, found = check.observe(images)
    result = check_liveness(observations, list(steps), check.policy)
    if not result.passed:
        return None
    boxes = [None if f is None else f.box for f in found]
    yaws = [result.yaw_by_frame.get(i) for i in range(len(images))]
    residuals = step_residuals(images, boxes, yaws, list(steps))
    if min(residuals.values(), default=0.0) < check.config.min_remap_residual:
        return None
    faces = [None if f is None else (f.box, f.landmarks) for f in found]
    found_figures = step_stretch(images, faces, yaws, list(steps)).values()
    return max(f.gain for f in found_figures), min(f.side_change for f in found_figures)


def report(name: str, rows: list[tuple[float, float]], gain: float, loss: float) -> None:
    if not rows:
        print(f"{name:<24} none passed the earlier checks")
        return
    table = np.array(rows)
    refused = int(((table[:, 0] > gain) | (table[:, 1] < -loss)).sum())
    q = (0, 3, 50, 97, 100)
    print(
        f"{name:<24} {len(rows):>4} passing; gain {np.percentile(table[:, 0], q).round(4)}"
        f" side {np.percentile(table[:, 1], q).round(4)}; refused {refused}/{len(rows)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attacks", type=Path, default=None, help="a warp_attacks --save DIR")
    parser.add_argument("--genuine", type=int, default=0)
    parser.add_argument("--genuine-seed", type=int, default=13)
    parser.add_argument("--assume-10fps", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings(None, {**os.environ, "FACE_LOGIN_DATA": data})
        engine = FaceEngine(settings)
    check = HeadTurnCheck(engine, settings.liveness)
    gain, loss = settings.liveness.max_streak_gain, settings.liveness.max_side_streak_loss
    by_family: dict[str, list[tuple[float, float]]] = {}
    for path in sorted(args.attacks.glob("*.pkl")) if args.attacks else []:
        with open(path, "rb") as f:
            _, steps, frames = pickle.load(f)
        found = figures(check, frames, steps) if frames else None
        if found is not None:
            by_family.setdefault(path.stem.rsplit("-", 1)[0], []).append(found)
    for family, rows in sorted(by_family.items()):
        report(family, rows, gain, loss)
    if args.genuine:
        sources = Sources.load(engine, ROOT, CLIPS, photos_glob="people/*/1.jpg")
        for c, name in enumerate(CLIPS):
            rows = []
            for k in range(args.genuine):
                rng = np.random.default_rng([args.genuine_seed, c, k])
                steps = ORDERS[int(rng.integers(2))] if c == 0 else ORDERS[0]
                native = NATIVE_FPS if args.assume_10fps else CLIP_FPS.get(name, NATIVE_FPS)
                found = figures(check, resample_clip(sources.clips[name], rng, native), steps)
                if found is not None:
                    rows.append(found)
            report(name, rows, gain, loss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
