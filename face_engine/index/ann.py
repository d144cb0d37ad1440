"""Approximate nearest-neighbour backends that FaceIndex builds and loads.

Distances are Euclidean between unit vectors, which is what Annoy's "angular" metric returns
(sqrt(2 (1 - cos))), so the engine's threshold applies unchanged.

Backends (``IndexConfig.backend``):
- ``annoy`` (the default the design names). With ``projection_dims = 0``: plain Annoy trees over the
  full vectors (128-D for dlib, 512-D for FaceNet). With ``projection_dims > 0``: Annoy trees over a
  PCA projection fitted at build time; the ``candidates`` nearest in the projection are re-ranked
  exactly against the full vectors (memory-mapped ``vectors.npy``). Trees over 64 dimensions split
  far better than over 512, which is what lifts recall at a given query time (docs/index.md). The
  vectors' length is recorded in ``ann.json`` at build time.
- ``hnsw``: an hnswlib graph (M, ef_construction, ef from config), loaded into memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from annoy import AnnoyIndex
from numpy.typing import NDArray

from face_engine.config import IndexConfig
from face_engine.distance import to_rows

PCA_SAMPLE = 100_000
Rows = NDArray[np.int64]
Distances = NDArray[np.float32]
Vectors = NDArray[np.float32]
AnnoyMetric = Literal["angular", "euclidean"]


class AnnSearcher(Protocol):
    def search(self, vector: Vectors, k: int) -> tuple[Rows, Distances]:
        """(row numbers int64, Euclidean distances float32) of the ``k`` nearest rows."""
        ...

    def close(self) -> None: ...


def build_ann(vectors: Vectors, directory: Path, config: IndexConfig) -> None:
    """Write the backend's files for ``vectors`` (n, dim) float32 unit rows into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    vectors = np.ascontiguousarray(vectors, np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be (n, dim), got shape {vectors.shape}")
    info: dict[str, Any] = {
        "backend": config.backend,
        "rows": int(len(vectors)),
        "dim": int(vectors.shape[1]),
    }
    if config.backend == "hnsw":
        _build_hnsw(vectors, directory, config)
    elif config.backend == "annoy":
        if config.projection_dims > 0:
            np.save(directory / "vectors.npy", vectors)
            mean, basis = fit_pca(vectors, config.projection_dims)
            np.save(directory / "pca_mean.npy", mean)
            np.save(directory / "pca_basis.npy", basis)
            _build_annoy(
                ((vectors - mean) @ basis).astype(np.float32), "euclidean", directory, config
            )
            info["projection_dims"] = int(basis.shape[1])
        else:
            _build_annoy(vectors, "angular", directory, config)
    else:
        raise ValueError(f"unknown index backend {config.backend!r}")
    (directory / "ann.json").write_text(json.dumps(info))


def open_ann(directory: Path, config: IndexConfig) -> AnnSearcher:
    """Load the files ``build_ann`` wrote (memory-mapped where the backend allows)."""
    info = json.loads((directory / "ann.json").read_text())
    rows, dim = int(info["rows"]), int(info["dim"])
    if info["backend"] == "hnsw":
        return HnswSearcher(directory, rows, dim, config)
    if info.get("projection_dims"):
        return ProjectedAnnoySearcher(directory, rows, dim, config)
    return AnnoySearcher(directory, rows, "angular", dim, config.search_k)


def fit_pca(vectors: Vectors, dims: int) -> tuple[Vectors, Vectors]:
    """Mean (dim,) and the top ``dims`` principal axes (dim, dims) of a sample of ``vectors``."""
    dim = vectors.shape[1]
    dims = min(dims, dim)
    if len(vectors) == 0:
        return np.zeros(dim, np.float32), np.eye(dim, dims, dtype=np.float32)
    rng = np.random.default_rng(0)
    sample = (
        vectors
        if len(vectors) <= PCA_SAMPLE
        else vectors[rng.choice(len(vectors), PCA_SAMPLE, replace=False)]
    )
    mean = sample.mean(axis=0)
    centred = (sample - mean).astype(np.float64)
    _, eigvecs = np.linalg.eigh(centred.T @ centred)
    basis = eigvecs[:, ::-1][:, :dims]
    return mean.astype(np.float32), np.ascontiguousarray(basis, np.float32)


