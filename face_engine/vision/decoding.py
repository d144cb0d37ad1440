"""Image bytes -> BGR array, refusing anything that is not a sound, reasonably sized image.

The header is read first (Pillow parses only the header on ``open``), so a decompression bomb is
refused before any pixel buffer is allocated. Pixels are decoded by OpenCV. EXIF orientation
(phone photos) is applied; alpha is composited on white; 16-bit and grey become 8-bit BGR.
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from face_engine.config import DecodeConfig
from face_engine.errors import ImageDecodeError
from face_engine.types import BGRImage

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP")
EXIF_ORIENTATION = 0x0112


def decode_image(data: bytes, config: DecodeConfig) -> BGRImage:
    """Decode JPEG, PNG or WebP bytes into an HxWx3 uint8 BGR array, upright.

    :raise ImageDecodeError: empty, too large, not an image, unsupported format, truncated, or
        more pixels than ``config.max_pixels``.
    """
    if not data:
        raise ImageDecodeError("the file is empty")
    if len(data) > config.max_bytes:
        raise ImageDecodeError(f"the file is {len(data)} bytes; the limit is {config.max_bytes}")
    fmt, width, height, orientation = _read_header(data, config)
    if not _is_complete(data, fmt):
        raise ImageDecodeError(f"the {fmt} file is truncated")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0:
        raise ImageDecodeError(f"the {fmt} file is corrupt and could not be decoded")
    if pixels.shape[:2] != (height, width):
        raise ImageDecodeError(f"the {fmt} file's header and pixels disagree")
    return _apply_orientation(_to_bgr8(pixels), orientation)


def _read_header(data: bytes, config: DecodeConfig) -> tuple[str, int, int, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:
                fmt = header.format or "unknown"
                width, height = header.size
                orientation = int(header.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(f"the image has too many pixels ({e})") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError("the file is not a recognised image") from e
    if fmt not in SUPPORTED_FORMATS:
        raise ImageDecodeError(f"{fmt} images are not supported; send JPEG, PNG or WebP")
    if width <= 0 or height <= 0:
        raise ImageDecodeError("the image has no pixels")
    if width * height > config.max_pixels:
        raise ImageDecodeError(
            f"the image is {width}x{height} = {width * height} pixels; "
            f"the limit is {config.max_pixels}"
        )
    return fmt, width, height, orientation


def _is_complete(data: bytes, fmt: str) -> bool:
    """Cheap end-of-stream checks: decoders silently fill a truncated image with grey."""
    if fmt == "JPEG":
        return b"\xff\xd9" in data[-4096:]
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
