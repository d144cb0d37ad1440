"""Decoding a 40-megapixel JPEG: full size against reduced scale, in the same process.

    python -m bench.decode_bench [--runs 5] [--detect] [--faces DIR]

The JPEG is a real photo enlarged to 40 megapixels, built in memory. Each variant reports the
median time and the peak resident memory above what the process held before the call (Linux:
the high-water mark is reset through /proc/self/clear_refs before each call). ``--detect``
adds MTCNN detection on the decoded image, which downscales it to ``[detector] max_side``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from face_engine.cli import emit
from face_engine.config import load_settings
from face_engine.errors import ImageDecodeError
from face_engine.vision.decoding import decode_image

PHOTO = "people/barack_obama/1.jpg"
WIDTH, HEIGHT = 5472, 7296  # 39.9 megapixels
DEFAULT_FACES = Path(os.environ.get("FACE_TEST_DATA", Path(__file__).parents[2] / "shared/faces"))


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(call: Callable[[], Any], runs: int) -> dict[str, Any]:
    """Median milliseconds and the largest peak RSS above the starting RSS, over ``runs``
    after one untimed call (first-call allocations, thread pools)."""
    times, peaks, result = [], [], call()
    for _ in range(runs):
        result = None
        gc.collect()
        resettable = _reset_peak()
        before = _status_kb("VmRSS")
        start = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - start) * 1000)
        peak = _status_kb("VmHWM")
        if resettable and before is not None and peak is not None:
            peaks.append((peak - before) / 1024)
    shape = getattr(result, "shape", None)
    return {
        "ms": round(statistics.median(times), 1),
        "ms_all": [round(t, 1) for t in times],
        "peak_rss_mb": round(max(peaks), 1) if peaks else None,
        "result": list(shape) if shape is not None else result,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--detect", action="store_true", help="also time detection")
    args = parser.parse_args(argv)
    settings = load_settings(None, {})
    photo = cv2.imread(str(args.faces / PHOTO), cv2.IMREAD_COLOR)
    if photo is None:
        parser.error(f"cannot read {args.faces / PHOTO} (--faces or FACE_TEST_DATA)")
    huge = cv2.resize(photo, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
    data = cv2.imencode(".jpg", huge, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    del huge
    reduced = settings.decode
    full = dataclasses.replace(reduced, decode_side=0)

    def refused() -> str:
        try:
            decode_image(data, reduced, frame=True)
        except ImageDecodeError as e:
            return f"refused: {e.detail}"
        return "decoded"

    variants: dict[str, Callable[[], Any]] = {
        f"reduced (decode_side={reduced.decode_side})": lambda: decode_image(data, reduced),
        "full (decode_side=0, as before)": lambda: decode_image(data, full),
        "frame=True": refused,
    }
    if args.detect:
        from face_engine.vision.mtcnn.detector import FaceDetector

        detector = FaceDetector(settings.detector)
        variants["reduced + detect"] = lambda: len(detector.detect(decode_image(data, reduced)))
        variants["full + detect"] = lambda: len(detector.detect(decode_image(data, full)))
    report = {
        "jpeg": {"width": WIDTH, "height": HEIGHT, "bytes": len(data), "photo": PHOTO},
        "runs": args.runs,
        "variants": {name: measure(call, args.runs) for name, call in variants.items()},
    }
    emit(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
