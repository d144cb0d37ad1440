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
    assert a.dtype == np.float32 and a.shape == (engine.identity.dim,) == (128,)
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
    assert rgba.embedding.dtype == np.float32 and np.isfinite(rgba.embedding).all()
    assert np.linalg.norm(rgba.embedding) == pytest.approx(1.0, abs=1e-5)
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
    vectors = np.stack([f.embedding for f in faces])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Six different people: no two of them within the match threshold.
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    assert distances[np.triu_indices(6, 1)].min() >= engine.threshold


def test_decode_errors_propagate(engine):
    with pytest.raises(ImageDecodeError):
        engine.decode(b"\xff\xd8\xff\xe0 not really a jpeg")


def _face_crop(engine, image, side):
    """The detected face of ``image`` with some margin, resized so the face is about ``side``."""
    x, y, w, h = engine.detect(image)[0].box
    x0, y0 = int(max(0, x - 0.3 * w)), int(max(0, y - 0.3 * h))
    crop = image[y0 : int(y + 1.3 * h), x0 : int(x + 1.3 * w)]
    factor = side / np.sqrt(w * h)
    return cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def _scene(engine, photo, rival_side):
    """A 1280x960 frame with Obama's face at about 180 px and Biden's at ``rival_side``."""
    frame = np.full((960, 1280, 3), 120, np.uint8)
    main = _face_crop(engine, engine.decode(photo("people/barack_obama/1.jpg")), 180)
    rival = _face_crop(engine, engine.decode(photo("people/joe_biden/1.jpg")), rival_side)
    frame[100 : 100 + main.shape[0], 100 : 100 + main.shape[1]] = main
    frame[500 : 500 + rival.shape[0], 800 : 800 + rival.shape[1]] = rival
    return frame


def test_find_dominant_gives_what_the_full_search_gives(engine, face_data):
    """The cheaper login search answers exactly as dominant_face(detect(...)) does, on every
    photo, at its own size and as a 640x480 frame."""
    photos = sorted((face_data / "people").glob("*/*.jpg")) + sorted(
        (face_data / "group").glob("*.jpg")
    )
    for path in photos:
        image = engine.decode(path.read_bytes())
        for frame in (image, cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA)):
            try:
                expected = engine.dominant_face(engine.detect(frame))
            except MultipleFaces:
                with pytest.raises(MultipleFaces):
                    engine.find_dominant(frame)
                continue
            found = engine.find_dominant(frame)
            np.testing.assert_allclose(found.box, expected.box, atol=1e-3, err_msg=path.name)


def test_find_dominant_searches_finer_for_a_rival_below_the_first_floor(engine, photo, monkeypatch):
    """A rival smaller than the first search's floor (960 / 8 = 120 px) but bigger than 0.6 of
    the main face is found by a second, finer search, and blocks; a smaller one does not."""
    assert engine.settings.engine.first_search_fraction * 960 == 120
    blocked = _scene(engine, photo, 115)
    small, big = sorted(f.size for f in engine.detect(blocked))
    assert 0.6 * big <= small < 120
    floors = []
    detect = engine.detector.detect

    def recording_detect(image, min_size=0.0):
        floors.append(min_size)
        return detect(image, min_size)

    monkeypatch.setattr(engine.detector, "detect", recording_detect)
    with pytest.raises(MultipleFaces):
        engine.find_dominant(blocked)
    assert floors[0] == 120 and 0 < floors[1] < small
    allowed = _scene(engine, photo, 80)
    assert len(detect(allowed)) == 2
    assert engine.find_dominant(allowed).size > 150


def test_find_dominant_on_a_big_face_searches_once(engine, photo, monkeypatch):
    floors = []
    detect = engine.detector.detect
    monkeypatch.setattr(
        engine.detector,
        "detect",
        lambda image, min_size=0.0: floors.append(min_size) or detect(image, min_size),
    )
    image = engine.decode(photo("people/barack_obama/1.jpg"))
    engine.find_dominant(image)
    assert floors == [engine.settings.engine.first_search_fraction * min(image.shape[:2])]
