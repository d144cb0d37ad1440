"""Head-turn liveness decisions: synthetic landmarks (fast) and real clips (integration)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from bench.liveness_attacks import observe
from face_engine.liveness import (
    FrameObservation,
    LivenessPolicy,
    LivenessResult,
    check_liveness,
    face_proportion,
    yaw_proxy,
)
from face_engine.liveness.yaw import Box
from face_engine.types import BGRImage
from face_engine.vision.pipeline import FaceEngine

# A head in eye distances: eyes, nose tip (towards the camera, z < 0), mouth corners.
HEAD = np.array([[-0.5, 0, 0], [0.5, 0, 0], [0, 0.45, -0.6], [-0.4, 0.9, 0], [0.4, 0.9, 0]])


def frame(
    index: int,
    degrees: float,
    nose_depth: float = 0.6,
    shift: float = 0.0,
    faces: int = 1,
    seed: int | None = None,
) -> FrameObservation:
    """A face turned by ``degrees`` (positive: nose towards the image's left), 100 px eyes."""
    points = HEAD.copy()
    points[2, 2] = -nose_depth
    angle = math.radians(degrees)
    x = points[:, 0] * math.cos(angle) + points[:, 2] * math.sin(angle)
    landmarks = np.stack([320 + shift + 100 * x, 200 + 100 * points[:, 1]], axis=1)
    width = 180 * (math.cos(angle) if nose_depth < 0.3 else 1.0)
    box = (320 + shift - width / 2, 150.0, width, 220.0)
    rng = np.random.default_rng(index if seed is None else seed)
    signature = rng.uniform(0, 1, (16, 16)).astype(np.float32)
    return FrameObservation(index, faces, box, landmarks.astype(np.float32), signature)


def clip(angles: list[float], nose_depth: float = 0.6) -> list[FrameObservation]:
    return [frame(i, a, nose_depth=nose_depth) for i, a in enumerate(angles)]


def _geometry(observation: FrameObservation) -> tuple[NDArray[np.float32], Box]:
    assert observation.landmarks is not None and observation.box is not None
    return observation.landmarks, observation.box


def swing(first: float, peak: float = 30.0, frames: int = 30) -> list[float]:
    """0 -> first * peak -> 0 -> -first * peak -> 0, as a sine."""
    return [first * peak * math.sin(2 * math.pi * i / (frames - 1)) for i in range(frames)]


LEFT_THEN_RIGHT = swing(1.0)


def test_yaw_proxy_sign_and_roll() -> None:
    nose_left = np.array([[0, 0], [100, 0], [30, 40], [10, 90], [90, 90]], np.float32)
    assert yaw_proxy(nose_left) == pytest.approx(-0.2)
    rolled = nose_left @ np.array([[0.8, 0.6], [-0.6, 0.8]], np.float32)
    assert yaw_proxy(rolled) == pytest.approx(-0.2, abs=1e-5)
    assert yaw_proxy(_geometry(frame(0, 20))[0]) < -0.15
    assert yaw_proxy(_geometry(frame(0, -20))[0]) > 0.15


def test_face_proportion_shrinks_with_cosine() -> None:
    front, turned = _geometry(frame(0, 0)), _geometry(frame(1, 40))
    ratio = face_proportion(*turned) / face_proportion(*front)
    assert ratio == pytest.approx(math.cos(math.radians(40)), abs=1e-3)


def test_pass_in_order_with_identity_frames() -> None:
    result = check_liveness(clip(LEFT_THEN_RIGHT), ["left", "right"])
    assert result.passed and result.code == "passed"
    assert result.max_left is not None and result.max_left < -0.3
    assert result.max_right is not None and result.max_right > 0.3
    yaws = result.yaw_by_frame
    assert min(yaws, key=yaws.__getitem__) in result.identity_frames
    assert max(yaws, key=yaws.__getitem__) in result.identity_frames
    assert min(yaws, key=lambda i: abs(yaws[i])) in result.identity_frames
    assert result.depth["left"] == pytest.approx(0.6, abs=0.05)


def test_wrong_order() -> None:
    result = check_liveness(clip(LEFT_THEN_RIGHT), ["right", "left"])
    assert not result.passed and result.code == "wrong_order"
    # "right" then "left" in the image: the person turns to their left, then to their right.
    assert "to your left, then to your right" in result.detail


def test_turn_not_seen_names_the_side() -> None:
    small = check_liveness(clip(swing(1.0, peak=8.0)), ["left", "right"])
    assert small.code == "turn_not_seen" and small.detail.endswith("to your right")
    one_side = [max(a, 0.0) for a in LEFT_THEN_RIGHT]
    result = check_liveness(clip(one_side), ["left", "right"])
    assert result.code == "turn_not_seen" and result.detail.endswith("to your left")


def test_threshold_is_the_policy() -> None:
    angles = swing(1.0, peak=16.0)
    assert check_liveness(clip(angles), ["left", "right"]).passed
    strict = LivenessPolicy(yaw_needed=0.2)
    assert check_liveness(clip(angles), ["left", "right"], strict).code == "turn_not_seen"


def test_too_few_faces() -> None:
    frames = clip(LEFT_THEN_RIGHT)
    empty = [FrameObservation(f.index, 0, None, None, f.signature) for f in frames[:20]]
    result = check_liveness(empty + frames[20:], ["left", "right"])
    assert result.code == "too_few_faces" and "enough frames" in result.detail
    assert check_liveness([frame(0, 0)], ["left"]).code == "too_few_faces"


def test_multiple_faces() -> None:
    frames = clip(LEFT_THEN_RIGHT)
    frames[12] = frame(12, LEFT_THEN_RIGHT[12], faces=2)
    result = check_liveness(frames, ["left", "right"])
    assert result.code == "multiple_faces" and result.detail == "only one person may be in view"


def test_repeated_frames() -> None:
    frames = [frame(i, a, seed=0) for i, a in enumerate(LEFT_THEN_RIGHT)]
    assert check_liveness(frames, ["left", "right"]).code == "repeated_frames"
    still = [frame(i, 0.0, seed=0) for i in range(30)]
    assert check_liveness(still, ["left", "right"]).code == "repeated_frames"


def test_discontinuous_when_the_face_jumps() -> None:
    frames = [frame(i, a, shift=200.0 if i >= 15 else 0.0) for i, a in enumerate(LEFT_THEN_RIGHT)]
    result = check_liveness(frames, ["left", "right"])
    assert result.code == "discontinuous" and "hold still" in result.detail
    cut = [25.0] * 15 + [-25.0] * 15
    assert check_liveness(clip(cut), ["left", "right"]).code == "discontinuous"


def test_flat_picture_foreshortens_without_moving_the_nose() -> None:
    flat = clip(swing(1.0, peak=62.0), nose_depth=0.1)
    result = check_liveness(flat, ["left", "right"])
    assert result.max_left is not None and result.max_left <= -0.15
    assert result.code == "flat_picture" and "live face" in result.detail
    assert result.depth["left"] < LivenessPolicy().min_depth


def test_bad_steps_raise() -> None:
    with pytest.raises(ValueError):
        check_liveness(clip(LEFT_THEN_RIGHT), ["up"])
    with pytest.raises(ValueError):
        check_liveness(clip(LEFT_THEN_RIGHT), [])


ROOT = Path(__file__).resolve().parents[2]
LIVENESS = (
    Path(os.environ.get("FACE_TEST_DATA", ROOT.parent / "shared" / "faces")).parent / "liveness"
)


@pytest.fixture(scope="module")
def liveness_data() -> Path:
    """The real clips beside FACE_TEST_DATA; skip when absent, except under CI."""
    if not (LIVENESS / "intel_female_headturn").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"liveness clips not found at {LIVENESS}; CI must not skip them")
        pytest.skip(f"liveness clips not found at {LIVENESS}")
    return LIVENESS


