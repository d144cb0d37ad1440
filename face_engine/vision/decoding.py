"""Image bytes -> BGR array, refusing anything that is not a sound, reasonably sized image.

The header is read first (Pillow parses only the header on ``open``), so a decompression bomb is
refused before any pixel buffer is allocated; camera frames have a lower limit than photos.
A JPEG larger than needed is decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself (Pillow's
``draft``): a fraction of the time and memory of the full image, which the detector would
shrink anyway. Other pixels are decoded by OpenCV. An MPO (phones' multi-picture JPEG) is read
as its first picture, and bytes after a JPEG's end are ignored. EXIF orientation (phone
photos) is applied, a malformed one ignored; alpha is composited on white; 16-bit and grey
become 8-bit BGR.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from face_engine.config import DecodeConfig
from face_engine.errors import ImageDecodeError
from face_engine.types import BGRImage

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP")
# Pillow's names for files that are decoded as one of SUPPORTED_FORMATS.
FORMAT_ALIASES = {"MPO": "JPEG"}
EXIF_ORIENTATION = 0x0112
JPEG_SCALES = (8, 4, 2)
# Real JPEGs have tens of segments (a progressive one: a scan and a table or two per pass).
# Parsing each costs Pillow a few microseconds: a file of a million empty comments, a second.
MAX_JPEG_SEGMENTS = 1000
# A JPEG marker: 0xFF, then a code that is neither a stuffed zero nor a restart marker, the
# only two that occur inside entropy-coded data (0xFF again is a fill byte).
_JPEG_MARKER = re.compile(rb"\xff([^\x00\xd0-\xd7])")
_JPEG_EOI, _JPEG_FILL, _JPEG_STANDALONE = 0xD9, 0xFF, frozenset({0x01, 0xD8})


@dataclass(frozen=True, slots=True)
class _Header:
    format: str
    width: int
    height: int
    orientation: int


@dataclass(frozen=True, slots=True)
class _Limits:
    bytes: int
    pixels: int
    what: str


def _limits(config: DecodeConfig, frame: bool, webcam: bool) -> _Limits:
    if webcam:
        return _Limits(
            min(config.webcam_max_bytes, config.max_bytes),
            config.webcam_max_pixels,
            "the limit for webcam frames",
        )
    if frame:
        return _Limits(config.max_bytes, config.frame_max_pixels, "the limit for camera frames")
    return _Limits(config.max_bytes, config.max_pixels, "the limit")


def check_image(
    data: bytes, config: DecodeConfig, *, frame: bool = False, webcam: bool = False
) -> None:
    """What ``decode_image`` checks before it decodes (size in bytes, the header's format and
    pixel count), without decoding: cheap enough to run on every frame of a request first.

    :raise ImageDecodeError: as ``decode_image`` would before decoding.
    """
    _checked_header(data, _limits(config, frame, webcam))


def _checked_header(data: bytes, limits: _Limits) -> tuple[_Header, int | None]:
    """The header and, for a JPEG, where its first picture ends (walked first: it bounds the
    segments Pillow would parse)."""
    if not data:
        raise ImageDecodeError("the file is empty")
    if len(data) > limits.bytes:
        raise ImageDecodeError(f"the file is {len(data)} bytes; {limits.what} is {limits.bytes}")
    end = _jpeg_end(data) if data.startswith(b"\xff\xd8") else None
    return _read_header(data, limits), end


def decode_image(
    data: bytes, config: DecodeConfig, *, frame: bool = False, webcam: bool = False
) -> BGRImage:
    """Decode JPEG (or MPO), PNG or WebP bytes into an HxWx3 uint8 BGR array, upright.

    ``frame``: a camera frame (login without a challenge), held to ``config.frame_max_pixels``
    rather than ``config.max_pixels``; ``webcam``: a head-turn or preview frame, held to
    ``config.webcam_max_pixels`` and ``webcam_max_bytes``. A JPEG may come back smaller than
    its header says (at least ``config.decode_side`` on its longer side); coordinates are the
    returned array's.

    :raise ImageDecodeError: empty, too large, not an image, unsupported format, truncated, or
        more pixels than the limit.
    """
    header, end = _checked_header(data, _limits(config, frame, webcam))
    fmt, scale = header.format, 1
    if fmt == "JPEG":
        if end is None:
            raise ImageDecodeError("the JPEG file is truncated")
        data = data[:end]
        scale = _jpeg_scale(header, config.decode_side)
    elif not _is_complete(data, fmt):
        raise ImageDecodeError(f"the {fmt} file is truncated")
    pixels: np.ndarray | None
    if scale > 1:
        pixels = _decode_reduced(data, scale)
    else:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0:
        raise ImageDecodeError(f"the {fmt} file is corrupt and could not be decoded")
    if pixels.shape[:2] != (-(-header.height // scale), -(-header.width // scale)):
        raise ImageDecodeError(f"the {fmt} file's header and pixels disagree")
    return _apply_orientation(_to_bgr8(pixels), header.orientation)


def _read_header(data: bytes, limits: _Limits) -> _Header:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or "unknown"
                width, height = image.size
                orientation = _orientation(image)
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(f"the image has too many pixels ({e})") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError("the file is not a recognised image") from e
    fmt = FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in SUPPORTED_FORMATS:
        raise ImageDecodeError(f"{fmt} images are not supported; send JPEG, PNG or WebP")
    if width <= 0 or height <= 0:
        raise ImageDecodeError("the image has no pixels")
    if width * height > limits.pixels:
        raise ImageDecodeError(
            f"the image is {width}x{height} = {width * height} pixels; "
            f"{limits.what} is {limits.pixels}"
        )
    return _Header(fmt, width, height, orientation)


def _orientation(image: Image.Image) -> int:
    """The EXIF Orientation (1-8); 1 when absent or malformed (text, a fraction, a list)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd tags, then reads on
            value = image.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError, IndexError):
        return 1
    return value if type(value) is int and 1 <= value <= 8 else 1


