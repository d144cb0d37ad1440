"""Cut a detected face out as the 160x160 RGB input FaceNet expects, aligned on eyes and nose.

FaceNet 20180408-102900 was trained on MTCNN boxes grown by a margin and resized to a square
(``align_dataset_mtcnn``), so its faces are stretched sideways by the box's aspect (MTCNN boxes
are about 1.36 times taller than wide). The methods (compared in docs/alignment.md):
- ``similarity``: rotation + uniform scale + translation, least-squares fitted so the two eyes and
  the nose land on the template, then stretched sideways by ``stretch`` like the training crops.
  No shear; levels tilted heads; does not depend on the box's jitter.
- ``affine``: the exact 3-point affine warp onto the same template (shears faces).
- ``crop``: the MTCNN box grown by ``margin`` on each side and resized (no rotation), as FaceNet's
  training faces were made.

The template is where the eyes and nose sit, on average, inside MTCNN's box, measured on real
photos (``bench/alignment_study.py``) and placed as the ``crop`` with the same margin would.
"""

from __future__ import annotations

import cv2
import numpy as np

from face_engine.config import AlignmentConfig
from face_engine.types import BGRImage, Face

# Mean (x, y) of the left eye, right eye and nose tip as fractions of MTCNN's box width and
# height, and the mean box height / width: measured over 30 faces (people/ and group/ photos).
EYES_NOSE_IN_BOX = np.array([[0.2740, 0.3906], [0.7328, 0.3911], [0.5062, 0.5993]], np.float32)
BOX_ASPECT = 1.36
EYES_AND_NOSE = [0, 1, 2]


def template(config: AlignmentConfig) -> np.ndarray:
    """Target (x, y) of left eye, right eye, nose in the output image, float32 (3, 2)."""
    unit = (EYES_NOSE_IN_BOX + config.margin) / (1.0 + 2.0 * config.margin)
    return (unit * config.image_size).astype(np.float32)


def transform(face: Face, config: AlignmentConfig) -> np.ndarray:
    """The 2x3 matrix mapping image pixels to output pixels for ``config.method``."""
    src = np.asarray(face.landmarks, np.float32)[EYES_AND_NOSE]
    dst = template(config)
    if config.method == "affine":
        return np.asarray(cv2.getAffineTransform(src, dst), np.float64)
    if config.method == "similarity":
        stretch = np.array([config.stretch, 1.0])
        matrix = similarity_transform(src, dst / stretch)
        return np.asarray(matrix * stretch[:, None], np.float64)
    if config.method == "crop":
        x, y, w, h = face.box
        x0, y0 = x - config.margin * w, y - config.margin * h
        sx = config.image_size / (w * (1 + 2 * config.margin))
        sy = config.image_size / (h * (1 + 2 * config.margin))
        return np.array([[sx, 0, -x0 * sx], [0, sy, -y0 * sy]], np.float64)
    raise ValueError(f"unknown alignment method {config.method!r}")


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation taking ``src`` points to ``dst``
    (no reflection), as a 2x3 matrix. In the complex plane the map is z -> a z + b, and the
    least-squares a is sum(dst' conj(src')) / sum(|src'|^2) over the centred points (the 2-D
    case of Umeyama's solution, without its SVD)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    zs = (src[:, 0] - src_mean[0]) + 1j * (src[:, 1] - src_mean[1])
    zd = (dst[:, 0] - dst_mean[0]) + 1j * (dst[:, 1] - dst_mean[1])
    a = complex(np.vdot(zs, zd)) / max(float(np.vdot(zs, zs).real), 1e-12)
    matrix = np.array([[a.real, -a.imag, 0.0], [a.imag, a.real, 0.0]])
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def align(image: BGRImage, face: Face, config: AlignmentConfig) -> np.ndarray:
    """The face as a ``config.image_size`` square, RGB uint8; border pixels are replicated.

    A face much larger than the output is first shrunk with area averaging (warpAffine alone
    would sample it with aliasing), working on the region the output needs only.
    """
    size = config.image_size
    matrix = transform(face, config)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.5:
        image, matrix = _shrink_region(image, matrix, size, scale)
    warped = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return cv2.cvtColor(warped, cv2.COLOR_BGR2RGB)


def _shrink_region(
    image: BGRImage, matrix: np.ndarray, size: int, scale: float
) -> tuple[BGRImage, np.ndarray]:
    """Cut out the source region the output maps from, shrink it to about twice the output's
    resolution, and return it with the matrix rewritten for it."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    src = corners @ inverse.T
    height, width = image.shape[:2]
    x0 = int(np.clip(np.floor(src[:, 0].min()), 0, width - 1))
    y0 = int(np.clip(np.floor(src[:, 1].min()), 0, height - 1))
    x1 = int(np.clip(np.ceil(src[:, 0].max()), x0 + 1, width))
    y1 = int(np.clip(np.ceil(src[:, 1].max()), y0 + 1, height))
    factor = 2.0 * scale
    roi = image[y0:y1, x0:x1]
    out_w, out_h = max(1, round(roi.shape[1] * factor)), max(1, round(roi.shape[0] * factor))
    shrunk = np.asarray(cv2.resize(roi, (out_w, out_h), interpolation=cv2.INTER_AREA), np.uint8)
    fx, fy = out_w / roi.shape[1], out_h / roi.shape[0]
    to_roi = np.array([[1 / fx, 0, x0], [0, 1 / fy, y0], [0, 0, 1]], np.float64)
    return shrunk, matrix @ to_roi