def _read(path: Path) -> BGRImage:
    image = cv2.imread(str(path))
    assert image is not None, path
    return np.asarray(image, dtype=np.uint8)


def _clip(folder: Path) -> list[BGRImage]:
    return [_read(p) for p in sorted(folder.glob("*.jpg"))]


def _decide(engine: FaceEngine, frames: list[BGRImage], steps: list[str]) -> LivenessResult:
    return check_liveness(observe(engine, frames), steps)


LR, RL = ["left", "right"], ["right", "left"]


@pytest.mark.integration
def test_real_turns_pass_in_their_order(engine: FaceEngine, liveness_data: Path) -> None:
    female = _clip(liveness_data / "intel_female_headturn")
    assert _decide(engine, female, LR).passed  # left (from profile), right, then left again
    assert _decide(engine, female, RL).passed
    assert _decide(engine, female[:18], RL).code == "wrong_order"
    small = _clip(liveness_data / "liveportrait_d3_turns")
    assert _decide(engine, small, LR).passed
    assert _decide(engine, small, RL).code == "wrong_order"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("folder", "code"),
    [
        ("intel_male_frontal", "turn_not_seen"),
        ("bioid_nod_pitch", "turn_not_seen"),
        ("intel_two_faces_tilt", "multiple_faces"),
        ("attacks/real_reference/sfas_demo_real", "turn_not_seen"),
        ("attacks/sfas_demo_phone_screen", "turn_not_seen"),
        ("attacks/sfas_demo_printed_photo", "turn_not_seen"),
    ],
)
def test_clips_without_a_turn_fail(
    engine: FaceEngine, liveness_data: Path, folder: str, code: str
) -> None:
    frames = _clip(liveness_data / folder)
    for steps in (LR, RL):
        result = _decide(engine, frames, steps)
        assert not result.passed and result.code == code


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "repeated_code"),
    [
        ("sfas_printed_photo.jpg", "repeated_frames"),
        ("sfas_phone_screen.jpg", "repeated_frames"),
        ("kprokofi_phone_screen_crop.jpg", "repeated_frames"),
        ("kprokofi_phone_next_to_real_full.jpg", "multiple_faces"),
    ],
)
def test_stills_fail(
    engine: FaceEngine, liveness_data: Path, name: str, repeated_code: str
) -> None:
    from bench.liveness_attacks import repeated

    still = _read(liveness_data / "attacks" / "stills" / name)
    assert _decide(engine, [still], LR).code == "too_few_faces"
    assert _decide(engine, repeated(still, 30), LR).code == repeated_code
    noisy = _decide(engine, repeated(still, 30, noise=2.0), LR)
    assert noisy.code in {"turn_not_seen", "multiple_faces"}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("photo", "variant", "seed", "code"),
    [
        ("alex_lacamoire/1.jpg", "edge", 1, "flat_picture"),
        ("rose_leslie/2.jpg", "edge", 151, "flat_picture"),
        ("kate_siegel/1.jpg", "edge", 91, "flat_picture"),
        ("barack_obama/1.jpg", "centre", 30, "turn_not_seen"),
        ("kit_harington/2.jpg", "centre", 110, "turn_not_seen"),
    ],
)
def test_door_turned_photos_fail(
    engine: FaceEngine,
    liveness_data: Path,
    face_data: Path,
    photo: str,
    variant: str,
    seed: int,
    code: str,
) -> None:
    from bench.liveness_attacks import DoorTurn, door_turn, face_card

    image = _read(face_data / "people" / photo)
    card = face_card(image, engine.detect(image)[0].box, margin=0.6)
    turn = DoorTurn(seed=seed, first="left")
    if variant == "edge":
        turn = DoorTurn(hinge=-0.5, distance=1.2, seed=seed, first="left")
    frames = door_turn(card, turn)
    for steps in (LR, RL):
        assert _decide(engine, frames, steps).code == code


@pytest.mark.integration
def test_spliced_real_clips_are_discontinuous(engine: FaceEngine, liveness_data: Path) -> None:
    def box(frame: BGRImage) -> BGRImage:
        scale = min(640 / frame.shape[1], 480 / frame.shape[0])
        w, h = round(frame.shape[1] * scale), round(frame.shape[0] * scale)
        canvas = np.full((480, 640, 3), 128, np.uint8)
        x, y = (640 - w) // 2, (480 - h) // 2
        canvas[y : y + h, x : x + w] = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        return canvas

    female = [box(f) for f in _clip(liveness_data / "intel_female_headturn")]
    other = [box(f) for f in _clip(liveness_data / "liveportrait_d3_turns")]
    assert _decide(engine, female, LR).passed
    assert _decide(engine, female[:11] + other[29:], LR).code == "discontinuous"


def test_degenerate_landmarks_measure_no_turn() -> None:
    """Both eyes on one point (a tiny or garbled detection): no turn, and no exception."""
    points = np.array([[10, 10], [10, 10], [12, 14], [8, 20], [12, 20]], np.float32)
    assert yaw_proxy(points) == 0.0
    assert face_proportion(points, (0.0, 0.0, 20.0, 25.0)) > 0
