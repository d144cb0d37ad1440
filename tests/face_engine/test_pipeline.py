"""FaceEngine end to end on real photos: embeddings, the dominant-face rule, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_engine.errors import ImageDecodeError, MultipleFaces, NoFaceFound

pytestmark = pytest.mark.integration


def test_embedding_unit_norm_and_deterministic(engine, photo):
    image = engine.decode(photo("people/barack_obama/1.jpg"))
    a = engine.embed_one(image).embedding
    b = engine.embed_one(image.copy()).embedding
    assert a.dtype == np.float32 and a.shape == (512,)
    assert abs(np.linalg.norm(a) - 1.0) < 1e-5
    np.testing.assert_array_equal(a, b)


def test_same_person_closer_than_different(engine, photo):
    obama1 = engine.embed_one(engine.decode(photo("people/barack_obama/1.jpg"))).embedding
    obama2 = engine.embed_one(engine.decode(photo("people/barack_obama/2.jpg"))).embedding
    biden = engine.embed_one(engine.decode(photo("people/joe_biden/1.jpg"))).embedding
    same, different = engine.distance(obama1, obama2), engine.distance(obama1, biden)
    assert same < engine.threshold < different


def test_rgba_and_grey_inputs_embed(engine, photo):
    rgba = engine.embed_one(engine.decode(photo("edge/rgba_32bit.png")))
    assert rgba.embedding is not None
    colour = engine.decode(photo("people/barack_obama/1.jpg"))
    grey = cv2.cvtColor(cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    ok, buf = cv2.imencode(".png", grey[:, :, 0])
    face = engine.embed_one(engine.decode(buf.tobytes()))
    reference = engine.embed_one(colour).embedding
    assert engine.distance(face.embedding, reference) < engine.threshold


def test_no_face_raises(engine):
    with pytest.raises(NoFaceFound):
        engine.embed_one(np.full((480, 640, 3), 200, np.uint8))


def test_two_similar_faces_raise(engine, photo):
    with pytest.raises(MultipleFaces):
        engine.embed_one(engine.decode(photo("group/two_people.jpg")))


def test_small_background_face_does_not_block(engine, photo):
    main = engine.decode(photo("people/barack_obama/1.jpg"))
    other = engine.decode(photo("people/joe_biden/1.jpg"))
    x, y, w, h = (int(v) for v in engine.detect(other)[0].box)
    small = cv2.resize(other[y : y + h, x : x + w], (w // 4, h // 4))
    scene = main.copy()
    scene[-small.shape[0] - 20 : -20, -small.shape[1] - 20 : -20] = small
    faces = engine.detect(scene)
    assert len(faces) == 2
    face = engine.embed_one(scene)
    alone = engine.embed_one(main)
    assert engine.distance(face.embedding, alone.embedding) < 0.1


def test_faces_embeds_every_face(engine, photo):
    faces = engine.faces(engine.decode(photo("group/multiface.jpg")))
    assert len(faces) == 6
    assert all(f.embedding is not None for f in faces)


def test_decode_errors_propagate(engine):
    with pytest.raises(ImageDecodeError):
        engine.decode(b"\xff\xd8\xff\xe0 not really a jpeg")
