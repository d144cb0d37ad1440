"""The 1:N rules on their own: the one distance, the calibration's tail model, the gallery's
threshold, fusion, and the open-set figures (fast: no model, no photo)."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from face_engine import calibration
from face_engine.cli.gallery_commands import open_set
from face_engine.config import EmbedderConfig
from face_engine.distance import cross, distance, pairwise, to_rows, within
from face_engine.matching import fuse, gallery_for
from face_engine.types import ModelIdentity

MODEL = ModelIdentity("test", "0" * 64, 8)


def unit(rows: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_the_one_distance_is_euclidean():
    a, b = unit(5), unit(7, seed=1)
    exact = np.linalg.norm(a[:, None] - b[None], axis=2)
    assert np.allclose(cross(a, b), exact, atol=1e-6)
    assert np.allclose(to_rows(b, a[0]), exact[0], atol=1e-6)
    assert distance(a[0], b[0]) == pytest.approx(exact[0, 0], abs=1e-6)
    assert np.allclose(pairwise(a, b[:5]), np.diag(exact[:, :5]), atol=1e-6)
    assert np.allclose(np.diag(within(a)), 0.0) and within(a).shape == (5, 5)


def fitted() -> calibration.Calibration:
    rng = np.random.default_rng(3)
    different = rng.normal(1.2, 0.15, 20_000)
    same = rng.normal(0.4, 0.1, 300)
    return calibration.fit(MODEL, different, same, source="synthetic")


def test_the_calibration_measures_where_it_can_and_extrapolates_below():
    c = fitted()
    assert c.different_pairs == 20_000
    # Measured: FAR 1e-3 is 20 pairs.
    t = c.threshold_for(1e-3)
    assert c.far(t) <= 1e-3 and c.far(t + 0.01) > 1e-3 * 0.5
    # Extrapolated: lower FARs give lower thresholds, monotonically.
    thresholds = [c.threshold_for(f) for f in (1e-4, 1e-5, 1e-6, 1e-7)]
    assert thresholds == sorted(thresholds, reverse=True) and thresholds[0] < t
    assert c.far(thresholds[-1]) == pytest.approx(1e-7, rel=1e-6)
    # The check sets the model beside what the lowest pairs measure.
    assert [row["measured_far"] for row in c.check][0] == pytest.approx(1 / 20_000)
    assert 0.0 <= c.tar(t) <= 1.0


def test_a_calibration_is_kept_per_model_identity(tmp_path):
    c = fitted()
    path = calibration.save(c, tmp_path)
    assert path.name == f"{MODEL.tag}.json"
    loaded = calibration.load(MODEL, tmp_path)
    assert loaded is not None and loaded.threshold_for(1e-6) == pytest.approx(c.threshold_for(1e-6))
    other = ModelIdentity("test", "1" * 64, 8)
    assert calibration.load(other, tmp_path) is None


def test_every_model_the_service_knows_ships_its_calibration():
    """Calibrate a new model with ``python -m face_engine calibrate-gallery ../shared/faces/dev
    --model NAME`` (the file lands in face_engine/calibrations/)."""
    names = typing.get_args(typing.get_type_hints(EmbedderConfig)["model"])
    from face_engine.vision.embedding import model_identity

    for name in names:
        model = model_identity(EmbedderConfig(model=name))
        assert calibration.load(model) is not None, f"{model.tag} has no calibration"


def test_the_gallery_threshold_tightens_as_faces_are_enrolled():
    c = fitted()
    one_to_one = 0.9
    galleries = [gallery_for(n, one_to_one, 0.001, c) for n in (1, 10, 1000, 100_000)]
    thresholds = [g.threshold for g in galleries]
    assert thresholds == sorted(thresholds, reverse=True) and thresholds[-1] < thresholds[0]
    assert all(0.0 <= t <= one_to_one for t in thresholds)
    for g in galleries:
        assert g.false_identification <= 0.001 * 1.01
    assert galleries[-1].extrapolated and galleries[-1].calibrated
    # Never looser than 1:1, and uncalibrated models fall back to it.
    assert gallery_for(1, 0.3, 0.5, c).threshold == 0.3
    assert gallery_for(10**6, 0.5, 0.001, None).threshold == 0.5


def test_fused_frames_are_their_mean_on_the_sphere():
    frames = unit(3)
    fused = fuse(frames)
    assert np.linalg.norm(fused) == pytest.approx(1.0, abs=1e-6)
    mean = frames.mean(axis=0)
    assert np.allclose(fused, mean / np.linalg.norm(mean), atol=1e-6)


def test_open_set_figures_by_resampling():
    rng = np.random.default_rng(5)
    centres = unit(40, dim=16, seed=9)
    names, rows = [], []
    for person, centre in enumerate(centres):
        for _ in range(3):
            v = centre + rng.normal(0, 0.08, 16)
            rows.append(v / np.linalg.norm(v))
            names.append(f"p{person}")
    people = np.array(rows, np.float32)
    result = open_set(names, people, [0.2, 0.5, 1.0], [10, 1000], rounds=5)
    small, large = result["10"]["curve"], result["1000"]["curve"]
    assert [p["fnir"] for p in small] == sorted((p["fnir"] for p in small), reverse=True)
    assert [p["fpir"] for p in small] == sorted(p["fpir"] for p in small)
    # A larger gallery: more false positives at the same threshold.
    assert large[-1]["fpir"] >= small[-1]["fpir"]
    assert result["10"]["mated_searches"] > 0 and result["10"]["non_mated_searches"] > 0
