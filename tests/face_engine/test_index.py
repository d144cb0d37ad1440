"""FaceIndex over a real store (``tests.stores``): fresh faces, deletions, rebuilds, crashes,
corruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bench.synthetic import SYNTHETIC_MODEL, FaceGenerator
from face_engine.config import IndexConfig, ModelConfig
from face_engine.index.face_index import FaceIndex
from face_engine.matching import Match, Matcher
from face_engine.store.interfaces import Store
from tests.helpers import ROOT
from tests.postgres import lmdb_only
from tests.stores import open_test_store

THRESHOLD = 0.85


def index_dir(tmp_path):
    """Where the index of the synthetic model's faces lives (one folder per model)."""
    return tmp_path / "index" / SYNTHETIC_MODEL.tag


THRESHOLDS = ModelConfig(THRESHOLD, THRESHOLD, THRESHOLD)


def identify(store: Store, index: FaceIndex, vector, margin: float = 0.05) -> Match | None:
    """1:N with the 1:1 threshold (uncalibrated: the gallery does not tighten it)."""
    matcher = Matcher(store.faces, store.users, index, THRESHOLDS, margin)
    decision = matcher.identify(vector[None])
    return decision if isinstance(decision, Match) else None


def verify(store: Store, index: FaceIndex, user_id: int, vector) -> Match | None:
    return Matcher(store.faces, store.users, index, THRESHOLDS, 0.05).verify(user_id, vector[None])


def index_on(store: Store, tmp_path, config: IndexConfig | None = None) -> FaceIndex:
    return FaceIndex(
        store.faces, store.jobs, index_dir(tmp_path), config or IndexConfig(), SYNTHETIC_MODEL
    )


@pytest.fixture
def gen():
    return FaceGenerator(seed=3)


def make(tmp_path, config: IndexConfig | None = None):
    store = open_test_store(tmp_path / "lmdb")
    return store, index_on(store, tmp_path, config)


def populate(store, gen, users: int, per_user: int = 3, prefix: str = "user"):
    centres = gen.centres(users)
    for i, centre in enumerate(centres):
        store.users.create_user(
            f"{prefix}{i}",
            [(v, 0.99) for v in gen.samples(np.repeat(centre[None], per_user, 0))],
            SYNTHETIC_MODEL,
        )
    return centres


@pytest.mark.parametrize(
    "config",
    [IndexConfig(), IndexConfig(projection_dims=0), IndexConfig(backend="hnsw")],
    ids=["annoy-projected", "annoy-plain", "hnsw"],
)
def test_identify_after_rebuild(tmp_path, gen, config):
    store, index = make(tmp_path, config)
    centres = populate(store, gen, 200)
    manifest = index.rebuild()
    assert manifest.faces == 600 and manifest.version == 1
    for i in (0, 57, 199):
        match = identify(store, index, gen.samples(centres[i : i + 1])[0])
        assert match is not None and match.username == f"user{i}"
        assert match.distance < THRESHOLD
    assert identify(store, index, gen.centres(1)[0]) is None  # a stranger


def test_face_added_after_build_found_before_rebuild(tmp_path, gen):
    store, index = make(tmp_path)
    populate(store, gen, 100)
    index.rebuild()
    newcomer = gen.centres(1)
    assert identify(store, index, gen.samples(newcomer)[0]) is None  # caches the (empty) fresh set
    store.users.create_user("newcomer", [(gen.samples(newcomer)[0], 0.99)], SYNTHETIC_MODEL)
    match = identify(store, index, gen.samples(newcomer)[0])
    assert match is not None and match.username == "newcomer"
    assert index.fresh_count() == 1
    second = gen.centres(1)
    store.users.create_user(
        "second", [(gen.samples(second)[0], 0.99)], SYNTHETIC_MODEL
    )  # read incrementally
    assert identify(store, index, gen.samples(second)[0]).username == "second"
    assert index.fresh_count() == 2
    index.rebuild()
    assert index.fresh_count() == 0
    assert identify(store, index, gen.samples(newcomer)[0]).username == "newcomer"


