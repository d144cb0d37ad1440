"""Index command: rebuild-index (issue 3)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from face_engine.config import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rebuild-index`` to ``subparsers``."""
    rebuild = subparsers.add_parser(
        "rebuild-index", help="build a new index version from the store and switch to it"
    )
    rebuild.set_defaults(func=run_rebuild)


def run_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the index of every model the store holds faces of (normally just one)."""
    from face_engine.cli import emit
    from face_engine.service import search_for
    from face_engine.store.factory import open_store
    from face_engine.vision.embedding import model_identity

    store = open_store(settings.store, settings.data.dir)
    try:
        models = store.faces.models()
        counts = store.faces.face_counts_by_model()
        chosen = [models[ref] for ref in sorted(models) if counts.get(ref)]
        if not chosen:
            chosen = [model_identity(settings.embedder)]
        results = []
        for model in chosen:
            search = search_for(settings, store, model)
            results.append({"model": model.tag, **asdict(search.rebuild())})
    finally:
        store.close()
    if len(results) == 1:
        emit({"data_dir": str(settings.data.dir), **results[0]})
    else:
        emit({"data_dir": str(settings.data.dir), "indexes": results})
    return 0
