"""Configuration: ``config.ini`` -> frozen dataclasses -> constructors.

Every knob lives in one section dataclass below with its default. ``load_settings`` reads the
file, then applies environment overrides passed in explicitly (``FACE_LOGIN_<SECTION>_<KEY>``,
plus the short aliases in ``ENV_ALIASES``); nothing in ``face_engine`` reads ``os.environ``.
"""

from __future__ import annotations

import configparser
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ENV_PREFIX = "FACE_LOGIN_"
ENV_ALIASES = {
    "FACE_LOGIN_DATA": ("data", "dir"),
    "FACE_LOGIN_ADMIN_TOKEN": ("app", "admin_token"),
}
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.ini"


@dataclass(frozen=True, slots=True)
class DataConfig:
    """Where runtime state (LMDB, index files) lives."""

    dir: Path = Path("data")


@dataclass(frozen=True, slots=True)
class DecodeConfig:
    """Limits applied to uploaded image bytes before any large allocation."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000


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

    method: str = "similarity"
    image_size: int = 160
    margin: float = 0.1
    # Sideways stretch of the similarity-aligned face; MTCNN boxes' height / width (training
    # crops were resized from such boxes to squares). 1.0 is a plain similarity transform.
    stretch: float = 1.36


@dataclass(frozen=True, slots=True)
class EmbedderConfig:
    """FaceNet knobs."""

    flip: bool = False
    threads: int = 2


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Decisions on top of the stages: match threshold and the dominant-face rule."""

    threshold: float = 0.82
    multiple_faces_ratio: float = 0.6
    # embed_one first looks only for faces at least this fraction of the image's shorter side
    # (0 = always search down to [detector] min_face_size); see FaceEngine.find_dominant.
    first_search_fraction: float = 0.125


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """LMDB environment knobs."""

    map_size_mb: int = 64
    max_readers: int = 126


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """Nearest-neighbour index knobs."""

    backend: str = "annoy"
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
    engine: EngineConfig = field(default_factory=EngineConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    index: IndexConfig = field(default_factory=IndexConfig)


T = TypeVar("T")


def _convert(raw: str, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is tuple:
        item_type = typing.get_args(annotation)[0]
        return tuple(_convert(part.strip(), item_type) for part in raw.split(",") if part.strip())
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return None if raw.strip() == "" else _convert(raw, options[0])
    if annotation is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {raw!r}")
    if annotation is Path:
        return Path(raw.strip())
    return annotation(raw.strip())


def read_section(
    parser: configparser.ConfigParser,
    name: str,
    cls: type[T],
    env: Mapping[str, str],
    base_dir: Path | None = None,
) -> T:
    """Build section dataclass ``cls`` from ``[name]`` in ``parser``, then env overrides.

    Relative ``Path`` values are resolved against ``base_dir`` (the config file's folder).
    """
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        raw = parser.get(name, f.name, fallback=None) if parser.has_section(name) else None
        env_key = f"{ENV_PREFIX}{name}_{f.name}".upper()
        for alias, target in ENV_ALIASES.items():
            if target == (name, f.name) and alias in env:
                raw = env[alias]
        if env_key in env:
            raw = env[env_key]
        if raw is None:
            continue
        try:
            value = _convert(raw, hints[f.name])
        except ValueError as e:
            raise ValueError(f"config [{name}] {f.name} = {raw!r}: {e}") from e
        if isinstance(value, Path) and base_dir is not None and not value.is_absolute():
            value = base_dir / value
        values[f.name] = value
    return cls(**values)


def read_parser(path: Path | None) -> tuple[configparser.ConfigParser, Path]:
    """Parse ``path`` (or the shipped ``config.ini``); return the parser and its folder."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    parser = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
    if path.exists():
        parser.read(path, encoding="utf-8")
    return parser, path.resolve().parent


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``config.ini`` at ``path`` and apply overrides from ``env`` (pass ``os.environ``)."""
    env = env or {}
    if path is None and env.get(f"{ENV_PREFIX}CONFIG"):
        path = Path(env[f"{ENV_PREFIX}CONFIG"])
    parser, base_dir = read_parser(path)
    sections = {
        f.name: read_section(parser, f.name, f.default_factory, env, base_dir)  # type: ignore[arg-type]
        for f in dataclasses.fields(Settings)
    }
    return Settings(**sections)
