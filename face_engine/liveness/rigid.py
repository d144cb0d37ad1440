"""Is it a head? dlib's 68 landmarks per frame fitted to a rigid 3-D face (``cv2.solvePnP``).

A head turning moves its 68 points as one rigid body: the far jaw line slides in, the far eye
narrows with the nose bridge, and the pose the whole set gives agrees with the nose's offset
the five-point check reads (``rc``). A photo warped so that its five points follow a real turn
moves the rest of the face as a smooth sheet: the 68-point pose lags the five-point turn, or
fits badly. Figures and thresholds: docs/liveness.md (bench/warp_attacks.py, bench/rigid_study.py).

The 3-D face is ours: the 2-D mean of dlib's 68 points on the frontal photos of
``../shared/faces`` (units: the distance between the eye centres, y down), given depths of a
rounded head (jaw sides furthest back, the nose tip forward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

MEAN_2D = np.array(
    [
        [-1.136, 0.017], [-1.120, 0.319], [-1.083, 0.617], [-1.031, 0.914],
        [-0.931, 1.195], [-0.754, 1.440], [-0.533, 1.650], [-0.281, 1.817],
        [0.009, 1.864], [0.298, 1.816], [0.548, 1.651], [0.770, 1.443],
        [0.944, 1.198], [1.045, 0.914], [1.090, 0.615], [1.123, 0.315],
        [1.138, 0.013], [-0.936, -0.163], [-0.798, -0.299], [-0.597, -0.344],
        [-0.389, -0.321], [-0.192, -0.243], [0.187, -0.249], [0.387, -0.325],
        [0.597, -0.348], [0.802, -0.301], [0.938, -0.161], [0.001, -0.029],
        [0.002, 0.174], [0.003, 0.377], [0.006, 0.584], [-0.226, 0.697],
        [-0.113, 0.737], [0.006, 0.779], [0.124, 0.739], [0.232, 0.698],
        [-0.692, 0.005], [-0.571, -0.067], [-0.426, -0.064], [-0.298, 0.026],
        [-0.434, 0.050], [-0.578, 0.050], [0.298, 0.026], [0.425, -0.065],
        [0.571, -0.067], [0.691, 0.005], [0.579, 0.051], [0.437, 0.051],
        [-0.469, 1.036], [-0.291, 0.990], [-0.118, 0.968], [0.007, 0.996],
        [0.132, 0.968], [0.302, 0.989], [0.476, 1.031], [0.314, 1.209],
        [0.143, 1.291], [0.008, 1.307], [-0.127, 1.292], [-0.300, 1.211],
        [-0.399, 1.051], [-0.121, 1.053], [0.005, 1.068], [0.136, 1.053],
        [0.408, 1.047], [0.137, 1.146], [0.007, 1.163], [-0.123, 1.147],
    ],
    np.float64,
)  # fmt: skip


def _depths() -> NDArray[np.float64]:
    """Height above the eyes' plane (towards the camera) of each point, in eye distances."""
    x = MEAN_2D[:, 0]
    z = np.zeros(68)
    z[0:17] = -0.3 - 1.0 * (x[0:17] / 1.14) ** 2  # jaw: chin a little back, sides far back
    z[17:27] = -0.1 - 0.45 * x[17:27] ** 2  # brows
    z[27:31] = [0.05, 0.2, 0.35, 0.55]  # nose bridge to tip
    z[31:36] = [0.12, 0.22, 0.27, 0.22, 0.12]  # nostrils
    z[36:48] = -0.05 - 0.8 * x[36:48] ** 2  # eyes: outer corners further back
    z[48:68] = 0.05 - 1.0 * x[48:68] ** 2  # lips: corners back
    return z


MEAN_3D = np.column_stack([MEAN_2D, -_depths()]).astype(np.float64)
"""(68, 3): x right, y down, z away from the camera (OpenCV's camera axes for a frontal face)."""


@dataclass(frozen=True, slots=True)
class RigidFit:
    """One frame's fit: ``yaw`` in degrees (+ turns the nose towards the image's right, like
    ``rc``); ``residual``: RMS reprojection error over the eye distance."""

    yaw: float
    pitch: float
    residual: float


def rigid_fit(points: NDArray[np.floating], width: int, height: int) -> RigidFit:
    """Fit the 3-D mean face to ``points`` (68, 2) in a ``width`` x ``height`` frame (a
    webcam's focal length, about the frame's width)."""
    image = np.asarray(points, np.float64).reshape(68, 2)
    focal = float(max(width, height))
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)
    eye = float(np.linalg.norm(image[42:48].mean(axis=0) - image[36:42].mean(axis=0)))
    eye = max(eye, 1.0)
    # Start frontal, at the distance the eye distance says: the iterative fit then converges.
    centre = image[27:36].mean(axis=0)
    depth = focal / eye
    start = np.array([(centre[0] - width / 2) / eye, (centre[1] - height / 2) / eye, depth])
    ok, rvec, tvec = cv2.solvePnP(
        MEAN_3D,
        image,
        camera,
        None,
        np.zeros(3),
        start.reshape(3, 1),
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok:
        return RigidFit(0.0, 0.0, math.inf)
    projected, _ = cv2.projectPoints(MEAN_3D, rvec, tvec, camera, None)
    residual = float(np.sqrt(((projected.reshape(68, 2) - image) ** 2).sum(axis=1).mean())) / eye
    rotation, _ = cv2.Rodrigues(rvec)
    yaw = -math.degrees(math.atan2(rotation[0, 2], rotation[2, 2]))
    pitch = math.degrees(math.asin(float(np.clip(-rotation[1, 2], -1.0, 1.0))))
    return RigidFit(yaw, pitch, residual)
