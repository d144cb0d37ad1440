"""The server's decision on a head-turn challenge, from per-frame detector output (NumPy only).

Steps are named in the captured, unmirrored frames: "left" means the nose moves towards the
image's left (``rc`` negative), "right" towards its right. The checks run in this order and
the first failure is reported: too few frames with a face, more than one person, repeated
frames, a face that jumps between frames, a step's turn not reached, a turn that foreshortens
the face like a flat picture instead of moving the nose like a head, steps in the wrong order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from face_engine.liveness.yaw import Box, face_proportion, yaw_proxy

STEPS = ("left", "right")
# A step as the person hears it: the nose moving to the image's left is the person turning to
# their own right (the camera faces them).
PERSON_SIDE = {"left": "your right", "right": "your left"}

DETAILS = {
    "passed": "the head turns were seen",
    "too_few_faces": "we could not see your face in enough frames: keep it in view, in good light",
    "multiple_faces": "only one person may be in view",
    "repeated_frames": "the camera sent the same picture several times: check it and try again",
    "discontinuous": "hold still between turns: keep your face in place and move only your head",
    "turn_not_seen": "turn your head further to {side}",
    "flat_picture": "we could not confirm a live face: turn your own head in front of the camera",
    "wrong_order": "turn your head in the order asked: {order}",
    "warped_picture": "we could not confirm a live face: turn your own head in front of the camera",
    "stretched_picture": (
        "we could not confirm a live face: turn your own head in front of the camera"
    ),
    "replayed": "these frames were sent before: log in live, in front of your camera",
}


@dataclass(frozen=True, eq=False)
class FrameObservation:
    """What the detector saw in one frame.

    ``faces`` counts faces of comparable size to the largest (a small face far behind does not
    count); ``box`` and ``landmarks`` are the largest face's, None when there is no face;
    ``signature`` is a tiny grey thumbnail (values in [0, 1]) to spot repeated frames.
    """

    index: int
    faces: int
    box: Box | None
    landmarks: NDArray[np.float32] | None
    signature: NDArray[np.float32] | None


@dataclass(frozen=True)
class LivenessPolicy:
    """Thresholds, measured in bench/liveness_study.py (docs/liveness.md).

    ``yaw_needed``: |rc| each step's turn must reach. ``min_depth``: the least nose depth
    (rc change x cos(yaw) / sin(yaw), from the face's foreshortening) of a step's best frame;
    real heads measured 0.59 and more, door-turned photos 0.25 at most.
    ``repeat_tolerance``: mean absolute signature difference below which two frames are the
    same picture. Jumps are between consecutive frames with a face: the box centre in face
    sizes, the size ratio and the change of rc.
    """

    yaw_needed: float = 0.15
    min_face_frames: int = 8
    min_face_fraction: float = 0.5
    repeat_tolerance: float = 1e-4
    max_repeat_fraction: float = 0.2
    min_depth: float = 0.4
    frontal_proportion: float = 0.95
    max_centre_jump: float = 0.5
    max_size_jump: float = 1.4
    max_yaw_jump: float = 0.45


@dataclass(frozen=True)
class LivenessResult:
    """The decision; ``identity_frames`` are the frames to embed for the identity check."""

    passed: bool
    code: str
    detail: str
    yaw_by_frame: dict[int, float] = field(default_factory=dict)
    max_left: float | None = None
    max_right: float | None = None
    depth: dict[str, float] = field(default_factory=dict)
    identity_frames: list[int] = field(default_factory=list)


def _face_frames(observations: list[FrameObservation]) -> list[FrameObservation]:
    return [o for o in observations if o.faces > 0 and o.landmarks is not None and o.box]


def _geometry(frame: FrameObservation) -> tuple[NDArray[np.float32], Box]:
    if frame.landmarks is None or frame.box is None:
        raise ValueError(f"frame {frame.index} has no face")
    return frame.landmarks, frame.box


def count_repeats(observations: list[FrameObservation], tolerance: float) -> int:
    """How many frames repeat an earlier frame's signature within ``tolerance``."""
    signatures = [
        np.asarray(o.signature, np.float32).ravel() for o in observations if o.signature is not None
    ]
    repeats = 0
    for i in range(1, len(signatures)):
        earlier = np.stack(signatures[:i])
        if float(np.abs(earlier - signatures[i]).mean(axis=1).min()) < tolerance:
            repeats += 1
    return repeats


def largest_jump(frames: list[FrameObservation], yaws: NDArray[np.float64]) -> tuple[float, ...]:
    """Largest (centre shift in face sizes, size ratio, rc change) between consecutive frames."""
    centre = size = turn = 0.0
    for k in range(1, len(frames)):
        a, b = _geometry(frames[k - 1])[1], _geometry(frames[k])[1]
        side_a, side_b = math.sqrt(a[2] * a[3]), math.sqrt(b[2] * b[3])
        shift = math.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2)
        centre = max(centre, shift / max(side_a, side_b))
        size = max(size, max(side_a, side_b) / min(side_a, side_b))
        turn = max(turn, abs(float(yaws[k] - yaws[k - 1])))
    return centre, size, turn


