"""Two hosts for real (issue 18): two gunicorn instances of the service, each with its own data
folder and port, on one PostgreSQL and one Redis, behind Debian's nginx running
deploy/nginx.conf (bench/cluster.py). Everything goes through nginx, with the shipped
liveness settings (a head-turn challenge for every registration and login); nginx's
``X-Upstream`` says which instance answered, so each check sees both at work."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from bench.cluster import ADMIN, NGINX, Backend, Cluster, Instance

pytestmark = [pytest.mark.server, pytest.mark.integration, pytest.mark.slow]
BACKEND: Backend = "postgres"
REGISTER_LIMIT = 6
LEFT_RIGHT = ("left", "right")
TRAFFIC = 4  # logins in flight while an instance dies


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    missing = [
        name
        for name, there in (
            ("nginx (make nginx-deps)", os.access(NGINX, os.X_OK)),
            ("redis-server (make redis-deps)", shutil.which("redis-server") is not None),
        )
        if not there
    ]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must not skip the two-host test: {', '.join(missing)} missing")
        pytest.skip(f"{', '.join(missing)} not installed")
    env = {
        "FACE_LOGIN_APP_LOGIN_RATE_LIMIT": "1000 per minute",
        "FACE_LOGIN_APP_CHALLENGE_RATE_LIMIT": "1000 per minute",
        "FACE_LOGIN_APP_REGISTER_RATE_LIMIT": f"{REGISTER_LIMIT} per hour",
        # Every client here is 127.0.0.1 unless it says otherwise: no per-client share.
        "FACE_LOGIN_APP_CLIENT_CONCURRENCY": "0",
        "FACE_LOGIN_APP_CLIENT_WORK_LIMIT": "",
    }
    with Cluster(tmp_path_factory.mktemp("two-hosts"), backend=BACKEND, env=env) as running:
        yield running
        for member in running.members:
            assert "Traceback" not in member.log.read_text(), member.log.read_text()[-3000:]


@pytest.fixture(scope="module")
def ana(liveness_data: Path) -> list[bytes]:
    """A real head turn both ways (passes either order of steps)."""
    return clip(liveness_data / "intel_female_headturn")


@pytest.fixture(scope="module")
def registered(cluster: Cluster, ana: list[bytes]) -> tuple[requests.Session, Instance]:
    """ana, registered through nginx: her browser (with the session cookie) and the instance
    that registered her."""
    browser = requests.Session()
    _, r = head_turn(cluster, browser, ana, username="ana")
    assert r.status_code == 201, r.text
    return browser, cluster.served_by(r)


def clip(folder: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(folder.glob("*.jpg"))]


def head_turn(
    cluster: Cluster,
    client: requests.Session,
    frames: list[bytes],
    username: str | None = None,
    steps: tuple[str, ...] | None = None,
) -> tuple[requests.Response, requests.Response]:
    """A challenge (in the order ``steps``, if given), then the frames with it: a
    registration with ``username``, else a login. Both answers."""
    url = f"{cluster.front}/api/register" if username else f"{cluster.front}/api/login"
    origin = {"Origin": cluster.front}
    for _ in range(50):
        challenge = client.post(f"{cluster.front}/api/challenge", headers=origin, timeout=60)
        assert challenge.status_code == 200, challenge.text
        if steps is None or tuple(challenge.json()["steps"]) == steps:
            break
    data = {"challenge": challenge.json()["challenge"]}
    if username:
        data["username"] = username
    r = client.post(url, data=data, files=as_files(frames), headers=origin, timeout=300)
    return challenge, r


def as_files(frames: list[bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("image", (f"{i:04d}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)]


def on_each(
    cluster: Cluster, send: Callable[[], requests.Response]
) -> dict[str, list[requests.Response]]:
    """``send()`` again until every instance has answered it at least once; answers by
    instance name."""
    answers: dict[str, list[requests.Response]] = {}
    for _ in range(20):
        r = send()
        answers.setdefault(cluster.served_by(r).name, []).append(r)
        if len(answers) == len(cluster.members):
            return answers
    raise AssertionError(f"nginx sent 20 requests to {sorted(answers)} only")


def on_other(
    cluster: Cluster, than: Instance, send: Callable[[], requests.Response]
) -> requests.Response:
    """``send()`` until another instance than ``than`` answers it. A request between tries
    moves nginx's round-robin on, should ``send`` make an even number of requests."""
    for _ in range(10):
        r = send()
        if cluster.served_by(r) is not than:
            return r
        requests.get(f"{cluster.front}/healthz", timeout=60)
    raise AssertionError(f"{than.name} answered 10 tries out of 10")


