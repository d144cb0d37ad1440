"""ANN backends return the exact nearest neighbour on small clustered data."""

from __future__ import annotations

import numpy as np
import pytest

from bench.synthetic import FaceGenerator
from face_engine.config import IndexConfig
from face_engine.index.ann import build_ann, open_ann

CONFIGS = {
    "annoy-projected": IndexConfig(),
    "annoy-plain": IndexConfig(projection_dims=0),
    "hnsw": IndexConfig(backend="hnsw"),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_backend_finds_exact_nearest(tmp_path, name):
    gen = FaceGenerator(seed=5)
    faces = gen.faces(4000)
    build_ann(faces.vectors, tmp_path, CONFIGS[name])
    searcher = open_ann(tmp_path, CONFIGS[name])
    queries = gen.samples(faces.centres[:50])
    hits = 0
    for query in queries:
        rows, dists = searcher.search(query, 5)
        exact = np.linalg.norm(faces.vectors - query, axis=1)
        hits += int(rows[0] == exact.argmin())
        assert dists[0] == pytest.approx(exact[rows[0]], abs=1e-4)
        assert (np.diff(dists) >= -1e-6).all()
    assert hits >= 49
    searcher.close()


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("n", [0, 1])
def test_tiny_indexes(tmp_path, name, n):
    vectors = FaceGenerator(seed=1).faces(max(n, 1)).vectors[:n]
    build_ann(vectors, tmp_path, CONFIGS[name])
    rows, dists = open_ann(tmp_path, CONFIGS[name]).search(
        np.ones(512, np.float32) / np.sqrt(512), 3
    )
    assert len(rows) == n


def test_angular_distance_is_euclidean_on_unit_vectors(tmp_path):
    vectors = FaceGenerator(seed=2).faces(100).vectors
    config = CONFIGS["annoy-plain"]
    build_ann(vectors, tmp_path, config)
    rows, dists = open_ann(tmp_path, config).search(vectors[0], 3)
    np.testing.assert_allclose(dists, np.linalg.norm(vectors[rows] - vectors[0], axis=1), atol=1e-4)
