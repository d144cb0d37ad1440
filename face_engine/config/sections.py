"""The configuration's sections: one frozen dataclass each, with its defaults, and
``Settings`` holding them all (the engine's part of config.ini)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True)
class DataConfig:
    """Where runtime state (LMDB, index files) lives."""

    dir: Path = Path("data")


@dataclass(frozen=True, slots=True)
class DecodeConfig:
    """Limits applied to uploaded image bytes before any large allocation."""

    max_bytes: int = 20 * 1024 * 1024
    # Photos (registration): refused above this many pixels, from the header alone.
    max_pixels: int = 40_000_000
    # Camera frames (login, preview): the same, with a lower limit.
    frame_max_pixels: int = 4_000_000
    # Head-turn challenge frames and previews: a webcam's sizes (the page sends at most
    # 640 px). Checked on each frame's header before any frame is decoded.
    webcam_max_pixels: int = 921_600
    webcam_max_bytes: int = 1_048_576
    # JPEGs are decoded at 1/2, 1/4 or 1/8 scale, the smallest keeping the longer side at
    # least this long (0: always full size).
    decode_side: int = 1280

    def __post_init__(self) -> None:
        for name in (
            "max_bytes",
            "max_pixels",
            "frame_max_pixels",
            "webcam_max_pixels",
            "webcam_max_bytes",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.decode_side < 0:
            raise ValueError("decode_side must be 0 or more")


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Which detector finds faces (MTCNN or YuNet), and its knobs."""

    model: Literal["mtcnn", "yunet"] = "mtcnn"
    min_face_size: int = 40
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    scale_factor: float = 0.709
    max_side: int = 640
    threads: int = 2
    # YuNet only: the least face score kept.
    yunet_score: float = 0.9
    # A login, registration or preview frame with more faces than this is refused at once
    # (too_many_faces); tools reading group photos are not held to it.
    max_faces: int = 4
    # Previews are shrunk to this longer side before detecting (0 = [detector] max_side).
    preview_max_side: int = 320

    def __post_init__(self) -> None:
        if self.max_faces < 1:
            raise ValueError("max_faces must be 1 or more")
        if self.preview_max_side < 0:
            raise ValueError("preview_max_side must be 0 or more")


@dataclass(frozen=True, slots=True)
class AlignmentConfig:
    """How a face is cut out for FaceNet (chosen by measurement, see docs/alignment.md)."""

    method: Literal["similarity", "affine", "crop"] = "similarity"
    image_size: int = 160
    margin: float = 0.1
    # Sideways stretch of the similarity-aligned face; MTCNN boxes' height / width (training
    # crops were resized from such boxes to squares). 1.0 is a plain similarity transform.
    stretch: float = 1.36


