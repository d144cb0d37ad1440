"""One set of behaviour tests for every store backend (store.interfaces): a real LMDB in a
temporary folder and a real PostgreSQL (tests/postgres.py), the same assertions for both.

Races are run across processes (multiprocessing, spawn: each child opens the store itself, as
a gunicorn worker or another host does): two registrations of one face, N takes of one
challenge, N first signing keys at once, two hosts opening a fresh database.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from face_engine.config import StoreConfig
from face_engine.errors import (
    FaceAlreadyRegistered,
    InvalidUsername,
    StoreOutdated,
    UnknownUser,
    UsernameTaken,
)
from face_engine.store.interfaces import Store
from face_engine.store.lmdb import open_lmdb_store
from face_engine.types import ModelIdentity
from tests.postgres import postgres_store_config

MODEL_A = ModelIdentity("model-a", "a" * 64, 16)
MODEL_B = ModelIdentity("model-b", "b" * 64, 8)
WITHIN = 0.4
"""The duplicate threshold the racing registrations use (their faces are 0 apart)."""

Spec = tuple[str, str]
"""(backend, where): enough for another process to open the same store."""


def unit(seed: int, dim: int = MODEL_A.dim) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def open_store(spec: Spec, **config: Any) -> Store:
    backend, where = spec
    if backend == "lmdb":
        return open_lmdb_store(Path(where), StoreConfig(**config))
    from face_engine.store.postgres import open_postgres_store

    return open_postgres_store(postgres_store_config(where, **config))


@pytest.fixture(params=["lmdb", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> Spec:
    if request.param == "lmdb":
        return ("lmdb", str(tmp_path / "lmdb"))
    return ("postgres", request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def store(spec: Spec):
    opened = open_store(spec)
    yield opened
    opened.close()


def run_all(target: Any, args: list[tuple[Any, ...]]) -> list[Any]:
    """``target(*a, barrier, results)`` in one spawned process per ``a``; their results."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(args)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, results)) for a in args]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return got


# -- users and usernames ---------------------------------------------------------------------


def test_usernames_are_unique_case_insensitively(store: Store):
    grace = store.users.create_user("Grace", [(unit(1), 0.9)], MODEL_A)
    with pytest.raises(UsernameTaken):
        store.users.create_user("GRACE", [(unit(2), 0.9)], MODEL_A)
    with pytest.raises(UsernameTaken):
        store.users.create_user("\uff47race", [(unit(3), 0.9)], MODEL_A)  # fullwidth g
    with pytest.raises(InvalidUsername):
        store.users.create_user("\u0430da", [(unit(4), 0.9)], MODEL_A)  # Cyrillic a
    assert store.users.find_user("gRACE") == grace
    assert store.users.find_user("grace").username == "Grace"
    with pytest.raises(UnknownUser):
        store.users.find_user("nobody")
    with pytest.raises(UnknownUser):
        store.users.find_user("not a name!")
    assert [u.username for u in store.users.list_users()] == ["Grace"]
    assert store.users.user_count() == 1
    assert store.faces.total_faces() == 1  # the refused registrations stored nothing


def test_a_user_and_their_faces_round_trip_and_go_together(store: Store):
    ada = store.users.create_user("Ada", [(unit(1), 0.99), (unit(2), 0.98)], MODEL_A)
    bob = store.users.create_user("bob", [(unit(3), 0.97)], MODEL_A)
    assert store.users.get_user(ada.id) == ada and ada.last_login is None
    faces = store.faces.faces_of(ada.id)
    assert [f.score for f in faces] == pytest.approx([0.99, 0.98])
    np.testing.assert_array_equal(faces[0].embedding, unit(1))  # every float32 bit kept
    np.testing.assert_array_equal(faces[1].embedding, unit(2))
    assert store.faces.face_count(ada.id) == 2
    store.users.record_login(ada.id, 1000.5)
    store.users.record_login(ada.id, 2000.5)
    again = store.users.get_user(ada.id)
    assert (again.last_login, again.previous_login) == (2000.5, 1000.5)
    store.replays.remember(ada.id, b"sig", 5000.0, 4, 1000.0)

    ids = [f.id for f in faces]
    assert store.faces.face_owners(ids) == {ids[0]: ada.id, ids[1]: ada.id}
    store.users.delete_user(ada.id)
    with pytest.raises(UnknownUser):
        store.users.get_user(ada.id)
    with pytest.raises(UnknownUser):
        store.users.delete_user(ada.id)
    with pytest.raises(UnknownUser):
        store.users.record_login(ada.id, 3000.0)
    assert store.faces.face_owners(ids) == {}
    assert store.faces.faces_of(ada.id) == [] and store.faces.face_count(ada.id) == 0
    assert store.replays.recent(ada.id, 1000.0) == []
    assert store.faces.total_faces() == 1 and store.users.user_count() == 1
    assert store.users.find_user("BOB") == bob
    # The name is free again.
    assert store.users.create_user("ADA", [(unit(9), 0.9)], MODEL_A).id != ada.id


