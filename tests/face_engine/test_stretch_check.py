"""The stretched-picture check (issue 15): a 2.5-D relief of one photo turned 40 degrees draws
the frontal pixels out into horizontal smears; the real turning clips do not."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.warp_attacks import CLIPS, seeded, warp_attack
from bench.warp_sources import Sources
from face_engine.config import LivenessConfig
from face_engine.errors import LivenessFailed
from face_engine.head_turn import HeadTurnCheck
from face_engine.liveness.stretch import step_stretch
from face_engine.vision.pipeline import FaceEngine

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LIVENESS = (
    Path(os.environ.get("FACE_TEST_DATA", ROOT.parent / "shared" / "faces")).parent / "liveness"
)
SHIPPED = LivenessConfig()


@pytest.fixture(scope="module")
def liveness_data() -> Path:
    """The real clips beside FACE_TEST_DATA; skip when absent, except under CI."""
    if not (LIVENESS / "intel_female_headturn").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"liveness clips not found at {LIVENESS}; CI must not skip them")
        pytest.skip(f"liveness clips not found at {LIVENESS}")
    return LIVENESS


def _clip(folder: Path) -> list[np.ndarray]:
    return [np.asarray(cv2.imread(str(p)), np.uint8) for p in sorted(folder.glob("*.jpg"))]


@pytest.mark.parametrize(
    ("name", "steps"),
    [
        ("intel_female_headturn", ("left", "right")),
        ("intel_female_headturn", ("right", "left")),
        ("liveportrait_d3_turns", ("left", "right")),
    ],
)
def test_real_turns_are_not_stretched(engine: FaceEngine, liveness_data: Path, name, steps):
    frames = _clip(liveness_data / name)
    check = HeadTurnCheck(engine, SHIPPED)
    turn = check.check(frames, steps)  # the whole decision, this check included
    assert turn.result.passed
    _, found = check.observe(frames)
    faces = [None if f is None else (f.box, f.landmarks) for f in found]
    yaws = [turn.result.yaw_by_frame.get(i) for i in range(len(frames))]
    for figures in step_stretch(frames, faces, yaws, list(steps)).values():
        assert figures.gain <= SHIPPED.max_streak_gain
        assert figures.side_change >= -SHIPPED.max_side_streak_loss


def test_a_relief_turned_40_degrees_is_stretched(engine: FaceEngine, face_data: Path):
    """bench/warp_attacks.py's relief40 attack (seed 16, each person's first three photos):
    refused by this check, and passes the head turn with the check off."""
    sources = Sources.load(engine, face_data.parent, CLIPS, photos_glob="people/*/[123].jpg")
    rng, steps = seeded("relief40", 16)
    _, sent = warp_attack(sources, "relief40", rng, steps)
    frames = [engine.decode(f, frame=True) for f in sent]
    with pytest.raises(LivenessFailed) as failed:
        HeadTurnCheck(engine, SHIPPED).check(frames, steps)
    assert failed.value.reason == "stretched_picture"
    off = dataclasses.replace(SHIPPED, max_streak_gain=0.0, max_side_streak_loss=0.0)
    assert HeadTurnCheck(engine, off).check(frames, steps).result.passed
