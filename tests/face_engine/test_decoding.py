"""Decoding: formats, colour layouts, EXIF orientation, and refusal of bad bytes."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from face_engine.config import DecodeConfig
from face_engine.errors import ImageDecodeError
from face_engine.vision.decoding import decode_image

CONFIG = DecodeConfig()


def encode(array: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, array)
    assert ok
    return buf.tobytes()


def test_decode_jpeg_photo(photo):
    image = decode_image(photo("people/barack_obama/1.jpg"), CONFIG)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_decode_rgba_png_composites_alpha(photo):
    image = decode_image(photo("edge/rgba_32bit.png"), CONFIG)
    assert image.shape[2] == 3 and image.dtype == np.uint8


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp"])
def test_decode_formats_and_grey(ext):
    grey = (np.arange(64 * 48) % 251).astype(np.uint8).reshape(48, 64)
    image = decode_image(encode(grey, ext), CONFIG)
    assert image.shape == (48, 64, 3)


def test_decode_16_bit_png():
    deep = np.full((20, 30, 3), 40000, np.uint16)
    image = decode_image(encode(deep, ".png"), CONFIG)
    assert image.dtype == np.uint8 and image.shape == (20, 30, 3)
    assert abs(int(image[0, 0, 0]) - 40000 // 256) <= 1


def test_decode_transparent_pixels_become_white():
    rgba = np.zeros((10, 10, 4), np.uint8)
    image = decode_image(encode(rgba, ".png"), CONFIG)
    assert (image == 255).all()


@pytest.mark.parametrize(
    "orientation,shape", [(1, (40, 60)), (3, (40, 60)), (6, (60, 40)), (8, (60, 40))]
)
def test_decode_applies_exif_orientation(orientation, shape):
    array = np.zeros((40, 60, 3), np.uint8)
    array[:10, :10] = 255  # a white mark in the top-left corner
    pil = Image.fromarray(array)
    exif = pil.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    pil.save(buf, "JPEG", exif=exif, quality=95)
    image = decode_image(buf.getvalue(), CONFIG)
    assert image.shape[:2] == shape
    corner = {1: (0, 0), 3: (-1, -1), 6: (0, -1), 8: (-1, 0)}[orientation]
    assert image[corner[0], corner[1]].mean() > 200


def test_decode_real_photo_rotated_by_exif(photo):
    pil = Image.open(io.BytesIO(photo("people/barack_obama/1.jpg")))
    exif = pil.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    pil.save(buf, "JPEG", exif=exif)
    image = decode_image(buf.getvalue(), CONFIG)
    assert image.shape[:2] == (pil.width, pil.height)


@pytest.mark.parametrize(
    "data,words",
    [
        (b"", "empty"),
        (b"definitely not an image", "not a recognised image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "not a recognised image"),
    ],
)
def test_decode_refuses_garbage(data, words):
    with pytest.raises(ImageDecodeError, match=words):
        decode_image(data, CONFIG)


@pytest.mark.parametrize("name", ["people/barack_obama/1.jpg", "edge/rgba_32bit.png"])
def test_decode_refuses_truncated(photo, name):
    data = photo(name)
    with pytest.raises(ImageDecodeError, match="truncated|corrupt|not a recognised"):
        decode_image(data[: len(data) // 2], CONFIG)


def test_decode_refuses_unsupported_format():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "GIF")
    with pytest.raises(ImageDecodeError, match="GIF"):
        decode_image(buf.getvalue(), CONFIG)


def test_decode_refuses_bomb_before_decoding():
    # A 30000x30000 PNG of zeros compresses to a few hundred KB; only its header is read.
    big = np.zeros((3000, 3000), np.uint8)
    data = encode(big, ".png")
    small_limit = DecodeConfig(max_pixels=1_000_000)
    with pytest.raises(ImageDecodeError, match="pixels"):
        decode_image(data, small_limit)


def test_decode_refuses_too_many_bytes():
    with pytest.raises(ImageDecodeError, match="bytes"):
        decode_image(b"x" * 100, DecodeConfig(max_bytes=10))
