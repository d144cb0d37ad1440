"""The embedding distance, written once: Euclidean between unit embeddings, in [0, 2].

It equals Annoy's angular distance, so index neighbours, 1:1 checks, registration guards and
the evaluation tools all measure the same thing.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def cross(a: ArrayLike, b: ArrayLike) -> NDArray[np.float32]:
    """(len(a), len(b)) distances between the rows of ``a`` and the rows of ``b``."""
    x = np.atleast_2d(np.asarray(a, np.float64))
    y = np.atleast_2d(np.asarray(b, np.float64))
    squared = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return np.asarray(np.sqrt(np.maximum(squared, 0.0)), np.float32)


def to_rows(rows: ArrayLike, vector: ArrayLike) -> NDArray[np.float32]:
    """The distance from ``vector`` to each row of ``rows``."""
    return cross(rows, np.asarray(vector, np.float32).reshape(1, -1))[:, 0]


def pairwise(a: ArrayLike, b: ArrayLike) -> NDArray[np.float32]:
    """The distance between row i of ``a`` and row i of ``b``, for every i."""
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    squared = (x * x).sum(-1) + (y * y).sum(-1) - 2.0 * (x * y).sum(-1)
    return np.asarray(np.sqrt(np.maximum(squared, 0.0)), np.float32)


def distance(a: ArrayLike, b: ArrayLike) -> float:
    """The distance between two embeddings."""
    return float(cross(a, b)[0, 0])


def within(vectors: ArrayLike) -> NDArray[np.float32]:
    """(N, N) distances between the rows of ``vectors`` (zero diagonal)."""
    d = cross(vectors, vectors)
    np.fill_diagonal(d, 0.0)
    return d
