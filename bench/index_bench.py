"""Index benchmark on synthetic clustered vectors.

    python -m face_engine index-bench [--n 100000] [--queries 500]  (or python -m bench.index_bench)

Builds the configured backend over N synthetic faces, then queries it one vector at a time (as a
login does) with fresh samples of enrolled identities, and compares with exact search.

Everything it writes goes into one temporary folder (under TMPDIR), removed at the end, on an
error, and on SIGINT or SIGTERM. At --n 1000000 it needs about 14 GB of memory, 10 GB in that
folder and 10-15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

import numpy as np
from tqdm import tqdm

from bench.synthetic import SYNTHETIC_MODEL, FaceGenerator, distance_percentiles
from face_engine.cli import emit
from face_engine.config import IndexConfig, Settings, load_settings


def build_parser() -> argparse.ArgumentParser:
    bench = argparse.ArgumentParser(
        prog="python -m face_engine index-bench",
        description="ANN index build/query/recall benchmark",
    )
    bench.add_argument("--config", type=Path, help="config.ini to read (default: the shipped one)")
    bench.add_argument("--n", type=int, default=100_000, help="faces in the index")
    bench.add_argument("--queries", type=int, default=500, help="single-vector queries")
    bench.add_argument("--no-table", action="store_true", help="skip the trade-off table")
    bench.add_argument("--json", action="store_true", help="print JSON only")
    return bench


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_on_signal(signum: int, frame: FrameType | None) -> None:
    """SIGINT/SIGTERM: unwind (so ``finally`` removes the temporary folder), deaf to repeats."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    print(f"index-bench: {signal.Signals(signum).name}, cleaning up", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if threading.current_thread() is not threading.main_thread():
        return run_index_bench(args, load_settings(args.config, os.environ))
    previous = {sig: signal.signal(sig, exit_on_signal) for sig in STOP_SIGNALS}
    try:
        return run_index_bench(args, load_settings(args.config, os.environ))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def exact_top1(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact nearest row of each query (max dot product = min distance on unit vectors)."""
    best = np.empty(len(queries), np.int64)
    for start in range(0, len(queries), 64):
        sims = vectors @ queries[start : start + 64].T
        best[start : start + 64] = sims.argmax(axis=0)
    return best


def measure(searcher, queries, truth, identity, k: int = 5) -> dict:
    times, hits, user_hits = [], 0, 0
    for query, expected in zip(queries, truth, strict=True):
        start = time.perf_counter()
        rows, _ = searcher.search(query, k)
        times.append((time.perf_counter() - start) * 1000)
        if len(rows):
            hits += int(rows[0] == expected)
            user_hits += int(identity[rows[0]] == identity[expected])
    times.sort()
    return {
        "query_p50_ms": round(statistics.median(times), 3),
        "query_p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
        "recall_at_1": round(hits / len(queries), 4),
        "user_recall_at_1": round(user_hits / len(queries), 4),
    }


def run_index_bench(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bench in a fresh temporary folder, removed whatever happens."""
    tmp = Path(tempfile.mkdtemp(prefix="index-bench-"))
    try:
        return bench_in(tmp, args, settings)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_in(tmp: Path, args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.index.ann import build_ann, open_ann

    config = settings.index
    progress = not args.json
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if progress else (lambda *a: None)
    generator = FaceGenerator(seed=0)
    say(f"generating {args.n} synthetic faces")
    faces = generator.faces(args.n)
    rng = np.random.default_rng(1)
    enrolled = faces.identity[rng.integers(0, args.n, args.queries)]
    queries = generator.samples(faces.centres[enrolled])
    result: dict = {
        "n": args.n,
        "dim": int(faces.vectors.shape[1]),
        "queries": args.queries,
        "distances": distance_percentiles(faces, rng),
        "machine": {"cpus": __import__("os").cpu_count()},
    }

    say("exact search (numpy matmul over all vectors)")
    start = time.perf_counter()
    truth = exact_top1(faces.vectors, queries)
    exact_times = []
    for query in queries[:20]:
        t = time.perf_counter()
        int(np.argmax(faces.vectors @ query))
        exact_times.append((time.perf_counter() - t) * 1000)
    result["exact"] = {
        "query_p50_ms": round(statistics.median(exact_times), 3),
        "batch_seconds": round(time.perf_counter() - start, 2),
    }

    folder = tmp / "default"
    say(f"building {config.backend} (projection {config.projection_dims}, {config.n_trees} trees)")
    start = time.perf_counter()
    build_ann(faces.vectors, folder, config)
    build_seconds = time.perf_counter() - start
    searcher = open_ann(folder, config)
    result["default"] = {
        "backend": config.backend,
        "projection_dims": config.projection_dims,
        "n_trees": config.n_trees,
        "search_k": config.search_k,
        "candidates": config.candidates,
        "build_seconds": round(build_seconds, 1),
        "index_bytes": dir_bytes(folder),
        **measure(searcher, queries, truth, faces.identity),
    }
    result["registration"] = registration_cost(settings, faces.vectors, tmp, say)
    if not args.no_table:
        result["tradeoffs"] = tradeoff_table(
            faces, queries, truth, folder, config, tmp, say, args.n
        )
    searcher.close()
    result["peak_rss_mb"] = peak_rss_mb()
    if args.json:
        emit(result)
    else:
        print_report(result)
    return 0


def registration_cost(settings: Settings, vectors: np.ndarray, tmp: Path, say) -> dict:
    """Registering a face is an LMDB write plus (on the next login) an exact search over the
    faces added since the last build: neither touches the N indexed faces. Measured with a
    store holding 1,000 faces and one holding N, both indexed."""
    from face_engine.index.face_index import FaceIndex
    from face_engine.store.lmdb import store_on
    from face_engine.store.lmdb.database import LmdbDatabase

    out = {}
    sizes = sorted({min(1000, len(vectors)), len(vectors)})
    for size in sizes:
        folder = tmp / f"store-{size}"
        try:
            say(f"registration cost with {size} faces in the store")
            config = dataclasses.replace(settings.store, map_size_mb=64)
            database = LmdbDatabase(folder / "lmdb", config)
            store = store_on(database, config)
            index = FaceIndex(
                store.faces, store.jobs, folder / "index", settings.index, SYNTHETIC_MODEL
            )
            bulk_load(database, vectors[:size])
            index.rebuild()
            rng = np.random.default_rng(2)
            for row in rng.integers(0, size, 300):  # warm the freshly built index's pages
                index.search(vectors[row], 5)
            times, searches = [], []
            for i in range(20):
                vec = vectors[rng.integers(0, size)]
                t = time.perf_counter()
                store.users.create_user(f"new{i}", [(vec, 0.99)], SYNTHETIC_MODEL)
                times.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                index.search(vec, 5)
                searches.append((time.perf_counter() - t) * 1000)
            out[str(size)] = {
                "register_ms_p50": round(statistics.median(times), 3),
                "search_after_register_ms_p50": round(statistics.median(searches), 3),
            }
            store.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return out


def bulk_load(database, vectors: np.ndarray) -> None:
    """N faces, 4 per user, in a few large transactions (faster than one per user), written
    straight into an LMDB store (``LmdbDatabase``)."""
    from face_engine.store.lmdb.faces import model_ref
    from face_engine.store.lmdb.layout import encode_face, key

    now = time.time()
    step = 50_000
    for start in tqdm(range(0, len(vectors), step), desc="store", leave=False, file=sys.stderr):

        def fill(txn, start=start):
            dbs = database.environment.prepared
            ref = model_ref(database, txn, SYNTHETIC_MODEL)
            for row in range(start, min(len(vectors), start + step)):
                user_id = row // 4 + 1
                if row % 4 == 0:
                    txn.put(f"bulk{user_id}".encode(), key(user_id), db=dbs["usernames"])
                    txn.put(
                        key(user_id),
                        b'{"username": "bulk%d", "created": 0, "status": '
                        b'"active", "last_login": null}' % user_id,
                        db=dbs["users"],
                    )
                face_id = row + 1
                record = encode_face(user_id, vectors[row], now, 0.99, ref, SYNTHETIC_MODEL.dim)
                txn.put(key(face_id), record, db=dbs["faces"])
                txn.put(key(user_id), key(face_id), db=dbs["user_faces"])
            txn.put(b"next_user_id", str(len(vectors) // 4 + 1).encode(), db=dbs["meta"])
            txn.put(b"next_face_id", str(min(len(vectors), start + step)).encode(), db=dbs["meta"])

        database.write(fill)


def tradeoff_table(
    faces, queries, truth, default_folder, config: IndexConfig, tmp: Path, say, n
) -> list[dict]:
    """Recall and speed across structures and their query knobs (fewer queries per row)."""
    from face_engine.index.ann import build_ann, open_ann

    rows = []
    sub_q, sub_t = queries[:200], truth[:200]
    searcher = None
    variants: list[tuple[IndexConfig, list[IndexConfig]]] = []
    plain = dataclasses.replace(config, backend="annoy", projection_dims=0)
    variants.append((plain, [dataclasses.replace(plain, search_k=s) for s in (-1, 5000, 20000)]))
    projected = dataclasses.replace(
        config, backend="annoy", projection_dims=config.projection_dims or 64
    )
    variants.append(
        (
            projected,
            [
                dataclasses.replace(projected, search_k=s, candidates=c)
                for s, c in ((-1, 50), (-1, 100), (5000, 100), (10000, 200))
            ],
        )
    )
    hnsw = dataclasses.replace(config, backend="hnsw")
    variants.append((hnsw, [dataclasses.replace(hnsw, hnsw_ef=e) for e in (32, 64, 128)]))
    for build_config, query_configs in variants:
        same_as_default = build_config == dataclasses.replace(
            config, search_k=build_config.search_k, candidates=build_config.candidates
        )
        folder = (
            default_folder
            if same_as_default
            else tmp / f"{build_config.backend}-{build_config.projection_dims}"
        )
        build_seconds = None
        if not same_as_default:
            say(
                f"trade-off table: building {build_config.backend} "
                f"projection {build_config.projection_dims}"
            )
            start = time.perf_counter()
            build_ann(faces.vectors, folder, build_config)
            build_seconds = round(time.perf_counter() - start, 1)
        for query_config in query_configs:
            searcher = open_ann(folder, query_config)
            row = {
                "backend": query_config.backend,
                "projection_dims": query_config.projection_dims
                if query_config.backend == "annoy"
                else None,
                "n_trees": query_config.n_trees if query_config.backend == "annoy" else None,
                "search_k": query_config.search_k if query_config.backend == "annoy" else None,
                "candidates": query_config.candidates
                if query_config.projection_dims and query_config.backend == "annoy"
                else None,
                "ef": query_config.hnsw_ef if query_config.backend == "hnsw" else None,
                "build_seconds": build_seconds,
                "index_bytes": dir_bytes(folder),
                **measure(searcher, sub_q, sub_t, faces.identity),
            }
            rows.append(row)
            searcher.close()
    return rows


def print_report(result: dict) -> None:
    d = result["default"]
    print(
        f"index-bench: n={result['n']} dim={result['dim']} queries={result['queries']} "
        f"cpus={result['machine']['cpus']}"
    )
    print(f"synthetic distances: same {result['distances']['same']}")
    print(f"                     different {result['distances']['different']}")
    print(
        f"default: backend={d['backend']} projection_dims={d['projection_dims']} "
        f"n_trees={d['n_trees']} search_k={d['search_k']} candidates={d['candidates']}"
    )
    print(
        f"  build {d['build_seconds']} s, index {d['index_bytes'] / 1e6:.1f} MB, "
        f"peak RSS {result['peak_rss_mb']} MB"
    )
    print(
        f"  query p50 {d['query_p50_ms']} ms, p99 {d['query_p99_ms']} ms, recall@1 "
        f"{d['recall_at_1']} (face), {d['user_recall_at_1']} (user)"
    )
    print(f"exact brute force: {result['exact']['query_p50_ms']} ms per query (numpy matmul)")
    for size, reg in result["registration"].items():
        print(
            f"registration with {size} faces stored: write {reg['register_ms_p50']} ms, "
            f"search right after {reg['search_after_register_ms_p50']} ms"
        )
    if "tradeoffs" in result:
        print("trade-offs (200 queries each):")
        print(
            f"{'backend':<8}{'proj':>5}{'trees':>6}{'search_k':>9}{'cand':>6}{'ef':>5}"
            f"{'build_s':>8}{'MB':>8}{'p50_ms':>8}{'p99_ms':>8}{'recall':>8}{'user_r':>8}"
        )
        for r in result["tradeoffs"]:

            def f(v):
                return "-" if v is None else v

            print(
                f"{r['backend']:<8}{f(r['projection_dims']):>5}{f(r['n_trees']):>6}"
                f"{f(r['search_k']):>9}{f(r['candidates']):>6}{f(r['ef']):>5}"
                f"{f(r['build_seconds']):>8}{r['index_bytes'] / 1e6:>8.1f}{r['query_p50_ms']:>8}"
                f"{r['query_p99_ms']:>8}{r['recall_at_1']:>8}{r['user_recall_at_1']:>8}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
