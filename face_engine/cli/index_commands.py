"""Index command: rebuild-index (issue 3)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from face_engine.config import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rebuild-index`` to ``subparsers``."""
    rebuild = subparsers.add_parser(
        "rebuild-index", help="build a new index version from LMDB and switch to it"
    )
    rebuild.set_defaults(func=run_rebuild)


def run_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from face_engine.cli import emit
    from face_engine.index.face_index import index_for
    from face_engine.store.lmdb_store import FaceStore
    from face_engine.vision.embedding import model_identity

    store = FaceStore(settings.data.dir / "lmdb", settings.store)
    model = model_identity(settings.embedder)
    index = index_for(store, settings.data.dir / "index", settings.index, model)
    try:
        manifest = index.rebuild()
    finally:
        store.close()
    emit({"data_dir": str(settings.data.dir), "model": model.tag, **asdict(manifest)})
    return 0