def test_last_face_id_moves_with_new_faces_only_and_snapshots_follow_it(store: Store):
    assert store.faces.last_face_id() == 0
    ada = store.users.create_user("ada", [(unit(1), 0.9), (unit(2), 0.9)], MODEL_A)
    assert store.faces.last_face_id() == 2
    store.users.record_login(ada.id, 10.0)
    store.sessions.end_sessions(ada.id)
    assert store.faces.last_face_id() == 2
    store.users.create_user("bob", [(unit(3), 0.9)], MODEL_A)
    ids, users, vectors, last = store.faces.snapshot(after=2, model=MODEL_A)
    assert ids.tolist() == [3] and last == 3 and vectors.shape == (1, MODEL_A.dim)
    np.testing.assert_array_equal(vectors[0], unit(3))
    ids, users, vectors, last = store.faces.snapshot(0, MODEL_A)
    assert ids.tolist() == [1, 2, 3] and users.tolist() == [ada.id, ada.id, ada.id + 1]
    ids, _, vectors, last = store.faces.snapshot(0, MODEL_B)
    assert len(ids) == 0 and vectors.shape == (0, MODEL_B.dim) and last == 3


def test_the_registration_guard_sees_faces_stored_after_checked_through(store: Store):
    store.users.create_user("ada", [(unit(1), 0.9)], MODEL_A)
    store.users.create_user("bea", [(unit(2, MODEL_B.dim), 0.9)], MODEL_B)
    seen: list[np.ndarray] = []
    store.users.create_user("cy", [(unit(3), 0.9)], MODEL_A, guard=seen.append, checked_through=0)
    assert len(seen[0]) == 1  # model A's faces only
    np.testing.assert_array_equal(seen[0][0], unit(1))

    def refuse(stored: np.ndarray) -> None:
        raise FaceAlreadyRegistered()

    last = store.faces.last_face_id()
    with pytest.raises(FaceAlreadyRegistered):
        store.users.create_user("dee", [(unit(4), 0.9)], MODEL_A, guard=refuse)
    assert store.faces.last_face_id() == last  # refused: nothing stored, no id given
    with pytest.raises(UnknownUser):
        store.users.find_user("dee")
    store.users.create_user(
        "eve", [(unit(5), 0.9)], MODEL_A, guard=seen.append, checked_through=last
    )
    assert len(seen[1]) == 0


def _register(spec: Spec, index: int, barrier: Any, results: Any) -> None:
    store = open_store(spec)
    face = unit(42)
    checked_through = store.faces.last_face_id()  # both compared against no one before
    barrier.wait()

    def refuse_duplicates(stored: np.ndarray) -> None:
        time.sleep(0.2)  # widen the window: the other one is trying now
        if len(stored) and float(np.linalg.norm(stored - face, axis=1).min()) < WITHIN:
            raise FaceAlreadyRegistered()

    try:
        store.users.create_user(
            f"twin{index}", [(face, 0.9)], MODEL_A, refuse_duplicates, checked_through
        )
        results.put("registered")
    except FaceAlreadyRegistered:
        results.put("refused")
    finally:
        store.close()


@pytest.mark.slow  # spawned processes
def test_two_processes_registering_one_face_at_once_exactly_one_wins(spec: Spec, store: Store):
    store.users.create_user("first", [(unit(1), 0.9)], MODEL_A)  # the model and its index exist
    got = run_all(_register, [(spec, i) for i in range(3)])
    assert sorted(got) == ["refused", "refused", "registered"]
    assert store.users.user_count() == 2 and store.faces.total_faces() == 2


