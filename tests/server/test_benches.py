"""The benches as programs: index-bench cleans up when interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT


def wait_for(predicate, seconds: float, proc: subprocess.Popen) -> None:
    """Poll ``predicate`` until it holds; fail if ``proc`` ends or time runs out first."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_index_bench_removes_its_temporary_folder_when_interrupted(tmp_path: Path, sig):
    """Interrupted while building its index, index-bench exits 128+signal and leaves nothing
    in TMPDIR."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.index_bench", "--n", "20000", "--queries", "50", "--json"],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: any(tmp_path.glob("index-bench-*/default")), 120, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, err[-2000:]
    assert list(tmp_path.iterdir()) == []
