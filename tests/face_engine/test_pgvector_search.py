"""The 1:N search on PostgreSQL (face_engine.index.pgvector) against a real PostgreSQL with
pgvector: exact nearest users on 128-D clustered vectors (SFace's size), the HNSW index in
use, deletions and other hosts' registrations seen at once, rebuilds beside searches."""

from __future__ import annotations

import threading

import numpy as np
import psycopg
import pytest

from face_engine.config import IndexConfig
from face_engine.distance import to_rows
from face_engine.index.pgvector import PgvectorSearch, ef_search_for, search_for
from face_engine.store.interfaces import Store
from face_engine.store.postgres import hnsw, open_postgres_store
from face_engine.store.postgres.faces import index_name
from face_engine.types import ModelIdentity
from tests.postgres import postgres_store_config

pytestmark = pytest.mark.slow
MODEL = ModelIdentity("sface", "5" * 64, 128)
OTHER = ModelIdentity("dlib", "d" * 64, 128)
PEOPLE = 1200
"""2400 faces: from about 2000 the planner walks the HNSW index (below, an exact scan)."""


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def people(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(centres (n, 128), two faces each (n, 2, 128)): identities from a decaying spectrum,
    as bench/pg_index_bench.py's clustered set."""
    rng = np.random.default_rng(seed)
    scale = np.arange(1, 129, dtype=np.float32) ** -0.5
    centres = unit(rng.standard_normal((n, 128)).astype(np.float32) * scale + 0.3 * unit(scale))
    noise = rng.standard_normal((n, 2, 128)).astype(np.float32) * (0.5 / np.sqrt(128))
    return centres, unit(centres[:, None, :] + noise)


@pytest.fixture
def store(postgres_dsn: str):
    opened = open_postgres_store(postgres_store_config(postgres_dsn))
    yield opened
    opened.close()


def register(store: Store, count: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(user ids, centres, faces) of ``count`` registered users with two faces each."""
    centres, faces = people(count)
    ids = [
        store.users.create_user(f"p{i}", [(f, 0.99) for f in faces[i]], MODEL).id
        for i in range(count)
    ]
    return ids, centres, faces


@pytest.fixture
def gallery(store: Store) -> tuple[list[int], np.ndarray, np.ndarray]:
    return register(store, PEOPLE)


@pytest.fixture
def small_gallery(store: Store) -> tuple[list[int], np.ndarray, np.ndarray]:
    """200 people: searched by an exact scan (the planner's choice at this size)."""
    return register(store, 200)


def exact_users(
    query: np.ndarray, ids: list[int], faces: np.ndarray, k: int, gone: frozenset[int] = frozenset()
) -> list[tuple[int, float]]:
    """The k nearest users by numpy over every face: (user id, distance to their nearest)."""
    flat = faces.reshape(-1, faces.shape[-1])
    dists = to_rows(flat, query).reshape(len(ids), -1).min(axis=1)
    order = [i for i in np.argsort(dists, kind="stable") if ids[i] not in gone]
    return [(ids[i], float(dists[i])) for i in order[:k]]


def queries(centres: np.ndarray, count: int, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(centres), count)
    noise = rng.standard_normal((count, 128)).astype(np.float32) * (0.5 / np.sqrt(128))
    return unit(centres[picked] + noise)


def test_ef_search_follows_the_gallery_size():
    assert ef_search_for(0) == ef_search_for(100_000) == 80
    assert ef_search_for(100_001) == ef_search_for(1_000_000) == 320


def test_search_finds_the_exact_nearest_users_through_the_hnsw_index(store: Store, gallery):
    ids, centres, faces = gallery
    search = search_for(store, IndexConfig(), MODEL)
    for query in queries(centres, 40):
        found = search.search(query, k=3)
        truth = exact_users(query, ids, faces, 3)
        assert [n.user_id for n in found] == [u for u, _ in truth]
        assert [n.distance for n in found] == pytest.approx([d for _, d in truth], abs=1e-5)
        owners = store.faces.face_owners([n.face_id for n in found])
        assert [owners[n.face_id] for n in found] == [n.user_id for n in found]
    # The plan is the model's partial HNSW index, not a scan.
    ref = next(r for r, m in store.faces.models().items() if m == MODEL)
    with psycopg.connect(store_dsn(store)) as conn:
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                f"EXPLAIN SELECT id FROM faces WHERE model_id = {ref} "
                "ORDER BY embedding::vector(128) <-> %s::vector(128) LIMIT 40",
                (str(queries(centres, 1)[0].tolist()),),
            )
        )
    assert f"Index Scan using {index_name(ref)}" in plan
    # Another model's faces are never candidates.
    assert search_for(store, IndexConfig(), OTHER).search(faces[0, 0]) == []


def store_dsn(store: Store) -> str:
    return store.faces.pool.dsn


def test_a_deleted_user_is_gone_and_another_hosts_registration_found_at_once(
    store: Store, small_gallery, postgres_dsn: str
):
    ids, centres, faces = small_gallery
    search = search_for(store, IndexConfig(), MODEL)
    query = queries(centres, 1, seed=3)[0]
    nearest = search.search(query, k=2)
    store.users.delete_user(nearest[0].user_id)
    after = search.search(query, k=2)
    assert nearest[0].user_id not in [n.user_id for n in after]
    assert after[0].user_id == nearest[1].user_id

    other_host = open_postgres_store(postgres_store_config(postgres_dsn))
    try:
        newcomer = unit(np.random.default_rng(99).standard_normal(128).astype(np.float32))
        user = other_host.users.create_user("newcomer", [(newcomer, 0.9)], MODEL)
        found = search.search(newcomer, k=1)
        assert found[0].user_id == user.id and found[0].distance == pytest.approx(0.0, abs=1e-6)
    finally:
        other_host.close()


def test_searches_and_registrations_go_on_while_a_rebuild_holds_its_table_lock(
    store: Store, small_gallery
):
    """REINDEX CONCURRENTLY holds SHARE UPDATE EXCLUSIVE on ``faces`` for its whole run:
    held here in an open transaction, searches and registrations still go through."""
    ids, centres, faces = small_gallery
    search = search_for(store, IndexConfig(), MODEL)
    with psycopg.connect(store_dsn(store)) as holder:
        holder.execute("LOCK TABLE faces IN SHARE UPDATE EXCLUSIVE MODE")
        query = queries(centres, 1, seed=5)[0]
        assert search.search(query, k=1)[0].user_id == exact_users(query, ids, faces, 1)[0][0]
        store.users.create_user("during", [(unit(centres[0] + 0.01), 0.9)], MODEL)
        holder.rollback()


def test_rebuild_runs_beside_searches_and_reports_its_state(store: Store, gallery):
    ids, centres, faces = gallery
    search = search_for(store, IndexConfig(), MODEL)
    assert search.rebuild_status() == {"state": "idle"}
    assert search.fresh_count() == 0
    before = search.manifest()
    assert before is not None and before.backend == "pgvector" and before.faces == 2 * PEOPLE
    assert before.max_face_id == store.faces.last_face_id()

    probes = queries(centres, 20, seed=21)
    truth = [exact_users(q, ids, faces, 1)[0][0] for q in probes]
    wrong: list[int] = []
    done = threading.Event()

    def keep_searching() -> None:
        while not done.is_set():
            for q, expected in zip(probes, truth, strict=True):
                if search.search(q, k=1)[0].user_id != expected:
                    wrong.append(expected)

    searchers = [threading.Thread(target=keep_searching) for _ in range(2)]
    for t in searchers:
        t.start()
    try:
        assert search.start_rebuild()
        search.wait_for_rebuild(120)
        search.rebuild()  # and one more, waited for
    finally:
        done.set()
        for t in searchers:
            t.join(60)
    assert wrong == []
    # A rebuild killed half-way leaves an invalid "<index>_ccnew": the next one drops it.
    ref = next(r for r, m in store.faces.models().items() if m == MODEL)
    leftover = f"{index_name(ref)}_ccnew"
    with psycopg.connect(store_dsn(store), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {leftover} ON faces (model_id)")
        manifest = search.rebuild()
        found = conn.execute("SELECT to_regclass(%s)", (leftover,)).fetchone()
        assert found == (None,)
    status = search.rebuild_status()
    assert status["state"] == "done" and status["faces"] == 2 * PEOPLE and status["version"] == 1
    assert manifest.version == 3 and manifest.faces == 2 * PEOPLE


def test_one_rebuild_at_a_time_across_hosts_and_an_interrupted_one_is_failed(
    store: Store, small_gallery, postgres_dsn: str
):
    search = search_for(store, IndexConfig(), MODEL)
    other_host = open_postgres_store(postgres_store_config(postgres_dsn))
    try:
        theirs = search_for(other_host, IndexConfig(), MODEL)
        assert isinstance(theirs, PgvectorSearch)
        held = hnsw.try_lock(other_host.faces.pool, f"rebuild:{MODEL.tag}")
        assert held is not None
        try:
            assert theirs.rebuilding() and search.rebuilding()
            assert not search.start_rebuild(again_if_running=True)
            assert store.jobs.get(f"rebuild_request/{MODEL.tag}") is not None
        finally:
            held.close()
        assert not search.rebuilding()
        # "running" left behind by a host that died: nobody holds the lock.
        store.jobs.put(f"rebuild_job/{MODEL.tag}", {"state": "running", "started_at": 1.0})
        status = theirs.rebuild_status()
        assert status["state"] == "failed" and "interrupted" in status["error"]
    finally:
        other_host.close()
