"""FaceNet embeddings (the optional model): shape, norm, determinism, engine agreement, flip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_engine.config import EmbedderConfig
from face_engine.vision.facenet import FaceEmbedder, prewhiten
from face_engine.vision.weights import facenet_model_path

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def face(facenet_engine, photo):
    image = facenet_engine.decode(photo("people/kate_siegel/1.jpg"))
    return facenet_engine.chip(image, facenet_engine.detect(image)[0])


def test_prewhiten_zero_mean_unit_std():
    x = prewhiten(np.random.default_rng(1).integers(0, 256, (160, 160, 3)).astype(np.uint8))
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    flat = prewhiten(np.full((160, 160, 3), 7, np.uint8))
    assert np.isfinite(flat).all()


def test_embed_unit_norm_and_identical_for_identical_input(facenet_engine, face):
    a, b = facenet_engine.embedder.embed_chips([face, face.copy()])
    assert facenet_engine.identity.name == "facenet" and facenet_engine.identity.dim == 512
    assert a.shape == (512,) and a.dtype == np.float32
    assert abs(float(np.linalg.norm(a)) - 1) < 1e-5
    np.testing.assert_array_equal(a, b)


def test_new_engine_matches_classic_engine(facenet_engine, face):
    classic = cv2.dnn.readNetFromTensorflow(
        str(facenet_model_path()), engine=cv2.dnn.ENGINE_CLASSIC
    )
    classic.setInput(prewhiten(face).transpose(2, 0, 1)[None].copy())
    expected = classic.forward().reshape(-1)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(facenet_engine.embedder.embed_chips([face])[0], expected, atol=1e-5)


def test_flip_averaging_stays_close(face):
    plain = FaceEmbedder(EmbedderConfig(flip=False)).embed(face)
    flipped = FaceEmbedder(EmbedderConfig(flip=True)).embed(face)
    assert abs(float(np.linalg.norm(flipped)) - 1) < 1e-5
    assert float(np.linalg.norm(plain - flipped)) < 0.5


def test_embed_rejects_wrong_shape(facenet_engine, dlib_engine):
    with pytest.raises(ValueError, match="160x160"):
        facenet_engine.embedder.embed_chips([np.zeros((100, 100, 3), np.uint8)])
    with pytest.raises(ValueError, match="150"):
        dlib_engine.embedder.embed_chips([np.zeros((100, 100, 3), np.uint8)])


def test_facenet_separates_people(facenet_engine, photo):
    """FaceNet keeps working end to end for anyone who picks it ([embedder] model = facenet)."""
    vectors = {
        name: facenet_engine.embed_one(facenet_engine.decode(photo(name))).embedding
        for name in (
            "people/barack_obama/1.jpg",
            "people/barack_obama/2.jpg",
            "people/joe_biden/1.jpg",
        )
    }
    obama1, obama2, biden = vectors.values()
    assert facenet_engine.distance(obama1, obama2) < facenet_engine.distance(obama1, biden)
    assert facenet_engine.distance(obama1, biden) >= facenet_engine.threshold
