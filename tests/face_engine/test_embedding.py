"""FaceNet embeddings: shape, norm, determinism, engine agreement, flip averaging."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_engine.config import EmbedderConfig
from face_engine.vision.facenet import FaceEmbedder, prewhiten
from face_engine.vision.weights import facenet_model_path

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def face(engine, photo):
    image = engine.decode(photo("people/kate_siegel/1.jpg"))
    return engine.align(image, engine.detect(image)[0])


def test_prewhiten_zero_mean_unit_std():
    x = prewhiten(np.random.default_rng(1).integers(0, 256, (160, 160, 3)).astype(np.uint8))
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    flat = prewhiten(np.full((160, 160, 3), 7, np.uint8))
    assert np.isfinite(flat).all()


def test_embed_unit_norm_and_identical_for_identical_input(engine, face):
    a = engine.embedder.embed(face)
    b = engine.embedder.embed(face.copy())
    assert a.shape == (512,) and a.dtype == np.float32
    assert abs(float(np.linalg.norm(a)) - 1) < 1e-5
    np.testing.assert_array_equal(a, b)


def test_new_engine_matches_classic_engine(engine, face):
    classic = cv2.dnn.readNetFromTensorflow(
        str(facenet_model_path()), engine=cv2.dnn.ENGINE_CLASSIC
    )
    classic.setInput(prewhiten(face).transpose(2, 0, 1)[None].copy())
    expected = classic.forward().reshape(-1)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(engine.embedder.embed(face), expected, atol=1e-5)


def test_flip_averaging_stays_close(face):
    plain = FaceEmbedder(EmbedderConfig(flip=False)).embed(face)
    flipped = FaceEmbedder(EmbedderConfig(flip=True)).embed(face)
    assert abs(float(np.linalg.norm(flipped)) - 1) < 1e-5
    assert float(np.linalg.norm(plain - flipped)) < 0.5


def test_embed_rejects_wrong_shape(engine):
    with pytest.raises(ValueError, match="160x160"):
        engine.embedder.embed(np.zeros((100, 100, 3), np.uint8))
