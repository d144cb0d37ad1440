"""config.ini -> Settings, with environment overrides passed in explicitly."""

from pathlib import Path

import pytest

from face_engine.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_loads(settings):
    assert settings.detector.thresholds == (0.6, 0.7, 0.7)
    assert settings.data.dir == ROOT / "data"
    assert 0 < settings.engine.threshold < 2


def test_env_overrides_file(tmp_path):
    env = {"FACE_LOGIN_DATA": str(tmp_path), "FACE_LOGIN_ENGINE_THRESHOLD": "0.5"}
    settings = load_settings(ROOT / "config.ini", env)
    assert settings.data.dir == tmp_path
    assert settings.engine.threshold == 0.5


def test_config_path_from_env(tmp_path):
    ini = tmp_path / "other.ini"
    ini.write_text("[detector]\nmin_face_size = 24\n[embedder]\nflip = yes\n")
    settings = load_settings(None, {"FACE_LOGIN_CONFIG": str(ini)})
    assert settings.detector.min_face_size == 24
    assert settings.embedder.flip is True


def test_bad_value_names_the_key(tmp_path):
    ini = tmp_path / "bad.ini"
    ini.write_text("[detector]\nmin_face_size = lots\n")
    with pytest.raises(ValueError, match="min_face_size"):
        load_settings(ini, {})
