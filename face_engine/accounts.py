"""Accounts: the use cases the web service offers, on FaceEngine + a Store + a FaceSearch.

No Flask here: the web layer passes image bytes in and maps the errors raised here to HTTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from face_engine.config import LivenessConfig, ModelConfig
from face_engine.errors import (
    ChallengeRequired,
    FaceAlreadyRegistered,
    FaceEngineError,
    FacesDiffer,
    LivenessFailed,
    MultipleFaces,
    NoFaceFound,
    NotRecognized,
    UnknownUser,
    UsernameRequired,
    UsernameTaken,
)
from face_engine.head_turn import Challenge, Challenges, HeadTurnCheck, ReplayMemory
from face_engine.index.face_index import IndexManifest
from face_engine.index.search import FaceSearch
from face_engine.liveness.replay import ClipSignature
from face_engine.matching import Candidate, Match, Matcher
from face_engine.store.interfaces import Store
from face_engine.store.pending_logins import PendingLogins
from face_engine.store.records import User
from face_engine.types import BGRImage, Face
from face_engine.usernames import normalise_username
from face_engine.vision.embedding import Embedder
from face_engine.vision.frames import LazyFrames
from face_engine.vision.pipeline import FaceEngine

Items = list[tuple[BGRImage, Face]]
"""Found faces with the images they are in, to embed with one model or two."""


@dataclass(frozen=True, slots=True, eq=False)
class Migration:
    """Moving to the engine's model from an older one (``[embedder] migrate_from``): the old
    model's embedder and its matcher (on the old model's faces and index) decide; the
    engine's model's faces are stored beside them at registration and at each user's first
    login."""

    embedder: Embedder
    matcher: Matcher


@dataclass(frozen=True, slots=True, eq=False)
class Attempt:
    """The faces of one login or registration: per model tag, the (N, dim) embeddings."""

    vectors: dict[str, NDArray[np.float32]]
    scores: list[float]
    replay: ClipSignature | None = None
    """A passed head turn's replay signature (None without a challenge)."""


@dataclass(frozen=True, slots=True)
class Preview:
    """Faces in one frame (no embeddings), for the live camera preview."""

    faces: list[Face]
    width: int
    height: int


