"""Detection command: detect (issue 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

from face_engine.config import Settings
from face_engine.types import LANDMARK_NAMES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``detect`` to ``subparsers``."""
    detect = subparsers.add_parser("detect", help="faces in a photo: boxes, scores, landmarks")
    detect.add_argument("image", type=Path)
    detect.set_defaults(func=run_detect)


def run_detect(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit
    from face_engine.vision.decoding import decode_image
    from face_engine.vision.detection import load_detector

    image = decode_image(args.image.read_bytes(), settings.decode)
    faces = load_detector(settings.detector).detect(image)
    emit(
        {
            "image": str(args.image),
            "width": image.shape[1],
            "height": image.shape[0],
            "faces": [
                {
                    "box": [round(v, 1) for v in face.box],
                    "score": round(face.score, 4),
                    "landmarks": {
                        name: [round(float(x), 1), round(float(y), 1)]
                        for name, (x, y) in zip(LANDMARK_NAMES, face.landmarks, strict=True)
                    },
                }
                for face in faces
            ],
        }
    )
    return 0
