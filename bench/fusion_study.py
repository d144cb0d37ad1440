"""How the frames of one login are judged together, measured on the development set.

    python bench/fusion_study.py [--dev ../shared/faces/dev] [--model dlib]

A login embeds several frames of one person (frontal, each turn's least-turned frame). Here
each person with three or more photos gives "attempts" of two photos (the frames) against a
third (the enrolled face); impostor attempts are two photos of one person against every
other person's photos. Three rules are compared at thresholds that accept the same share of
genuine attempts:

- ``any``: accept when any frame is within the threshold (the old rule);
- ``mean_embedding``: the distance of the frames' mean embedding, renormalised;
- ``mean_distance``: the mean of the frames' distances.

Printed: for each target true-accept rate, each rule's false-accept rate, and each rule's
equal-error rate (JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from face_engine.cli.dev_set import embed_dev_set  # noqa: E402
from face_engine.config import load_settings  # noqa: E402
from face_engine.distance import cross  # noqa: E402
from face_engine.evaluation import equal_error_rate  # noqa: E402
from face_engine.matching import fuse  # noqa: E402
from face_engine.vision.pipeline import FaceEngine  # noqa: E402

RULES = ("any", "mean_embedding", "mean_distance")


def scores(names: list[str], people: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per rule: (genuine attempt distances, impostor attempt distances)."""
    by_person: dict[str, list[int]] = {}
    for row, name in enumerate(names):
        by_person.setdefault(name, []).append(row)
    d = cross(people, people)
    genuine: dict[str, list[float]] = {rule: [] for rule in RULES}
    impostor: dict[str, list[float]] = {rule: [] for rule in RULES}
    for name, rows in by_person.items():
        if len(rows) < 2:
            continue
        for frames in itertools.combinations(rows, 2):
            fused = fuse(people[list(frames)])
            enrolled_own = [r for r in rows if r not in frames]
            others = [r for r, n in enumerate(names) if n != name]
            for target, out in ((enrolled_own, genuine), (others, impostor)):
                if not target:
                    continue
                pair = d[np.ix_(list(frames), target)]
                out["any"] += pair.min(axis=0).tolist()
                out["mean_distance"] += pair.mean(axis=0).tolist()
                out["mean_embedding"] += cross(fused[None], people[target])[0].tolist()
    return {r: (np.array(genuine[r]), np.array(impostor[r])) for r in RULES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("FACE_TEST_DATA", ROOT.parent / "shared/faces")) / "dev"
    parser.add_argument("--dev", type=Path, default=default)
    parser.add_argument("--model", help="embedding model (default: [embedder] model)")
    args = parser.parse_args(argv)
    settings = load_settings(None, os.environ)
    if args.model:
        embedder = dataclasses.replace(settings.embedder, model=args.model)
        settings = dataclasses.replace(settings, embedder=embedder)
    engine = FaceEngine(settings)
    dev = embed_dev_set(engine, args.dev)
    measured = scores(dev.names, dev.people)
    report: dict[str, object] = {
        "model": engine.identity.name,
        "genuine_attempts": len(measured["any"][0]),
        "impostor_attempts": len(measured["any"][1]),
    }
    rows = []
    for tar in (0.5, 0.7, 0.8, 0.9, 0.95):
        row: dict[str, float] = {"tar": tar}
        for rule, (genuine, impostor) in measured.items():
            threshold = float(np.quantile(genuine, tar))
            row[f"{rule}_far"] = round(float((impostor <= threshold).mean()), 5)
        rows.append(row)
    report["far_at_equal_tar"] = rows
    report["eer"] = {
        rule: round(equal_error_rate(genuine, impostor)[0], 5)
        for rule, (genuine, impostor) in measured.items()
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
