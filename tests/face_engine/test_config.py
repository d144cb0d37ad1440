"""config.ini -> Settings, with environment overrides passed in explicitly."""

from pathlib import Path

import pytest

from face_engine.config import ConfigError, load_settings
from tests.postgres import lmdb_only

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_loads(settings):
    assert settings.detector.thresholds == (0.6, 0.7, 0.7)
    assert settings.data.dir == ROOT / "data"
    assert settings.embedder.model == "sface" and settings.detector.model == "mtcnn"
    assert settings.engine.threshold is None  # each model's own threshold applies
    assert settings.model == settings.sface
    assert 0 < settings.sface.threshold <= settings.sface.register_threshold < 2
    assert 0 < settings.dlib.threshold < settings.dlib.register_threshold < 2


def test_env_overrides_file(tmp_path):
    env = {"FACE_LOGIN_DATA": str(tmp_path), "FACE_LOGIN_ENGINE_THRESHOLD": "0.5"}
    settings = load_settings(ROOT / "config.ini", env)
    assert settings.data.dir == tmp_path
    assert settings.model.threshold == 0.5


def test_each_model_has_its_own_thresholds():
    facenet = load_settings(ROOT / "config.ini", {"FACE_LOGIN_EMBEDDER_MODEL": "facenet"})
    env = {"FACE_LOGIN_EMBEDDER_MODEL": "dlib", "FACE_LOGIN_DLIB_THRESHOLD": "0.3"}
    dlib = load_settings(ROOT / "config.ini", env)
    sface = load_settings(ROOT / "config.ini", {"FACE_LOGIN_DLIB_THRESHOLD": "0.3"})
    assert facenet.model == facenet.facenet != facenet.dlib
    assert dlib.model.threshold == 0.3
    assert sface.model == sface.sface != sface.dlib


def test_config_path_from_env(tmp_path):
    ini = tmp_path / "other.ini"
    ini.write_text("[detector]\nmin_face_size = 24\n[embedder]\nflip = yes\n")
    settings = load_settings(None, {"FACE_LOGIN_CONFIG": str(ini)})
    assert settings.detector.min_face_size == 24
    assert settings.embedder.flip is True


def test_bad_value_names_the_key(tmp_path):
    ini = tmp_path / "bad.ini"
    ini.write_text("[detector]\nmin_face_size = lots\n")
    with pytest.raises(ConfigError, match="min_face_size"):
        load_settings(ini, {})


@pytest.mark.parametrize(
    ("text", "env", "named"),
    [
        ("[engine]\ntreshold = 0.5\n", {}, "unknown key \\[engine\\] treshold"),
        ("[enginee]\nthreshold = 0.5\n", {}, "unknown section \\[enginee\\]"),
        ("", {"FACE_LOGIN_ENGINE_TRESHOLD": "0.5"}, "FACE_LOGIN_ENGINE_TRESHOLD"),
        ("", {"FACE_LOGIN_APP_WORKER": "3"}, "FACE_LOGIN_APP_WORKER"),
        ("", {"FACE_LOGIN_EMBEDDER_MODEL": "arcface"}, "one of sface, dlib, facenet"),
        ("", {"FACE_LOGIN_DLIB_THRESHOLD": "2.5"}, "threshold must be between 0 and 2"),
        ("", {"FACE_LOGIN_STORE_BACKEND": "mysql"}, "must be one of lmdb, postgres"),
        ("", {"FACE_LOGIN_STORE_BACKEND": "postgres"}, "backend = postgres needs postgres_dsn"),
        ("", {"FACE_LOGIN_STORE_POSTGRES_POOL_SIZE": "0"}, "postgres_pool_size must be at"),
    ],
)
@lmdb_only  # the PostgreSQL pass configures the store beneath every configuration read
def test_mistakes_stop_with_one_line_naming_them(tmp_path, text, env, named):
    """A misspelt key is never silently ignored (the hardening issue)."""
    from app.config import load_config

    ini = tmp_path / "config.ini"
    ini.write_text(text)
    with pytest.raises(ConfigError, match=named) as caught:
        load_config(env, ini)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "key,value", [("DECODE_DECODE_SIDE", "-1"), ("DECODE_FRAME_MAX_PIXELS", "0")]
)
def test_decode_limits_are_checked(key, value):
    with pytest.raises(ConfigError, match=r"\[decode\]"):
        load_settings(ROOT / "config.ini", {f"FACE_LOGIN_{key}": value})


@lmdb_only
def test_the_store_backend_is_lmdb_unless_configured(settings):
    assert settings.store.backend == "lmdb" and settings.store.postgres_dsn == ""
    env = {
        "FACE_LOGIN_STORE_BACKEND": "postgres",
        "FACE_LOGIN_STORE_POSTGRES_DSN": "postgresql://face_login@db/face_login",
    }
    store = load_settings(ROOT / "config.ini", env).store
    assert store.backend == "postgres" and store.postgres_pool_size == 4
