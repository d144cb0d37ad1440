"""index-bench runs end to end on a small N and reports every figure the issue asks for."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import ROOT


def test_index_bench_small():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "face_engine",
            "index-bench",
            "--n",
            "2000",
            "--queries",
            "50",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    default = out["default"]
    for key in ("build_seconds", "index_bytes", "query_p50_ms", "query_p99_ms", "recall_at_1"):
        assert key in default
    assert default["recall_at_1"] >= 0.95
    assert out["peak_rss_mb"] > 0 and out["exact"]["query_p50_ms"] > 0
    assert {"same", "different"} <= set(out["distances"])
    assert len(out["tradeoffs"]) >= 6 and set(out["registration"]) == {"1000", "2000"}
    assert out["distances"]["same"]["p50"] < out["distances"]["different"]["p50"]
