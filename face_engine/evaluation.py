"""Verification accuracy over labelled pairs of photos (the ``evaluate`` and ``calibrate``
commands): accuracy at a threshold, the threshold for a target false-accept rate, TAR there,
and the equal-error rate. Distances are Euclidean between unit embeddings; a pair is accepted
when its distance is below the threshold."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


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


def threshold_at_far(different: NDArray[np.float64], far: float) -> float:
    """The largest threshold whose false-accept rate over ``different`` is at most ``far``:
    at most floor(far * n) different-person pairs fall below it."""
    if not len(different):
        return 2.0
    ordered = np.sort(different)
    allowed = int(np.floor(far * len(ordered) + 1e-9))
    return float(ordered[allowed]) if allowed < len(ordered) else 2.0


def equal_error_rate(
    same: NDArray[np.float64], different: NDArray[np.float64]
) -> tuple[float, float]:
    """(EER, its threshold): where the false-reject and false-accept rates cross."""
    if not len(same) or not len(different):
        return 0.0, 0.0
    candidates = np.unique(np.concatenate([same, different]))
    frr = np.array([(same >= t).mean() for t in candidates])
    far = np.array([(different < t).mean() for t in candidates])
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2), float(candidates[i])


def tar_at_far(
    same: NDArray[np.float64], different: NDArray[np.float64], far: float
) -> dict[str, float | None]:
    """The threshold for ``far`` (rounded down to 4 decimals, so rounding never admits
    another pair) and the share of same-person pairs it accepts."""
    threshold = float(np.floor(threshold_at_far(different, far) * 1e4) / 1e4)
    tar = float((same < threshold).mean()) if len(same) else None
    return {"far": far, "threshold": threshold, "tar": None if tar is None else round(tar, 4)}


def _stats(values: NDArray[np.float64]) -> dict[str, float | int | None]:
    if not len(values):
        return {"n": 0, "min": None, "max": None, "mean": None}
    return {
        "n": int(len(values)),
        "min": round(float(values.min()), 4),
        "max": round(float(values.max()), 4),
        "mean": round(float(values.mean()), 4),
    }


def summarise(
    same: NDArray[np.float64],
    different: NDArray[np.float64],
    threshold: float,
    no_face: int,
    no_face_same: int,
) -> dict[str, Any]:
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
    best = max((float(t) for t in mids), key=lambda t: (accuracy(t), -abs(t - threshold)))
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
        "best_threshold": round(best, 4),
        "best_accuracy": round(accuracy(best), 4),
        "same": _stats(same),
        "different": _stats(different),
        "gap": round(gap, 4) if gap is not None else None,
        "tar_at_far": [tar_at_far(same, different, far) for far in (0.001, 0.0)],
        "eer": round(equal_error_rate(same, different)[0], 4),
    }
