"""Ending a model migration: ``drop-old-faces`` deletes the faces of ``[embedder]
migrate_from``'s model once users have the new model's (or when the operator decides)."""

from __future__ import annotations

import argparse
import shutil

from face_engine.config import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    drop = subparsers.add_parser(
        "drop-old-faces",
        help="end a migration: delete the faces of [embedder] migrate_from's model",
    )
    drop.add_argument(
        "--force",
        action="store_true",
        help="drop them even though some users have no face of the new model yet",
    )
    drop.set_defaults(func=run_drop_old_faces)


def run_drop_old_faces(args: argparse.Namespace, settings: Settings) -> int:
    """Refuses while users would be left with no face to log in with, unless ``--force``.
    Stop the service first, or restart it after: then remove ``migrate_from``."""
    from face_engine.cli import emit
    from face_engine.service import old_embedder_config
    from face_engine.store.factory import open_store
    from face_engine.vision.embedding import model_identity

    old_config = old_embedder_config(settings)
    if old_config is None:
        raise ValueError("no migration: [embedder] migrate_from is empty")
    old, new = model_identity(old_config), model_identity(settings.embedder)
    store = open_store(settings.store, settings.data.dir)
    try:
        models = store.faces.models()
        by_model = store.faces.users_by_model()
        users = {user.id for user in store.users.list_users()}
        migrated: set[int] = set()
        for ref, owners in by_model.items():
            if models.get(ref) == new:
                migrated |= owners
        left_behind = sorted(users - migrated)
        if left_behind and not args.force:
            emit(
                {
                    "error": "not_migrated",
                    "detail": f"{len(left_behind)} of {len(users)} users have no {new.name} "
                    "face yet (they have not logged in since the migration began); they "
                    "could not log in after this. Wait, or pass --force.",
                    "users": len(users),
                    "migrated_users": len(migrated & users),
                }
            )
            return 1
        dropped = store.faces.drop_model_faces(old)
    finally:
        store.close()
    shutil.rmtree(settings.data.dir / "index" / old.tag, ignore_errors=True)
    emit(
        {
            "dropped_faces": dropped,
            "model": old.name,
            "users": len(users),
            "migrated_users": len(migrated & users),
            "users_without_faces": len(left_behind),
            "next": f"remove [embedder] migrate_from and restart on {new.name}",
        }
    )
    return 0
