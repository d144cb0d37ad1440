"""SFace (the default embedder) and YuNet (the optional detector), real models on real photos."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnxruntime as ort
import pytest

from face_engine.vision import sface
from face_engine.vision.pipeline import FaceEngine
from face_engine.vision.sface_onnx import OnnxRuntimeSFace
from face_engine.vision.weights import sface_model_path

pytestmark = pytest.mark.integration

PHOTOS = (
    "people/barack_obama/1.jpg",
    "people/barack_obama/2.jpg",
    "people/kate_siegel/1.jpg",
    "people/kit_harington/1.jpg",
)


@pytest.fixture(scope="module")
def chips(engine, photo):
    out = []
    for name in PHOTOS:
        image = engine.decode(photo(name))
        out.append(engine.chip(image, engine.find_dominant(image)))
    return out


@pytest.fixture(scope="module")
def yunet_engine(settings):
    detector = dataclasses.replace(settings.detector, model="yunet")
    return FaceEngine(dataclasses.replace(settings, detector=detector))


def test_sface_is_the_default_with_its_own_thresholds(engine, settings):
    assert engine.identity.name == "sface" and engine.identity.dim == 128
    assert settings.model == settings.sface and engine.threshold == settings.sface.threshold


def test_embeddings_are_unit_rows_and_batches_equal_single_runs(engine, chips):
    batch = engine.embedder.embed_chips(chips)
    assert batch.shape == (len(chips), 128) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    singles = np.stack([engine.embedder.embed_chips([c])[0] for c in chips])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


@pytest.mark.parametrize("dequantize", [False, True])
def test_onnxruntime_gives_the_descriptors_opencv_gives(engine, chips, dequantize):
    """The runtime was chosen for speed (bench/sface_study.py); the descriptors must not
    depend on it: int8 on onnxruntime, float weights on onnxruntime, OpenCV's DNN."""
    other = OnnxRuntimeSFace(sface_model_path(), dequantize=dequantize, threads=1)
    np.testing.assert_allclose(
        other.embed_batch(chips), engine.embedder.embed_chips(chips), atol=2e-5
    )


def test_onnxruntime_cannot_run_the_file_as_shipped(chips):
    """Why sface_onnx rewrites the graph: weights listed as inputs are asked for."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(sface_model_path()), options)
    assert len(session.get_inputs()) > 1
    with pytest.raises(Exception, match="(?i)required inputs"):
        session.run(None, {"data": sface.to_blob(chips[:1])})


def test_chip_puts_the_landmarks_on_the_arcface_template(engine, photo):
    image = engine.decode(photo("people/barack_obama/1.jpg"))
    face = engine.find_dominant(image)
    matrix = sface.transform(face)
    mapped = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
    eye_distance = sface.ARCFACE_TEMPLATE[1, 0] - sface.ARCFACE_TEMPLATE[0, 0]
    assert np.abs(mapped - sface.ARCFACE_TEMPLATE).max() < 0.25 * eye_distance
    chip = engine.chip(image, face)
    assert chip.shape == (112, 112, 3) and chip.dtype == np.uint8
    # BGR, as chosen on the development set: the chip is the frame's own channel order.
    bgr, rgb = sface.chip(image, face, "bgr"), sface.chip(image, face, "rgb")
    np.testing.assert_array_equal(chip, bgr)
    np.testing.assert_array_equal(bgr[:, :, ::-1], rgb)


def test_sface_separates_people_at_its_threshold(engine, chips):
    vectors = engine.embedder.embed_chips(chips)
    distances = engine.distances(vectors)
    assert distances[0, 1] < engine.threshold  # Obama, two photos
    for i, j in ((0, 2), (0, 3), (1, 2), (2, 3)):
        assert distances[i, j] > engine.threshold


def test_embed_rejects_a_chip_of_another_size(engine):
    with pytest.raises(ValueError, match="112"):
        engine.embedder.embed_chips([np.zeros((150, 150, 3), np.uint8)])


def test_yunet_finds_the_faces_and_landmarks_mtcnn_finds(engine, yunet_engine, photo):
    for name in PHOTOS:
        image = engine.decode(photo(name))
        ours, theirs = engine.find_dominant(image), yunet_engine.find_dominant(image)
        eye = float(np.linalg.norm(ours.landmarks[1] - ours.landmarks[0]))
        # Same order (image-left eye first), each point within a third of the eye distance.
        assert np.linalg.norm(ours.landmarks - theirs.landmarks, axis=1).max() < eye / 3
        assert 0.0 < theirs.score <= 1.0


def test_yunet_counts_the_faces_of_a_group_photo(yunet_engine, photo):
    image = yunet_engine.decode(photo("group/obama_and_biden.jpg"))
    assert len(yunet_engine.detect(image)) >= 2


def test_yunet_refine_follows_the_face_near_a_guess(yunet_engine, photo):
    image = yunet_engine.decode(photo("people/barack_obama/1.jpg"))
    face = yunet_engine.find_dominant(image)
    x, y, w, h = face.box
    shifted = (x + 0.1 * w, y - 0.1 * h, w, h)
    (found,) = yunet_engine.detector.refine([image], [shifted])
    assert found is not None
    assert np.abs(found.landmarks - face.landmarks).max() < 0.1 * w
    blank = np.full_like(image, 128)
    assert yunet_engine.detector.refine([blank], [face.box]) == [None]


def test_the_pipeline_on_yunet_recognises_the_same_person(yunet_engine, photo):
    a = yunet_engine.embed_one(yunet_engine.decode(photo("people/barack_obama/1.jpg")))
    b = yunet_engine.embed_one(yunet_engine.decode(photo("people/barack_obama/2.jpg")))
    c = yunet_engine.embed_one(yunet_engine.decode(photo("people/kate_siegel/1.jpg")))
    assert yunet_engine.distance(a.embedding, b.embedding) < yunet_engine.threshold
    assert yunet_engine.distance(a.embedding, c.embedding) > yunet_engine.threshold
