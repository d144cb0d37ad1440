"""The 1:N search on PostgreSQL: pgvector's HNSW index of one model's faces, re-ranked exactly
(docs/postgres.md, "Decision").

A search is one query: the ``candidates`` nearest faces of the model by its partial HNSW
index (``vector_l2_ops``: Euclidean, the engine's distance), with ``hnsw.ef_search`` set for
that transaction only: 80 up to 100,000 faces of the model, 320 beyond. The candidates are
re-ranked with ``face_engine.distance`` and reduced to each user's nearest face. The index
is updated by the transactions that add and delete faces, so a face registered on any host is
found at once and a deleted one never; there is nothing to build per host. A rebuild is a
``REINDEX INDEX CONCURRENTLY`` (searches go on with the old index meanwhile), one at a time
across hosts, its state in the jobs table as ``FaceIndex`` keeps it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from face_engine.config import IndexConfig
from face_engine.distance import to_rows
from face_engine.index.face_index import IndexManifest, Neighbor
from face_engine.store.interfaces import JobTable, Store
from face_engine.store.postgres import hnsw
from face_engine.store.postgres.faces import HNSW_EF_CONSTRUCTION, HNSW_M, PgFaceStore
from face_engine.types import Embedding, ModelIdentity

log = logging.getLogger(__name__)
SMALL_GALLERY = 100_000
EF_SMALL, EF_LARGE = 80, 320
CANDIDATES = 40
GALLERY_SECONDS = 60.0
"""How long a process keeps the model's face count it chose ef_search by."""
METRIC = (
    f"euclidean (pgvector HNSW, vector_l2_ops, m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION})"
)


def ef_search_for(faces: int) -> int:
    """hnsw.ef_search for a gallery of ``faces`` (docs/postgres.md)."""
    return EF_SMALL if faces <= SMALL_GALLERY else EF_LARGE