class Accounts:
    """Register, log in, delete; one instance per process."""

    def __init__(
        self,
        engine: FaceEngine,
        store: Store,
        index: FaceSearch,
        matcher: Matcher,
        policy: ModelConfig,
        liveness: LivenessConfig,
        migration: Migration | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.index = index
        self.matcher = matcher
        self.migration = migration
        # Who decides: the old model's matcher while a migration keeps it.
        self.decider = migration.matcher if migration else matcher
        self.deciding = migration.embedder.identity if migration else engine.identity
        self.policy = policy
        self.liveness = liveness
        self.challenges = Challenges(store.challenges, liveness)
        self.audit_entries = store.audit
        self.head_turn = HeadTurnCheck(engine, liveness)
        self.replays = ReplayMemory(store.replays, liveness)
        self.pending = PendingLogins(store.pending_logins, liveness.challenge_seconds)

    def challenge(self, client: str) -> Challenge:
        """A head-turn challenge for ``client`` (its address), to send back with the frames."""
        return self.challenges.issue(client)

    def needs_challenge(self, *, login: bool) -> bool:
        """Whether a login (or a registration) must carry a head-turn challenge."""
        return self.liveness.login if login else self.liveness.register

    def _decode(self, number: int, data: bytes, *, frame: bool, webcam: bool = False) -> BGRImage:
        """Image ``number``'s pixels; a camera ``frame`` has the lower pixel limit, a
        ``webcam`` frame (head turn) the webcam's."""
        try:
            return self.engine.decode(data, frame=frame, webcam=webcam)
        except FaceEngineError as e:
            raise type(e)(f"image {number}: {e.detail}") from e

    def _webcam_frames(self, images: list[bytes]) -> LazyFrames:
        """A head turn's frames, every header checked first, each decoded when needed."""
        for number, data in enumerate(images, start=1):
            try:
                self.engine.check_image(data, webcam=True)
            except FaceEngineError as e:
                raise type(e)(f"image {number}: {e.detail}") from e
        return LazyFrames(images, lambda n, d: self._decode(n, d, frame=True, webcam=True))

    def _photo_faces(self, images: list[bytes]) -> Items:
        """The dominant face of each photo; errors name the photo."""
        found: list[tuple[BGRImage, Face]] = []
        for number, data in enumerate(images, start=1):
            image = self._decode(number, data, frame=False)
            try:
                found.append((image, self.engine.find_dominant(image)))
            except FaceEngineError as e:
                raise type(e)(f"image {number}: {e.detail}") from e
        return found

    def _frame_faces(self, images: list[bytes]) -> Items:
        """Login frames without a challenge: frames without a face are skipped, a frame with
        two faces refuses the login."""
        found: list[tuple[BGRImage, Face]] = []
        for number, data in enumerate(images, start=1):
            image = self._decode(number, data, frame=True)
            try:
                found.append((image, self.engine.find_dominant(image, bounded=True)))
            except NoFaceFound:
                continue
            except MultipleFaces as e:
                raise MultipleFaces(
                    f"image {number}: more than one face is in view; only one person may log in"
                ) from e
        if not found:
            raise NoFaceFound("no face was found in any frame")
        return found

    def _challenge_faces(
        self, images: list[bytes], challenge_id: str, client: str
    ) -> tuple[Items, ClipSignature]:
        """The identity faces of a passed head-turn challenge and its replay signature: the
        frames must show one live person turning as asked (LivenessFailed)."""
        challenge = self.challenges.take(challenge_id, client)
        turn = self.head_turn.check(self._webcam_frames(images), challenge.steps)
        return turn.identity, turn.signature

    def _attempt(
        self, images: list[bytes], challenge_id: str | None, client: str, *, login: bool
    ) -> Attempt:
        """The faces of a login or registration, embedded in one batch per model (two during
        a migration), after checking that they show one person throughout.

        :raise ChallengeRequired (the flow needs a challenge), LivenessFailed (reason
            faces_differ when the face changed during a challenge), FacesDiffer.
        """
        replay: ClipSignature | None = None
        if challenge_id:
            items, replay = self._challenge_faces(images, challenge_id, client)
        elif self.needs_challenge(login=login):
            raise ChallengeRequired()
        else:
            items = self._frame_faces(images) if login else self._photo_faces(images)
        faces = self.engine.embed_many(items)
        vectors = {self.engine.identity.tag: np.stack([f.embedding for f in faces])}
        if self.migration is not None:
            old = self.migration.embedder
            vectors[old.identity.tag] = old.embed_chips([old.chip(i, f) for i, f in items])
        attempt = Attempt(vectors, [f.score for f in faces], replay)
        if not self.decider.one_person(attempt.vectors[self.deciding.tag]):
            if challenge_id:
                raise LivenessFailed(
                    "the face changed during the challenge: only one person may be in view",
                    reason="faces_differ",
                )
            if login:
                raise FacesDiffer("the frames do not all show the same person")
            raise FacesDiffer()
        return attempt

    def register(
        self,
        username: str,
        images: list[bytes],
        challenge_id: str | None = None,
        client: str = "",
    ) -> User:
        """Create an account: from the frames of a passed head-turn challenge (its frontal and
        moderately turned faces are stored), or, with ``[liveness] register`` off, from 1 to 5
        photos of the same person.

        :raise InvalidUsername, UsernameTaken, ImageDecodeError, NoFaceFound, MultipleFaces,
            FacesDiffer (the photos show different people), FaceAlreadyRegistered,
            ChallengeRequired, ChallengeInvalid, LivenessFailed.
        """
        normalise_username(username)  # refuse a bad name before the models run
        try:  # a taken name is said before the person turns their head for nothing
            self.store.users.find_user(username)
        except UnknownUser:
            pass  # free; the write transaction checks again
        else:
            raise UsernameTaken(f"the username {username!r} is already registered")
        attempt = self._attempt(images, challenge_id, client, login=False)
        vectors = attempt.vectors[self.deciding.tag]
        # Faces stored after this point are compared inside the write transaction itself, so
        # two registrations of one face racing each other cannot both pass.
        checked_through = self.store.faces.last_face_id()
        within = self.decider.duplicate_threshold()
        if self.decider.is_registered(vectors, within):
            raise FaceAlreadyRegistered()

        def refuse_duplicates(stored: NDArray[np.float32]) -> None:
            if self.decider.duplicates(stored, vectors, within):
                raise FaceAlreadyRegistered()

        user = self.store.users.create_user(
            username,
            list(zip(vectors, attempt.scores, strict=True)),
            self.deciding,
            guard=refuse_duplicates,
            checked_through=checked_through,
        )
        if attempt.replay is not None:
            self.replays.remember(user.id, attempt.replay)
        if self.migration is not None:
            self._migrate(user.id, attempt)
        return user

    def login(
        self,
        images: list[bytes],
        username: str | None = None,
        challenge_id: str | None = None,
        client: str = "",
    ) -> Match:
        """Recognise the person among everyone (1:N), or only as ``username`` (1:1): from the
        frames of a passed head-turn challenge, or, with ``[liveness] login`` off, from 1 to 5
        frames (frames without a face skipped). Every frame with a face must show the same
        one person; the frames are judged together (``matching.fuse``), never "any frame".

        A face close to one user but not close enough for 1:N with this many people enrolled
        raises UsernameRequired: ``finish_login`` with its ``pending`` id and the username
        verifies the same frames 1:1.

        :raise NoFaceFound (no frame has a face), MultipleFaces, FacesDiffer (the frames show
            different people), ImageDecodeError, NotRecognized, UsernameRequired,
            ChallengeRequired, ChallengeInvalid, LivenessFailed.
        """
        attempt = self._attempt(images, challenge_id, client, login=True)
        if username:
            return self._verify(username, attempt)
        decision = self.decider.identify(attempt.vectors[self.deciding.tag])
        if isinstance(decision, Candidate):
            pending = self.pending.put(client, attempt.vectors)
            raise UsernameRequired(
                pending.id,
                pending.expires_in,
                "your face is close to an account, but with this many people enrolled that is "
                "not enough on its own: type your username to finish",
            )
        if decision is None:
            raise NotRecognized()
        return self._logged_in(decision, attempt)

    def finish_login(self, pending_id: str, username: str, client: str = "") -> Match:
        """Finish a login that answered UsernameRequired: the same frames, verified 1:1 as
        ``username``. The pending login is used up whatever the answer.

        :raise PendingLoginInvalid, NotRecognized.
        """
        pending = self.pending.take(pending_id, client)
        if self.deciding.tag not in pending.vectors:
            raise NotRecognized()  # made before a change of model
        count = len(pending.vectors[self.deciding.tag])
        return self._verify(username, Attempt(pending.vectors, [1.0] * count))

    def _verify(self, username: str, attempt: Attempt) -> Match:
        try:
            user_id = self.store.users.find_user(username).id
        except UnknownUser:
            raise NotRecognized() from None  # never reveal which usernames exist
        match = self.decider.verify(user_id, attempt.vectors[self.deciding.tag])
        if match is None:
            raise NotRecognized()
        return self._logged_in(match, attempt)

    def _logged_in(self, match: Match, attempt: Attempt) -> Match:
        """Record the login; first refuse frames that repeat one of the user's recent passed
        head turns (LivenessFailed, reason ``replayed``), and remember these."""
        if attempt.replay is not None:
            self.replays.check(match.user_id, attempt.replay)
            self.replays.remember(match.user_id, attempt.replay)
        self.store.users.record_login(match.user_id, time.time())
        if self.migration is not None and not self._has_faces_of(match.user_id):
            self._migrate(match.user_id, attempt)
        return match

    def _has_faces_of(self, user_id: int) -> bool:
        """Whether ``user_id`` has faces of the engine's (new) model."""
        refs = {ref for ref, m in self.store.faces.models().items() if m == self.engine.identity}
        return any(face.model_ref in refs for face in self.store.faces.faces_of(user_id))

    def _migrate(self, user_id: int, attempt: Attempt) -> None:
        """Store the engine's model's faces of ``attempt`` for ``user_id``."""
        new = attempt.vectors.get(self.engine.identity.tag)
        if new is None:
            return
        faces = list(zip(new, attempt.scores, strict=True))
        try:
            self.store.faces.add_faces(user_id, faces, self.engine.identity)
        except UnknownUser:
            pass  # deleted meanwhile

    def migration_status(self) -> dict[str, Any] | None:
        """During a migration: the models and how many users have the new model's faces."""
        if self.migration is None:
            return None
        refs = {ref for ref, m in self.store.faces.models().items() if m == self.engine.identity}
        users: set[int] = set()
        for ref, owners in self.store.faces.users_by_model().items():
            if ref in refs:
                users |= owners
        return {
            "from": self.deciding.name,
            "to": self.engine.identity.name,
            "migrated_users": len(users),
        }

    def preview(self, data: bytes) -> Preview:
        """The faces of one webcam frame, searched small (``[detector] preview_max_side``)."""
        image = self.engine.decode(data, webcam=True)
        return Preview(self.engine.preview_faces(image), image.shape[1], image.shape[0])

    def audit(
        self,
        action: str,
        client: str,
        outcome: str,
        match: Match | None = None,
        username: str | None = None,
    ) -> None:
        """Record a login or registration attempt: when, from where, how it ended (``ok`` or
        the error code), and the user and distance when one was matched or created."""
        entry: dict[str, Any] = {
            "time": time.time(),
            "client": client,
            "action": action,
            "outcome": outcome,
            "user": match.username if match else username,
            "distance": round(match.distance, 4) if match else None,
        }
        self.audit_entries.append(entry)

    def audit_log(self, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
        """Audit entries, newest first (``before``: ids below it, to page back)."""
        return self.audit_entries.entries(limit, before)

    def user(self, user_id: int) -> User:
        """The account with this id; UnknownUser if it was deleted."""
        return self.store.users.get_user(user_id)

    def find_user(self, username: str) -> User:
        """The account with this username (case-insensitive); UnknownUser if none."""
        return self.store.users.find_user(username)

    def face_count(self, user_id: int) -> int:
        return self.store.faces.face_count(user_id)

    def users(self) -> list[tuple[User, int]]:
        """Every account with its number of faces, for the admin."""
        return [
            (user, self.store.faces.face_count(user.id)) for user in self.store.users.list_users()
        ]

    def delete(self, user_id: int) -> None:
        """Delete the account and its faces (its sessions die with it)."""
        self.store.users.delete_user(user_id)

    def end_sessions(self, user_id: int) -> None:
        """Void every session of ``user_id``: a cookie copied before is refused from now on."""
        self.store.sessions.end_sessions(user_id)

    def rebuild(self) -> IndexManifest:
        """Rebuild the index now and wait for it (the command line's way)."""
        return self.index.rebuild()

    def start_rebuild(self) -> dict[str, Any]:
        """Rebuild the index in the background (one at a time across processes); its status,
        which lives in the store, so every worker answers ``rebuild_status`` the same."""
        self.index.start_rebuild(again_if_running=True)
        return self.index.rebuild_status()

    def rebuild_status(self) -> dict[str, Any]:
        """The last background rebuild (``FaceSearch.rebuild_status``)."""
        return self.index.rebuild_status()

    def stats(self) -> dict[str, Any]:
        users, faces = self.store.users.user_count(), self.store.faces.total_faces()
        manifest = self.index.manifest()
        gallery = self.decider.gallery(faces)
        return {
            "migration": self.migration_status(),
            "enrolled_faces": gallery.enrolled_faces,
            "one_to_n_threshold": gallery.threshold,
            "one_to_one_threshold": self.decider.threshold,
            "max_false_identification": self.decider.max_false_identification,
            "false_identification": round(gallery.false_identification, 6),
            "tar_at_threshold": gallery.tar,
            "threshold_extrapolated": gallery.extrapolated,
            "calibrated": gallery.calibrated,
            "users": users,
            "faces": faces,
            "index_version": manifest.version if manifest else 0,
            "index_faces": manifest.faces if manifest else 0,
            "index_built_at": manifest.built_at if manifest else None,
            "fresh_faces": self.index.fresh_count(),
        }