def _build_annoy(
    points: Vectors, metric: AnnoyMetric, directory: Path, config: IndexConfig
) -> None:
    index = AnnoyIndex(points.shape[1], metric)
    for row, point in enumerate(points):
        index.add_item(row, point)
    index.build(config.n_trees, n_jobs=-1)
    index.save(str(directory / "annoy.ann"))
    index.unload()


class AnnoySearcher:
    """Annoy trees, memory-mapped."""

    def __init__(
        self, directory: Path, rows: int, metric: AnnoyMetric, dims: int, search_k: int
    ) -> None:
        self.rows = rows
        self.search_k = search_k
        self.index = AnnoyIndex(dims, metric)
        if rows:
            self.index.load(str(directory / "annoy.ann"), prefault=False)

    def search(self, vector: Vectors, k: int) -> tuple[Rows, Distances]:
        if not self.rows:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        ids, dists = self.index.get_nns_by_vector(
            np.asarray(vector, np.float32), k, search_k=self.search_k, include_distances=True
        )
        return np.asarray(ids, np.int64), np.asarray(dists, np.float32)

    def close(self) -> None:
        self.index.unload()


class ProjectedAnnoySearcher:
    """Annoy over the PCA projection, candidates re-ranked exactly on the full vectors."""

    def __init__(self, directory: Path, rows: int, dim: int, config: IndexConfig) -> None:
        self.rows = rows
        self.candidates = max(1, config.candidates)
        self.mean = np.load(directory / "pca_mean.npy")
        self.basis = np.load(directory / "pca_basis.npy")
        self.vectors: NDArray[np.float32] | None = np.load(directory / "vectors.npy", mmap_mode="r")
        if self.vectors.shape != (rows, dim):
            raise ValueError(f"vectors.npy has shape {self.vectors.shape}, expected {(rows, dim)}")
        self.trees = AnnoySearcher(
            directory, rows, "euclidean", self.basis.shape[1], config.search_k
        )

    def search(self, vector: Vectors, k: int) -> tuple[Rows, Distances]:
        if not self.rows:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        vector = np.asarray(vector, np.float32)
        projected = (vector - self.mean) @ self.basis
        rows, _ = self.trees.search(projected, max(k, self.candidates))
        assert self.vectors is not None, "searched after close()"
        rows = np.sort(rows)  # ascending rows read the memory map sequentially
        dists = to_rows(self.vectors[rows], vector)
        order = np.argsort(dists)[:k]
        return rows[order], dists[order]

    def close(self) -> None:
        self.trees.close()
        self.vectors = None


def _build_hnsw(vectors: Vectors, directory: Path, config: IndexConfig) -> None:
    import hnswlib

    index = hnswlib.Index(space="l2", dim=vectors.shape[1])
    index.init_index(
        max_elements=max(1, len(vectors)),
        M=config.hnsw_m,
        ef_construction=config.hnsw_ef_construction,
    )
    if len(vectors):
        index.add_items(vectors, np.arange(len(vectors)), num_threads=-1)
    index.save_index(str(directory / "hnsw.bin"))


class HnswSearcher:
    """hnswlib graph (loaded into memory; hnswlib cannot memory-map)."""

    def __init__(self, directory: Path, rows: int, dim: int, config: IndexConfig) -> None:
        import hnswlib

        self.rows = rows
        self.index: Any = hnswlib.Index(space="l2", dim=dim)
        self.index.load_index(str(directory / "hnsw.bin"), max_elements=max(1, rows))
        self.index.set_ef(config.hnsw_ef)
        self.index.set_num_threads(1)

    def search(self, vector: Vectors, k: int) -> tuple[Rows, Distances]:
        if not self.rows:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        k = min(k, self.rows)
        labels, sq = self.index.knn_query(np.asarray(vector, np.float32)[None], k=k)
        return labels[0].astype(np.int64), np.sqrt(np.maximum(sq[0], 0)).astype(np.float32)

    def close(self) -> None:
        self.index = None
