"""Patches for R-Net and O-Net, cut from the frame or resampled from the pyramid."""

from __future__ import annotations

import cv2
import numpy as np


def halvable(image: np.ndarray, target: tuple[int, int]) -> bool:
    """Whether ``image`` halves exactly and stays at least ``target`` (width, height)."""
    height, width = image.shape[:2]
    return bool(
        height % 2 == 0 and width % 2 == 0 and target[0] <= width // 2 and target[1] <= height // 2
    )


def crop_patches(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Cut (x1, y1, x2, y2) boxes (1-based inclusive, as MTCNN defines them) out of ``image``,
    zero-padded where they leave it, resized to ``size``; returned as the nets' NHWC input
    (transposed, scaled to [-1, 1], float32)."""
    height, width = image.shape[:2]
    out = np.empty((len(boxes), size, size, 3), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(np.int64)):
        if x1 >= 1 and y1 >= 1 and x2 <= width and y2 <= height:
            patch = image[y1 - 1 : y2, x1 - 1 : x2]
        else:
            patch = np.zeros((y2 - y1 + 1, x2 - x1 + 1, 3), np.uint8)
            sx1, sy1 = max(x1 - 1, 0), max(y1 - 1, 0)
            sx2, sy2 = min(x2, width), min(y2, height)
            if sx2 > sx1 and sy2 > sy1:
                patch[sy1 - (y1 - 1) : sy2 - (y1 - 1), sx1 - (x1 - 1) : sx2 - (x1 - 1)] = image[
                    sy1:sy2, sx1:sx2
                ]
        cv2.resize(patch, (size, size), dst=out[k], interpolation=cv2.INTER_AREA)
    return ((out.astype(np.float32) - 127.5) * 0.0078125).transpose(0, 2, 1, 3)


def crop_patches_from_pyramid(
    sources: list[np.ndarray], boxes: np.ndarray, size: int
) -> np.ndarray:
    """``crop_patches`` for R-Net, cheaper: each box is resampled bilinearly from the coarsest
    of ``sources`` (the frame first, then ever smaller copies of it: its halvings and the
    pyramid levels) on which it still spans ``size`` pixels, so the shrink left for the bilinear
    step is small, instead of area-averaging all of its pixels in the full frame."""
    height, width = sources[0].shape[:2]
    # Exact scales (level sizes were rounded up); finest (the frame) first.
    sx = np.array([source.shape[1] / width for source in sources])
    sy = np.array([source.shape[0] / height for source in sources])
    x1, y1 = boxes[:, 0] - 1, boxes[:, 1] - 1
    w, h = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    # The coarsest level on which the box still spans ``size`` pixels (else the frame).
    spans = np.minimum(w, h)[:, None] * np.minimum(sx, sy)[None, :] >= size
    pick = np.where(spans.any(axis=1), spans.shape[1] - 1 - np.argmax(spans[:, ::-1], axis=1), 0)
    # Output pixel centre u samples the frame at x1 + (u + 0.5) * w / size (pixel edges), i.e.
    # that times the level's scale, minus 0.5, in level pixel-centre coordinates.
    matrices = np.zeros((len(boxes), 2, 3))
    matrices[:, 0, 0] = w / size * sx[pick]
    matrices[:, 0, 2] = (x1 + 0.5 * w / size) * sx[pick] - 0.5
    matrices[:, 1, 1] = h / size * sy[pick]
    matrices[:, 1, 2] = (y1 + 0.5 * h / size) * sy[pick] - 0.5
    out = np.empty((len(boxes), size, size, 3), np.uint8)
    for k in range(len(boxes)):
        cv2.warpAffine(
            sources[pick[k]],
            matrices[k],
            (size, size),
            dst=out[k],
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
    return ((out.astype(np.float32) - 127.5) * 0.0078125).transpose(0, 2, 1, 3)
