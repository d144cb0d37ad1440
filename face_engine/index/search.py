"""What matching and ``Accounts`` ask of a 1:N search, whichever backend answers it: each
host's Annoy index over the store (``face_index.FaceIndex``, LMDB) or pgvector inside
PostgreSQL (``store.postgres``)."""

from __future__ import annotations

from typing import Any, Protocol

from face_engine.index.face_index import IndexManifest, Neighbor
from face_engine.types import Embedding, ModelIdentity


class FaceSearch(Protocol):
    """Nearest users to a face vector among one model's faces; safe across threads."""

    model: ModelIdentity

    def search(self, vector: Embedding, k: int = 5) -> list[Neighbor]:
        """The ``k`` nearest users, each with their nearest face (exact distance), nearest
        first."""
        ...

    def manifest(self) -> IndexManifest | None:
        """The built structure searched now; None before the first build."""
        ...

    def fresh_count(self) -> int:
        """Faces searched exactly because they were added after the last build."""
        ...

    def rebuild(self) -> IndexManifest:
        """Build now and wait for it."""
        ...

    def start_rebuild(self, again_if_running: bool = False) -> bool:
        """Build in the background (one at a time across processes); whether one started."""
        ...

    def rebuild_status(self) -> dict[str, Any]:
        """The last background build, as every process sees it."""
        ...

    def wait_for_rebuild(self, timeout: float | None = None) -> None: ...
