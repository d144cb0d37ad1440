"""What a model's distances mean on the development set: how often two different people come
out closer than a distance (the per-face false-accept rate, FAR), and how often one person's
two photos do (the true-accept rate, TAR).

1:N decisions read this (``matching``): a stranger is compared with every enrolled face, so
the per-face FAR a gallery of N faces can afford is ``max_false_identification / N``, far
below what 10,000 different-person pairs can measure once N is in the hundreds. Below the
measurable range the FAR comes from a model of the tail: log FAR linear in the distance,
fitted on the lowest different-person distances the set does measure (an exponential tail
falls more slowly than the bulk's, so it errs towards stricter thresholds), and checked on
the pairs below the fitted range (``check``).

One small JSON file per model identity, in ``face_engine/calibrations/``, written by
``python -m face_engine calibrate-gallery`` from ``../shared/faces/dev`` (never from the
test pairs).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from face_engine.types import ModelIdentity

FOLDER = Path(__file__).resolve().parent / "calibrations"
# The empirical FAR is trusted where at least this many different-person pairs are below
# the threshold; below that, the tail model answers.
MIN_COUNT = 10
# The tail model is fitted on the pairs from MIN_COUNT up to this FAR.
FIT_UP_TO_FAR = 0.01
# Different-person distances kept in the file: the lowest ones (the rest never decide).
KEPT = 400


@dataclass(frozen=True, slots=True)
class Tail:
    """log FAR(t) = intercept + slope * t, for t below the measured range."""

    intercept: float
    slope: float

    def far(self, threshold: float) -> float:
        return float(math.exp(min(0.0, self.intercept + self.slope * threshold)))

    def threshold(self, far: float) -> float:
        return (math.log(far) - self.intercept) / self.slope


@dataclass(frozen=True, slots=True)
class Calibration:
    """A model's different-person and same-person distances on the development set."""

    model: str
    weights_hash: str
    different_pairs: int
    lowest: tuple[float, ...]
    same: tuple[float, ...]
    tail: Tail
    source: str = ""
    check: tuple[dict[str, float], ...] = field(default=())

    def far(self, threshold: float) -> float:
        """The estimated chance that one different person's face is within ``threshold``."""
        if threshold <= 0.0:
            return 0.0  # no distance is below 0: nothing is accepted
        below = int(np.searchsorted(np.asarray(self.lowest), threshold, side="left"))
        if below >= MIN_COUNT:
            return below / self.different_pairs
        return min(self.tail.far(threshold), MIN_COUNT / self.different_pairs)

    def threshold_for(self, far: float) -> float:
        """The largest threshold whose estimated per-face FAR is at most ``far``."""
        allowed = int(math.floor(far * self.different_pairs + 1e-9))
        if allowed >= MIN_COUNT:
            if allowed < len(self.lowest):
                return self.lowest[allowed]
            return self.lowest[-1]  # beyond what was kept: never more lenient than that
        return min(self.tail.threshold(far), self.lowest[MIN_COUNT - 1])

    def tar(self, threshold: float) -> float:
        """The share of the set's same-person pairs within ``threshold``."""
        same = np.asarray(self.same)
        return float((same < threshold).mean()) if len(same) else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weights_hash": self.weights_hash,
            "source": self.source,
            "different_pairs": self.different_pairs,
            "tail": {"intercept": self.tail.intercept, "slope": self.tail.slope},
            "check": list(self.check),
            "lowest": [round(v, 5) for v in self.lowest],
            "same": [round(v, 5) for v in self.same],
        }


def fit(
    model: ModelIdentity,
    different: NDArray[np.float64],
    same: NDArray[np.float64],
    source: str = "",
) -> Calibration:
    """The calibration of ``model`` from all its different- and same-person distances.

    The tail is fitted on the pairs from the MIN_COUNT-th up to FAR 1%, then checked: the
    FAR it predicts at the distance of each of the lowest pairs is set beside the share of
    pairs measured there (the lowest pair alone is 1/n; the model should be near or above).
    """
    ordered = np.sort(np.asarray(different, np.float64))
    n = len(ordered)
    if n < 10 * MIN_COUNT:
        raise ValueError(f"{n} different-person pairs are too few to calibrate on")
    top = max(MIN_COUNT + 5, int(FIT_UP_TO_FAR * n))
    ranks = np.arange(MIN_COUNT, top + 1)
    x = ordered[ranks - 1]
    y = np.log(ranks / n)
    slope, intercept = np.polyfit(x, y, 1)
    tail = Tail(float(intercept), float(slope))
    check = tuple(
        {
            "threshold": round(float(ordered[k - 1]) + 1e-6, 5),
            "measured_far": round(k / n, 7),
            "model_far": round(tail.far(float(ordered[k - 1]) + 1e-6), 7),
        }
        for k in (1, 2, 3, 5, MIN_COUNT - 1)
    )
    return Calibration(
        model.name,
        model.weights_hash,
        n,
        tuple(float(v) for v in ordered[:KEPT]),
        tuple(float(v) for v in np.sort(np.asarray(same, np.float64))),
        tail,
        source,
        check,
    )


def path_for(model: ModelIdentity, folder: Path = FOLDER) -> Path:
    """Where ``model``'s calibration is kept: named by model and weights."""
    return folder / f"{model.tag}.json"


def save(calibration: Calibration, folder: Path = FOLDER) -> Path:
    model = ModelIdentity(calibration.model, calibration.weights_hash, 0)
    path = path_for(model, folder)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibration.to_json(), indent=1) + "\n", encoding="utf-8")
    return path


def load(model: ModelIdentity, folder: Path = FOLDER) -> Calibration | None:
    """``model``'s calibration, None when it has none (its weights were never calibrated)."""
    path = path_for(model, folder)
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data["weights_hash"] != model.weights_hash:
        return None
    return Calibration(
        data["model"],
        data["weights_hash"],
        int(data["different_pairs"]),
        tuple(float(v) for v in data["lowest"]),
        tuple(float(v) for v in data["same"]),
        Tail(float(data["tail"]["intercept"]), float(data["tail"]["slope"])),
        data.get("source", ""),
        tuple(data.get("check", ())),
    )
