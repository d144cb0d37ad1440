"""Configuration: ``config.ini`` -> frozen dataclasses -> constructors.

Every knob lives in one section dataclass below with its default. ``read_config`` parses the
file once (``FACE_LOGIN_CONFIG`` names another) and keeps the environment passed in explicitly;
``ConfigSource.section`` builds one section from it with the overrides
(``FACE_LOGIN_<SECTION>_<KEY>``, plus short aliases such as ``FACE_LOGIN_DATA``). Nothing in
``face_engine`` reads ``os.environ``. Unknown sections and keys, in the file or in the
environment, and bad values raise ``ConfigError`` with one line naming them.
"""

from __future__ import annotations

import configparser
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

ENV_PREFIX = "FACE_LOGIN_"
ENV_ALIASES = {"FACE_LOGIN_DATA": ("data", "dir")}
# Variables with our prefix that are not section keys.
ENV_NOT_KEYS = frozenset({"FACE_LOGIN_CONFIG"})
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.ini"


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
    # JPEGs are decoded at 1/2, 1/4 or 1/8 scale, the smallest keeping the longer side at
    # least this long (0: always full size).
    decode_side: int = 1280

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "frame_max_pixels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.decode_side < 0:
            raise ValueError("decode_side must be 0 or more")


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """MTCNN cascade knobs."""

    min_face_size: int = 40
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    scale_factor: float = 0.709
    max_side: int = 640
    threads: int = 2


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

    model: Literal["dlib", "facenet"] = "dlib"
    # dlib's chip from MTCNN's five landmarks, or from dlib's 5-point shape predictor.
    dlib_alignment: Literal["landmarks", "shape_predictor"] = "landmarks"
    # FaceNet only: also embed the mirrored face and average.
    flip: bool = False
    threads: int = 2


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


def _facenet_defaults() -> ModelConfig:
    return ModelConfig(threshold=0.56, register_threshold=1.07, duplicate_threshold=0.56)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Decisions on top of the stages: match threshold and the dominant-face rule."""

    # Overrides the active model's [dlib] / [facenet] threshold when set (empty: the model's).
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

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be at least 1")
        if not 0.0 < self.yaw_needed < 1.0:
            raise ValueError("yaw_needed must be between 0 and 1")
        if self.max_frames < self.min_face_frames:
            raise ValueError("max_frames must be at least min_face_frames")
        if self.detect_every < 1 or self.challenge_seconds < 1:
            raise ValueError("detect_every and challenge_seconds must be at least 1")


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """LMDB environment knobs."""

    map_size_mb: int = 64
    max_readers: int = 126
    # The audit log of login and registration attempts keeps at most this many entries, and
    # none older than this many days.
    audit_max_entries: int = 100_000
    audit_days: int = 90


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
class Settings:
    """Everything ``face_engine`` needs, one frozen object per process."""

    data: DataConfig = field(default_factory=DataConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    dlib: ModelConfig = field(default_factory=_dlib_defaults)
    facenet: ModelConfig = field(default_factory=_facenet_defaults)
    engine: EngineConfig = field(default_factory=EngineConfig)
    liveness: LivenessConfig = field(default_factory=LivenessConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    index: IndexConfig = field(default_factory=IndexConfig)

    @property
    def model(self) -> ModelConfig:
        """The active model's thresholds, with ``[engine] threshold`` applied when set."""
        chosen = self.dlib if self.embedder.model == "dlib" else self.facenet
        if self.engine.threshold is None:
            return chosen
        return dataclasses.replace(chosen, threshold=self.engine.threshold)