def test_new_user_found_with_no_index_at_all(tmp_path, gen):
    store, index = make(tmp_path)
    assert index.search(gen.centres(1)[0]) == []
    centre = gen.centres(1)
    store.users.create_user("first", [(gen.samples(centre)[0], 0.99)], SYNTHETIC_MODEL)
    assert identify(store, index, gen.samples(centre)[0]).username == "first"


def test_deleted_user_never_returned(tmp_path, gen):
    store, index = make(tmp_path)
    centres = populate(store, gen, 50)
    index.rebuild()
    victim = store.users.find_user("user7")
    fresh = store.users.create_user("fresh", [(gen.samples(centres[8:9])[0], 0.9)], SYNTHETIC_MODEL)
    store.users.delete_user(victim.id)
    store.users.delete_user(fresh.id)
    for _ in range(5):
        results = index.search(gen.samples(centres[7:8])[0], k=10)
        assert victim.id not in {n.user_id for n in results}
        assert fresh.id not in {n.user_id for n in index.search(gen.samples(centres[8:9])[0], k=10)}
    index.rebuild()
    assert victim.id not in {n.user_id for n in index.search(gen.samples(centres[7:8])[0], k=10)}


def test_ambiguous_match_rejected(tmp_path, gen):
    store, index = make(tmp_path)
    centre = gen.centres(1)
    store.users.create_user("twin_a", [(gen.samples(centre)[0], 0.9)], SYNTHETIC_MODEL)
    store.users.create_user("twin_b", [(gen.samples(centre)[0], 0.9)], SYNTHETIC_MODEL)
    query = gen.samples(centre)[0]
    near = index.search(query, k=2)
    assert len(near) == 2
    assert identify(store, index, query, margin=0.0) is not None
    assert identify(store, index, query, margin=1.0) is None


def test_verify_one_to_one(tmp_path, gen):
    store, index = make(tmp_path)
    centres = populate(store, gen, 10)
    alice = store.users.find_user("user3")
    assert verify(store, index, alice.id, gen.samples(centres[3:4])[0]).username == "user3"
    assert verify(store, index, alice.id, gen.samples(centres[4:5])[0]) is None


def test_another_process_notices_new_version(tmp_path, gen):
    store, index = make(tmp_path)
    populate(store, gen, 20)
    index.rebuild()
    other = index_on(open_test_store(tmp_path / "lmdb"), tmp_path)
    assert other.manifest().version == 1
    index.rebuild()
    assert other.manifest().version == 2


def test_missing_index_is_rebuilt_in_the_background(tmp_path, gen):
    """Never a rebuild on a read path: the search is answered at once (every face scanned
    exactly) while one rebuild runs in the background."""
    store, index = make(tmp_path)
    centres = populate(store, gen, 30)
    index.rebuild()
    fresh = index_on(store, tmp_path)
    os.unlink(index_dir(tmp_path) / "current")
    match = identify(store, fresh, gen.samples(centres[5:6])[0])
    assert match is not None and match.username == "user5"
    fresh.wait_for_rebuild(timeout=60)
    assert fresh.manifest().version == 2
    assert identify(store, fresh, gen.samples(centres[6:7])[0]).username == "user6"


