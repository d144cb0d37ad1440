"""The issue's costly-request attacks against a real gunicorn with the shipped limits: while
each runs (one attacker address, eight requests at a time), a real head-turn login from
another address still succeeds, close to its quiet latency, and nothing breaks. Every client
is a loopback address of its own, so the per-address bounds (rate limits, client share,
upload rate) apply as they do to real peers."""

from __future__ import annotations

import pytest
import requests

from bench import request_attacks
from bench.request_attacks import measure
from tests.server.test_gunicorn import start_server, stop_server

pytestmark = [pytest.mark.server, pytest.mark.integration]

SHIPPED = {
    # The limits as config.ini ships them (start_server raises them for its other tests).
    "FACE_LOGIN_APP_LOGIN_RATE_LIMIT": "10 per minute; 60 per hour",
    "FACE_LOGIN_APP_REGISTER_RATE_LIMIT": "5 per minute; 30 per hour",
    "FACE_LOGIN_APP_CLIENT_CONCURRENCY": "1",
    "FACE_LOGIN_APP_CLIENT_WORK_LIMIT": "20000 per minute",
    "FACE_LOGIN_LIVENESS_LOGIN": "true",
    "FACE_LOGIN_LIVENESS_REGISTER": "true",
    # The bench logs in with one recording again and again, which the replay memory refuses.
    "FACE_LOGIN_LIVENESS_REPLAY_KEEP": "0",
}
ATTACKS = ["big_png", "mosaic", "faceless", "preview_flood"]


def test_a_real_login_succeeds_while_each_attack_runs(tmp_path, monkeypatch):
    # Each client is its own loopback address (127.x.y.z), as the shipped service sees peers.
    monkeypatch.setenv("REQUEST_ATTACKS_DIRECT", "1")
    monkeypatch.setattr(request_attacks, "DIRECT", True)
    proc, base, log = start_server(tmp_path / "data", extra_env=SHIPPED)
    try:
        report = measure(base, ATTACKS, count=3, streams=8)
        assert requests.get(f"{base}/healthz", timeout=30).status_code == 200
    finally:
        stop_server(proc)
    quiet = report["quiet"]
    assert quiet["genuine"] == {"200 ok": 3}, report
    bound = 4 * float(quiet["median_s"]) + 2.0  # generous: a shared 2-core machine
    for name in ATTACKS:
        phase = report[name]
        assert phase["genuine"] == {"200 ok": 3}, (name, report)
        assert float(phase["median_s"]) <= bound, (name, report)
        assert not any(answer.startswith("5") for answer in phase["attacker"]), (name, report)
    refused = {name: set(report[name]["attacker"]) for name in ATTACKS}
    assert "422 bad_image" in refused["big_png"] or "429 rate_limited" in refused["big_png"]
    assert "422 too_many_faces" in refused["mosaic"] | refused["preview_flood"], report
    assert "Traceback" not in log.read_text()
