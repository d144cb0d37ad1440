"""Challenges issued per second, on an empty table and with many live ones (issue 17).

    python -m bench.challenge_issue_bench [--issues 2000] [--live 100000] [--json]

``Challenges.issue`` on a real LMDB in a temporary folder (synced writes, as the service
runs): ``--issues`` issues on an empty table, then the same with ``--live`` unexpired
challenges filled in one transaction (as if that many clients had asked and not come back),
then with ``--live`` live and as many expired ones left to purge. Each issue is one write
transaction; on this disk its sync is most of the cost, so the CPU time per issue is printed
too (it leaves the sync waits out). Issuing used to read every live
record on each issue (431/s empty, 64/s with about 3,800 live); now it walks the expiry
index from its start, only while entries are expired.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from face_engine.config import LivenessConfig, StoreConfig
from face_engine.head_turn import Challenge, Challenges, challenge_record
from face_engine.store.lmdb import open_lmdb_store


def fill(challenges: Challenges, prefix: str, count: int, expires_at: float) -> None:
    records = [
        (c.id, challenge_record(c), c.expires_at)
        for c in (
            Challenge(f"{prefix}{i}", ("left", "right"), expires_at, "10.0.0.1")
            for i in range(count)
        )
    ]
    challenges.records.put_many(records, time.time() - 3600)  # nothing purged while filling


def issue_rate(challenges: Challenges, issues: int) -> tuple[float, float]:
    """(issues per second, CPU ms per issue): the sync waits are in the first, not the second."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(issues):
        challenges.issue("10.0.0.2")
    elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu
    return issues / elapsed, cpu_used * 1000 / issues


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=2000)
    parser.add_argument("--live", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, object] = {"issues_per_phase": args.issues, "live": args.live}
    with tempfile.TemporaryDirectory(prefix="challenge-issue-bench-") as folder:
        for phase in ("empty", "live", "live_and_expired"):
            store = open_lmdb_store(Path(folder) / phase, StoreConfig())
            challenges = Challenges(store.challenges, LivenessConfig())
            if phase != "empty":
                fill(challenges, "live-", args.live, time.time() + 3600)
            if phase == "live_and_expired":
                fill(challenges, "old-", args.live, time.time() - 60)
            challenges.issue("warm-up")
            rate, cpu_ms = issue_rate(challenges, args.issues)
            result[f"issued_per_s_{phase}"] = round(rate, 1)
            result[f"cpu_ms_per_issue_{phase}"] = round(cpu_ms, 3)
            records, entries = challenges.records.counts()
            result[f"records_after_{phase}"] = records
            assert records == entries, (records, entries)
            store.close()
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        for name, value in result.items():
            print(f"{name:<34}{value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