def _use_after_fork(store: Store, results: Any) -> None:
    store.users.create_user("child", [(unit(7), 0.9)], MODEL_A)
    results.put(store.users.find_user("parent").id)


def test_a_postgres_store_used_before_a_fork_works_in_both_processes(postgres_dsn: str):
    """gunicorn forks workers after the app may have used the store: the child opens its own
    connections, and the parent's keep working when the child exits. (LMDB cannot: py-lmdb
    refuses to open an environment again in a child that inherited it open.)"""
    store = open_store(("postgres", postgres_dsn))
    parent = store.users.create_user("parent", [(unit(6), 0.9)], MODEL_A)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_use_after_fork, args=(store, results))
    child.start()
    assert results.get(timeout=60) == parent.id
    child.join(60)
    assert child.exitcode == 0
    assert store.users.find_user("child").username == "child"
    assert store.faces.total_faces() == 2
    store.close()


# -- sessions --------------------------------------------------------------------------------


def test_ending_sessions_moves_the_session_version(store: Store):
    ada = store.users.create_user("ada", [(unit(1), 0.9)], MODEL_A)
    assert ada.session_version == 0
    assert store.sessions.end_sessions(ada.id) == 1
    assert store.sessions.end_sessions(ada.id) == 2
    assert store.users.get_user(ada.id).session_version == 2
    assert store.users.find_user("ada").session_version == 2
    with pytest.raises(UnknownUser):
        store.sessions.end_sessions(ada.id + 100)


# -- challenges and pending logins -----------------------------------------------------------


def record(expires_at: float, what: str) -> bytes:
    """A record as challenges and pending logins keep them (JSON with its expiry)."""
    return json.dumps({"expires_at": expires_at, "what": what}).encode()


def test_records_are_taken_once_and_stale_ones_purged(store: Store):
    now = time.time()
    old, live, later = record(now - 10, "old"), record(now + 60, "live"), record(now + 60, "next")
    for table in (store.challenges, store.pending_logins):
        table.put_many([(f"old-{i}", old, now - 10) for i in range(3)], now - 20)
        table.put("live", live, now + 60, now - 20)
        assert table.counts()[0] == 4
        assert table.take("old-0") == old  # stale but still there: the caller refuses it
        purged = table.put("next", later, now + 60, now)
        assert purged.removed == 2
        assert table.counts() == (2, 2)
        assert table.take("old-1") is None
        assert table.take("live") == live
        assert table.take("live") is None
        assert table.take("unknown") is None
    assert store.challenges.take("next") == later
    assert store.pending_logins.take("next") == later  # two tables: one each


def _take(spec: Spec, index: int, barrier: Any, results: Any) -> None:
    store = open_store(spec)
    barrier.wait()
    try:
        results.put(store.challenges.take("the-one"))
    finally:
        store.close()


@pytest.mark.slow  # spawned processes
def test_one_challenge_taken_by_many_processes_at_once_goes_to_one(spec: Spec, store: Store):
    store.challenges.put("the-one", b"steps", time.time() + 60, time.time())
    got = run_all(_take, [(spec, i) for i in range(4)])
    assert sorted(got, key=lambda g: g is not None) == [None, None, None, b"steps"]
    assert store.challenges.counts()[0] == 0


# -- audit -----------------------------------------------------------------------------------


def test_audit_pages_newest_first_and_keeps_the_limits(spec: Spec):
    store = open_store(spec, audit_max_entries=5, audit_days=1)
    try:
        now = time.time()
        ids = [
            store.audit.append({"time": now - 2 * 86400 + i, "action": "login", "n": i})
            for i in range(2)
        ]
        ids += [store.audit.append({"time": now + i, "action": "login", "n": i}) for i in range(7)]
        assert ids == sorted(ids)
        newest = store.audit.entries(100)
        # the two older than a day went first, then the oldest beyond five
        assert [e["n"] for e in newest] == [6, 5, 4, 3, 2]
        assert newest[0] == {"id": ids[-1], "time": now + 6, "action": "login", "n": 6}
        page = store.audit.entries(2, before=newest[1]["id"])
        assert [e["n"] for e in page] == [4, 3]
        assert store.audit.entries(10, before=newest[-1]["id"]) == []
    finally:
        store.close()


# -- jobs and replays ------------------------------------------------------------------------


