"""Where the login search's time goes on the bench's 640x480 frame.

    python bench/detection_profile.py [--runs 200] [--faces ../shared/faces]

Profiles ``FaceEngine.find_dominant`` (what login and registration run) with cProfile and
groups the time by what spends it: the onnxruntime nets (R-Net, O-Net), P-Net on OpenCV,
OpenCV resizing and cropping, NMS, and the Python/NumPy glue around them. Also prints how many
candidates each net saw and, for scale, FaceNet's forward pass. The profiler adds some
overhead to the Python share; the bench command gives the unprofiled totals.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pipeline_bench import FRAME_PHOTO, webcam_frame  # noqa: E402
from face_engine.config import load_settings  # noqa: E402
from face_engine.vision.pipeline import FaceEngine  # noqa: E402

GROUPS = {
    "onnxruntime_pybind11_state.run": "R-Net + O-Net (onnxruntime)",
    "method 'forward' of 'cv2.dnn.Net'": "P-Net (OpenCV classic engine)",
    "<resize>": "resizing and crops (OpenCV)",
    "<warpAffine>": "resizing and crops (OpenCV)",
    "<cvtColor>": "resizing and crops (OpenCV)",
    "<NMSBoxes>": "NMS (OpenCV)",
}


def group_of(function: tuple[str, int, str]) -> str:
    name = f"{function[0]}:{function[2]}"
    return next((label for key, label in GROUPS.items() if key in name), "Python and NumPy glue")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--faces",
        type=Path,
        default=Path(os.environ.get("FACE_TEST_DATA", ROOT.parent / "shared" / "faces")),
    )
    args = parser.parse_args()

    engine = FaceEngine(load_settings(ROOT / "config.ini", {}))
    image = engine.decode(webcam_frame(args.faces / FRAME_PHOTO))
    detector = engine.detector
    seen = {"rnet": [], "onet": []}
    run_rnet, run_onet = detector.nets.run_rnet, detector.nets.run_onet
    detector.nets.run_rnet = lambda patches: seen["rnet"].append(len(patches)) or run_rnet(patches)
    detector.nets.run_onet = lambda patches: seen["onet"].append(len(patches)) or run_onet(patches)
    for _ in range(5):
        face = engine.find_dominant(image)

    wall = []
    for _ in range(args.runs):
        start = time.perf_counter()
        engine.find_dominant(image)
        wall.append((time.perf_counter() - start) * 1000)

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.runs):
        engine.find_dominant(image)
    profile.disable()
    totals: dict[str, float] = {}
    for function, (_, _, own, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        totals[group_of(function)] = totals.get(group_of(function), 0.0) + own
    profiled = sum(totals.values())

    aligned = engine.align(image, face)
    embed = []
    for _ in range(max(10, args.runs // 10)):
        start = time.perf_counter()
        engine.embedder.embed(aligned)
        embed.append((time.perf_counter() - start) * 1000)

    print(f"640x480 frame from {FRAME_PHOTO}; face {face.size:.0f} px; {args.runs} runs")
    print(f"login search (find_dominant), median unprofiled: {statistics.median(wall):.2f} ms")
    print(f"candidates per search: R-Net {seen['rnet'][-1]}, O-Net {seen['onet'][-1]}")
    print(f"share of the profiled time ({profiled / args.runs * 1000:.2f} ms per search):")
    for label, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        share = seconds / profiled
        print(f"  {label:<34}{seconds / args.runs * 1000:>7.2f} ms {share:>6.1%}")
    print(f"FaceNet embed for comparison, median: {statistics.median(embed):.2f} ms")


if __name__ == "__main__":
    main()
