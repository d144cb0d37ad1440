"""1:N commands: ``calibrate-gallery`` (a model's different-person distances on the
development set, kept with the model) and ``evaluate --gallery`` (open-set identification as
NIST's 1:N evaluations report it: FNIR and FPIR)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from face_engine.config import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    calibrate = subparsers.add_parser(
        "calibrate-gallery",
        help="calibrate the model's different-person distances on a development set",
    )
    calibrate.add_argument("dev", type=Path, help="development set folder (people/, group/)")
    calibrate.add_argument("--model", help="embedding model (default: [embedder] model)")
    calibrate.add_argument("--out", type=Path, help="folder (default: face_engine/calibrations)")
    calibrate.set_defaults(func=run_calibrate_gallery)


def with_model(settings: Settings, model: str | None) -> Settings:
    if not model:
        return settings
    chosen: Any = model  # checked by EmbedderConfig against the models it knows
    embedder = dataclasses.replace(settings.embedder, model=chosen)
    return dataclasses.replace(settings, embedder=embedder)


def run_calibrate_gallery(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine import calibration
    from face_engine.cli import emit
    from face_engine.cli.dev_set import embed_dev_set
    from face_engine.vision.pipeline import FaceEngine

    engine = FaceEngine(with_model(settings, args.model))
    dev = embed_dev_set(engine, args.dev)
    same, different = dev.distances()
    fitted = calibration.fit(engine.identity, different, same, source=args.dev.name)
    path = calibration.save(fitted, args.out or calibration.FOLDER)
    emit(
        {
            "model": engine.identity.name,
            "file": str(path),
            "different_pairs": fitted.different_pairs,
            "same_pairs": len(fitted.same),
            "tail": dataclasses.asdict(fitted.tail),
            "check": list(fitted.check),
            "thresholds": {
                str(far): round(fitted.threshold_for(far), 4) for far in (1e-3, 1e-4, 1e-5, 1e-6)
            },
        }
    )
    return 0


def open_set(
    names: list[str],
    people: NDArray[np.float32],
    thresholds: list[float],
    sizes: list[int],
    seed: int = 0,
    rounds: int = 100,
    different: NDArray[np.float64] | None = None,
) -> dict[str, Any]:
    """FNIR and FPIR of open-set identification for galleries of ``sizes`` enrolled people.

    Per round, half the people with two or more photos are enrolled (one random photo each),
    their other photos are mated searches, and the people left out (every photo) are
    non-mated searches. A gallery of size N is made by resampling: each search meets its
    mate (if enrolled), the other enrolled people it was measured against, and as many more
    as N needs drawn with replacement from ``different`` (all the set's different-person
    distances; default: those among ``people``), so N may exceed the people the set has.
    FNIR(t): mated searches whose mate is not the nearest within t. FPIR(t): non-mated
    searches with anyone within t.
    """
    rng = np.random.default_rng(seed)
    labels = np.array(names)
    with_two = sorted({n for n in names if (labels == n).sum() >= 2})
    from face_engine.distance import cross

    d = cross(people, people)
    if different is None:
        upper = np.triu(np.ones_like(d, dtype=bool), k=1)
        different = d[upper & (labels[:, None] != labels[None, :])].astype(np.float64)
    pool = np.asarray(different, np.float64)
    ts = np.asarray(thresholds)
    result: dict[int, dict[str, NDArray[np.float64]]] = {}
    for size in sizes:
        fn = np.zeros(len(ts))
        fp = np.zeros(len(ts))
        mated = non_mated = 0
        for _ in range(rounds):
            enrolled_people = rng.permutation(with_two)[: len(with_two) // 2]
            gallery = np.array([rng.choice(np.flatnonzero(labels == p)) for p in enrolled_people])
            gallery_labels = labels[gallery]
            for probe in range(len(names)):
                if probe in gallery:
                    continue
                row = d[probe, gallery]
                own = gallery_labels == labels[probe]
                others = row[~own][: max(size - int(own.any()), 0)]
                extra = size - int(own.any()) - len(others)
                drawn = np.concatenate([others, rng.choice(pool, max(extra, 0))])
                nearest_other = float(drawn.min()) if len(drawn) else 9.0
                if own.any():
                    mate = float(row[own][0])
                    mated += 1
                    fn += ~((mate < ts) & (mate < nearest_other))
                else:
                    non_mated += 1
                    fp += nearest_other < ts
        result[size] = {"fnir": fn / max(mated, 1), "fpir": fp / max(non_mated, 1)}
        result[size]["searches"] = np.array([mated, non_mated], np.float64)
    return {
        str(size): {
            "mated_searches": int(v["searches"][0]),
            "non_mated_searches": int(v["searches"][1]),
            "curve": [
                {
                    "threshold": round(float(t), 4),
                    "fnir": round(float(a), 4),
                    "fpir": round(float(b), 5),
                }
                for t, a, b in zip(ts, v["fnir"], v["fpir"], strict=True)
            ],
        }
        for size, v in result.items()
    }


def run_evaluate_gallery(args: argparse.Namespace, settings: Settings) -> int:
    """``evaluate --gallery DEV``: FNIR and FPIR at the 1:N threshold the service would use
    for each gallery size, and as a curve over thresholds."""
    from face_engine import calibration
    from face_engine.cli import emit
    from face_engine.cli.dev_set import embed_dev_set
    from face_engine.matching import gallery_for
    from face_engine.vision.pipeline import FaceEngine

    settings = with_model(settings, args.model)
    engine = FaceEngine(settings)
    calibrated = calibration.load(engine.identity)
    if calibrated is None:
        raise ValueError(f"{engine.identity.tag} has no calibration: run calibrate-gallery")
    sizes = args.size or [50, 1000]
    dev = embed_dev_set(engine, args.gallery)
    shipped = {
        size: gallery_for(
            size * args.faces_per_user,
            settings.model.threshold,
            settings.matching.max_false_identification,
            calibrated,
        )
        for size in sizes
    }
    curve = sorted(
        {round(float(t), 3) for t in np.arange(0.05, settings.model.threshold + 0.05, 0.05)}
    )
    thresholds = [g.threshold for g in shipped.values()] + curve
    measured = open_set(dev.names, dev.people, thresholds, sizes, different=dev.distances()[1])
    report: dict[str, Any] = {
        "model": engine.identity.name,
        "max_false_identification": settings.matching.max_false_identification,
        "faces_per_user": args.faces_per_user,
        "one_to_one_threshold": settings.model.threshold,
    }
    for index, size in enumerate(sizes):
        gallery = shipped[size]
        figures = measured[str(size)]
        at = figures["curve"][index]
        report[str(size)] = {
            "enrolled_faces": gallery.enrolled_faces,
            "threshold": gallery.threshold,
            "fnir": at["fnir"],
            "fpir_measured": at["fpir"],
            "fpir_estimated": round(gallery.false_identification, 6),
            "tar_pairs": gallery.tar,
            "extrapolated": gallery.extrapolated or size > len(set(dev.names)),
            "mated_searches": figures["mated_searches"],
            "non_mated_searches": figures["non_mated_searches"],
            "curve": figures["curve"][len(sizes) :],
        }
    emit(report)
    return 0
