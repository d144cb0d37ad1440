"""Attacks from one photo (issue 15): the photo warped in software, frame by frame, so its face
seems to turn as a challenge asks. Pure image code; bench/warp_attacks.py drives and scores it.

Landmark arrays are (5, 2) float32 in ``face_engine.types.LANDMARK_NAMES`` order. A turn is
given as per-frame target landmarks (tps, mesh: from a real head's trajectory) or as per-frame
angles (relief, squeeze).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from face_engine.types import BGRImage

Points = NDArray[np.float32]


def border_points(width: int, height: int, per_side: int = 4) -> Points:
    """Fixed points along the frame's border, so the warp leaves the edges in place."""
    xs = np.linspace(0, width - 1, per_side + 1)
    ys = np.linspace(0, height - 1, per_side + 1)
    top = [(x, 0.0) for x in xs] + [(x, height - 1.0) for x in xs]
    sides = [(0.0, y) for y in ys[1:-1]] + [(width - 1.0, y) for y in ys[1:-1]]
    return np.array(top + sides, np.float32)


def face_ring(landmarks: Points, scale: float = 1.25, count: int = 12) -> Points:
    """Points on an ellipse around the face (from its landmarks): the cheeks' and chin's
    outline, which a mesh warp carries with the face."""
    centre = landmarks.mean(axis=0)
    eye = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    angles = np.linspace(0, 2 * math.pi, count, endpoint=False)
    rx, ry = scale * 1.3 * eye, scale * 1.7 * eye
    ring = np.stack([centre[0] + rx * np.cos(angles), centre[1] + 0.2 * eye + ry * np.sin(angles)])
    return np.asarray(ring.T, np.float32)


