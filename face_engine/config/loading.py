"""Reading the configuration: ``config.ini`` and the environment -> the section dataclasses.

``read_config`` parses the
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from face_engine.config.sections import Settings

ENV_PREFIX = "FACE_LOGIN_"
ENV_ALIASES = {"FACE_LOGIN_DATA": ("data", "dir")}
# Variables with our prefix that are not section keys.
ENV_NOT_KEYS = frozenset({"FACE_LOGIN_CONFIG"})
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config.ini"

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