def test_one_background_rebuild_across_processes(tmp_path, gen):
    """While one process holds the rebuild lock, another starts no second rebuild."""
    import fcntl

    store, index = make(tmp_path)
    populate(store, gen, 10)
    index.rebuild()
    with open(index_dir(tmp_path) / "rebuild.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        other = index_on(store, tmp_path)
        assert other.rebuilding() and other.start_rebuild() is False
    assert not other.rebuilding()


@pytest.mark.parametrize("victim", ["annoy.ann", "manifest.json", "face_ids.npy", "vectors.npy"])
def test_corrupt_index_is_rebuilt(tmp_path, gen, victim):
    store, index = make(tmp_path)
    centres = populate(store, gen, 30)
    index.rebuild()
    current = index_dir(tmp_path) / os.readlink(index_dir(tmp_path) / "current")
    (current / victim).write_bytes(b"garbage")
    fresh = index_on(store, tmp_path)
    match = identify(store, fresh, gen.samples(centres[9:10])[0])
    assert match is not None and match.username == "user9"
    fresh.wait_for_rebuild(timeout=60)
    assert fresh.manifest().version == 2


def test_many_fresh_faces_start_a_background_rebuild(tmp_path, gen):
    store, index = make(tmp_path, IndexConfig(max_fresh=50))
    centres = populate(store, gen, 30)
    first = index.rebuild()
    populate(store, gen, 30, prefix="late")
    assert identify(store, index, gen.samples(centres[2:3])[0]).username == "user2"
    index.wait_for_rebuild(timeout=60)
    assert index.manifest().version == first.version + 1
    assert index.fresh_count() == 0


@pytest.mark.slow
@lmdb_only
def test_killed_rebuild_leaves_old_index_answering(tmp_path, gen):
    store, index = make(tmp_path)
    centres = populate(store, gen, 20)
    old = index.rebuild()
    store.close()
    # Enough faces that the subprocess's build takes a few seconds; written straight into
    # LMDB (the rebuild-index command below runs on the shipped backend, LMDB).
    extra = FaceGenerator(seed=9).faces(150_000).vectors
    from face_engine.config import StoreConfig
    from face_engine.store.lmdb.database import LmdbDatabase
    from face_engine.store.lmdb.faces import model_ref
    from face_engine.store.lmdb.layout import encode_face, key

    big = LmdbDatabase(tmp_path / "lmdb", StoreConfig())

    def fill(txn):
        base = big.counter(txn, b"next_face_id")
        ref = model_ref(big, txn, SYNTHETIC_MODEL)
        for row, vec in enumerate(extra):
            record = encode_face(1, vec, 0.0, 0.9, ref, SYNTHETIC_MODEL.dim)
            txn.put(key(base + row + 1), record, db=big.db("faces"))
        txn.put(b"next_face_id", str(base + len(extra)).encode(), db=big.db("meta"))

    big.write(fill)
    big.close()
    env = {**os.environ, "FACE_LOGIN_DATA": str(tmp_path), "FACE_LOGIN_INDEX_N_TREES": "100"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "face_engine", "rebuild-index"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    versions = index_dir(tmp_path) / "versions"
    deadline = time.time() + 120
    while (
        time.time() < deadline
        and not list(versions.glob(".tmp-*/ann.json"))
        and not list(versions.glob(".tmp-*/annoy.ann"))
    ):
        if list(versions.glob(".tmp-*")):
            time.sleep(0.5)  # the build has started writing its temporary folder
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert os.readlink(index_dir(tmp_path) / "current") == f"versions/v{old.version:06d}"
    store = open_test_store(tmp_path / "lmdb")
    # max_fresh high: the 150,000 unindexed faces must not start a background rebuild here.
    survivor = index_on(store, tmp_path, IndexConfig(max_fresh=10**7))
    assert survivor.manifest().version == old.version
    match = identify(store, survivor, gen.samples(centres[3:4])[0])
    assert match is not None and match.username == "user3"
    done = subprocess.run(
        [sys.executable, "-m", "face_engine", "rebuild-index"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["faces"] == 60 + 150_000 and out["version"] == old.version + 1
    assert not list(versions.glob(".tmp-*"))
    assert survivor.manifest().version == old.version + 1


@pytest.mark.slow
def test_searches_go_on_during_a_rebuild(tmp_path, gen):
    import threading

    from bench.index_bench import bulk_load
    from face_engine.config import StoreConfig
    from face_engine.store.lmdb import store_on
    from face_engine.store.lmdb.database import LmdbDatabase

    database = LmdbDatabase(tmp_path / "lmdb", StoreConfig())  # filled straight into LMDB
    store = store_on(database, StoreConfig())
    index = index_on(store, tmp_path, IndexConfig(n_trees=100))
    faces = FaceGenerator(seed=4).faces(60_000)
    bulk_load(database, faces.vectors)
    first = index.rebuild()
    builder = threading.Thread(target=index.rebuild)
    builder.start()
    answered_during_build = 0
    while builder.is_alive():
        row = answered_during_build % 1000
        assert index.search(faces.vectors[row], k=1)[0].distance < 1e-3
        answered_during_build += 1
    builder.join()
    assert answered_during_build > 5
    assert index.manifest().version == first.version + 1
