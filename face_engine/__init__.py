"""face_engine: images in, faces and 512-D FaceNet embeddings out; LMDB store; Annoy index.

No Flask here. The public API is re-exported below; everything else is imported by module path.
"""

from face_engine.config import Settings, load_settings
from face_engine.errors import (
    FaceAlreadyRegistered,
    FaceEngineError,
    ImageDecodeError,
    IndexUnavailable,
    InvalidUsername,
    MultipleFaces,
    NoFaceFound,
    UnknownUser,
    UsernameTaken,
)
from face_engine.index import FaceIndex, IndexManifest, Match, Neighbor, open_store_and_index
from face_engine.storage import FaceRecord, FaceStore, User
from face_engine.types import BGRImage, Embedding, Face
from face_engine.vision.pipeline import FaceEngine

__all__ = [
    "BGRImage",
    "Embedding",
    "Face",
    "FaceAlreadyRegistered",
    "FaceEngine",
    "FaceIndex",
    "FaceRecord",
    "FaceStore",
    "IndexManifest",
    "Match",
    "Neighbor",
    "User",
    "open_store_and_index",
    "FaceEngineError",
    "ImageDecodeError",
    "IndexUnavailable",
    "InvalidUsername",
    "MultipleFaces",
    "NoFaceFound",
    "Settings",
    "UnknownUser",
    "UsernameTaken",
    "load_settings",
]
