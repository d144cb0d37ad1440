"""The head-turn challenge as a use case: issue one to a client, take it back once, and decide
on the frames captured while it ran (docs/liveness.md).

A challenge names the turns asked for, in the captured, unmirrored frame: "left" means the
nose moves towards the image's left, which is the person turning to their own right. Frames
are read with one full detection every ``detect_every`` frames and the face tracked by O-Net
alone in between (about a fifth of the cost), and the pure checks in ``face_engine.liveness``
decide. The identity is then checked on a few frames: the most frontal one and the least
turned frame that reached each step.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from face_engine.config import LivenessConfig
from face_engine.errors import ChallengeInvalid, LivenessFailed
from face_engine.liveness import (
    DETAILS,
    FrameObservation,
    LivenessPolicy,
    LivenessResult,
    check_liveness,
    faces_needed,
    observation,
)
from face_engine.liveness.replay import ClipSignature, clip_signature, repeated_fraction
from face_engine.liveness.sheet import step_residuals
from face_engine.liveness.stretch import step_stretch
from face_engine.liveness.yaw import yaw_proxy
from face_engine.store.interfaces import ExpiringTable, ReplayTable
from face_engine.types import BGRImage, Box, Face
from face_engine.vision.pipeline import FaceEngine

SIDES = ("left", "right")


@dataclass(frozen=True, slots=True)
class Challenge:
    """What a client must do: ``steps`` in order, before ``expires_at`` (epoch seconds)."""

    id: str
    steps: tuple[str, ...]
    expires_at: float
    client: str

    @property
    def expires_in(self) -> int:
        return max(0, round(self.expires_at - time.time()))


@dataclass(frozen=True, slots=True, eq=False)
class HeadTurn:
    """A passed challenge: the decision's figures, the frames to check the identity on and
    the clip's replay signature."""

    result: LivenessResult
    identity: list[tuple[BGRImage, Face]]
    signature: ClipSignature


class Challenges:
    """Issues challenges into the store's ``challenges`` and takes them back once (across
    processes)."""

    def __init__(self, records: ExpiringTable, config: LivenessConfig) -> None:
        self.records = records
        self.config = config
        self._random = random.SystemRandom()

    def issue(self, client: str) -> Challenge:
        """A new challenge for ``client`` (an address or other key of the asker)."""
        first = self._random.choice(SIDES)
        steps = tuple(SIDES[(SIDES.index(first) + k) % 2] for k in range(self.config.steps))
        now = time.time()
        challenge = Challenge(
            secrets.token_urlsafe(18), steps, now + self.config.challenge_seconds, client
        )
        self.records.put(challenge.id, challenge_record(challenge), challenge.expires_at, now)
        return challenge

    def take(self, challenge_id: str, client: str) -> Challenge:
        """The challenge, which can never be taken again; ChallengeInvalid when it is unknown,
        used, expired or was issued to another client."""
        raw = self.records.take(challenge_id) if 0 < len(challenge_id) <= 64 else None
        if raw is None:
            raise ChallengeInvalid(
                "this challenge is unknown or was already used; ask for a new one"
            )
        data = json.loads(raw)
        if data["expires_at"] < time.time():
            raise ChallengeInvalid("this challenge has expired; ask for a new one")
        if data["client"] != client:
            raise ChallengeInvalid("this challenge was issued to another client; ask for a new one")
        return Challenge(challenge_id, tuple(data["steps"]), data["expires_at"], client)


def challenge_record(challenge: Challenge) -> bytes:
    """How a challenge is kept: JSON (steps, expiry, client) under its id."""
    return json.dumps(
        {"steps": challenge.steps, "expires_at": challenge.expires_at, "client": challenge.client}
    ).encode()


