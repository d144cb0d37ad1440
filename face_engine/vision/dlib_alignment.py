"""dlib's 150x150 face chip (padding 0.25), cut from an image and an MTCNN face, two ways.

dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) expects the chip
``dlib.get_face_chip(rgb, shape, 150, 0.25)`` cuts: a similarity transform that puts the five
points of dlib's ``shape_predictor_5_face_landmarks`` (eye corners and the base of the nose) on
a fixed template, sampled bilinearly from an image pyramid so large faces do not alias.

- ``chip_from_shape_predictor``: MTCNN's box, mapped to the box dlib's HOG detector would have
  drawn (the predictor was trained on those), goes to dlib's 5-point shape predictor, then to
  ``dlib.get_face_chip``. The reference.
- ``chip_from_mtcnn_landmarks``: no dlib: MTCNN's own five landmarks are mapped by a least-squares
  similarity transform onto ``MTCNN_LANDMARKS_ON_CHIP`` (where they sit, on average, on the
  reference chips), then warped with OpenCV (pyramid halvings first, like dlib).

Figures and the choice between them: docs/recognition.md (``bench/recognition_study.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from face_engine.types import Face
from face_engine.vision.alignment import similarity_transform

if TYPE_CHECKING:
    import dlib  # type: ignore[import-untyped,unused-ignore]

RGBImage = NDArray[np.uint8]
"""uint8 (H, W, 3), channels R, G, B (what dlib's functions take)."""

Matrix = NDArray[np.float64]
"""A 2x3 affine matrix mapping image pixels to chip pixels."""

CHIP_SIZE = 150
CHIP_PADDING = 0.25

# dlib's HOG face detector draws a square box where MTCNN draws a taller one. Measured on the 143
# faces of the development set both detectors find (bench/recognition_study.py --box-mapping):
# HOG's side is 0.958 * sqrt(w * h) of MTCNN's box (median; mean 0.953), its centre is at the same
# x and 0.028 * h lower (median; mean 0.038); kept as 0.955 and 0.03. With this box, the shape
# predictor's points are 0.9% of the eye distance (mean) from the points it finds in HOG's own
# box; with MTCNN's raw box, 2.4%.
HOG_BOX_SIDE = 0.955
HOG_BOX_SHIFT = 0.03

BoxMapping = Literal["hog", "mtcnn"]
Border = Literal["replicate", "constant"]

# Mean (x, y), in chip pixels, of MTCNN's five landmarks (left eye, right eye, nose, mouth left,
# mouth right) on the 150x150 chips that chip_from_shape_predictor cuts (box mapping "hog"):
# each face's landmarks mapped through its reference chip transform, averaged over the 144 photos
# of the development set (largest face each); printed by bench/recognition_study.py
# --fit-template. Spread (std) over those faces: eyes 1.4-1.9 px, nose 3.3-5.5 px, mouth corners
# 3.8-5.7 px: MTCNN's nose and mouth points sit less consistently on dlib's chip than its eyes.
MTCNN_LANDMARKS_ON_CHIP = np.array(
    [
        [46.80, 44.78],
        [101.20, 44.70],
        [73.57, 78.39],
        [50.10, 102.95],
        [98.61, 102.66],
    ],
    np.float64,
)


def predictor_box(face: Face, mapping: BoxMapping = "hog") -> dlib.rectangle:
    """The rectangle handed to dlib's shape predictor: HOG-like square, or MTCNN's box as is."""
    import dlib  # type: ignore[import-untyped,unused-ignore]

    x, y, w, h = face.box
    if mapping == "mtcnn":
        left, top, right, bottom = x, y, x + w, y + h
    elif mapping == "hog":
        side = HOG_BOX_SIDE * float(np.sqrt(w * h))
        cx, cy = x + w / 2, y + h / 2 + HOG_BOX_SHIFT * h
        left, top, right, bottom = cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2
    else:
        raise ValueError(f"unknown box mapping {mapping!r}")
    # dlib rectangles are inclusive of their right and bottom pixels.
    return dlib.rectangle(round(left), round(top), round(right) - 1, round(bottom) - 1)


def shape_5(
    rgb: RGBImage, face: Face, predictor: dlib.shape_predictor, mapping: BoxMapping = "hog"
) -> dlib.full_object_detection:
    """dlib's five points for ``face``, found inside ``predictor_box(face, mapping)``."""
    return predictor(rgb, predictor_box(face, mapping))


def chip_from_shape_predictor(
    rgb: RGBImage, face: Face, predictor: dlib.shape_predictor, mapping: BoxMapping = "hog"
) -> RGBImage:
    """The reference chip: dlib's shape predictor on the mapped box, then dlib.get_face_chip."""
    import dlib  # type: ignore[import-untyped,unused-ignore]

    shape = shape_5(rgb, face, predictor, mapping)
    chip: RGBImage = dlib.get_face_chip(rgb, shape, CHIP_SIZE, CHIP_PADDING)
    return chip


def chip_transform(shape: dlib.full_object_detection) -> Matrix:
    """The 2x3 image-to-chip matrix of ``dlib.get_face_chip(rgb, shape, 150, 0.25)``.

    dlib describes the chip as a rectangle in the image rotated by ``angle`` about its centre;
    the chip's corners (0, 0), (cols - 1, 0), (0, rows - 1) land on its corners.
    """
    import dlib  # type: ignore[import-untyped,unused-ignore]

    details = dlib.get_face_chip_details(shape, CHIP_SIZE, CHIP_PADDING)
    rect = details.rect
    centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
    cos, sin = np.cos(details.angle), np.sin(details.angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    corners = np.array(
        [[rect.left(), rect.top()], [rect.right(), rect.top()], [rect.left(), rect.bottom()]]
    )
    image_points = (corners - centre) @ rotation.T + centre
    chip_points = np.array([[0, 0], [details.cols - 1, 0], [0, details.rows - 1]], np.float64)
    matrix = cv2.getAffineTransform(image_points.astype(np.float32), chip_points.astype(np.float32))
    return np.asarray(matrix, np.float64)


def landmarks_transform(
    face: Face, template: NDArray[np.float64] = MTCNN_LANDMARKS_ON_CHIP
) -> Matrix:
    """The 2x3 image-to-chip matrix fitting MTCNN's five landmarks onto ``template``."""
    return np.asarray(similarity_transform(face.landmarks, template), np.float64)


def warp_chip(
    rgb: RGBImage, matrix: Matrix, border: Border = "replicate", size: int = CHIP_SIZE
) -> RGBImage:
    """The ``size`` square chip that ``matrix`` (image -> chip) cuts from ``rgb``, bilinear.

    Only the region the chip covers is used. Like dlib, a region more than twice the chip's
    size is halved with cv2.pyrDown until it is not, so bilinear sampling does not alias.
    """
    matrix = np.array(matrix, np.float64)
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    region = corners @ inverse.T
    height, width = rgb.shape[:2]
    x0 = int(np.clip(np.floor(region[:, 0].min()) - 2, 0, width - 1))
    y0 = int(np.clip(np.floor(region[:, 1].min()) - 2, 0, height - 1))
    x1 = int(np.clip(np.ceil(region[:, 0].max()) + 3, x0 + 1, width))
    y1 = int(np.clip(np.ceil(region[:, 1].max()) + 3, y0 + 1, height))
    image = rgb[y0:y1, x0:x1]
    matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)
    ratio = 1.0 / np.sqrt(abs(np.linalg.det(matrix[:, :2])))  # image pixels per chip pixel
    while ratio > 2.0 and min(image.shape[:2]) >= 2:
        image = np.asarray(cv2.pyrDown(image), np.uint8)  # output pixel i sits on input 2 i
        matrix[:, :2] *= 2.0
        ratio /= 2.0
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    chip = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=mode, borderValue=(0, 0, 0)
    )
    return np.asarray(chip, np.uint8)


def chip_from_mtcnn_landmarks(
    rgb: RGBImage,
    face: Face,
    border: Border = "replicate",
    template: NDArray[np.float64] = MTCNN_LANDMARKS_ON_CHIP,
) -> RGBImage:
    """The chip from MTCNN's five landmarks alone (no dlib), fitted onto ``template``."""
    return warp_chip(rgb, landmarks_transform(face, template), border)
