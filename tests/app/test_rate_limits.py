"""Rate limits that mean what they say, on a stub of Accounts (no models): the default
lmdb:// storage counts exactly across worker processes, and X-Forwarded-For is believed
only from the proxy's own addresses."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from face_engine import ConfigError
from tests.helpers import StubAccounts

LIMIT = 5


def make_app(data: Path, stub: StubAccounts | None = None, **env: str):
    from app import create_app

    return create_app(
        {"TESTING": True, "CHALLENGE_RATE_LIMIT": f"{LIMIT} per hour"},
        env={"FACE_LOGIN_DATA": str(data), **env},
        accounts=stub or StubAccounts(),
    )


def challenge(client, peer: str, forwarded: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    r = client.post("/api/challenge", headers=headers, environ_base={"REMOTE_ADDR": peer})
    return int(r.status_code)


def worker_codes(data: str, requests: int) -> list[int]:
    """One "worker": its own app on the shared data folder, as gunicorn forks them."""
    client = make_app(Path(data)).test_client()
    return [challenge(client, "192.0.2.7") for _ in range(requests)]


def test_worker_processes_share_one_count(tmp_path):
    """The attack: spread the attempts over the workers. memory:// let each worker's own
    count reach the limit (2 x LIMIT got through); lmdb:// lets exactly LIMIT through."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        codes = pool.starmap(worker_codes, [(str(tmp_path), 4 * LIMIT)] * 2)
    everything = codes[0] + codes[1]
    assert everything.count(200) == LIMIT and everything.count(429) == 7 * LIMIT
    assert (tmp_path / "ratelimits" / "data.mdb").exists()


def test_direct_client_rotating_x_forwarded_for_is_limited(tmp_path):
    """The attack: reach the port directly and send a new X-Forwarded-For each time
    (30 of 30 got through). From a peer that is not the proxy the header is ignored."""
    stub = StubAccounts()
    client = make_app(tmp_path, stub, FACE_LOGIN_APP_TRUSTED_PROXIES="1").test_client()
    codes = [challenge(client, "10.0.0.9", f"198.51.100.{i}") for i in range(30)]
    assert codes == [200] * LIMIT + [429] * (30 - LIMIT)
    assert set(stub.challenges) == {"10.0.0.9"}


@pytest.mark.parametrize("proxy", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_the_proxy_has_each_forwarded_client_counted_apart(tmp_path, proxy):
    stub = StubAccounts()
    client = make_app(tmp_path, stub, FACE_LOGIN_APP_TRUSTED_PROXIES="1").test_client()
    clients = [f"198.51.100.{i}" for i in range(30)]
    assert [challenge(client, proxy, c) for c in clients] == [200] * 30
    assert stub.challenges == clients
    again = [challenge(client, proxy, clients[0]) for _ in range(LIMIT)]
    assert again == [200] * (LIMIT - 1) + [429]


def test_proxy_addresses_take_networks(tmp_path):
    env = {"FACE_LOGIN_APP_TRUSTED_PROXIES": "1", "FACE_LOGIN_APP_PROXY_ADDRESSES": "10.0.0.0/8"}
    client = make_app(tmp_path, **env).test_client()
    assert [challenge(client, "10.0.0.9", f"198.51.100.{i}") for i in range(10)] == [200] * 10
    local = [challenge(client, "127.0.0.1", f"203.0.113.{i}") for i in range(10)]
    assert local == [200] * LIMIT + [429] * (10 - LIMIT)


def test_a_bad_proxy_address_stops_start_up_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="PROXY_ADDRESSES = .*'10.0.0.300' does not"):
        make_app(tmp_path, FACE_LOGIN_APP_PROXY_ADDRESSES="127.0.0.1, 10.0.0.300")


@pytest.mark.parametrize("uri", ["memory://", "lmdb://{data}/elsewhere"])
def test_other_storages_still_work(tmp_path, uri):
    client = make_app(
        tmp_path, FACE_LOGIN_APP_RATELIMIT_STORAGE_URI=uri.format(data=tmp_path)
    ).test_client()
    codes = [challenge(client, "192.0.2.7") for _ in range(LIMIT + 2)]
    assert codes == [200] * LIMIT + [429] * 2
    assert (tmp_path / "elsewhere").exists() == uri.startswith("lmdb")
    assert not (tmp_path / "ratelimits").exists()


def test_lmdb_storage_windows_clear_reset_and_sweep(tmp_path):
    from limits.errors import ConfigurationError
    from limits.storage import storage_from_string

    from app.ratelimits import LMDBStorage

    storage = storage_from_string(f"lmdb://{tmp_path}/limits")
    assert isinstance(storage, LMDBStorage) and storage.check()
    assert [storage.incr("a", 1) for _ in range(3)] == [1, 2, 3]
    assert storage.incr("b", 60, amount=5) == 5 and storage.get("b") == 5
    assert time.time() < storage.get_expiry("a") <= time.time() + 1
    time.sleep(1.05)
    assert storage.get("a") == 0 and storage.sweep() == 1
    assert storage.incr("a", 1) == 1
    storage.clear("a")
    assert storage.get("a") == 0
    assert storage.incr("long" * 200, 60) == 1 and storage.get("long" * 200) == 1
    assert storage.reset() == 2 and storage.get("b") == 0
    with pytest.raises(ConfigurationError, match="absolute folder"):
        storage_from_string("lmdb://relative/folder")
