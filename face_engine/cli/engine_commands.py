"""Embedding commands: compare, evaluate (issue 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from face_engine.config import Settings
from face_engine.errors import MultipleFaces, NoFaceFound


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``compare`` and ``evaluate`` to ``subparsers``."""
    compare = subparsers.add_parser("compare", help="distance between the faces of two photos")
    compare.add_argument("image_a", type=Path)
    compare.add_argument("image_b", type=Path)
    compare.set_defaults(func=run_compare)

    evaluate = subparsers.add_parser("evaluate", help="verification accuracy on labelled pairs")
    evaluate.add_argument("pairs_csv", type=Path, help="CSV with columns file_x,file_y,same")
    evaluate.add_argument("--root", type=Path, help="folder the CSV's paths are relative to")
    evaluate.add_argument("--threshold", type=float, help="default: the configured threshold")
    evaluate.add_argument("--plot", type=Path, help="write distance histograms to this PNG")
    evaluate.set_defaults(func=run_evaluate)


def run_compare(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit
    from face_engine.vision.pipeline import FaceEngine

    engine = FaceEngine(settings)
    a = engine.embed_one(engine.decode(args.image_a.read_bytes()))
    b = engine.embed_one(engine.decode(args.image_b.read_bytes()))
    distance = engine.distance(a.embedding, b.embedding)
    emit(
        {
            "distance": round(distance, 4),
            "threshold": engine.threshold,
            "same": distance < engine.threshold,
        }
    )
    return 0


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit
    from face_engine.evaluation import read_pairs, summarise
    from face_engine.vision.pipeline import FaceEngine

    pairs = read_pairs(args.pairs_csv, args.root)
    engine = FaceEngine(settings)
    threshold = args.threshold if args.threshold is not None else engine.threshold
    vectors: dict[Path, np.ndarray | None] = {}
    files = sorted({p.file_x for p in pairs} | {p.file_y for p in pairs})
    for path in files:
        try:
            vectors[path] = engine.embed_one(engine.decode(path.read_bytes())).embedding
        except (NoFaceFound, MultipleFaces):
            vectors[path] = None
    same, different, no_face, no_face_same = [], [], 0, 0
    for pair in pairs:
        a, b = vectors[pair.file_x], vectors[pair.file_y]
        if a is None or b is None:
            no_face += 1
            no_face_same += pair.same
            continue
        (same if pair.same else different).append(engine.distance(a, b))
    same_d, different_d = np.array(same), np.array(different)
    result = summarise(same_d, different_d, threshold, no_face, no_face_same)
    if args.plot:
        from bench.plots import plot_distances  # developer tooling, with matplotlib

        plot_distances(same_d, different_d, threshold, args.plot)
        result["plot"] = str(args.plot)
    emit(result)
    return 0