def _jpeg_end(data: bytes) -> int | None:
    """The offset just past the first picture's end marker; None when the file stops before.

    Walks the segments by their lengths (so a thumbnail's end marker inside a header does not
    count) and finds the end of each scan by its next marker.

    :raise ImageDecodeError: more than ``MAX_JPEG_SEGMENTS`` segments.
    """
    position, segments = 2, 0
    while (found := _JPEG_MARKER.search(data, position)) is not None:
        marker, position = found.group(1)[0], found.end()
        if marker == _JPEG_FILL:
            position -= 1
            continue
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise ImageDecodeError(f"the JPEG file has more than {MAX_JPEG_SEGMENTS} segments")
        if marker == _JPEG_EOI:
            return position
        if marker in _JPEG_STANDALONE:
            continue
        if position + 2 > len(data):
            return None
        position += int.from_bytes(data[position : position + 2], "big")
    return None


def _jpeg_scale(header: _Header, side: int) -> int:
    """The largest of 1/8, 1/4, 1/2 (as 8, 4, 2) that keeps the longer side >= ``side``."""
    longer = max(header.width, header.height)
    return next((s for s in JPEG_SCALES if side and -(-longer // s) >= side), 1)


def _decode_reduced(data: bytes, scale: int) -> np.ndarray:
    """A JPEG decoded at 1/``scale`` by libjpeg (DCT scaling): BGR, or grey."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (image.width // scale, image.height // scale))
                image.load()
                pixels = np.asarray(image if image.mode in ("L", "RGB") else image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError("the JPEG file is corrupt and could not be decoded") from e
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if pixels.ndim == 3 else pixels


def _is_complete(data: bytes, fmt: str) -> bool:
    """Cheap end-of-stream checks: decoders silently fill a truncated image with grey."""
    if fmt == "PNG":
        return b"IEND" in data[-64:]
    if fmt == "WEBP":
        declared = int.from_bytes(data[4:8], "little") + 8
        return len(data) >= declared
    return True


def _to_bgr8(pixels: np.ndarray) -> BGRImage:
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels.astype(np.float64) - low) * (255.0 / max(high - low, 1e-12))
        pixels = np.round(scaled).astype(np.uint8)
    if pixels.ndim == 2:
        return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR), np.uint8)
    channels = pixels.shape[2]
    if channels == 1:
        return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR), np.uint8)
    if channels == 4:
        alpha = pixels[:, :, 3:4].astype(np.float32) / 255.0
        white = np.full_like(pixels[:, :, :3], 255, dtype=np.float32)
        blended = pixels[:, :, :3].astype(np.float32) * alpha + white * (1.0 - alpha)
        return np.ascontiguousarray(blended.round().astype(np.uint8))
    return np.ascontiguousarray(pixels[:, :, :3])


def _apply_orientation(image: BGRImage, orientation: int) -> BGRImage:
    """Rotate/flip per the EXIF Orientation tag (1-8) so the picture is upright."""
    ops = {
        2: lambda im: cv2.flip(im, 1),
        3: lambda im: cv2.rotate(im, cv2.ROTATE_180),
        4: lambda im: cv2.flip(im, 0),
        5: lambda im: cv2.flip(cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE), 1),
        6: lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE),
        7: lambda im: cv2.flip(cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE), 1),
        8: lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(image)) if op else image