class FromAddress(HTTPAdapter):
    """Connections from another loopback address (a client of its own for the rate limits)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def test_registered_on_one_host_logs_in_on_the_other(
    cluster: Cluster, registered: tuple[requests.Session, Instance], ana: list[bytes]
) -> None:
    browser, registrar = registered
    # A new client, no cookie: its login lands on the instance that did not register her.
    r = on_other(cluster, registrar, lambda: head_turn(cluster, requests.Session(), ana)[1])
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["username"] == "ana"
    # The registration's cookie is good on both: one secret, one store.
    for name, answers in on_each(
        cluster, lambda: browser.get(f"{cluster.front}/api/me", timeout=60)
    ).items():
        assert all(a.status_code == 200 for a in answers), (name, answers[0].text)
        assert answers[0].json()["username"] == "ana"


def test_a_challenge_issued_by_one_is_taken_by_the_other_once(
    cluster: Cluster, registered: tuple[requests.Session, Instance], ana: list[bytes]
) -> None:
    for _ in range(10):
        challenge, r = head_turn(cluster, requests.Session(), ana)
        if cluster.served_by(challenge) is not cluster.served_by(r):
            break
        requests.get(f"{cluster.front}/healthz", timeout=60)
    else:
        raise AssertionError("the challenge and its login were always on one instance")
    assert r.status_code == 200 and r.json()["username"] == "ana", r.text
    # Taken: sent again, each instance refuses it (the frames are never looked at).
    challenge_id = challenge.json()["challenge"]
    again = on_each(
        cluster,
        lambda: requests.post(
            f"{cluster.front}/api/login",
            data={"challenge": challenge_id},
            files=as_files(ana),
            timeout=300,
        ),
    )
    for name, answers in again.items():
        for a in answers:
            assert a.status_code == 400 and a.json()["error"] == "challenge_invalid", (name, a.text)


def test_logout_on_one_host_refuses_the_cookie_on_the_other(
    cluster: Cluster, registered: tuple[requests.Session, Instance], ana: list[bytes]
) -> None:
    browser = requests.Session()
    _, r = head_turn(cluster, browser, ana)
    assert r.status_code == 200, r.text
    copied = requests.Session()  # the same cookie, kept by someone who took it
    copied.cookies.update(browser.cookies)

    def me() -> requests.Response:
        return copied.get(f"{cluster.front}/api/me", timeout=60)

    assert all(a.status_code == 200 for answers in on_each(cluster, me).values() for a in answers)
    out = browser.post(f"{cluster.front}/api/logout", headers={"Origin": cluster.front}, timeout=60)
    assert out.status_code == 200, out.text
    r = on_other(cluster, cluster.served_by(out), me)
    assert r.status_code == 401, r.text
    assert all(a.status_code == 401 for answers in on_each(cluster, me).values() for a in answers)


def test_rate_limits_are_counted_across_both_hosts(
    cluster: Cluster, registered: tuple[requests.Session, Instance]
) -> None:
    """A client of its own (127.0.0.7, passed on by nginx): REGISTER_LIMIT registrations an
    hour in all, whichever instance each lands on; with a count per instance, twice as many."""
    client = requests.Session()
    client.mount("http://", FromAddress("127.0.0.7"))
    answers = [
        client.post(f"{cluster.front}/api/register", data={"username": "x"}, timeout=60)
        for _ in range(3 * REGISTER_LIMIT)
    ]
    codes = [a.status_code for a in answers]
    assert 429 not in codes[:REGISTER_LIMIT] and set(codes[REGISTER_LIMIT:]) == {429}, codes
    names = {m.name for m in cluster.members}
    assert {cluster.served_by(a).name for a in answers[:REGISTER_LIMIT]} == names
    assert {cluster.served_by(a).name for a in answers[REGISTER_LIMIT:]} == names
    # 127.0.0.1 has a count of its own: the instances key on the address nginx passes on.
    r = requests.post(f"{cluster.front}/api/register", data={"username": "x"}, timeout=60)
    assert r.status_code != 429, r.text


def test_one_host_killed_mid_traffic_the_other_serves_and_nothing_is_lost(
    cluster: Cluster,
    registered: tuple[requests.Session, Instance],
    ana: list[bytes],
    liveness_data: Path,
) -> None:
    """SIGKILL to one instance (master and workers) while logins are in flight. Once nginx
    has taken it out (its error log says so), every login succeeds on the other; nothing
    stored is lost: both users log in, the old session cookie still works."""
    browser = requests.Session()  # signed in before: (the logout test ended the others)
    _, r = head_turn(cluster, browser, ana)
    assert r.status_code == 200, r.text
    d3 = clip(liveness_data / "liveportrait_d3_turns")
    _, r = head_turn(cluster, requests.Session(), d3, username="d3", steps=LEFT_RIGHT)
    assert r.status_code == 201, r.text
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def users() -> list[tuple[str, int]]:
        r = requests.get(f"{cluster.front}/api/admin/users", headers=admin, timeout=60)
        return sorted((u["username"], u["faces"]) for u in r.json()["users"])

    before = users()
    assert [name for name, _ in before] == ["ana", "d3"]
    victim, survivor = cluster.members

    lock = threading.Lock()
    state = {"phase": "before"}
    results: list[tuple[str, int | str, int | str, str]] = []  # phase, challenge, login, who
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            with lock:
                phase = state["phase"]
            outcome = (phase, *login_or_failure(cluster, ana))
            with lock:
                results.append(outcome)

    def done(phase: str) -> list[tuple[str, int | str, int | str, str]]:
        with lock:
            return [r for r in results if r[0] == phase]

    threads = [threading.Thread(target=traffic, daemon=True) for _ in range(TRAFFIC)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: {r[3] for r in done("before") if r[2] == 200} == {"host1", "host2"})
        victim.kill()
        with lock:
            state["phase"] = "killed"
        wait_for(cluster.marked_down)
        with lock:
            state["phase"] = "down"
        wait_for(lambda: len(done("down")) >= 3 * TRAFFIC)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=300)
    after = done("down")
    assert all(r[1:] == (200, 200, survivor.name) for r in after), after
    failed = [r for r in results if r[0] != "down" and r[2] != 200]
    assert all(r[1] in (200, 502) and r[2] in (502, "") for r in failed), failed

    assert users() == before
    _, r = head_turn(cluster, requests.Session(), d3, steps=LEFT_RIGHT)
    assert r.status_code == 200 and r.json()["username"] == "d3", r.text
    r = browser.get(f"{cluster.front}/api/me", timeout=60)
    assert r.status_code == 200 and r.json()["username"] == "ana"
    assert cluster.served_by(r) is survivor


def login_or_failure(cluster: Cluster, frames: list[bytes]) -> tuple[int | str, int | str, str]:
    """A head-turn login that may fail anywhere: (challenge status, login status or "",
    the instance that answered the last request or "")."""
    try:
        challenge = requests.post(f"{cluster.front}/api/challenge", timeout=60)
        if challenge.status_code != 200:
            return challenge.status_code, "", ""
        r = requests.post(
            f"{cluster.front}/api/login",
            data={"challenge": challenge.json()["challenge"]},
            files=as_files(frames),
            timeout=300,
        )
    except requests.RequestException as error:
        return type(error).__name__, "", ""
    return 200, r.status_code, cluster.served_by(r).name


def wait_for(condition: Callable[[], bool], tries: int = 3000) -> None:
    """Until ``condition()``; fails after ``tries`` looks a tenth of a second apart."""
    event = threading.Event()
    for _ in range(tries):
        if condition():
            return
        event.wait(0.1)
    raise AssertionError("the traffic never got there")
