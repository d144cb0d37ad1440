"""Load and fault bench on several hosts (issue 18): head-turn logins through nginx, on each
store backend, and what a killed instance costs.

    nice -n 10 .venv/bin/python -m bench.two_host_load [--backends lmdb,postgres]
        [--levels 1,8,32] [--duration 30] [--kill-level 8] [--json]

For each backend it starts a cluster on loopback (bench/cluster.py): nginx running
deploy/nginx.conf, Redis for the rate limits, and
- ``lmdb``: one instance (two LMDB hosts cannot share their data): the single-host baseline;
- ``postgres``: two instances, each with its own data folder, on one PostgreSQL.
Each instance has 2 workers; the per-address limits are lifted (the bench is one address).
It registers its users and plays the challenge as ``bench.load --challenge`` does
(bench/challenge_load.py), then runs each ``--levels`` concurrency for ``--duration`` seconds:
challenge logins/s and p50/p95/p99 of challenge + login.

Then the fault: ``--kill-level`` clients log in for ``--kill-duration`` seconds and, after
``--kill-at`` seconds, the first instance gets SIGKILL (master and workers). On ``lmdb`` it is
started again at once, as a supervisor would (systemd's Restart=always): nothing else could
answer. On ``postgres`` the other instance carries on alone. A client whose login failed waits
``--retry-pause`` seconds before its next, as a person would. It reports the failed logins, by
error, and the seconds from the kill until the first successful login after the last failure
(0 when none failed).

Prints a table, or JSON with ``--json``. All processes and the temporary folder go at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.challenge_load import (
    LIVENESS,
    SECOND_CLIP,
    as_files,
    ordered_frames,
    read_clip,
    run_level,
)
from bench.challenge_load import register as register_user
from bench.cluster import Backend, Cluster, ClusterError
from bench.load import BenchError, Tally, summary

UNLIMITED = "100000 per minute"
BENCH_ENV = {
    "FACE_LOGIN_APP_LOGIN_RATE_LIMIT": UNLIMITED,
    "FACE_LOGIN_APP_REGISTER_RATE_LIMIT": UNLIMITED,
    "FACE_LOGIN_APP_CHALLENGE_RATE_LIMIT": UNLIMITED,
    "FACE_LOGIN_APP_CLIENT_CONCURRENCY": "0",
    "FACE_LOGIN_APP_CLIENT_WORK_LIMIT": "",
    # Every login sends the same recording.
    "FACE_LOGIN_LIVENESS_REPLAY_KEEP": "0",
}
HOSTS: dict[str, int] = {"lmdb": 1, "postgres": 2}


def build_parser() -> argparse.ArgumentParser:
    bench = argparse.ArgumentParser(
        prog="python -m bench.two_host_load", description="logins through nginx, and a kill"
    )
    bench.add_argument("--backends", default="lmdb,postgres", help="comma-separated")
    bench.add_argument("--levels", default="1,8,32", help="concurrencies, in turn")
    bench.add_argument("--duration", type=float, default=30.0, help="seconds per level")
    bench.add_argument("--max-requests", type=int, default=100_000, help="logins per level")
    bench.add_argument("--warmup", type=int, default=16, help="unmeasured logins first")
    bench.add_argument("--kill-level", type=int, default=8, help="clients during the kill")
    bench.add_argument("--kill-at", type=float, default=10.0, help="seconds before the kill")
    bench.add_argument("--kill-duration", type=float, default=40.0, help="seconds of the phase")
    bench.add_argument("--retry-pause", type=float, default=0.5, help="after a failed login")
    bench.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    bench.add_argument("--liveness", type=Path, default=LIVENESS, help="head-turn clips")
    bench.add_argument("--json", action="store_true", help="JSON instead of a table")
    return bench


@dataclass
class TimedTally(Tally):
    """A Tally that also keeps when each login ended and whether it failed; a client whose
    login failed waits ``retry_pause`` before its next."""

    retry_pause: float = 0.0
    ended: list[tuple[float, bool]] = field(default_factory=list)

    def record(self, latency_ms: float | None, error: str | None) -> None:
        super().record(latency_ms, error)
        with self.lock:
            self.ended.append((time.monotonic(), error is None))
        if error is not None and self.retry_pause:
            time.sleep(self.retry_pause)


def cost_of_kill(tally: TimedTally, killed_at: float) -> dict[str, object]:
    """Failed logins after the kill, and seconds from it to the first success after the last
    failure."""
    failures = [t for t, ok in tally.ended if not ok and t >= killed_at]
    recovered: float | None = 0.0
    if failures:
        later = [t for t, ok in tally.ended if ok and t > max(failures)]
        recovered = round(min(later) - killed_at, 2) if later else None
    return {
        "failed_logins": len(failures),
        "failed_before_kill": sum(1 for t, ok in tally.ended if not ok and t < killed_at),
        "seconds_to_normal": recovered,
    }


def logins_served(cluster: Cluster) -> dict[str, int]:
    """Logins each instance has answered so far (its access log)."""
    return {m.name: m.log.read_text().count('"POST /api/login ') for m in cluster.members}


def kill_phase(
    cluster: Cluster, frames: Any, args: argparse.Namespace, restart: bool
) -> dict[str, object]:
    tally = TimedTally(
        max_requests=args.max_requests,
        deadline=time.monotonic() + args.kill_duration,
        retry_pause=args.retry_pause,
    )
    elapsed: list[float] = []

    def clients() -> None:
        _, seconds = run_level(cluster.front, frames, args.kill_level, 0, 0, args.timeout, tally)
        elapsed.append(seconds)

    load = threading.Thread(target=clients, daemon=True)
    load.start()
    time.sleep(args.kill_at)
    victim = cluster.members[0]
    killed_at = time.monotonic()
    victim.kill()
    if restart:
        victim.launch()
    load.join()
    if restart:
        victim.wait_ready()
    return {
        "concurrency": args.kill_level,
        "killed": victim.name,
        "restarted": restart,
        **cost_of_kill(tally, killed_at),
        **summary(tally, elapsed[0]),
    }


def bench_backend(backend: Backend, folder: Path, args: argparse.Namespace) -> dict[str, object]:
    levels = [int(level) for level in args.levels.split(",") if level.strip()]
    frames = ordered_frames(args.liveness)
    second = as_files([_jpeg(f) for f in read_clip(args.liveness / SECOND_CLIP)])
    with Cluster(folder, backend=backend, instances=HOSTS[backend], env=BENCH_ENV) as cluster:
        base = cluster.front
        users = {
            "ana": register_user(base, "ana", frames[("left", "right")], args.timeout),
            "d3": register_user(base, "d3", second, args.timeout),
        }
        if args.warmup:
            run_level(base, frames, max(levels), args.timeout, args.warmup, args.timeout)
        results = []
        for level in levels:
            served = logins_served(cluster)
            load_before = os.getloadavg()[0]
            tally, elapsed = run_level(
                base, frames, level, args.duration, args.max_requests, args.timeout
            )
            after = logins_served(cluster)
            results.append(
                {
                    "concurrency": level,
                    **summary(tally, elapsed),
                    "logins_by_instance": {k: after[k] - served[k] for k in after},
                    "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                }
            )
        kill = kill_phase(cluster, frames, args, restart=HOSTS[backend] == 1)
    return {
        "backend": backend,
        "instances": HOSTS[backend],
        "users": users,
        "levels": results,
        "kill": kill,
    }


def _jpeg(image: Any) -> bytes:
    import cv2

    return bytes(cv2.imencode(".jpg", image)[1].tobytes())


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | instances | concurrency | logins/s | p50 ms | p95 ms | p99 ms | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in results:
        for level in run["levels"]:
            latency = level["latency_ms"]
            lines.append(
                f"| {run['backend']} | {run['instances']} | {level['concurrency']} "
                f"| {level['logins_per_s']} | {latency.get('p50', '-')} "
                f"| {latency.get('p95', '-')} | {latency.get('p99', '-')} "
                f"| {level['error_count']} of {level['requests']} |"
            )
    lines += [
        "",
        "| backend | instances | killed | clients | failed logins | s to normal | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in results:
        kill = run["kill"]
        how = "restarted" if kill["restarted"] else "left dead"
        lines.append(
            f"| {run['backend']} | {run['instances']} | {kill['killed']}, {how} "
            f"| {kill['concurrency']} | {kill['failed_logins']} of {kill['requests']} "
            f"| {kill['seconds_to_normal']} | {kill['errors']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or any(b not in HOSTS for b in backends):
        print(f"two_host_load: --backends from {', '.join(HOSTS)}", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="two-host-load-"))
    results = []
    try:
        for backend in backends:
            print(f"two_host_load: {backend}", file=sys.stderr, flush=True)
            chosen: Backend = "lmdb" if backend == "lmdb" else "postgres"
            results.append(bench_backend(chosen, folder / backend, args))
    except (BenchError, ClusterError) as error:
        print(f"two_host_load: {error}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(results, indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
