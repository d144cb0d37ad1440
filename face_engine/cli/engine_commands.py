"""Embedding commands: compare, evaluate, calibrate."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import typing
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from face_engine.config import EmbedderConfig, Settings

MODELS: tuple[str, ...] = typing.get_args(typing.get_type_hints(EmbedderConfig)["model"])


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``compare``, ``evaluate`` and ``calibrate`` to ``subparsers``."""
    compare = subparsers.add_parser("compare", help="distance between the faces of two photos")
    compare.add_argument("image_a", type=Path)
    compare.add_argument("image_b", type=Path)
    _model_option(compare)
    compare.set_defaults(func=run_compare)

    evaluate = subparsers.add_parser("evaluate", help="verification accuracy on labelled pairs")
    evaluate.add_argument(
        "pairs_csv", type=Path, nargs="?", help="CSV with columns file_x,file_y,same"
    )
    evaluate.add_argument("--root", type=Path, help="folder the CSV's paths are relative to")
    evaluate.add_argument("--threshold", type=float, help="default: the model's threshold")
    evaluate.add_argument("--plot", type=Path, help="write distance histograms to this PNG")
    evaluate.add_argument(
        "--gallery",
        type=Path,
        metavar="DEV",
        help="open-set identification (FNIR, FPIR) on a development set folder instead",
    )
    evaluate.add_argument(
        "--size",
        type=int,
        action="append",
        help="enrolled people for --gallery (repeatable; default 50 and 1000)",
    )
    evaluate.add_argument(
        "--faces-per-user",
        type=int,
        default=3,
        help="faces a registration stores, for the 1:N threshold in force (default 3)",
    )
    _model_option(evaluate, every=True)
    evaluate.set_defaults(func=run_evaluate)

    calibrate = subparsers.add_parser(
        "calibrate", help="the threshold for a target false-accept rate on labelled pairs"
    )
    calibrate.add_argument("pairs_csv", type=Path, help="CSV with columns file_x,file_y,same")
    calibrate.add_argument("--root", type=Path, help="folder the CSV's paths are relative to")
    calibrate.add_argument("--far", type=float, default=0.001, help="target FAR (default 0.001)")
    _model_option(calibrate)
    calibrate.set_defaults(func=run_calibrate)


def _model_option(parser: argparse.ArgumentParser, every: bool = False) -> None:
    choices = (*MODELS, "all") if every else MODELS
    more = "; all: each model in turn, its figures under its name" if every else ""
    parser.add_argument(
        "--model", choices=choices, help=f"embedding model (default: [embedder] model{more})"
    )


def _with_model(settings: Settings, args: argparse.Namespace) -> Settings:
    if not args.model:
        return settings
    embedder = dataclasses.replace(settings.embedder, model=args.model)
    return dataclasses.replace(settings, embedder=embedder)


def run_compare(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit
    from face_engine.vision.pipeline import FaceEngine

    engine = FaceEngine(_with_model(settings, args))
    a = engine.embed_one(engine.decode(args.image_a.read_bytes()))
    b = engine.embed_one(engine.decode(args.image_b.read_bytes()))
    distance = engine.distance(a.embedding, b.embedding)
    emit(
        {
            "model": engine.identity.name,
            "distance": round(distance, 4),
            "threshold": engine.threshold,
            "same": distance < engine.threshold,
        }
    )
    return 0


def pair_distances(
    args: argparse.Namespace, settings: Settings
) -> tuple[NDArray[np.float64], NDArray[np.float64], dict[str, Any], float]:
    """(same-person distances, different-person distances, photo counts, model threshold) of
    the pairs in ``args.pairs_csv``. A photo with several faces is compared by its largest
    face, as face-verification benchmarks do; a pair with a photo without a face is left out
    and counted."""
    from face_engine.evaluation import read_pairs
    from face_engine.vision.pipeline import FaceEngine

    pairs = read_pairs(args.pairs_csv, args.root)
    engine = FaceEngine(_with_model(settings, args))
    vectors: dict[Path, NDArray[np.float32] | None] = {}
    multiple_faces = 0
    files = sorted({p.file_x for p in pairs} | {p.file_y for p in pairs})
    for number, path in enumerate(files, start=1):
        print(f"\rembedding {number}/{len(files)}", end="", file=sys.stderr, flush=True)
        image = engine.decode(path.read_bytes())
        faces = engine.detect(image)
        if not faces:
            vectors[path] = None
            continue
        multiple_faces += len(faces) > 1
        vectors[path] = engine.embed(image, max(faces, key=lambda f: f.size)).embedding
    print(file=sys.stderr)
    same: list[float] = []
    different: list[float] = []
    skipped = skipped_same = 0
    for pair in pairs:
        a, b = vectors[pair.file_x], vectors[pair.file_y]
        if a is None or b is None:
            skipped += 1
            skipped_same += pair.same
            continue
        (same if pair.same else different).append(engine.distance(a, b))
    counts = {
        "model": engine.identity.name,
        "photos": len(files),
        "no_face": sum(v is None for v in vectors.values()),
        "multiple_faces": multiple_faces,
        "pairs_without_face": skipped,
        "same_pairs_without_face": skipped_same,
    }
    return np.array(same), np.array(different), counts, engine.threshold


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit

    if args.gallery:
        from face_engine.cli.gallery_commands import run_evaluate_gallery

        if args.model == "all":
            raise ValueError("--gallery takes one model at a time, not --model all")
        return run_evaluate_gallery(args, settings)
    if args.model != "all":
        emit(evaluation(args, settings))
        return 0
    if args.threshold is not None or args.plot:
        raise ValueError("--model all takes neither --threshold nor --plot (one per model)")
    results = {}
    for model in MODELS:
        results[model] = evaluation(argparse.Namespace(**{**vars(args), "model": model}), settings)
    emit({"default_model": settings.embedder.model, "models": results})
    return 0


def evaluation(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """``evaluate``'s figures for the one model ``args`` (or the settings) name."""
    from face_engine.evaluation import summarise

    if args.pairs_csv is None:
        raise ValueError("give a pairs CSV, or --gallery with a development set folder")
    same, different, counts, model_threshold = pair_distances(args, settings)
    threshold = args.threshold if args.threshold is not None else model_threshold
    result = summarise(
        same,
        different,
        threshold,
        counts["pairs_without_face"],
        counts["same_pairs_without_face"],
    )
    result = {**counts, **result, "no_face": counts["no_face"]}
    if args.plot:
        # Developer tooling (matplotlib), handed the job like the bench commands.
        plots = importlib.import_module("bench.plots")
        plots.plot_distances(same, different, threshold, args.plot)
        result["plot"] = str(args.plot)
    return result


def run_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit
    from face_engine.evaluation import equal_error_rate, tar_at_far

    if not 0.0 <= args.far < 1.0:
        raise ValueError("--far must be in [0, 1)")
    same, different, counts, model_threshold = pair_distances(args, settings)
    point = tar_at_far(same, different, args.far)
    eer, eer_threshold = equal_error_rate(same, different)
    emit(
        {
            **counts,
            "same_pairs": len(same),
            "different_pairs": len(different),
            "target_far": args.far,
            "threshold": point["threshold"],
            "tar": point["tar"],
            "false_accepts": int((different < float(point["threshold"] or 0)).sum()),
            "eer": round(eer, 4),
            "eer_threshold": round(eer_threshold, 4),
            "configured_threshold": model_threshold,
        }
    )
    return 0
