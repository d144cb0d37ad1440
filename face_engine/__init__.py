"""face_engine: images in, faces and embeddings out; accounts on a store (LMDB or PostgreSQL)
and a 1:N search.

No Flask here. The web layer uses only what is re-exported below: ``open_accounts`` (or
``Accounts``) for the use cases, ``load_settings`` for configuration, and the errors. Everything
else is imported by module path (``face_engine.vision``, ``.store``, ``.index``).
"""

from face_engine.accounts import Accounts, Preview
from face_engine.config import ConfigError, Settings, load_settings
from face_engine.errors import (
    ChallengeInvalid,
    ChallengeRequired,
    ClientExists,
    FaceAlreadyRegistered,
    FaceEngineError,
    FacesDiffer,
    ImageDecodeError,
    InvalidClient,
    InvalidUsername,
    LivenessFailed,
    ModelMismatch,
    MultipleFaces,
    NoFaceFound,
    NotRecognized,
    PendingLoginInvalid,
    StoreOutdated,
    StoreUnavailable,
    TooManyFaces,
    UnknownClient,
    UnknownUser,
    UsernameRequired,
    UsernameTaken,
)
from face_engine.head_turn import Challenge
from face_engine.index.face_index import IndexManifest
from face_engine.liveness import yaw_proxy
from face_engine.matching import Match
from face_engine.provider import AccessGrant, CodeGrant, OidcClient, Provider, SigningKey
from face_engine.service import check_stored_model, open_accounts
from face_engine.store.records import User
from face_engine.types import BGRImage, Embedding, Face
from face_engine.vision.pipeline import FaceEngine

__all__ = [
    "AccessGrant",
    "Accounts",
    "ClientExists",
    "CodeGrant",
    "InvalidClient",
    "OidcClient",
    "Provider",
    "SigningKey",
    "UnknownClient",
    "Challenge",
    "ChallengeInvalid",
    "ChallengeRequired",
    "LivenessFailed",
    "BGRImage",
    "ConfigError",
    "Embedding",
    "Face",
    "FaceAlreadyRegistered",
    "FaceEngine",
    "FaceEngineError",
    "FacesDiffer",
    "ImageDecodeError",
    "IndexManifest",
    "InvalidUsername",
    "Match",
    "ModelMismatch",
    "MultipleFaces",
    "NoFaceFound",
    "NotRecognized",
    "PendingLoginInvalid",
    "Preview",
    "Settings",
    "StoreOutdated",
    "StoreUnavailable",
    "TooManyFaces",
    "UnknownUser",
    "User",
    "UsernameRequired",
    "UsernameTaken",
    "check_stored_model",
    "load_settings",
    "open_accounts",
    "yaw_proxy",
]