def _tps_kernel(r2: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(r2 * np.log(np.maximum(r2, 1e-12)) * 0.5, np.float64)


def tps_map(
    source: Points, target: Points, width: int, height: int, step: int = 4
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The backward map of a thin-plate spline taking ``source`` points to ``target``: for
    each output pixel, where to read the input (evaluated every ``step`` pixels, then
    interpolated, as a smooth spline allows)."""
    fixed = border_points(width, height)
    dst = np.concatenate([target, fixed]).astype(np.float64)
    src = np.concatenate([source, fixed]).astype(np.float64)
    n = len(dst)
    kernel = _tps_kernel(((dst[:, None, :] - dst[None, :, :]) ** 2).sum(axis=2))
    affine = np.hstack([np.ones((n, 1)), dst])
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = kernel
    system[:n, n:] = affine
    system[n:, :n] = affine.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = src
    coef = np.linalg.solve(system + 1e-8 * np.eye(n + 3), rhs)
    gy, gx = np.mgrid[0:height:step, 0:width:step].astype(np.float32)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    d2 = ((grid[:, None, :] - dst[None, :, :].astype(np.float32)) ** 2).sum(axis=2)
    basis = d2 * np.log(np.maximum(d2, np.float32(1e-12))) * np.float32(0.5)
    lifted = np.hstack([np.ones((len(grid), 1), np.float32), grid])
    mapped = basis @ coef[:n].astype(np.float32) + lifted @ coef[n:].astype(np.float32)
    map_x = mapped[:, 0].reshape(gx.shape)
    map_y = mapped[:, 1].reshape(gx.shape)
    if step > 1:  # the coarse grid's sample k sits at pixel k * step
        size = (width, height)
        scale = np.array([[1 / step, 0, 0], [0, 1 / step, 0]], np.float64)
        map_x = cv2.warpAffine(
            map_x,
            scale,
            size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        map_y = cv2.warpAffine(
            map_y,
            scale,
            size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    return np.asarray(map_x, np.float32), np.asarray(map_y, np.float32)


def tps_warp(image: BGRImage, source: Points, target: Points) -> BGRImage:
    """Thin-plate spline warp moving ``source`` points to ``target``, the frame border held
    fixed (what ``cv2.createThinPlateSplineShapeTransformer`` does; opencv-contrib is not
    installed here, so it is written out)."""
    height, width = image.shape[:2]
    map_x, map_y = tps_map(source, target, width, height)
    return np.asarray(
        cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        np.uint8,
    )


def mesh_warp(image: BGRImage, source: Points, target: Points) -> BGRImage:
    """Piecewise-affine warp: a Delaunay mesh over the points, each triangle moved affinely."""
    height, width = image.shape[:2]
    fixed = border_points(width, height)
    src = np.concatenate([source, fixed]).astype(np.float32)
    dst = np.concatenate([target, fixed]).astype(np.float32)
    subdiv = cv2.Subdiv2D((-1, -1, width + 2, height + 2))
    for x, y in dst:
        subdiv.insert((float(np.clip(x, 0, width - 1)), float(np.clip(y, 0, height - 1))))
    labels = np.full((height, width), -1, np.int32)
    affines = []
    for tri in subdiv.getTriangleList().reshape(-1, 3, 2):
        ids = [int(np.argmin(np.abs(dst - p).sum(axis=1))) for p in tri]
        if len(set(ids)) < 3:
            continue
        affine = cv2.getAffineTransform(dst[ids], src[ids])
        cv2.fillConvexPoly(labels, np.round(dst[ids]).astype(np.int32), len(affines))
        affines.append(affine)
    table = np.array(affines, np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    safe = np.maximum(labels, 0)
    chosen = table[safe]
    map_x = chosen[..., 0, 0] * xs + chosen[..., 0, 1] * ys + chosen[..., 0, 2]
    map_y = chosen[..., 1, 0] * xs + chosen[..., 1, 1] * ys + chosen[..., 1, 2]
    map_x[labels < 0] = xs[labels < 0]
    map_y[labels < 0] = ys[labels < 0]
    return np.asarray(
        cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        np.uint8,
    )


def relief_depth(
    shape: tuple[int, int], landmarks: Points, soft: bool = False
) -> NDArray[np.float32]:
    """A 2.5-D face: an ellipsoid over the face (edges back) and a nose ridge forward, in
    pixels towards the camera. ``soft``: a paraboloid (no vertical wall at the rim) and a nose
    ridge almost twice as broad, so that a 40-degree turn draws out and folds far less."""
    height, width = shape
    eye = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    centre = landmarks.mean(axis=0) + np.array([0.0, 0.1 * eye], np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (xs - centre[0]) / (1.5 * eye)
    v = (ys - centre[1]) / (2.0 * eye)
    inside = np.clip(1.0 - u**2 - v**2, 0.0, 1.0)
    dome = (inside if soft else np.sqrt(inside)) * (1.1 * eye)
    nose = landmarks[2]
    width = (0.4 if soft else 0.22) * eye
    ridge = np.exp(
        -(((xs - nose[0]) / width) ** 2) - (((ys - nose[1] + 0.25 * eye) / (0.5 * eye)) ** 2)
    )
    return np.asarray(dome + 0.45 * eye * ridge, np.float32)


def relief_turn(
    image: BGRImage, depth: NDArray[np.float32], axis_x: float, degrees: float
) -> BGRImage:
    """The relief turned by ``degrees`` about the vertical axis at ``axis_x`` (orthographic);
    positive moves the nose towards the image's right."""
    angle = math.radians(degrees)
    height, width = depth.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # Backward map: find the source x whose rotated position is this pixel (a few fixed-point
    # steps, the depth read at the current estimate).
    source = xs.copy()
    for _ in range(4):
        z = cv2.remap(depth, source, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        source = axis_x + (xs - axis_x - z * math.sin(angle)) / math.cos(angle)
    return np.asarray(
        cv2.remap(image, source, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), np.uint8
    )


def squeeze_targets(landmarks: Points, yaw: float, strength: float) -> Points:
    """Five points as a crude turn by ``yaw`` (radians, + nose to the image's right): the nose
    shifted, the half of the face it moves towards squeezed."""
    eye = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    centre_x = float(landmarks[:, 0].mean())
    out = landmarks.copy()
    out[2, 0] += strength * 0.6 * eye * math.sin(yaw)
    toward = 1 if yaw > 0 else 0
    for k in (1, 4) if toward else (0, 3):
        out[k, 0] = centre_x + (out[k, 0] - centre_x) * (1.0 - strength * abs(math.sin(yaw)))
    return out


def shift_scale(image: BGRImage, dx: float, dy: float, scale: float) -> BGRImage:
    """The frame moved and zoomed about its centre (a hand-held camera's drift)."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0.0, scale)
    matrix[:, 2] += (dx, dy)
    return np.asarray(
        cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE), np.uint8
    )


def camera(frame: BGRImage, noise: float, quality: int, rng: np.random.Generator) -> bytes:
    """The frame with sensor noise (sigma in grey levels), as the JPEG a browser sends."""
    noisy = frame.astype(np.float32) + rng.normal(0.0, noise, frame.shape).astype(np.float32)
    data = np.clip(noisy, 0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", data, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
