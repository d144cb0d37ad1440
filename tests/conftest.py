"""Shared fixtures: where the real photos are, and the rule that CI never skips them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.postgres import (  # noqa: F401 - fixtures: a real PostgreSQL, FACE_TEST_STORE
    _suite_store,
    _suite_store_per_module,
    _suite_store_per_test,
    postgres_dsn,
    postgres_server,
)

FACE_DATA = Path(os.environ.get("FACE_TEST_DATA", ROOT.parent / "shared" / "faces")).resolve()


@pytest.fixture(scope="session")
def face_data() -> Path:
    """The folder of real photos (``FACE_TEST_DATA``); skip outside CI when it is absent."""
    if not (FACE_DATA / "pairs.csv").exists():
        if os.environ.get("CI"):
            pytest.fail(
                f"FACE_TEST_DATA not found at {FACE_DATA}; CI must not skip real-photo tests"
            )
        pytest.skip(f"real photos not found at {FACE_DATA} (set FACE_TEST_DATA)")
    return FACE_DATA


@pytest.fixture(scope="session")
def settings():
    """Shipped settings with no environment overrides."""
    from face_engine.config import load_settings

    return load_settings(ROOT / "config.ini", {})


@pytest.fixture(scope="session")
def engine(settings, tmp_path_factory):
    """The real FaceEngine (MTCNN + SFace, the default) on the shipped settings, with
    its model cache in a temporary folder; loaded once per session."""
    import dataclasses

    from face_engine.config import DataConfig
    from face_engine.vision.pipeline import FaceEngine

    data = DataConfig(tmp_path_factory.mktemp("engine-data"))
    return FaceEngine(dataclasses.replace(settings, data=data))


@pytest.fixture(scope="session")
def dlib_settings(settings, tmp_path_factory):
    """Shipped settings with ``[embedder] model = dlib`` (its ONNX graph cached in a
    temporary folder)."""
    import dataclasses

    from face_engine.config import DataConfig, load_settings

    chosen = load_settings(ROOT / "config.ini", {"FACE_LOGIN_EMBEDDER_MODEL": "dlib"})
    return dataclasses.replace(chosen, data=DataConfig(tmp_path_factory.mktemp("dlib-data")))


@pytest.fixture(scope="session")
def dlib_engine(dlib_settings):
    """The real FaceEngine with dlib's ResNet, for anyone who asks for that model."""
    from face_engine.vision.pipeline import FaceEngine

    return FaceEngine(dlib_settings)


@pytest.fixture(scope="session")
def facenet_settings(settings):
    """Shipped settings with ``[embedder] model = facenet``."""
    from face_engine.config import load_settings

    return load_settings(ROOT / "config.ini", {"FACE_LOGIN_EMBEDDER_MODEL": "facenet"})


@pytest.fixture(scope="session")
def facenet_engine(facenet_settings):
    """The real FaceEngine with FaceNet, for anyone who asks for that model."""
    from face_engine.vision.pipeline import FaceEngine

    return FaceEngine(facenet_settings)


@pytest.fixture(scope="session")
def photo(face_data):
    """Bytes of a photo under FACE_TEST_DATA, e.g. ``photo("people/barack_obama/1.jpg")``."""

    def read(relative: str) -> bytes:
        return (face_data / relative).read_bytes()

    return read


@pytest.fixture(scope="session")
def liveness_data(face_data) -> Path:
    """The head-turn clips and attacks beside FACE_TEST_DATA (``../shared/liveness``)."""
    folder = face_data.parent / "liveness"
    if not (folder / "README.md").exists():
        if os.environ.get("CI"):
            pytest.fail(f"liveness clips not found at {folder}; CI must not skip them")
        pytest.skip(f"liveness clips not found at {folder}")
    return folder