def test_jobs_keep_json_and_counters(store: Store):
    assert store.jobs.get("rebuild_job/x") is None and store.jobs.get_int("n") == 0
    store.jobs.put("rebuild_job/x", {"state": "running", "started_at": 12.5})
    store.jobs.put("rebuild_job/x", {"state": "done", "faces": 3})
    assert store.jobs.get("rebuild_job/x") == {"state": "done", "faces": 3}
    store.jobs.put_int("n", 7)
    assert store.jobs.get_int("n") == 7


def test_replays_are_kept_per_user_within_count_and_age(store: Store):
    ada = store.users.create_user("ada", [(unit(1), 0.9)], MODEL_A)
    bob = store.users.create_user("bob", [(unit(2), 0.9)], MODEL_A)
    base = 1_000_000.0
    for i in range(5):
        store.replays.remember(ada.id, f"a{i}".encode(), base + i, 3, base - 100)
    store.replays.remember(bob.id, b"b0", base, 3, base - 100)
    assert store.replays.recent(ada.id, base - 100) == [b"a2", b"a3", b"a4"]  # oldest first
    assert store.replays.recent(ada.id, base + 3) == [b"a3", b"a4"]
    # A remember drops that user's entries older than its ``since``.
    store.replays.remember(ada.id, b"a5", base + 5, 3, base + 4)
    assert store.replays.recent(ada.id, base - 100) == [b"a4", b"a5"]
    assert store.replays.recent(bob.id, base - 100) == [b"b0"]


# -- OpenID records --------------------------------------------------------------------------


def test_oidc_records(store: Store):
    oidc = store.oidc
    assert oidc.clients.create("grafana", {"client_id": "grafana", "name": "G"})
    assert not oidc.clients.create("grafana", {"client_id": "grafana", "name": "other"})
    assert oidc.clients.get("grafana") == {"client_id": "grafana", "name": "G"}
    oidc.clients.put("alpha", {"client_id": "alpha"})
    assert [c["client_id"] for c in oidc.clients.all()] == ["alpha", "grafana"]
    assert oidc.clients.delete("alpha") and not oidc.clients.delete("alpha")
    assert oidc.clients.get("alpha") is None

    now = time.time()
    oidc.codes.add("old", {"expires_at": now - 5}, now - 10)
    oidc.codes.add("code", {"expires_at": now + 60, "client": "grafana"}, now)
    assert oidc.codes.get("old") is None  # expired codes dropped by the next add
    record, used = oidc.codes.take("code")
    assert record == {"expires_at": now + 60, "client": "grafana"} and not used
    oidc.codes.attach_token("code", "token-hash")
    record, used = oidc.codes.take("code")
    assert used and record is not None and record["used"] and record["token"] == "token-hash"
    assert oidc.codes.take("unknown") == (None, False)

    oidc.tokens.add("t-old", {"expires_at": now - 1}, now - 10)
    oidc.tokens.add("t", {"expires_at": now + 60}, now)
    assert oidc.tokens.get("t-old") is None and oidc.tokens.get("t") == {"expires_at": now + 60}
    oidc.consents.put("1:grafana", {"scopes": ["openid"]})
    assert oidc.consents.get("1:grafana") == {"scopes": ["openid"]}

    first = oidc.keys.add_first("k1", {"kid": "k1", "created": 1.0})
    assert oidc.keys.add_first("k2", {"kid": "k2", "created": 2.0}) == first
    oidc.keys.rotate("k3", {"kid": "k3", "created": 3.0}, now=100.0, drop_before=50.0)
    keys = {k["kid"]: k for k in oidc.keys.all()}
    assert keys["k1"]["retired_at"] == 100.0 and "retired_at" not in keys["k3"]
    oidc.keys.rotate("k4", {"kid": "k4", "created": 4.0}, now=200.0, drop_before=150.0)
    assert sorted(k["kid"] for k in oidc.keys.all()) == ["k3", "k4"]  # k1 retired before 150


def _first_key(spec: Spec, index: int, barrier: Any, results: Any) -> None:
    store = open_store(spec)
    barrier.wait()
    try:
        results.put(store.oidc.keys.add_first(f"k{index}", {"kid": f"k{index}", "created": 1.0}))
    finally:
        store.close()


@pytest.mark.slow  # spawned processes
def test_processes_making_the_first_signing_key_at_once_share_one(spec: Spec, store: Store):
    got = run_all(_first_key, [(spec, i) for i in range(4)])
    assert len({g["kid"] for g in got}) == 1
    assert [k["kid"] for k in store.oidc.keys.all()] == [got[0]["kid"]]


