"""Alignment: the eyes and nose land on the template; methods give FaceNet's input."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from face_engine.config import AlignmentConfig
from face_engine.types import Face
from face_engine.vision.alignment import similarity_transform, template, transform


def face_at(points: np.ndarray, box=(100.0, 100.0, 120.0, 160.0)) -> Face:
    landmarks = np.vstack([points, [[130, 220], [190, 220]]]).astype(np.float32)
    return Face(box=box, landmarks=landmarks, score=0.99)


def test_similarity_transform_recovers_rotation_and_scale():
    src = np.array([[10, 10], [50, 12], [30, 40]], np.float64)
    angle, scale = np.deg2rad(20), 1.7
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + [5, -3]
    np.testing.assert_allclose(similarity_transform(src, dst)[:, :2], rot, atol=1e-9)


@pytest.mark.parametrize("method", ["similarity", "affine"])
def test_eyes_land_on_template(method):
    config = dataclasses.replace(AlignmentConfig(), method=method)
    dst = template(config)
    # A tilted face: the template rotated by 15 degrees, scaled and moved.
    angle = np.deg2rad(15)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = (dst - 80) @ rot.T * 2.0 + 300
    matrix = transform(face_at(src), config)
    mapped = np.hstack([src, np.ones((3, 1))]) @ matrix.T
    tolerance = 1e-3 if method == "affine" else 0.2 * config.image_size
    assert np.abs(mapped - dst).max() < tolerance
    # Both eyes end up level whatever the head's tilt.
    assert abs(mapped[0, 1] - mapped[1, 1]) < 1.0


def test_similarity_keeps_shape_no_shear():
    config = AlignmentConfig(method="similarity", stretch=1.0)
    src = np.array([[0, 0], [40, 0], [20, 30]], np.float64) + 50
    matrix = transform(face_at(src), config)
    a = matrix[:, :2]
    assert abs(a[0, 0] - a[1, 1]) < 1e-9 and abs(a[0, 1] + a[1, 0]) < 1e-9


@pytest.mark.integration
@pytest.mark.parametrize("method", ["similarity", "affine", "crop"])
def test_align_real_face(engine, face_data, method):
    image = cv2.imread(str(face_data / "people" / "barack_obama" / "1.jpg"))
    face = engine.detect(image)[0]
    config = dataclasses.replace(engine.settings.alignment, method=method)
    from face_engine.vision.alignment import align

    aligned = align(image, face, config)
    assert aligned.shape == (160, 160, 3) and aligned.dtype == np.uint8
    assert aligned.std() > 20  # a picture, not a flat border
