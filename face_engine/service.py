"""Putting the service together: one Accounts per process on the configured store
(``[store] backend``), search and model, after checking that the stored faces were made by
that model (or, during a migration, by the model it is moving from)."""

from __future__ import annotations

import dataclasses

from face_engine import calibration
from face_engine.accounts import Accounts, Migration
from face_engine.config import EmbedderConfig, Settings
from face_engine.errors import ModelMismatch
from face_engine.index.face_index import index_for
from face_engine.index.search import FaceSearch
from face_engine.matching import Matcher
from face_engine.store.factory import open_store
from face_engine.store.interfaces import Store
from face_engine.types import ModelIdentity
from face_engine.vision.embedding import load_embedder, model_identity
from face_engine.vision.pipeline import FaceEngine


def open_accounts(settings: Settings, engine: FaceEngine | None = None) -> Accounts:
    """Accounts on the configured store and the model's search (``search_for``).

    ``engine``: an already loaded FaceEngine to share (tests); else the models are loaded.
    With ``[embedder] migrate_from``, the old model is loaded too and decides (``Migration``).
    :raise ModelMismatch: the store holds faces of another model (see ``check_model``).
    """
    engine = engine or FaceEngine(settings)
    store = open_store(settings.store, settings.data.dir)
    old = old_embedder_config(settings)
    check_model(store, engine.identity, model_identity(old) if old else None)
    search = search_for(settings, store, engine.identity)
    matcher = matcher_for(settings, store, search, engine.identity.name)
    migration = None
    if old is not None:
        embedder = load_embedder(old, settings.alignment, settings.data.dir / "models")
        old_search = search_for(settings, store, embedder.identity)
        migration = Migration(embedder, matcher_for(settings, store, old_search, old.model))
    return Accounts(engine, store, search, matcher, settings.model, settings.liveness, migration)


def search_for(settings: Settings, store: Store, model: ModelIdentity) -> FaceSearch:
    """The 1:N search over ``model``'s faces: on LMDB, this host's index under
    ``<data>/index/<model tag>``; on PostgreSQL, the backend's own."""
    if store.backend == "postgres":
        from face_engine.index.pgvector import search_for as pgvector_search_for

        return pgvector_search_for(store, settings.index, model)
    return index_for(store.faces, store.jobs, settings.data.dir / "index", settings.index, model)


def matcher_for(settings: Settings, store: Store, search: FaceSearch, name: str) -> Matcher:
    """The matcher of model ``name`` (``search``'s): its thresholds, its calibration, the
    gallery target."""
    thresholds = settings.model if name == settings.embedder.model else settings.thresholds_of(name)
    return Matcher(
        store.faces,
        store.users,
        search,
        thresholds,
        settings.index.ambiguity_margin,
        settings.matching.max_false_identification,
        calibration.load(search.model),
    )


def old_embedder_config(settings: Settings) -> EmbedderConfig | None:
    """The model a migration moves from, as an embedder configuration; None if none."""
    old = settings.embedder.migrate_from
    if old is None:
        return None
    chosen: object = old  # EmbedderConfig checked it is a model it knows
    return dataclasses.replace(settings.embedder, model=chosen, migrate_from=None)  # type: ignore[arg-type]


def check_stored_model(settings: Settings) -> ModelIdentity:
    """The configured model, after checking that the store holds no faces of another model
    (cheap: hashes the weights file, loads no network). :raise ModelMismatch, StoreOutdated."""
    model = model_identity(settings.embedder)
    old = old_embedder_config(settings)
    store = open_store(settings.store, settings.data.dir)
    try:
        check_model(store, model, model_identity(old) if old else None)
    finally:
        store.close()
    return model


def check_model(
    store: Store, model: ModelIdentity, migrating_from: ModelIdentity | None = None
) -> None:
    """ModelMismatch when ``store`` holds faces made by a model other than ``model`` (and
    ``migrating_from``, during a migration): their vectors cannot be compared with the new
    model's, and photos are not kept to redo them."""
    accepted = {model, migrating_from} - {None}
    models = store.faces.models()
    if all(known in accepted for known in models.values()):
        return  # the common case: no face header needs reading
    others = [
        (models[ref], count)
        for ref, count in store.faces.face_counts_by_model().items()
        if count and ref in models and models[ref] not in accepted
    ]
    if not others:
        return
    known, count = others[0]
    if known.name == model.name:
        what = (
            f"{known.name} with other weights ({known.weights_hash[:12]}, "
            f"now {model.weights_hash[:12]})"
        )
    else:
        what = f"{known.name} (this service is configured for {model.name})"
    raise ModelMismatch(
        f"{count} stored faces in {store.where} were made by {what}. Faces of two models cannot "
        f"be compared and photos are not stored. Either set [embedder] model = {known.name} "
        "(FACE_LOGIN_EMBEDDER_MODEL) to keep them, or set [embedder] migrate_from = "
        f"{known.name} to move users to {model.name} as they log in (README), or point [data] "
        "dir (FACE_LOGIN_DATA) at a new folder and have people register again."
    )
