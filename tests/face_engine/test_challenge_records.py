"""Challenges and pending logins on a real store (``tests.stores``): expiry by index (issue
17), taken once; and LMDB folders written before the expiry index.

Issuing used to read every live challenge; it now walks the expiry index from its start, so
the work of an issue is counted here (entries looked at), never timed.
"""

from __future__ import annotations

import multiprocessing
import time

import lmdb
import numpy as np
import pytest

from face_engine.config import LivenessConfig, StoreConfig
from face_engine.errors import ChallengeInvalid, PendingLoginInvalid
from face_engine.head_turn import Challenge, Challenges, challenge_record
from face_engine.store.lmdb import open_lmdb_store, store_on
from face_engine.store.lmdb.database import SCHEMA_VERSION, LmdbDatabase
from face_engine.store.lmdb.expiring import PURGE_BATCH
from face_engine.store.pending_logins import PendingLogins
from tests.stores import open_test_store

LIVE = 100_000


@pytest.fixture
def store(tmp_path):
    s = open_test_store(tmp_path / "lmdb")
    yield s
    s.close()


def made(prefix: str, count: int, expires_at: float) -> list[tuple[str, bytes, float]]:
    """``count`` challenge records as ``Challenges.issue`` keeps them."""
    out = []
    for i in range(count):
        c = Challenge(f"{prefix}{i}", ("left", "right"), expires_at, "10.0.0.1")
        out.append((c.id, challenge_record(c), c.expires_at))
    return out


def test_issuing_with_100000_live_challenges_looks_only_at_expired_ones(store):
    challenges = Challenges(store.challenges, LivenessConfig())
    now = time.time()
    records = challenges.records
    records.put_many(made("live-", LIVE, now + 600), now)
    records.put_many(made("old-", 4 * PURGE_BATCH + 5, now - 5), now - 10)
    assert records.counts() == (LIVE + 4 * PURGE_BATCH + 5,) * 2

    # Each issue removes at most PURGE_BATCH stale ones and stops at the first live entry.
    seen = []
    for _ in range(5):
        c = challenges.issue("10.0.0.9")
        purged = records.put(f"probe-{c.id}", challenge_record(c), c.expires_at, time.time())
        seen.append((purged.removed, purged.looked_at))
    # (the issue before each probe purged as much: 4 x 64, then the last 5)
    assert seen[:2] == [(PURGE_BATCH, PURGE_BATCH)] * 2
    assert seen[2:] == [(0, 1)] * 3  # nothing stale left: one live entry looked at, no more
    # 100,000 live + 5 issued + 5 probes; every stale one gone, from the index too.
    assert records.counts() == (LIVE + 10,) * 2

    # A live challenge among them is taken once, for its client only.
    taken = challenges.take("live-777", "10.0.0.1")
    assert taken.steps == ("left", "right") and taken.client == "10.0.0.1"
    with pytest.raises(ChallengeInvalid, match="unknown or was already used"):
        challenges.take("live-777", "10.0.0.1")
    with pytest.raises(ChallengeInvalid, match="another client"):
        challenges.take("live-778", "10.0.0.2")
    assert records.counts() == (LIVE + 8,) * 2  # both taken, record and index entry
    with pytest.raises(ChallengeInvalid, match="unknown"):
        challenges.take("old-3", "10.0.0.1")  # purged


def test_an_expired_challenge_still_there_is_refused_as_expired(store):
    challenges = Challenges(store.challenges, LivenessConfig())
    now = time.time()
    challenges.records.put_many(made("gone-", 1, now - 1), now - 2)  # expired, not yet purged
    with pytest.raises(ChallengeInvalid, match="expired"):
        challenges.take("gone-0", "10.0.0.1")
    assert challenges.records.counts() == (0, 0)


def _take_all(path: str, ids: list[str], queue) -> None:
    store = open_test_store(path)
    queue.put([i for i in ids if store.challenges.take(i) is not None])
    store.close()


