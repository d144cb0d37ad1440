"""The users and faces tables on a real store (``tests.stores``) in a temp dir: durability,
atomicity, concurrency; and LMDB's map growth."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from bench.synthetic import SYNTHETIC_MODEL
from face_engine.config import StoreConfig
from face_engine.errors import InvalidUsername, UnknownUser, UsernameTaken
from face_engine.store.interfaces import Store
from face_engine.store.lmdb import store_on
from face_engine.store.lmdb.database import LmdbDatabase
from tests.stores import open_test_store


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


def counts(store: Store) -> tuple[int, int]:
    return store.users.user_count(), store.faces.total_faces()


@pytest.fixture
def store(tmp_path):
    s = open_test_store(tmp_path / "lmdb")
    yield s
    s.close()


def test_data_survives_close_and_reopen(tmp_path):
    store = open_test_store(tmp_path / "lmdb")
    user = store.users.create_user("Ada", [(unit(1), 0.99), (unit(2), 0.98)], SYNTHETIC_MODEL)
    store.users.record_login(user.id, 1234.5)
    store.close()
    again = open_test_store(tmp_path / "lmdb")
    found = again.users.find_user("ada")
    assert found.id == user.id and found.username == "Ada" and found.last_login == 1234.5
    faces = again.faces.faces_of(user.id)
    assert [f.score for f in faces] == pytest.approx([0.99, 0.98])
    np.testing.assert_array_equal(faces[0].embedding, unit(1))
    assert counts(again) == (1, 2)
    again.close()


def test_usernames_unique_case_insensitive(store):
    store.users.create_user("Grace", [(unit(1), 0.9)], SYNTHETIC_MODEL)
    with pytest.raises(UsernameTaken):
        store.users.create_user("GRACE", [(unit(2), 0.9)], SYNTHETIC_MODEL)
    assert store.users.find_user("grace").username == "Grace"


def test_look_alike_usernames_are_refused(store):
    """The attack: register fullwidth ``ａｄａ`` and Cyrillic-a ``аdа`` while ``ada`` exists."""
    store.users.create_user("ada", [(unit(1), 0.9)], SYNTHETIC_MODEL)
    with pytest.raises(UsernameTaken):
        store.users.create_user("\uff41\uff44\uff41", [(unit(2), 0.9)], SYNTHETIC_MODEL)  # ａｄａ
    with pytest.raises(InvalidUsername):
        store.users.create_user("\u0430d\u0430", [(unit(3), 0.9)], SYNTHETIC_MODEL)  # аdа
    with pytest.raises(InvalidUsername):
        store.users.create_user("\u03bfscar", [(unit(4), 0.9)], SYNTHETIC_MODEL)  # Greek omicron
    assert [u.username for u in store.users.list_users()] == ["ada"]
    assert store.users.find_user("\uff21\uff24\uff21").username == "ada"  # ＡＤＡ finds ada


@pytest.mark.parametrize(
    "name", ["", " ", "a" * 65, "<script>", "a b", "x\x00y", "robert'); DROP", "jos\u00e9"]
)
def test_invalid_usernames(store, name):
    with pytest.raises(InvalidUsername):
        store.users.create_user(name, [(unit(1), 0.9)], SYNTHETIC_MODEL)
    assert counts(store) == (0, 0)


def test_failure_in_the_middle_of_a_registration_leaves_nothing(store):
    store.users.create_user("first", [(unit(1), 0.9)], SYNTHETIC_MODEL)
    before = counts(store)
    bad_vector = np.full(512, np.nan, np.float32)
    with pytest.raises(ValueError):
        store.users.create_user(
            "second", [(unit(2), 0.9), (unit(3), 0.9), (bad_vector, 0.9)], SYNTHETIC_MODEL
        )
    assert counts(store) == before
    with pytest.raises(UnknownUser):
        store.users.find_user("second")
    # The username is free and the ids continue without a hole being visible to callers.
    user = store.users.create_user("second", [(unit(2), 0.9)], SYNTHETIC_MODEL)
    assert store.faces.faces_of(user.id)[0].user_id == user.id


def test_delete_user_deletes_faces(store):
    keep = store.users.create_user("keep", [(unit(1), 0.9)], SYNTHETIC_MODEL)
    gone = store.users.create_user("gone", [(unit(2), 0.9), (unit(3), 0.9)], SYNTHETIC_MODEL)
    gone_faces = [f.id for f in store.faces.faces_of(gone.id)]
    store.users.delete_user(gone.id)
    assert counts(store) == (1, 1)
    assert store.faces.face_owners(gone_faces) == {}
    assert store.faces.faces_of(gone.id) == []
    with pytest.raises(UnknownUser):
        store.users.get_user(gone.id)
    with pytest.raises(UnknownUser):
        store.users.delete_user(gone.id)
    assert [u.username for u in store.users.list_users()] == [keep.username]
    store.users.create_user("GONE", [(unit(4), 0.9)], SYNTHETIC_MODEL)  # the name is free again


def test_full_lmdb_map_grows_instead_of_failing(tmp_path):
    database = LmdbDatabase(tmp_path / "lmdb", StoreConfig(map_size_mb=1))
    store = store_on(database, StoreConfig(map_size_mb=1))
    start = database.env.info()["map_size"]
    for i in range(300):  # ~2.1 KB per face, 3 faces each: ~2 MB
        store.users.create_user(f"user{i}", [(unit(i), 0.9)] * 3, SYNTHETIC_MODEL)
    assert counts(store) == (300, 900)
    assert database.env.info()["map_size"] > start
    store.close()


def _writer(path: str, prefix: str, count: int) -> None:
    store = open_test_store(path, StoreConfig(map_size_mb=1))
    for i in range(count):
        faces = [(unit(i), 0.9), (unit(i + 1), 0.9)]
        store.users.create_user(f"{prefix}{i}", faces, SYNTHETIC_MODEL)
    store.close()


def _reader(path: str, rounds: int, queue) -> None:
    seen: list[int] | str = []
    try:
        store = open_test_store(path, StoreConfig(map_size_mb=1))
        for _ in range(rounds):
            # Users only grow here, and each registration writes its user and 2 faces at once:
            # the faces counted between two user counts match a user count in between.
            before = store.users.user_count()
            faces = store.faces.total_faces()
            after = store.users.user_count()
            assert faces % 2 == 0 and 2 * before <= faces <= 2 * after, (before, faces, after)
            seen.append(after)
        store.close()
    except Exception as e:  # reported to the test instead of leaving it waiting
        seen = repr(e)
    queue.put(seen)


def test_two_processes_writing_and_reading_lose_nothing(tmp_path):
    path = str(tmp_path / "lmdb")
    seed = open_test_store(path, StoreConfig(map_size_mb=1))
    seed.users.create_user("seed", [(unit(0), 0.9)] * 2, SYNTHETIC_MODEL)
    seed.close()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(path, "a", 150)),
        ctx.Process(target=_writer, args=(path, "b", 150)),
        ctx.Process(target=_reader, args=(path, 400, queue)),
    ]
    for p in procs:
        p.start()
    seen = queue.get(timeout=120)
    assert isinstance(seen, list), seen
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert seen == sorted(seen)
    store = open_test_store(path)
    assert counts(store) == (301, 602)
    names = {u.username for u in store.users.list_users()}
    assert {f"a{i}" for i in range(150)} <= names and {f"b{i}" for i in range(150)} <= names
    store.close()


def test_last_face_id_moves_with_new_faces_only(store):
    """The index's fresh-face cache keys on it: a login must not empty every worker's cache."""
    assert store.faces.last_face_id() == 0
    user = store.users.create_user("x", [(unit(1), 0.9), (unit(2), 0.9)], SYNTHETIC_MODEL)
    assert store.faces.last_face_id() == 2
    store.users.record_login(user.id, 1.0)
    assert store.faces.last_face_id() == 2
    store.users.delete_user(user.id)
    assert store.faces.last_face_id() == 2


def test_snapshot_after(store):
    store.users.create_user("a", [(unit(1), 0.9), (unit(2), 0.9)], SYNTHETIC_MODEL)
    store.users.create_user("b", [(unit(3), 0.9)], SYNTHETIC_MODEL)
    ids, users, vectors, _ = store.faces.snapshot(after=1)
    assert ids.tolist() == [2, 3] and users.tolist() == [1, 2]
    np.testing.assert_array_equal(vectors[1], unit(3))


def test_the_factory_opens_lmdb_under_the_data_folder(tmp_path):
    """``[store] backend = lmdb`` (the default): ``<data>/lmdb``, as before the split."""
    from face_engine.store.factory import open_store

    store = open_store(StoreConfig(), tmp_path)
    store.users.create_user("ada", [(unit(1), 0.9)], SYNTHETIC_MODEL)
    assert (store.backend, store.where) == ("lmdb", str(tmp_path / "lmdb"))
    assert (tmp_path / "lmdb" / "data.mdb").exists()
    store.close()
