"""Synthetic face embeddings that look like real use, for the index benchmark.

Identities have a centre drawn from an anisotropic Gaussian (a decaying spectrum plus a shared
mean direction, as real embeddings have: most variance in few directions, positive mean
cosine) and several noisy unit-norm samples around it. Tuned so same-person distances are
mostly 0.5-0.9 and different-person distances mostly 1.1-1.5, with a low tail towards 0.9,
like FaceNet's on real photos (the bench prints the percentiles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from face_engine.distance import pairwise
from face_engine.types import ModelIdentity

DIM = 512
# The identity synthetic vectors are stored under (no network made them).
SYNTHETIC_MODEL = ModelIdentity("synthetic", "0" * 64, DIM)


@dataclass(frozen=True, slots=True)
class SyntheticFaces:
    """``vectors`` (n, 512) unit float32 rows, ``identity`` (n,) int64 per row."""

    vectors: np.ndarray
    identity: np.ndarray
    centres: np.ndarray


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class FaceGenerator:
    """Draws identities and samples of them, reproducibly from ``seed``."""

    def __init__(
        self,
        seed: int = 0,
        noise: tuple[float, float] = (0.35, 0.75),
        spectrum: float = 0.5,
        shared: float = 0.5,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.noise = noise
        self.scale = np.arange(1, DIM + 1, dtype=np.float32) ** -spectrum
        self.scale /= np.sqrt((self.scale**2).sum())
        self.mean_direction = _unit(self.rng.standard_normal(DIM).astype(np.float32))
        self.shared = shared
        self.rotation = np.linalg.qr(self.rng.standard_normal((DIM, DIM)))[0].astype(np.float32)

    def centres(self, n: int) -> np.ndarray:
        z = self.rng.standard_normal((n, DIM), dtype=np.float32) * self.scale
        return _unit(z @ self.rotation + self.shared * self.mean_direction)

    def samples(self, centres: np.ndarray) -> np.ndarray:
        noise = self.rng.standard_normal(centres.shape, dtype=np.float32) / np.sqrt(DIM)
        # Each photo is its own amount off the centre (light, pose, age).
        level = self.rng.uniform(*self.noise, size=(len(centres), 1)).astype(np.float32)
        return _unit(centres + level * noise)

    def faces(self, n: int, per_identity: int = 4) -> SyntheticFaces:
        identities = max(1, n // per_identity)
        centres = self.centres(identities)
        identity = np.arange(n, dtype=np.int64) % identities
        vectors = np.empty((n, DIM), np.float32)
        for start in range(0, n, 100_000):
            stop = min(n, start + 100_000)
            vectors[start:stop] = self.samples(centres[identity[start:stop]])
        return SyntheticFaces(vectors, identity, centres)


def distance_percentiles(
    faces: SyntheticFaces, rng: np.random.Generator, pairs: int = 20000
) -> dict:
    """Same- and different-identity distance percentiles (5, 50, 95, min) from random pairs."""
    n = len(faces.vectors)
    a = rng.integers(0, n, pairs)
    b = rng.integers(0, n, pairs)
    d = pairwise(faces.vectors[a], faces.vectors[b])
    diff = d[faces.identity[a] != faces.identity[b]]
    ids = faces.identity
    identities = int(ids.max()) + 1
    same_a = rng.integers(0, n, pairs)
    same_b = (same_a + identities * rng.integers(1, 4, pairs)) % n
    ok = (ids[same_a] == ids[same_b]) & (same_a != same_b)
    same = pairwise(faces.vectors[same_a[ok]], faces.vectors[same_b[ok]])

    def pct(x: np.ndarray) -> dict:
        if not len(x):
            return {}
        return {
            "min": round(float(x.min()), 3),
            **{f"p{q}": round(float(np.percentile(x, q)), 3) for q in (1, 5, 50, 95)},
        }

    return {"same": pct(same), "different": pct(diff)}