@dataclass(frozen=True, slots=True)
class EmbedderConfig:
    """Which network embeds faces, and its knobs (docs/recognition.md)."""

    model: Literal["sface", "dlib", "facenet"] = "sface"
    # dlib's chip from MTCNN's five landmarks, or from dlib's 5-point shape predictor.
    dlib_alignment: Literal["landmarks", "shape_predictor"] = "landmarks"
    # FaceNet only: also embed the mirrored face and average.
    flip: bool = False
    threads: int = 2
    # Moving to ``model`` from another one without losing users (README, Changing the model):
    # the old model's faces are kept and decide logins; each login also stores ``model``'s
    # faces; ``python -m face_engine drop-old-faces`` ends it. Empty: no migration.
    migrate_from: str | None = None

    def __post_init__(self) -> None:
        if self.migrate_from is None:
            return
        names = typing.get_args(typing.get_type_hints(EmbedderConfig)["model"])
        if self.migrate_from not in names:
            raise ValueError(f"migrate_from must be empty or one of {', '.join(names)}")
        if self.migrate_from == self.model:
            raise ValueError("migrate_from names the model itself")


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Distances (Euclidean between unit embeddings) that decide, for one model.

    threshold: a login matches below it (chosen on the development set for a false-accept
    rate of at most 0.1%). register_threshold: a registration's photos show one person when
    every pair is below it. duplicate_threshold: a registration is refused as someone's
    existing face below it.
    """

    threshold: float
    register_threshold: float
    duplicate_threshold: float

    def __post_init__(self) -> None:
        for name in ("threshold", "register_threshold", "duplicate_threshold"):
            if not 0.0 < getattr(self, name) < 2.0:
                raise ValueError(f"{name} must be between 0 and 2")


def _dlib_defaults() -> ModelConfig:
    return ModelConfig(threshold=0.39, register_threshold=0.43, duplicate_threshold=0.39)


def _sface_defaults() -> ModelConfig:
    return ModelConfig(threshold=1.06, register_threshold=1.06, duplicate_threshold=1.06)


def _facenet_defaults() -> ModelConfig:
    return ModelConfig(threshold=0.56, register_threshold=1.07, duplicate_threshold=0.56)


@dataclass(frozen=True, slots=True)
class MatchingConfig:
    """1:N decisions that know the gallery (docs/recognition.md, "Strangers and gallery size").

    max_false_identification: the chance, per login attempt, that a person who is not
    enrolled is logged in as someone. The 1:N threshold follows from it and the number of
    enrolled faces; a face close to one user but not that close is asked for a username.
    """

    max_false_identification: float = 0.001

    def __post_init__(self) -> None:
        if not 0.0 < self.max_false_identification < 1.0:
            raise ValueError("max_false_identification must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Decisions on top of the stages: match threshold and the dominant-face rule."""

    # Overrides the active model's [sface] / [dlib] / [facenet] threshold when set (empty:
    # the model's).
    threshold: float | None = None
    multiple_faces_ratio: float = 0.6
    # embed_one first looks only for faces at least this fraction of the image's shorter side
    # (0 = always search down to [detector] min_face_size); see FaceEngine.find_dominant.
    first_search_fraction: float = 0.125