class HeadTurnCheck:
    """Decides whether frames show one live person turning as a challenge asked."""

    def __init__(self, engine: FaceEngine, config: LivenessConfig) -> None:
        self.engine = engine
        self.config = config
        self.policy = LivenessPolicy(
            yaw_needed=config.yaw_needed,
            min_face_frames=config.min_face_frames,
            min_depth=config.min_depth,
        )

    def observe(
        self, frames: Sequence[BGRImage]
    ) -> tuple[list[FrameObservation], list[Face | None]]:
        """Per frame, what the checks need, and the face found (None when there was none).

        Every ``detect_every``-th frame and the last get a full detection (which also counts
        faces: a second person cannot slip in unseen for long, and a frame with more than
        ``[detector] max_faces`` refuses the request at once). The frames in between get
        O-Net alone, in one batch, around a box interpolated between the full detections
        either side; where it finds nothing, a full detection after all. Frames between two
        full detections that both found no face count as faceless, and when too few frames
        can then show a face, the request fails before the rest is decoded or searched.
        ``frames`` may decode each frame when it is first looked at (``LazyFrames``).
        """
        count = len(frames)
        anchors = sorted({*range(0, count, self.config.detect_every), count - 1})
        detected = {i: self.engine.comparable_faces(frames[i], bounded=True) for i in anchors}
        between: list[int] = []
        guesses: list[Box] = []
        for a, b in zip(anchors, anchors[1:], strict=False):
            start = detected[a][0] if detected[a] else None
            end = detected[b][0] if detected[b] else None
            for i in range(a + 1, b):
                guess = _between(start, end, (i - a) / (b - a))
                if guess is None:
                    detected[i] = []
                else:
                    between.append(i)
                    guesses.append(guess)
        possible = len(between) + sum(1 for i in anchors if detected[i])
        if possible < faces_needed(count, self.policy):
            raise LivenessFailed(DETAILS["too_few_faces"], reason="too_few_faces")
        refined = self.engine.detector.refine([frames[i] for i in between], guesses)
        for i, face in zip(between, refined, strict=True):
            detected[i] = (
                [face]
                if face is not None
                else self.engine.comparable_faces(frames[i], bounded=True)
            )
        ratio = self.engine.settings.engine.multiple_faces_ratio
        observations = [observation(i, frames[i], detected[i], ratio) for i in range(count)]
        return observations, [detected[i][0] if detected[i] else None for i in range(count)]

    def check(self, frames: Sequence[BGRImage], steps: tuple[str, ...]) -> HeadTurn:
        """The passed challenge; LivenessFailed with a sentence a person can act on."""
        observations, found = self.observe(frames)
        result = check_liveness(observations, list(steps), self.policy)
        if not result.passed:
            raise LivenessFailed(result.detail, reason=result.code)
        boxes = [face.box if face is not None else None for face in found]
        yaws = [result.yaw_by_frame.get(i) for i in range(len(frames))]
        residuals = step_residuals(frames, boxes, yaws, list(steps))
        if min(residuals.values(), default=0.0) < self.config.min_remap_residual:
            raise LivenessFailed(DETAILS["warped_picture"], reason="warped_picture")
        if self._stretched(frames, found, yaws, steps):
            raise LivenessFailed(DETAILS["stretched_picture"], reason="stretched_picture")
        picks = identity_frames(result, steps, self.config.yaw_needed)
        identity = [(frames[i], face) for i in picks if (face := found[i]) is not None]
        marks = [None if face is None else face.landmarks for face in found]
        yaws = [None if points is None else yaw_proxy(points) for points in marks]
        return HeadTurn(result, identity, clip_signature(frames, marks, yaws))

    def _stretched(
        self,
        frames: Sequence[BGRImage],
        found: list[Face | None],
        yaws: list[float | None],
        steps: tuple[str, ...],
    ) -> bool:
        """Whether a step's turned face is the frontal one drawn out sideways
        (``liveness/stretch.py``; ``[liveness] max_streak_gain``, ``max_side_streak_loss``)."""
        gain, loss = self.config.max_streak_gain, self.config.max_side_streak_loss
        if gain == 0 and loss == 0:
            return False
        faces = [None if face is None else (face.box, face.landmarks) for face in found]
        figures = step_stretch(frames, faces, yaws, list(steps)).values()
        return any(
            (gain > 0 and f.gain > gain) or (loss > 0 and f.side_change < -loss) for f in figures
        )


class ReplayMemory:
    """Each user's recent passed head turns, to refuse the same frames sent again
    (``[liveness] replay_*``; docs/liveness.md)."""

    MAX_YAW_GAP = 0.1
    """Twin frames must also be at about the same yaw proxy (the landmark track)."""

    def __init__(self, records: ReplayTable, config: LivenessConfig) -> None:
        self.records = records
        self.config = config

    def _oldest(self, now: float) -> float:
        """Signatures kept from before this (epoch seconds) are forgotten."""
        return now - self.config.replay_days * 86400.0

    def check(self, user_id: int, signature: ClipSignature) -> None:
        """LivenessFailed (reason ``replayed``) when ``signature`` repeats a kept one."""
        if self.config.replay_keep == 0:
            return
        for raw in self.records.recent(user_id, self._oldest(time.time())):
            old = ClipSignature.from_bytes(raw)
            share = repeated_fraction(
                signature, old, self.config.replay_tolerance, self.MAX_YAW_GAP
            )
            if share >= self.config.replay_fraction:
                raise LivenessFailed(DETAILS["replayed"], reason="replayed")

    def remember(self, user_id: int, signature: ClipSignature) -> None:
        if self.config.replay_keep > 0:
            now = time.time()
            keep, since = self.config.replay_keep, self._oldest(now)
            self.records.remember(user_id, signature.to_bytes(), now, keep, since)


def identity_frames(result: LivenessResult, steps: tuple[str, ...], yaw_needed: float) -> list[int]:
    """The most frontal frame, then for each step the least turned frame that reached it
    (moderately turned faces still embed well; near-profile ones do not)."""
    indices = np.array(list(result.yaw_by_frame), dtype=np.int64)
    yaws = np.array(list(result.yaw_by_frame.values()), dtype=np.float64)
    picks = [int(indices[np.argmin(np.abs(yaws))])]
    for step in dict.fromkeys(steps):
        reached = yaws <= -yaw_needed if step == "left" else yaws >= yaw_needed
        if reached.any():
            candidates = np.flatnonzero(reached)
            picks.append(int(indices[candidates[np.argmin(np.abs(yaws[candidates]))]]))
    return list(dict.fromkeys(picks))


def _between(start: Face | None, end: Face | None, t: float) -> Box | None:
    """The box a fraction ``t`` of the way from ``start``'s to ``end``'s (either alone when
    the other is missing; None when both are)."""
    if start is None and end is None:
        return None
    a = np.array((start or end).box, np.float64)  # type: ignore[union-attr]
    b = np.array((end or start).box, np.float64)  # type: ignore[union-attr]
    x, y, w, h = (a + (b - a) * t).tolist()
    return (x, y, w, h)
