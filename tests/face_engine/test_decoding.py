"""Decoding: formats, colour layouts, EXIF orientation, and refusal of bad bytes."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from face_engine.config import DecodeConfig
from face_engine.errors import ImageDecodeError
from face_engine.vision.decoding import EXIF_ORIENTATION, decode_image

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


def pattern(width: int, height: int) -> np.ndarray:
    """A smooth BGR picture with a white mark in its top-left corner (orientation checks)."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=2)
    image = image.astype(np.uint8)
    image[: height // 8, : width // 8] = 255
    return image


def jpeg(image: np.ndarray) -> bytes:
    return encode(image, ".jpg")


def with_orientation(data: bytes, value: object, tag_type: int) -> bytes:
    """``data`` re-saved with an EXIF Orientation of ``value`` stored as TIFF type
    ``tag_type`` (2 ASCII, 3 SHORT, 5 RATIONAL): what some cameras and editors write."""
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[EXIF_ORIENTATION] = value
    ifd.tagtype[EXIF_ORIENTATION] = tag_type
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + ifd.tobytes(8)
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buf, "JPEG", exif=exif, quality=95)
    return buf.getvalue()


def test_decode_large_jpeg_at_reduced_scale():
    data = jpeg(pattern(4096, 3072))
    image = decode_image(data, DecodeConfig(decode_side=1280))
    # 1/2 keeps the longer side at 2048 >= 1280; 1/4 (1024) would not.
    assert image.shape == (1536, 2048, 3)
    full = cv2.resize(
        decode_image(data, DecodeConfig(decode_side=0)), (2048, 1536), interpolation=cv2.INTER_AREA
    )
    assert np.abs(image.astype(int) - full).mean() < 2


@pytest.mark.parametrize(
    "size,side,shape",
    [((1001, 803), 100, (101, 126)), ((1001, 803), 1001, (803, 1001)), ((640, 480), 0, (480, 640))],
)
def test_decode_reduced_scale_rounds_up_and_stops_at_decode_side(size, side, shape):
    image = decode_image(jpeg(pattern(*size)), DecodeConfig(decode_side=side))
    assert image.shape == (*shape, 3)


def test_decode_reduced_grey_jpeg_becomes_bgr():
    grey = cv2.cvtColor(pattern(2000, 1000), cv2.COLOR_BGR2GRAY)
    image = decode_image(jpeg(grey), DecodeConfig(decode_side=500))
    assert image.shape == (250, 500, 3)


def test_decode_reduced_jpeg_is_upright():
    data = with_orientation(jpeg(pattern(2000, 1000)), 6, 3)
    image = decode_image(data, DecodeConfig(decode_side=500))
    assert image.shape == (500, 250, 3)
    assert image[0, -1].mean() > 200  # orientation 6: the top-left mark is now top-right


def test_decode_frame_limit_is_lower_than_the_upload_limit():
    data = jpeg(pattern(1200, 1000))
    config = DecodeConfig(frame_max_pixels=1_000_000)
    assert decode_image(data, config).shape[:2] == (1000, 1200)
    with pytest.raises(ImageDecodeError, match="1200x1000.*camera frames is 1000000"):
        decode_image(data, config, frame=True)


def test_decode_mpo_reads_the_first_frame():
    first, second = Image.new("RGB", (64, 48), "white"), Image.new("RGB", (64, 48), "black")
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(buf.getvalue())).format == "MPO"
    image = decode_image(buf.getvalue(), CONFIG)
    assert image.shape == (48, 64, 3) and image.min() > 200


def test_decode_mpo_cut_in_its_first_frame_is_refused():
    big = Image.fromarray(pattern(800, 600))
    buf = io.BytesIO()
    big.save(buf, "MPO", save_all=True, append_images=[big])
    data = buf.getvalue()
    with pytest.raises(ImageDecodeError, match="truncated"):
        decode_image(data[: len(data) // 4], CONFIG)


@pytest.mark.parametrize("junk", [b"\x00" * 8192, bytes(range(256)) * 32])
def test_decode_ignores_data_after_the_jpeg_end(junk):
    data = jpeg(pattern(320, 240))
    image = decode_image(data + junk, CONFIG)
    assert np.array_equal(image, decode_image(data, CONFIG))


def test_decode_refuses_jpeg_cut_after_an_embedded_jpeg():
    # A thumbnail (here in a comment) ends with an end marker of its own inside the header;
    # the picture itself is cut 1000 bytes into its pixels.
    buf = io.BytesIO()
    Image.fromarray(pattern(800, 600)).save(buf, "JPEG", comment=jpeg(pattern(80, 60)))
    data = buf.getvalue()
    pixels = data.index(b"\xff\xda", data.index(b"\xff\xd9"))  # the picture's own scan
    cut = data[: pixels + 1000]
    for config in (CONFIG, DecodeConfig(decode_side=200)):
        with pytest.raises(ImageDecodeError, match="truncated"):
            decode_image(cut, config)


@pytest.mark.parametrize(
    "value,tag_type",
    [("abc", 2), (TiffImagePlugin.IFDRational(1, 0), 5), (9, 3), (0, 3), (-3, 8)],
)
def test_decode_ignores_a_malformed_orientation(value, tag_type):
    data = with_orientation(jpeg(pattern(60, 40)), value, tag_type)
    image = decode_image(data, CONFIG)
    assert image.shape == (40, 60, 3) and image[0, 0].mean() > 200


def test_decode_refuses_a_jpeg_of_a_million_segments():
    # 4 MB of empty comments: Pillow's header parser alone spent a second on them.
    data = jpeg(pattern(64, 48))
    data = data[:2] + b"\xff\xfe\x00\x02" * 1_000_000 + data[2:]
    with pytest.raises(ImageDecodeError, match="more than 1000 segments"):
        decode_image(data, CONFIG)


def test_decode_skips_fill_bytes_before_markers():
    data = jpeg(pattern(64, 48))
    assert data.endswith(b"\xff\xd9")
    padded = data[:-2] + b"\xff" * 5 + b"\xff\xd9"
    assert np.array_equal(decode_image(padded, CONFIG), decode_image(data, CONFIG))
