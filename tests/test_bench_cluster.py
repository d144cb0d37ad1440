"""The two-host harness's pieces without servers: deploy/nginx.conf rewritten for loopback
(and accepted by ``nginx -t`` when nginx is installed), and the cost of a kill counted from
when logins ended."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bench.cluster import NGINX, nginx_conf, nginx_site
from bench.two_host_load import TimedTally, cost_of_kill


def test_nginx_site_is_the_shipped_file_on_loopback_with_x_upstream() -> None:
    site = nginx_site(8081, ["127.0.0.1:9001", "127.0.0.1:9002"])
    assert "face-login-1" not in site and "listen 80;" not in site
    assert "    server 127.0.0.1:9001 max_fails=1 fail_timeout=10s;\n" in site
    assert "    server 127.0.0.1:9002 max_fails=1 fail_timeout=10s;\n" in site
    assert "listen 127.0.0.1:8081;" in site
    assert "add_header X-Upstream $upstream_addr always;" in site
    # What the deployment relies on is untouched.
    for line in ("proxy_set_header Host $http_host;", "proxy_next_upstream error timeout"):
        assert line in site


def test_nginx_conf_passes_nginx_t(tmp_path: Path) -> None:
    if not os.access(NGINX, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail("nginx is needed (make nginx-deps)")
        pytest.skip("nginx not installed (make nginx-deps)")
    conf = nginx_conf(tmp_path, 8081, ["127.0.0.1:9001"])
    check = subprocess.run(
        [
            NGINX,
            "-t",
            "-q",
            "-e",
            str(tmp_path / "error.log"),
            "-p",
            str(tmp_path),
            "-c",
            str(conf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_cost_of_kill_counts_from_the_kill_to_the_first_success_after_the_last_failure() -> None:
    tally = TimedTally(max_requests=10, deadline=0.0)
    tally.ended = [(1.0, True), (2.0, False), (3.0, True), (4.0, False), (4.5, True), (5.0, True)]
    assert cost_of_kill(tally, 1.5) == {
        "failed_logins": 2,
        "failed_before_kill": 0,
        "seconds_to_normal": 3.0,
    }
    tally.ended = [(1.0, True), (2.0, True)]
    assert cost_of_kill(tally, 1.5)["seconds_to_normal"] == 0.0
    tally.ended = [(2.0, False)]
    assert cost_of_kill(tally, 1.5)["seconds_to_normal"] is None
