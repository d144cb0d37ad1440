"""Verification accuracy over labelled pairs of photos (the ``evaluate`` command)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class Pair:
    """Two photo paths and whether they show the same person."""

    file_x: Path
    file_y: Path
    same: bool


def read_pairs(csv_path: Path, root: Path | None = None) -> list[Pair]:
    """Rows ``file_x,file_y,same`` (same = yes/no); paths relative to ``root`` (default: the
    CSV's folder)."""
    root = root or csv_path.parent
    pairs = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = row["same"].strip().lower()
            if label not in ("yes", "no"):
                raise ValueError(f"{csv_path}: 'same' must be yes or no, got {row['same']!r}")
            pairs.append(Pair(root / row["file_x"], root / row["file_y"], label == "yes"))
    return pairs


def _stats(values: np.ndarray) -> dict[str, float | int | None]:
    if not len(values):
        return {"n": 0, "min": None, "max": None, "mean": None}
    return {
        "n": int(len(values)),
        "min": round(float(values.min()), 4),
        "max": round(float(values.max()), 4),
        "mean": round(float(values.mean()), 4),
    }


def summarise(
    same: np.ndarray, different: np.ndarray, threshold: float, no_face: int, no_face_same: int
) -> dict:
    """Accuracy, TAR and FAR at ``threshold`` and the best threshold over the pairs.

    Pairs where a face was not found count as answered "different" (a login would fail).
    """
    total = len(same) + len(different) + no_face
    same_total = len(same) + no_face_same
    different_total = total - same_total

    def accuracy(t: float) -> float:
        correct = int((same < t).sum()) + int((different >= t).sum()) + (no_face - no_face_same)
        return correct / total if total else 0.0

    candidates = np.unique(np.concatenate([same, different, [threshold]]))
    mids = (candidates[:-1] + candidates[1:]) / 2 if len(candidates) > 1 else candidates
    best = max(mids, key=lambda t: (accuracy(float(t)), -abs(float(t) - threshold)))
    gap = float(different.min() - same.max()) if len(same) and len(different) else None
    return {
        "pairs": total,
        "no_face": no_face,
        "threshold": threshold,
        "accuracy": round(accuracy(threshold), 4),
        "tar": round(int((same < threshold).sum()) / same_total, 4) if same_total else None,
        "far": round(int((different < threshold).sum()) / different_total, 4)
        if different_total
        else None,
        "best_threshold": round(float(best), 4),
        "best_accuracy": round(accuracy(float(best)), 4),
        "same": _stats(same),
        "different": _stats(different),
        "gap": round(gap, 4) if gap is not None else None,
    }