T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration mistake, said in one line that names the key."""


def _convert(raw: str, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is tuple:
        item_type = typing.get_args(annotation)[0]
        return tuple(_convert(part.strip(), item_type) for part in raw.split(",") if part.strip())
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return None if raw.strip() == "" else _convert(raw, options[0])
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if raw.strip() not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return raw.strip()
    if annotation is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("not a boolean (true or false)")
    if annotation is Path:
        return Path(raw.strip())
    return annotation(raw.strip())


@dataclass(frozen=True)
class ConfigSource:
    """One parse of the config file plus the environment that overrides it."""

    parser: configparser.ConfigParser
    base_dir: Path
    env: Mapping[str, str]
    path: Path

    def section(
        self,
        name: str,
        cls: type[T],
        aliases: Mapping[str, tuple[str, str]] = ENV_ALIASES,
        default: T | None = None,
    ) -> T:
        """Section dataclass ``cls`` from ``[name]``, then environment overrides, on top of
        ``default`` (else the class's own defaults).

        Relative ``Path`` values are resolved against the config file's folder.
        """
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            raw = self.parser.get(name, f.name, fallback=None)
            origin = f"[{name}] {f.name}"
            for alias, target in aliases.items():
                if target == (name, f.name) and alias in self.env:
                    raw, origin = self.env[alias], alias
            env_key = f"{ENV_PREFIX}{name}_{f.name}".upper()
            if env_key in self.env:
                raw, origin = self.env[env_key], env_key
            if raw is None:
                continue
            try:
                value = _convert(raw, hints[f.name])
            except ValueError as e:
                raise ConfigError(f"config: {origin} = {raw!r} is not valid: {e}") from None
            if isinstance(value, Path) and not value.is_absolute():
                value = self.base_dir / value
            values[f.name] = value
        try:
            if default is not None:
                return dataclasses.replace(default, **values)  # type: ignore[type-var]
            return cls(**values)
        except ValueError as e:
            raise ConfigError(f"config: [{name}]: {e}") from None

    def check_known(
        self,
        sections: Mapping[str, type[Any]],
        aliases: Mapping[str, tuple[str, str]] = ENV_ALIASES,
        complete: bool = True,
    ) -> None:
        """ConfigError naming the first section or key, in the file or the environment, that
        none of ``sections`` (name -> dataclass) has: a misspelt key is never ignored.

        ``complete=False``: ``sections`` are only some of the program's (the engine's, read
        by the CLI); other sections, and variables not under one of ``sections``, are left to
        their owner.
        """
        known = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in sections.items()}
        for name in self.parser.sections():
            if name not in known:
                if not complete:
                    continue
                raise ConfigError(f"config: {self.path}: unknown section [{name}]")
            for key in self.parser.options(name):
                if key not in known[name]:
                    raise ConfigError(f"config: {self.path}: unknown key [{name}] {key}")
        env_keys = {
            f"{ENV_PREFIX}{name}_{key}".upper() for name, keys in known.items() for key in keys
        }
        prefixes = tuple(f"{ENV_PREFIX}{name}_".upper() for name in known)
        for variable in self.env:
            if (
                variable.startswith(ENV_PREFIX if complete else prefixes)
                and variable not in env_keys
                and variable not in aliases
                and variable not in ENV_NOT_KEYS
            ):
                raise ConfigError(f"config: unknown environment variable {variable}")


def read_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> ConfigSource:
    """Parse ``path``, else ``FACE_LOGIN_CONFIG`` from ``env``, else the shipped config.ini."""
    env = env or {}
    if path is None and env.get(f"{ENV_PREFIX}CONFIG"):
        path = Path(env[f"{ENV_PREFIX}CONFIG"])
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    parser = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
    if path.exists():
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as e:
            first = str(e).splitlines()[0]
            raise ConfigError(f"config: {path} cannot be read: {first}") from None
    elif path != DEFAULT_CONFIG_PATH:
        raise ConfigError(f"config: {path} does not exist")
    return ConfigSource(parser, path.resolve().parent, env, path)


def settings_from(source: ConfigSource) -> Settings:
    """The engine's ``Settings`` from an already parsed source."""
    defaults = Settings()
    sections = {
        f.name: source.section(
            f.name, type(getattr(defaults, f.name)), default=getattr(defaults, f.name)
        )
        for f in dataclasses.fields(Settings)
    }
    return Settings(**sections)


def engine_sections() -> dict[str, type[Any]]:
    """Section name -> dataclass, for every section ``Settings`` has."""
    defaults = Settings()
    return {f.name: type(getattr(defaults, f.name)) for f in dataclasses.fields(Settings)}


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``config.ini`` at ``path`` and apply overrides from ``env`` (pass ``os.environ``);
    unknown keys are refused."""
    source = read_config(path, env)
    source.check_known(engine_sections(), complete=False)
    return settings_from(source)