def nose_depth(
    frames: list[FrameObservation], yaws: NDArray[np.float64], frontal: float
) -> NDArray[np.float64]:
    """Per frame, the rc change from the frontal pose x cos(yaw) / sin(yaw).

    cos(yaw) is the face's proportion over its frontal value (the 95th percentile over the
    clip). A head turning by yaw moves rc by about depth x tan(yaw), so this estimates the
    nose's depth (0.5-0.8 on real heads); a flat picture foreshortens without moving its nose
    from its eyes, so its estimate stays small however far it turns.
    """
    proportions = np.array([face_proportion(*_geometry(f)) for f in frames])
    cosine = np.clip(proportions / np.percentile(proportions, 95), 0.05, 1.0)
    sine = np.maximum(np.sqrt(1.0 - cosine**2), 0.05)
    reference = float(np.median(yaws[cosine >= frontal]))
    return np.asarray(np.abs(yaws - reference) * cosine / sine, dtype=np.float64)


def _fail(code: str, base: LivenessResult, **words: str) -> LivenessResult:
    return LivenessResult(
        False,
        code,
        DETAILS[code].format(**words),
        base.yaw_by_frame,
        base.max_left,
        base.max_right,
        base.depth,
        base.identity_frames,
    )


def faces_needed(frame_count: int, policy: LivenessPolicy) -> int:
    """The fewest frames of ``frame_count`` that must show the face (else too_few_faces)."""
    return max(policy.min_face_frames, math.ceil(policy.min_face_fraction * frame_count))


def check_liveness(
    observations: list[FrameObservation], steps: list[str], policy: LivenessPolicy | None = None
) -> LivenessResult:
    """Decide whether ``observations`` show one live head turning as ``steps`` ask."""
    policy = policy or LivenessPolicy()
    if not steps or any(step not in STEPS for step in steps):
        raise ValueError(f"steps must be a non-empty list of {STEPS}, got {steps}")
    frames = sorted(_face_frames(observations), key=lambda o: o.index)
    yaws = np.array([yaw_proxy(_geometry(f)[0]) for f in frames], dtype=np.float64)
    by_frame = {f.index: float(y) for f, y in zip(frames, yaws, strict=True)}
    base = LivenessResult(False, "", "", by_frame)
    if len(frames) < faces_needed(len(observations), policy):
        return _fail("too_few_faces", base)
    depth = nose_depth(frames, yaws, policy.frontal_proportion)
    reached = {"left": yaws <= -policy.yaw_needed, "right": yaws >= policy.yaw_needed}
    depths = {s: float(depth[reached[s]].max()) for s in STEPS if reached[s].any()}
    extremes = [int(np.argmin(np.abs(yaws))), int(np.argmin(yaws)), int(np.argmax(yaws))]
    identity = list(dict.fromkeys(frames[k].index for k in extremes))
    base = LivenessResult(
        False, "", "", base.yaw_by_frame, float(yaws.min()), float(yaws.max()), depths, identity
    )
    if any(o.faces > 1 for o in observations):
        return _fail("multiple_faces", base)
    repeats = count_repeats(observations, policy.repeat_tolerance)
    if repeats > policy.max_repeat_fraction * len(observations):
        return _fail("repeated_frames", base)
    centre, size, turn = largest_jump(frames, yaws)
    if centre > policy.max_centre_jump or size > policy.max_size_jump or turn > policy.max_yaw_jump:
        return _fail("discontinuous", base)
    for step in steps:
        if not reached[step].any():
            return _fail("turn_not_seen", base, side=PERSON_SIDE[step])
    for step in steps:
        if depths[step] < policy.min_depth:
            return _fail("flat_picture", base)
    position = -1
    for step in steps:
        later = np.flatnonzero(reached[step][position + 1 :])
        if not len(later):
            order = ", then ".join(f"to {PERSON_SIDE[step]}" for step in steps)
            return _fail("wrong_order", base, order=order)
        position += 1 + int(later[0])
    return LivenessResult(
        True,
        "passed",
        DETAILS["passed"],
        base.yaw_by_frame,
        base.max_left,
        base.max_right,
        depths,
        identity,
    )