def test_each_challenge_is_taken_once_across_processes(tmp_path, store):
    now = time.time()
    records = store.challenges
    records.put_many(made("c", 300, now + 600), now)
    store.close()
    ids = [f"c{i}" for i in range(300)]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_take_all, args=(str(tmp_path / "lmdb"), ids, queue)) for _ in range(3)
    ]
    for w in workers:
        w.start()
    won = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    assert sorted(i for part in won for i in part) == sorted(ids)  # each once, none lost
    assert records.counts() == (0, 0)


def test_an_lmdb_store_written_before_the_index_is_indexed_on_first_issue(tmp_path):
    """An LMDB folder of the previous release: challenges but no expiry index, no flag."""
    path = tmp_path / "old"
    path.mkdir()
    now = time.time()
    env = lmdb.open(str(path), max_dbs=16, subdir=True)
    meta, table = env.open_db(b"meta"), env.open_db(b"challenges")
    with env.begin(write=True) as txn:
        txn.put(b"schema_version", str(SCHEMA_VERSION).encode(), db=meta)
        for record_id, record, _ in made("live-", 20, now + 600) + made("old-", 30, now - 5):
            txn.put(record_id.encode(), record, db=table)
        txn.put(b"garbled", b"not json", db=table)
    env.close()

    store = open_lmdb_store(path, StoreConfig())
    challenges = Challenges(store.challenges, LivenessConfig())
    assert challenges.take("live-3", "10.0.0.1").client == "10.0.0.1"  # before any index
    challenges.issue("10.0.0.1")  # indexes the 50 left, then purges the 31 stale
    assert challenges.records.counts() == (19 + 1, 19 + 1)
    assert challenges.take("live-4", "10.0.0.1").steps == ("left", "right")
    with pytest.raises(ChallengeInvalid, match="unknown"):
        challenges.take("old-4", "10.0.0.1")
    store.close()
    # Another process (here: a new store object) does not index twice.
    reopened = open_lmdb_store(path, StoreConfig())
    again = Challenges(reopened.challenges, LivenessConfig())
    again.issue("10.0.0.1")
    assert again.records.counts() == (20, 20)
    reopened.close()


def test_an_lmdb_index_entry_whose_record_is_gone_is_dropped_when_it_expires(tmp_path):
    """An older process may take a record without knowing its index entry."""
    now = time.time()
    database = LmdbDatabase(tmp_path / "lmdb", StoreConfig())
    records = store_on(database, StoreConfig()).challenges
    records.put_many(made("c", 2, now - 1), now - 2)
    database.write(lambda txn: txn.delete(b"c0", db=database.db("challenges")))
    assert records.counts() == (1, 2)
    assert records.put("new", b'{"expires_at": 1e12}', 1e12, now).removed == 2
    assert records.counts() == (1, 1)
    database.close()


def test_pending_logins_expire_by_the_index_and_are_taken_once(store):
    vectors = {"sface": np.ones((2, 4), np.float32)}
    stale = PendingLogins(store.pending_logins, seconds=1)
    old = [stale.put("10.0.0.1", vectors) for _ in range(3)]
    pending = PendingLogins(store.pending_logins, seconds=60)
    time.sleep(1.1)
    kept = pending.put("10.0.0.1", vectors)  # purges the three expired
    assert pending.records.counts() == (1, 1)
    with pytest.raises(PendingLoginInvalid):
        pending.take(old[0].id, "10.0.0.1")
    with pytest.raises(PendingLoginInvalid, match="another client"):
        pending.take(kept.id, "10.0.0.2")  # taking spends it, whoever asks
    with pytest.raises(PendingLoginInvalid):
        pending.take(kept.id, "10.0.0.1")
    again = pending.put("10.0.0.1", vectors)
    taken = pending.take(again.id, "10.0.0.1")
    np.testing.assert_array_equal(taken.vectors["sface"], vectors["sface"])
    assert pending.records.counts() == (0, 0)
