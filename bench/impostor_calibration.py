"""Each model's different-person distances, for 1:N decisions: writes
``face_engine/calibration/<model>.json``.

    python -m bench.impostor_calibration [--faces ../shared/faces] [--model sface ...]

Different-person pairs: every ``no`` pair of ``dev/pairs.csv`` (largest face of each photo),
and every pair of faces within one photo of ``dev/group`` (different people), but for the
two group photos that show the same people more than once (``NOT_DISTINCT``). The file
keeps the model's identity, how many pairs there were, the smallest distances (the tail a
gallery-size-aware threshold reads) and quantiles; a model of the tail below what these pairs
can measure is the reader's business.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.pipeline_bench import DEFAULT_FACES
from face_engine.config import DataConfig, load_settings
from face_engine.evaluation import read_pairs
from face_engine.vision.pipeline import FaceEngine

OUT = Path(__file__).resolve().parents[1] / "face_engine" / "calibration"
TAIL = 300
# Group photos whose faces are NOT all different people, though dev/README.md says so:
NOT_DISTINCT = {
    "3ddfa_emma.jpg": "Emma Watson three times (dev/SOURCES.md)",
    "dlib_bald_guys.jpg": "four actors, each several times (a collage)",
}
QUANTILES = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.5)


def different_distances(engine: FaceEngine, dev: Path) -> tuple[np.ndarray, dict[str, int]]:
    """Distances of the development set's different-person pairs and its group photos'."""
    pairs = read_pairs(dev / "pairs.csv")
    files = sorted({p.file_x for p in pairs} | {p.file_y for p in pairs})
    vectors = {}
    for path in files:
        image = engine.decode(path.read_bytes())
        faces = engine.detect(image)
        if faces:
            vectors[path] = engine.embed(image, max(faces, key=lambda f: f.size)).embedding
    dev_distances = [
        engine.distance(vectors[p.file_x], vectors[p.file_y])
        for p in pairs
        if not p.same and p.file_x in vectors and p.file_y in vectors
    ]
    group_distances: list[float] = []
    for path in sorted((dev / "group").iterdir()):
        if path.name in NOT_DISTINCT:
            continue
        faces = engine.faces(engine.decode(path.read_bytes()))
        for a, b in itertools.combinations(faces, 2):
            group_distances.append(engine.distance(a.embedding, b.embedding))
    counts = {"dev_different_pairs": len(dev_distances), "group_pairs": len(group_distances)}
    return np.sort(np.array(dev_distances + group_distances)), counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.impostor_calibration")
    parser.add_argument("--faces", type=Path, help="photo folder (default: FACE_TEST_DATA)")
    parser.add_argument("--model", action="append", choices=("sface", "dlib", "facenet"))
    args = parser.parse_args(argv)
    faces_dir = args.faces or Path(os.environ.get("FACE_TEST_DATA", DEFAULT_FACES))
    OUT.mkdir(exist_ok=True)
    for model in args.model or ["sface", "dlib", "facenet"]:
        settings = load_settings(None, {"FACE_LOGIN_EMBEDDER_MODEL": model})
        data = DataConfig(Path(tempfile.gettempdir()) / "face-login-calibration")
        engine = FaceEngine(dataclasses.replace(settings, data=data))
        distances, counts = different_distances(engine, faces_dir / "dev")
        record = {
            "model": dataclasses.asdict(engine.identity),
            "what": "Euclidean distances between unit embeddings of different people: dev "
            "different-person pairs (largest face per photo) and pairs of faces within one dev "
            "group photo (bench/impostor_calibration.py)",
            "group_photos_left_out": NOT_DISTINCT,
            "pairs": int(len(distances)),
            **counts,
            "quantiles": {str(q): round(float(np.quantile(distances, q)), 4) for q in QUANTILES},
            "mean": round(float(distances.mean()), 4),
            "std": round(float(distances.std()), 4),
            "smallest": [round(float(d), 4) for d in distances[:TAIL]],
        }
        path = OUT / f"{model}.json"
        path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        print(f"{path}: {len(distances)} pairs, smallest {record['smallest'][:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