class PgvectorSearch:
    """FaceSearch over one model's faces in PostgreSQL; safe across threads."""

    def __init__(
        self, faces: PgFaceStore, jobs: JobTable, config: IndexConfig, model: ModelIdentity
    ) -> None:
        self.faces = faces
        self.jobs = jobs
        self.config = config
        self.model = model
        self._gallery: tuple[float, int] = (-GALLERY_SECONDS, 0)
        self._lock = threading.Lock()  # one background rebuild per process; guards its end
        self._background: threading.Thread | None = None
        self._job = f"rebuild_job/{model.tag}"
        self._job_request = f"rebuild_request/{model.tag}"
        self._version = f"pgvector_index_version/{model.tag}"
        self._built = f"pgvector_index_built/{model.tag}"
        self._lock_name = f"rebuild:{model.tag}"

    # -- queries -------------------------------------------------------------------------

    def search(self, vector: Embedding, k: int = 5) -> list[Neighbor]:
        """The ``k`` nearest users, each with their nearest face (exact distance)."""
        query = np.asarray(vector, np.float32).reshape(-1)
        ef = ef_search_for(self._gallery_size())
        found = self.faces.nearest(self.model, query, min(ef, max(CANDIDATES, 8 * k)), ef)
        if not found:
            return []
        distances = to_rows(np.stack([v for _, _, v in found]), query)
        best: dict[int, Neighbor] = {}
        for (face_id, user_id, _), dist in zip(found, distances, strict=True):
            if user_id not in best or dist < best[user_id].distance:
                best[user_id] = Neighbor(user_id, face_id, float(dist))
        return sorted(best.values(), key=lambda n: (n.distance, n.face_id))[:k]

    def _gallery_size(self) -> int:
        since, count = self._gallery
        if time.monotonic() - since >= GALLERY_SECONDS:
            count = self.faces.model_face_count(self.model)
            self._gallery = (time.monotonic(), count)
        return count

    def manifest(self) -> IndexManifest | None:
        """The HNSW index as it is now; None before the model's first face."""
        if self.faces.model_ref(self.model, create=False) is None:
            return None
        built = self.jobs.get(self._built) or {}
        return IndexManifest(
            version=self.jobs.get_int(self._version),
            faces=self.faces.model_face_count(self.model),
            max_face_id=self.faces.last_face_id(),
            built_at=float(built.get("built_at", 0.0)),
            seconds=float(built.get("seconds", 0.0)),
            metric=METRIC,
            backend="pgvector",
            n_trees=0,
            projection_dims=0,
        )

    def fresh_count(self) -> int:
        """0: every face is in the index from the moment its transaction commits."""
        return 0

    # -- rebuilding ----------------------------------------------------------------------

    def rebuild(self) -> IndexManifest:
        """REINDEX now and wait for it (after a running one, on any host)."""
        held = hnsw.lock(self.faces.pool, self._lock_name)
        try:
            return self._reindex(held)
        finally:
            held.close()

    def start_rebuild(self, again_if_running: bool = False) -> bool:
        """REINDEX in a background thread unless one runs on any host (False then; with
        ``again_if_running`` that one runs once more when it is done). "running" is written
        under the lock before the thread starts, and its end before the lock is let go."""
        with self._lock:
            running = self._background is not None and self._background.is_alive()
            held = None if running else hnsw.try_lock(self.faces.pool, self._lock_name)
            if held is None:
                if again_if_running:
                    self.jobs.put(self._job_request, {"at": time.time()})
                return False
            started = time.time()
            try:
                self.jobs.put(self._job, {"state": "running", "started_at": started})
            except BaseException:
                held.close()
                raise

            def run() -> None:
                try:
                    while not self._build_once(held, started):
                        pass
                finally:
                    held.close()

            self._background = threading.Thread(target=run, name="pgvector-reindex", daemon=True)
            self._background.start()
            return True

    def _build_once(self, held: hnsw.HeldLock, started: float) -> bool:
        """One background REINDEX; True when it is the last (its end recorded)."""
        began = time.time()
        try:
            manifest = self._reindex(held)
            ended: dict[str, Any] = {
                "state": "done",
                "faces": manifest.faces,
                "version": manifest.version,
                "seconds": manifest.seconds,
            }
        except Exception as e:
            log.exception("background pgvector reindex failed")
            ended = {"state": "failed", "error": f"{type(e).__name__}: {e}"}
        with self._lock:
            try:
                asked = self.jobs.get(self._job_request)
                if ended["state"] == "done" and asked and float(asked["at"]) >= began:
                    return False
                ended.update(started_at=started, finished_at=time.time())
                self.jobs.put(self._job, ended)
            except Exception:
                log.exception("could not record the end of the pgvector reindex")
            held.close()
            self._background = None
            return True

    def _reindex(self, held: hnsw.HeldLock) -> IndexManifest:
        began = time.time()
        ref = self.faces.model_ref(self.model, create=False)
        if ref is not None:
            held.reindex(ref)
            self.jobs.put_int(self._version, self.jobs.get_int(self._version) + 1)
            seconds = round(time.time() - began, 3)
            self.jobs.put(self._built, {"built_at": time.time(), "seconds": seconds})
        manifest = self.manifest()
        if manifest is None:
            return IndexManifest(0, 0, 0, time.time(), 0.0, METRIC, "pgvector", 0, 0)
        return manifest

    def rebuilding(self) -> bool:
        """Whether a rebuild holds the lock now, on any host."""
        return hnsw.is_locked(self.faces.pool, self._lock_name)

    def rebuild_status(self) -> dict[str, Any]:
        """idle, running, done (faces, version, seconds) or failed (error); a running one
        whose session died is reported failed."""
        status: dict[str, Any] = self.jobs.get(self._job) or {"state": "idle"}
        if status["state"] == "running" and not self.rebuilding():
            status = self.jobs.get(self._job) or status
            if status["state"] == "running" and not self.rebuilding():
                status = {**status, "state": "failed", "error": "the rebuild was interrupted"}
        return status

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        background = self._background
        if background is not None:
            background.join(timeout)


def search_for(store: Store, config: IndexConfig, model: ModelIdentity) -> PgvectorSearch:
    """The pgvector search of ``model``'s faces in a store opened by ``open_postgres_store``."""
    if not isinstance(store.faces, PgFaceStore):
        raise TypeError(f"search_for needs a PostgreSQL store, not {store.backend}")
    return PgvectorSearch(store.faces, store.jobs, config, model)