@dataclass(frozen=True, slots=True)
class LivenessConfig:
    """The head-turn challenge (docs/liveness.md): which flows need it, and its knobs."""

    login: bool = True
    register: bool = True
    # Turns asked for, alternating sides; the first side is random.
    steps: int = 2
    # |yaw proxy| each turn must reach (nose offset from the eye midpoint / eye distance).
    yaw_needed: float = 0.15
    # Least nose depth of a turn: real heads measured 0.59 and more, turned photos 0.25 at most.
    min_depth: float = 0.4
    # Frames a challenge login or registration may carry, and the fewest with a face.
    max_frames: int = 60
    min_face_frames: int = 8
    # Seconds a challenge stays valid after it is issued.
    challenge_seconds: int = 60
    # Frames between full detections; the face is tracked (O-Net alone) in between.
    detect_every: int = 8
    # Replay memory: each user's last replay_keep passed head turns (registration and
    # logins), none older than replay_days, are kept as small signatures; a login whose
    # frames repeat one (replay_fraction of its frames within replay_tolerance) is refused.
    # Least residual (grey levels) of dense optical flow from each step's most turned frame
    # back to the frontal one: a photo warped in software is explained by the flow, a turning
    # head is not (docs/liveness.md). 0 switches the check off.
    min_remap_residual: float = 3.2
    # A turned face drawn out sideways like a relief of one photo (liveness/stretch.py): the
    # most that the share of horizontal smears may grow over the frontal frame, and the most
    # that it may fall in the band beyond the outer eye on the side that comes into view.
    # 0 switches either figure off.
    max_streak_gain: float = 0.012
    max_side_streak_loss: float = 0.015
    replay_keep: int = 0  # off as shipped (config.ini says why); 5 with live cameras only
    replay_days: int = 30
    replay_tolerance: float = 0.1
    replay_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be at least 1")
        if not 0.0 < self.yaw_needed < 1.0:
            raise ValueError("yaw_needed must be between 0 and 1")
        if self.max_frames < self.min_face_frames:
            raise ValueError("max_frames must be at least min_face_frames")
        if self.detect_every < 1 or self.challenge_seconds < 1:
            raise ValueError("detect_every and challenge_seconds must be at least 1")
        if self.replay_keep < 0 or self.replay_days < 0:
            raise ValueError("replay_keep and replay_days must be at least 0")
        if self.max_streak_gain < 0 or self.max_side_streak_loss < 0:
            raise ValueError("max_streak_gain and max_side_streak_loss must be at least 0")
        if self.replay_tolerance < 0 or not 0.0 < self.replay_fraction <= 1.0:
            raise ValueError("replay_tolerance must be >= 0 and replay_fraction in (0, 1]")


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """``[store]``: which backend keeps the tables (LMDB, embedded; or PostgreSQL, shared by
    several hosts) and its knobs."""

    backend: Literal["lmdb", "postgres"] = "lmdb"
    # PostgreSQL: a libpq connection string, and the connections each process keeps open.
    postgres_dsn: str = ""
    postgres_pool_size: int = 4
    # LMDB: the initial map size (it grows when full) and the readers' slots.
    map_size_mb: int = 64
    max_readers: int = 126
    # The audit log of login and registration attempts keeps at most this many entries, and
    # none older than this many days.
    audit_max_entries: int = 100_000
    audit_days: int = 90

    def __post_init__(self) -> None:
        if self.backend == "postgres" and not self.postgres_dsn.strip():
            raise ValueError(
                "backend = postgres needs postgres_dsn (FACE_LOGIN_STORE_POSTGRES_DSN), "
                "e.g. postgresql://face_login@db/face_login"
            )
        if self.postgres_pool_size < 1:
            raise ValueError("postgres_pool_size must be at least 1")


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """Nearest-neighbour index knobs."""

    backend: Literal["annoy", "hnsw"] = "annoy"
    n_trees: int = 50
    search_k: int = -1
    # Annoy over a PCA projection to this many dimensions, re-ranked exactly (0: plain Annoy).
    projection_dims: int = 64
    candidates: int = 100
    hnsw_m: int = 16
    hnsw_ef_construction: int = 100
    hnsw_ef: int = 64
    # Faces added since the last build are searched exactly; beyond this many, a rebuild is
    # started in the background.
    max_fresh: int = 20000
    ambiguity_margin: float = 0.05


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """``[oidc]``: the OpenID provider and the forward-auth endpoint for reverse proxies."""

    # The issuer URL (https://login.example.com); empty: the address the request came to.
    issuer: str = ""
    # Hosts (host or host:port) the login page may send a person back to after logging in.
    allowed_return_hosts: tuple[str, ...] = ()
    # The session cookie's domain (".example.com" covers sibling sub-domains); empty: this host.
    cookie_domain: str = ""
    code_seconds: int = 60
    access_token_seconds: int = 3600
    id_token_seconds: int = 3600
    # How long a signing key stays in the JWKS after a rotation (tokens in flight stay valid).
    retired_key_seconds: int = 86400

    def __post_init__(self) -> None:
        for name in ("code_seconds", "access_token_seconds", "id_token_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.retired_key_seconds < self.id_token_seconds:
            raise ValueError("retired_key_seconds must be at least id_token_seconds")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``face_engine`` needs, one frozen object per process."""

    data: DataConfig = field(default_factory=DataConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    sface: ModelConfig = field(default_factory=_sface_defaults)
    dlib: ModelConfig = field(default_factory=_dlib_defaults)
    facenet: ModelConfig = field(default_factory=_facenet_defaults)
    engine: EngineConfig = field(default_factory=EngineConfig)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    liveness: LivenessConfig = field(default_factory=LivenessConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    oidc: OidcConfig = field(default_factory=OidcConfig)

    def thresholds_of(self, name: str) -> ModelConfig:
        """Model ``name``'s thresholds ([dlib], [facenet], ...), as configured."""
        chosen: ModelConfig = getattr(self, name)
        return chosen

    @property
    def model(self) -> ModelConfig:
        """The active model's thresholds, with ``[engine] threshold`` applied when set."""
        chosen: ModelConfig = getattr(self, self.embedder.model)
        if self.engine.threshold is None:
            return chosen
        return dataclasses.replace(chosen, threshold=self.engine.threshold)
