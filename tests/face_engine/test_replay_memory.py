"""The replay memory (issue 15): signatures of passed head turns, kept per user in the store
with a retention limit, and the pure comparison that spots frames sent again."""

from __future__ import annotations

import cv2
import lmdb
import numpy as np
import pytest

from bench.synthetic import SYNTHETIC_MODEL
from face_engine.config import StoreConfig
from face_engine.liveness.replay import (
    ClipSignature,
    clip_signature,
    face_thumbnail,
    repeated_fraction,
)
from tests.stores import open_test_store

LANDMARKS = np.array([[80, 90], [140, 90], [110, 125], [88, 160], [132, 160]], np.float32)


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def store(tmp_path):
    s = open_test_store(tmp_path / "lmdb")
    yield s
    s.close()


def textured(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (12, 12, 3)).astype(np.float32)
    return np.asarray(cv2.resize(coarse, (240, 240), interpolation=cv2.INTER_CUBIC), np.uint8)


def test_an_lmdb_folder_from_before_the_replay_table_opens(tmp_path):
    from face_engine.store.lmdb import open_lmdb_store

    path = tmp_path / "old"
    path.mkdir()
    env = lmdb.open(str(path), max_dbs=16, subdir=True)
    names = [b"users", b"usernames", b"faces", b"models", b"meta", b"challenges"]
    names += [b"pending_logins", b"audit", b"oidc"]
    for name in names:
        env.open_db(name)
    env.open_db(b"user_faces", dupsort=True)
    with env.begin(write=True, db=env.open_db(b"meta")) as txn:
        txn.put(b"schema_version", b"2")
    env.close()
    store = open_lmdb_store(path, StoreConfig())
    user = store.users.create_user("ada", [(unit(1), 0.9)], SYNTHETIC_MODEL)
    assert store.replays.recent(user.id, since=0.0) == []
    store.replays.remember(user.id, b"sig", when=1000.0, keep=3, since=0.0)
    assert store.replays.recent(user.id, since=0.0) == [b"sig"]
    store.close()


def test_retention_keeps_the_newest_per_user_within_the_age(store):
    """Kept: the newest 3 per user, none from before ``since`` (the caller's now - 100 s)."""
    replays = store.replays
    one = store.users.create_user("ada", [(unit(1), 0.9)], SYNTHETIC_MODEL).id
    two = store.users.create_user("bob", [(unit(2), 0.9)], SYNTHETIC_MODEL).id
    for k in range(5):
        replays.remember(one, f"a{k}".encode(), when=1000.0 + k, keep=3, since=900.0 + k)
    replays.remember(two, b"b0", when=1000.0, keep=3, since=900.0)
    assert replays.recent(one, since=905.0) == [b"a2", b"a3", b"a4"]
    assert replays.recent(two, since=905.0) == [b"b0"]
    assert replays.recent(one, since=1002.5) == [b"a3", b"a4"]  # a2 is older than 100 s now
    replays.remember(one, b"a5", when=1200.0, keep=3, since=1100.0)  # the old ones dropped
    assert replays.recent(one, since=0.0) == [b"a5"]


def test_deleting_a_user_forgets_their_turns(store):
    user = store.users.create_user("ada", [(unit(1), 0.9)], SYNTHETIC_MODEL)
    other = store.users.create_user("bob", [(unit(2), 0.9)], SYNTHETIC_MODEL)
    store.replays.remember(user.id, b"ada", when=1000.0, keep=3, since=0.0)
    store.replays.remember(other.id, b"bob", when=1000.0, keep=3, since=0.0)
    store.users.delete_user(user.id)
    assert store.replays.recent(user.id, since=0.0) == []
    assert store.replays.recent(other.id, since=0.0) == [b"bob"]


def test_signature_round_trips_and_repeats_itself():
    frames = [textured(k) for k in range(6)]
    signature = clip_signature(frames, [LANDMARKS] * 6, [0.1 * k for k in range(6)])
    again = ClipSignature.from_bytes(signature.to_bytes())
    np.testing.assert_array_equal(again.thumbs, signature.thumbs)
    np.testing.assert_allclose(again.yaws, signature.yaws, atol=1e-3)
    assert repeated_fraction(again, signature, 0.1, 0.1) == 1.0


def test_a_shifted_noisy_copy_repeats_and_other_faces_do_not():
    rng = np.random.default_rng(0)
    frames = [textured(k) for k in range(6)]
    old = clip_signature(frames, [LANDMARKS] * 6, [0.0] * 6)
    shifted = [np.roll(f, (3, -2), axis=(0, 1)) for f in frames]
    noisy = [np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8) for f in shifted]
    moved = LANDMARKS + np.array([-2, 3], np.float32)
    copy = clip_signature(noisy, [moved] * 6, [0.0] * 6)
    assert repeated_fraction(copy, old, 0.1, 0.1) == 1.0
    others = clip_signature([textured(50 + k) for k in range(6)], [LANDMARKS] * 6, [0.0] * 6)
    assert repeated_fraction(others, old, 0.1, 0.1) == 0.0
    # The same thumbnails at another yaw are no twins (the landmark track differs).
    turned = clip_signature(frames, [LANDMARKS] * 6, [0.3] * 6)
    assert repeated_fraction(turned, old, 0.1, 0.1) == 0.0
    assert face_thumbnail(frames[0], LANDMARKS).shape == (256,)
