"""Putting the service together: one Accounts per process on the configured store, index
and model, after checking that the stored faces were made by that model."""

from __future__ import annotations

from face_engine import calibration
from face_engine.accounts import Accounts
from face_engine.config import Settings
from face_engine.errors import ModelMismatch
from face_engine.index.face_index import index_for
from face_engine.matching import Matcher
from face_engine.store.lmdb_store import FaceStore
from face_engine.types import ModelIdentity
from face_engine.vision.embedding import model_identity
from face_engine.vision.pipeline import FaceEngine


def open_accounts(settings: Settings, engine: FaceEngine | None = None) -> Accounts:
    """Accounts on the store under ``<data>/lmdb`` and the model's index under ``<data>/index``.

    ``engine``: an already loaded FaceEngine to share (tests); else the models are loaded.
    :raise ModelMismatch: the store holds faces of another model (see ``check_model``).
    """
    engine = engine or FaceEngine(settings)
    store = FaceStore(settings.data.dir / "lmdb", settings.store)
    check_model(store, engine.identity)
    index = index_for(store, settings.data.dir / "index", settings.index, engine.identity)
    policy = settings.model
    matcher = Matcher(
        store,
        index,
        policy,
        settings.index.ambiguity_margin,
        settings.matching.max_false_identification,
        calibration.load(engine.identity),
    )
    return Accounts(engine, store, index, matcher, policy, settings.liveness)


def check_stored_model(settings: Settings) -> ModelIdentity:
    """The configured model, after checking that the store holds no faces of another model
    (cheap: hashes the weights file, loads no network). :raise ModelMismatch, StoreOutdated."""
    model = model_identity(settings.embedder)
    store = FaceStore(settings.data.dir / "lmdb", settings.store)
    try:
        check_model(store, model)
    finally:
        store.close()
    return model


def check_model(store: FaceStore, model: ModelIdentity) -> None:
    """ModelMismatch when ``store`` holds faces made by a model other than ``model``: their
    vectors cannot be compared with the new model's, and photos are not kept to redo them."""
    models = store.models()
    if all(known == model for known in models.values()):
        return  # the common case: no face header needs reading
    others = [
        (models[ref], count)
        for ref, count in store.face_counts_by_model().items()
        if count and ref in models and models[ref] != model
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
        f"{count} stored faces in {store.path} were made by {what}. Faces of two models cannot "
        f"be compared and photos are not stored. Either set [embedder] model = {known.name} "
        "(FACE_LOGIN_EMBEDDER_MODEL) to keep them, or point [data] dir (FACE_LOGIN_DATA) at a "
        "new folder and have people register again."
    )
