"""A 40-megapixel JPEG (the CPU and memory amplification attack) through FaceEngine.decode."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_engine.errors import ImageDecodeError

pytestmark = pytest.mark.integration

PHOTO = "people/barack_obama/1.jpg"
WIDTH, HEIGHT = 5472, 7296  # 39.9 megapixels, under [decode] max_pixels


@pytest.fixture(scope="module")
def huge_jpeg(photo) -> bytes:
    """The photo enlarged to 40 megapixels, as a JPEG of a megabyte or two (in memory)."""
    image = cv2.imdecode(np.frombuffer(photo(PHOTO), np.uint8), cv2.IMREAD_COLOR)
    huge = cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
    return cv2.imencode(".jpg", huge, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def test_huge_camera_frame_is_refused_from_its_header(engine, huge_jpeg):
    limit = engine.settings.decode.frame_max_pixels
    with pytest.raises(ImageDecodeError, match=f"limit for camera frames is {limit}"):
        engine.decode(huge_jpeg, frame=True)


def test_huge_photo_is_decoded_small_and_still_recognised(engine, huge_jpeg, photo):
    assert engine.settings.decode.decode_side == 1280
    image = engine.decode(huge_jpeg)
    # 1/4 scale keeps the longer side at 1824 >= 1280; 1/8 (912) would not.
    assert image.shape == (HEIGHT // 4, WIDTH // 4, 3)
    # Measured: 0.109 from the original photo's face (full-size decoding: 0.099).
    original = engine.embed_one(engine.decode(photo(PHOTO))).embedding
    assert engine.distance(engine.embed_one(image).embedding, original) < engine.threshold / 2
