"""The remap residual (issue 15): a frame that is only the frontal frame's pixels moved is
explained by optical flow; a frame with new content is not."""

from __future__ import annotations

import cv2
import numpy as np

from bench.warp_families import tps_warp
from face_engine.liveness.sheet import remap_residual, step_residuals

BOX = (70.0, 60.0, 100.0, 120.0)
POINTS = np.array([[100, 100], [140, 100], [120, 125], [104, 150], [136, 150]], np.float32)


def textured(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (24, 24, 3)).astype(np.float32)
    return np.asarray(cv2.resize(coarse, (240, 240), interpolation=cv2.INTER_CUBIC), np.uint8)


def test_a_warped_copy_is_explained_and_new_content_is_not():
    frontal = textured(0)
    moved = POINTS + np.array([[-6, 0], [-3, 0], [-14, 0], [-6, 0], [-3, 0]], np.float32)
    warped = tps_warp(frontal, POINTS, moved)
    explained = remap_residual(frontal, BOX, warped, BOX)
    other = textured(1)
    assert explained < 3.0 < remap_residual(frontal, BOX, other, BOX)


def test_step_residuals_compare_each_side_with_the_frontal_frame():
    frames = [textured(0), textured(1), textured(0)]
    boxes = [BOX, BOX, BOX]
    found = step_residuals(frames, boxes, [-0.3, 0.0, 0.3], ["left", "right"])
    assert set(found) == {"left", "right"}
    assert found["left"] > 3.0 and found["right"] > 3.0
    same = step_residuals(frames, [BOX, None, BOX], [-0.3, None, 0.3], ["left"])
    assert same["left"] < 1.0  # frame 1 has no face: the frontal one is frame 0 itself