# -- models ----------------------------------------------------------------------------------


def test_models_counts_and_dropping_a_models_faces(store: Store):
    ada = store.users.create_user("ada", [(unit(1), 0.9), (unit(2), 0.9)], MODEL_A)
    bob = store.users.create_user("bob", [(unit(3, MODEL_B.dim), 0.9)], MODEL_B)
    models = store.faces.models()
    assert sorted(models.values(), key=lambda m: m.name) == [MODEL_A, MODEL_B]
    ref = {m: r for r, m in models.items()}
    assert store.faces.face_counts_by_model() == {ref[MODEL_A]: 2, ref[MODEL_B]: 1}
    assert store.faces.users_by_model() == {ref[MODEL_A]: {ada.id}, ref[MODEL_B]: {bob.id}}

    # A migration: ada gets model B's faces, then model A's are dropped.
    assert store.faces.add_faces(ada.id, [(unit(4, MODEL_B.dim), 0.9)], MODEL_B) == 1
    with pytest.raises(UnknownUser):
        store.faces.add_faces(ada.id + 100, [(unit(5, MODEL_B.dim), 0.9)], MODEL_B)
    assert store.faces.users_by_model()[ref[MODEL_B]] == {ada.id, bob.id}
    assert store.faces.drop_model_faces(MODEL_A) == 2
    assert store.faces.drop_model_faces(MODEL_A) == 0
    assert store.faces.face_counts_by_model().get(ref[MODEL_A], 0) == 0
    assert store.faces.face_counts_by_model()[ref[MODEL_B]] == 2
    assert [f.model_ref for f in store.faces.faces_of(ada.id)] == [ref[MODEL_B]]
    assert store.faces.total_faces() == 2
    store.users.delete_user(bob.id)
    assert store.faces.face_counts_by_model() == {ref[MODEL_B]: 1}


# -- migrations ------------------------------------------------------------------------------


def test_a_store_written_by_a_newer_version_is_refused(spec: Spec, store: Store):
    store.users.create_user("ada", [(unit(1), 0.9)], MODEL_A)
    store.close()
    mark_newer(spec)
    with pytest.raises(StoreOutdated, match="schema 99"):
        opened = open_store(spec)
        opened.users.list_users()  # LMDB opens on first use


def mark_newer(spec: Spec) -> None:
    backend, where = spec
    if backend == "lmdb":
        import lmdb

        env = lmdb.open(where, max_dbs=16)
        with env.begin(write=True, db=env.open_db(b"meta")) as txn:
            txn.put(b"schema_version", b"99")
        env.close()
        return
    import psycopg

    with psycopg.connect(where, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'the future')")


def _open(spec: Spec, index: int, barrier: Any, results: Any) -> None:
    barrier.wait()
    store = open_store(spec)
    try:
        store.jobs.put_int(f"opened/{index}", 1)
        results.put(store.users.user_count())
    finally:
        store.close()


@pytest.mark.slow  # spawned processes
def test_processes_opening_a_fresh_store_at_once_all_succeed(spec: Spec):
    assert run_all(_open, [(spec, i) for i in range(3)]) == [0, 0, 0]
    store = open_store(spec)
    try:
        assert [store.jobs.get_int(f"opened/{i}") for i in range(3)] == [1, 1, 1]
    finally:
        store.close()


def test_a_fresh_postgres_database_is_migrated_once(postgres_dsn: str):
    import psycopg

    from face_engine.store.postgres import SCHEMA_VERSION

    open_store(("postgres", postgres_dsn)).close()
    open_store(("postgres", postgres_dsn)).close()
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                "current_schema()"
            )
        }
    assert {"users", "faces", "models", "challenges", "audit", "jobs", "oidc_records"} <= tables


def test_the_postgres_store_names_its_database_without_the_password(postgres_dsn: str):
    from psycopg import conninfo

    store = open_store(("postgres", postgres_dsn))
    store.close()
    assert store.backend == "postgres" and "search_path" in store.where
    with_password = conninfo.make_conninfo(postgres_dsn, password="s3cret")
    from face_engine.store.postgres.connections import public_dsn

    assert "s3cret" not in public_dsn(with_password)
    assert dataclasses.is_dataclass(store)
