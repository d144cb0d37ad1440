"""FaceIndex: nearest users to a face vector, from an ANN index derived from the store's faces
(``FaceSearch`` on LMDB: each host keeps its own index files).

One index per embedding model: it holds only the faces that model made (the store records it),
so vectors of two models are never compared; ``index_for`` puts it in ``<index>/<model tag>``.
On disk, under ``index_dir``::

    versions/v000007/   ann files (face_engine/index/ann.py), face_ids.npy, manifest.json
    current -> versions/v000007   (a symlink, switched atomically with os.replace)
    rebuild.lock                  (fcntl lock: one rebuild at a time, across processes)

A rebuild reads one snapshot of the faces, builds into ``versions/.tmp-*``, fsyncs, renames the
folder to its version and swaps ``current``; searches never take the lock, so a rebuild never
blocks a login, and a rebuild killed half-way leaves ``current`` (the previous index) in service.
Every search checks where ``current`` points (one readlink) and reloads when it moved, so every
gunicorn worker picks up a new version without a restart. Faces newer than the index (face id
above the manifest's ``max_face_id``) are searched exactly and merged in, so a new user can log
in at once; every candidate is checked against the store, so deleted faces are never returned.
The rebuild job's state (``rebuild_job/<model tag>``) and the version counter live in the
store's ``JobTable``, so every process reports the same.

Metric: Euclidean distance between unit vectors = Annoy's angular distance sqrt(2 (1 - cos)),
so the engine's threshold applies to index distances unchanged.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal, overload

import numpy as np

from face_engine.config import IndexConfig
from face_engine.distance import to_rows
from face_engine.index.ann import AnnSearcher, build_ann, open_ann
from face_engine.store.interfaces import FaceTable, JobTable
from face_engine.types import Embedding, ModelIdentity

log = logging.getLogger(__name__)
METRIC = "angular (= Euclidean on unit vectors)"
KEEP_VERSIONS = 2


@dataclass(frozen=True, slots=True)
class Neighbor:
    user_id: int
    face_id: int
    distance: float


@dataclass(frozen=True, slots=True)
class IndexManifest:
    version: int
    faces: int
    max_face_id: int
    built_at: float
    seconds: float
    metric: str
    backend: str
    n_trees: int
    projection_dims: int


@dataclass
class _Loaded:
    target: str
    manifest: IndexManifest
    searcher: AnnSearcher
    face_ids: np.ndarray


@dataclass
class _Fresh:
    last_face_id: int  # the store's newest face id when this was read
    after: int
    face_ids: np.ndarray
    vectors: np.ndarray


class FaceIndex:
    """Search over the store's faces; one instance per process, safe across threads."""

    def __init__(
        self,
        faces: FaceTable,
        jobs: JobTable,
        index_dir: Path,
        config: IndexConfig,
        model: ModelIdentity,
    ) -> None:
        self.faces = faces
        self.jobs = jobs
        self.dir = Path(index_dir)
        self.config = config
        self.model = model
        self._loaded: _Loaded | None = None
        self._fresh: _Fresh | None = None
        self._lock = threading.Lock()  # guards (re)loading; held only briefly by searches
        self._build_lock = threading.Lock()  # one build at a time in this process
        self._background: threading.Thread | None = None
        self._unusable: str | None = "none yet"  # a ``current`` target that failed to load
        self._job = f"rebuild_job/{model.tag}"  # the store's record of the last background one
        self._job_request = f"rebuild_request/{model.tag}"  # asked for while one was running

    # -- queries -------------------------------------------------------------------------

    def search(self, vector: Embedding, k: int = 5) -> list[Neighbor]:
        """The ``k`` nearest users, each with their nearest face, nearest first."""
        vector = np.asarray(vector, np.float32).reshape(-1)
        loaded = self._current()
        after = loaded.manifest.max_face_id if loaded else 0
        candidates: dict[int, float] = {}
        if loaded is not None and loaded.manifest.faces:
            rows, dists = loaded.searcher.search(vector, max(4 * k, 20))
            for row, dist in zip(rows, dists, strict=True):
                face_id = int(loaded.face_ids[row])
                candidates[face_id] = min(float(dist), candidates.get(face_id, 9.0))
        fresh = self._fresh_faces(after)
        if len(fresh.face_ids):
            dists = to_rows(fresh.vectors, vector)
            for face_id, dist in zip(fresh.face_ids, dists, strict=True):
                candidates[int(face_id)] = float(dist)
        owners = self.faces.face_owners(list(candidates))  # deleted faces drop out here
        best: dict[int, Neighbor] = {}
        for face_id, user_id in owners.items():
            dist = candidates[face_id]
            if user_id not in best or dist < best[user_id].distance:
                best[user_id] = Neighbor(user_id, face_id, dist)
        return sorted(best.values(), key=lambda n: n.distance)[:k]

    def manifest(self) -> IndexManifest | None:
        loaded = self._current()
        return loaded.manifest if loaded else None

    def fresh_count(self) -> int:
        """Faces not yet in the built index (searched exactly)."""
        loaded = self._current()
        fresh = self._fresh_faces(loaded.manifest.max_face_id if loaded else 0)
        return len(self.faces.face_owners(fresh.face_ids.tolist()))

    # -- loading -------------------------------------------------------------------------

    def _current(self) -> _Loaded | None:
        """The index ``current`` points to, reloaded when it moved. Missing or unreadable, it
        is rebuilt in the background (one rebuild across processes) and meanwhile None: the
        searches scan every face exactly. Never a rebuild inside a request."""
        link = self.dir / "current"
        try:
            target = os.readlink(link)
        except FileNotFoundError:
            target = None
        except OSError:
            target = "unreadable"
        loaded = self._loaded
        if loaded is not None and loaded.target == target:
            return loaded
        if target == self._unusable:
            # Known bad (or missing) until ``current`` moves; with nothing built yet, build
            # once there are faces to build from.
            if target is None and self.faces.last_face_id() and not self._building():
                self.start_rebuild()
            return None
        with self._lock:
            if self._loaded is not None and self._loaded.target == target:
                return self._loaded
            try:
                if target is None:
                    raise FileNotFoundError(f"no index at {link}")
                self._loaded = self._load(target)
                return self._loaded
            except (OSError, ValueError, KeyError, RuntimeError) as e:
                self._loaded, self._unusable = None, target
                if target is not None or self.faces.last_face_id():
                    log.warning("index unusable (%s); rebuilding it in the background", e)
                    self.start_rebuild()
                return None

    def _load(self, target: str) -> _Loaded:
        folder = self.dir / target
        manifest = IndexManifest(**json.loads((folder / "manifest.json").read_text()))
        face_ids = np.load(folder / "face_ids.npy", mmap_mode="r")
        if len(face_ids) != manifest.faces:
            raise ValueError(f"{folder}: {len(face_ids)} ids for {manifest.faces} faces")
        searcher = open_ann(folder, self.config)
        return _Loaded(target, manifest, searcher, face_ids)

    def _fresh_faces(self, after: int) -> _Fresh:
        """Faces with id > ``after`` (not in the built index), cached until a face is added;
        then only the faces newer than the cache are read, so a login after a registration
        costs one short cursor walk. Deleted ones are filtered at search time; logins, which
        add no face, keep the cache."""
        last_face_id = self.faces.last_face_id()
        fresh = self._fresh
        if fresh is not None and fresh.last_face_id == last_face_id and fresh.after == after:
            return fresh
        if fresh is not None and fresh.after == after:
            newest = int(fresh.face_ids[-1]) if len(fresh.face_ids) else after
            ids, _, vectors, last_face_id = self.faces.snapshot(newest, self.model)
            fresh = _Fresh(
                last_face_id,
                after,
                np.concatenate([fresh.face_ids, ids]),
                np.concatenate([fresh.vectors, vectors]),
            )
        else:
            face_ids, _, vectors, last_face_id = self.faces.snapshot(after, self.model)
            fresh = _Fresh(last_face_id, after, face_ids, vectors)
        self._fresh = fresh
        if len(fresh.face_ids) > self.config.max_fresh:
            self.start_rebuild()
        return fresh

    # -- building ------------------------------------------------------------------------

    def rebuild(self) -> IndexManifest:
        """Build a new version from the store and switch to it; waits for a running rebuild.

        Searches in this and every other process go on meanwhile with the previous version.
        """
        return self._rebuild_locked()  # the file lock orders it after a running one

    def start_rebuild(self, again_if_running: bool = False) -> bool:
        """Rebuild in a background thread, unless one is running in this or another process
        (False then; with ``again_if_running``, that one builds once more when it is done, so
        faces added since it began are in). Every background rebuild, the admin's or one a
        search asked for, keeps its state in the store (``rebuild_status``).

        The cross-process lock is taken here, before the thread starts, and "running" written
        under it; the thread writes how it ended before the lock is let go. So whoever finds
        the lock free reads the end of the last rebuild, never a stale "running".
        """
        with self._build_lock:
            running = self._background is not None and self._background.is_alive()
            lock_file = None if running else self._try_lock()
            if lock_file is None:
                if again_if_running:
                    self.jobs.put(self._job_request, {"at": time.time()})
                return False
            started = time.time()
            try:
                self.jobs.put(self._job, {"state": "running", "started_at": started})
            except BaseException:
                lock_file.close()
                raise
            versions = self.dir / "versions"
            versions.mkdir(parents=True, exist_ok=True)

            def run() -> None:
                try:
                    while not self._build_once(versions, started, lock_file):
                        pass
                finally:
                    lock_file.close()

            self._background = threading.Thread(target=run, name="index-rebuild", daemon=True)
            self._background.start()
            return True

    def _build_once(self, versions: Path, started: float, lock_file: IO[str]) -> bool:
        """One background build; True when it is the last: then its end is recorded, the
        lock let go and the thread forgotten, all under ``_build_lock``, which a
        ``start_rebuild`` asking meanwhile also takes: its request is either seen here (False:
        build again) or made once this one is over (it starts its own)."""
        began = time.time()
        try:
            manifest = self._build_and_switch(versions)
            ended: dict[str, Any] = {
                "state": "done",
                "faces": manifest.faces,
                "version": manifest.version,
                "seconds": manifest.seconds,
            }
        except Exception as e:
            log.exception("background index rebuild failed")
            ended = {"state": "failed", "error": f"{type(e).__name__}: {e}"}
        with self._build_lock:
            try:
                asked = self.jobs.get(self._job_request)
                if ended["state"] == "done" and asked and float(asked["at"]) >= began:
                    return False
                ended.update(started_at=started, finished_at=time.time())
                self.jobs.put(self._job, ended)
            except Exception:  # the store closed under it (shutdown), or cannot be written
                log.exception("could not record the end of the index rebuild")
            lock_file.close()
            self._background = None
            return True

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        """Until this process's background rebuild (if any) has ended."""
        background = self._background
        if background is not None:
            background.join(timeout)

    def rebuild_status(self) -> dict[str, Any]:
        """The last background rebuild: idle (none yet), running, done (faces, version,
        seconds) or failed (error); one whose process died is reported failed."""
        status: dict[str, Any] = self.jobs.get(self._job) or {"state": "idle"}
        if status["state"] == "running" and not self.rebuilding():
            # It may have ended between the two reads; its end is written before its lock is
            # let go, so a second read has it.
            status = self.jobs.get(self._job) or status
            if status["state"] == "running" and not self.rebuilding():
                status = {**status, "state": "failed", "error": "the rebuild was interrupted"}
        return status

    def _try_lock(self) -> IO[str] | None:
        """The rebuild lock file, locked; None when another holds the lock."""
        self.dir.mkdir(parents=True, exist_ok=True)
        lock_file = open(self.dir / "rebuild.lock", "a")  # noqa: SIM115 - closed by the holder
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            return None
        return lock_file

    def _building(self) -> bool:
        return self._background is not None and self._background.is_alive()

    def rebuilding(self) -> bool:
        """Whether a rebuild holds the lock now, in any process (a non-blocking probe)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "rebuild.lock", "a") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock_file, fcntl.LOCK_UN)
            return False

    @overload
    def _rebuild_locked(self, blocking: Literal[True] = True) -> IndexManifest: ...

    @overload
    def _rebuild_locked(self, blocking: bool) -> IndexManifest | None: ...

    def _rebuild_locked(self, blocking: bool = True) -> IndexManifest | None:
        """Build and switch, holding the cross-process lock; without ``blocking``, None when
        another process holds it (its build will do)."""
        versions = self.dir / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "rebuild.lock", "a") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                return None
            return self._build_and_switch(versions)

    def _build_and_switch(self, versions: Path) -> IndexManifest:
        """A new version built from the store and made current (the caller holds the lock)."""
        for stale in versions.glob(".tmp-*"):  # left by a rebuild that was killed
            shutil.rmtree(stale, ignore_errors=True)
        started = time.time()
        face_ids, _, vectors, _ = self.faces.snapshot(0, self.model)
        version = self.jobs.get_int("index_version") + 1
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=versions))
        build_ann(vectors, tmp, self.config)
        np.save(tmp / "face_ids.npy", face_ids)
        manifest = IndexManifest(
            version=version,
            faces=int(len(face_ids)),
            max_face_id=int(face_ids.max()) if len(face_ids) else 0,
            built_at=time.time(),
            seconds=round(time.time() - started, 3),
            metric=METRIC,
            backend=self.config.backend,
            n_trees=self.config.n_trees,
            projection_dims=self.config.projection_dims,
        )
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest)))
        _fsync_tree(tmp)
        final = versions / f"v{version:06d}"
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        link_tmp = self.dir / f".current-{os.getpid()}"
        if link_tmp.is_symlink():
            link_tmp.unlink()
        os.symlink(f"versions/{final.name}", link_tmp)
        os.replace(link_tmp, self.dir / "current")
        _fsync_dir(self.dir)
        self.jobs.put_int("index_version", version)
        self._prune(versions, final.name)
        return manifest

    @staticmethod
    def _prune(versions: Path, keep: str) -> None:
        """Remove old versions; processes still using one keep their memory maps (Linux keeps
        unlinked files alive while mapped) and reload on their next search."""
        names = sorted(p.name for p in versions.glob("v*"))
        for name in names[:-KEEP_VERSIONS]:
            if name != keep:
                shutil.rmtree(versions / name, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def index_for(
    faces: FaceTable, jobs: JobTable, index_root: Path, config: IndexConfig, model: ModelIdentity
) -> FaceIndex:
    """The index of ``model``'s faces, in its own folder under ``index_root``."""
    return FaceIndex(faces, jobs, index_root / model.tag, config, model)
