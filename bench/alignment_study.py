"""Compare alignment methods, templates and margins by verification accuracy on real photos.

    python bench/alignment_study.py [--faces ../shared/faces] [--flip]

Pairs: every pair of people/ photos (pairs.csv: 12 same, 124 different) plus every pair of
faces inside one group/ photo (different people). Prints the measured eyes-and-nose template
and one row per setting: best accuracy on pairs.csv, the largest same-person and smallest
different-person distance, the gap between them, and TAR at the FAR=0 threshold.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from face_engine.config import load_settings  # noqa: E402
from face_engine.distance import distance  # noqa: E402
from face_engine.vision.alignment import BOX_ASPECT, align  # noqa: E402
from face_engine.vision.facenet import FaceEmbedder  # noqa: E402
from face_engine.vision.mtcnn.detector import FaceDetector  # noqa: E402


def load_faces(faces_dir: Path, detector: FaceDetector):
    """(key, image, face) for people/ photos and each face of group/ photos."""
    samples = []
    for path in sorted((faces_dir / "people").glob("*/*.jpg")):
        image = cv2.imread(str(path))
        samples.append((str(path.relative_to(faces_dir)), image, detector.detect(image)[0]))
    for path in sorted((faces_dir / "group").glob("*.jpg")):
        image = cv2.imread(str(path))
        for i, face in enumerate(detector.detect(image)):
            samples.append((f"{path.relative_to(faces_dir)}#{i}", image, face))
    return samples


def measured_template(samples) -> tuple[np.ndarray, float]:
    """Mean eyes-and-nose position as fractions of MTCNN's box width and height, and the mean
    box height / width (what face_engine/alignment.py ships)."""
    rows, aspects = [], []
    for _, _, face in samples:
        x, y, w, h = face.box
        rows.append((face.landmarks[:3] - [x, y]) / [w, h])
        aspects.append(h / w)
    return np.mean(rows, axis=0), float(np.mean(aspects))


def pairs(faces_dir: Path, keys: list[str]):
    same, diff = [], []
    with open(faces_dir / "pairs.csv", newline="") as f:
        for row in csv.DictReader(f):
            (same if row["same"] == "yes" else diff).append((row["file_x"], row["file_y"]))
    pairs_csv = list(same), list(diff)
    groups = {}
    for key in keys:
        if "#" in key:
            groups.setdefault(key.split("#")[0], []).append(key)
    for members in groups.values():
        diff.extend(itertools.combinations(members, 2))
    return pairs_csv, same, diff


def score(vectors, pairs_csv, same, diff) -> dict:
    def dist(a, b):
        return distance(vectors[a], vectors[b])

    same_d = np.array([dist(a, b) for a, b in same])
    diff_d = np.array([dist(a, b) for a, b in diff])
    csv_same = np.array([dist(a, b) for a, b in pairs_csv[0]])
    csv_diff = np.array([dist(a, b) for a, b in pairs_csv[1]])
    grid = np.linspace(0.3, 1.6, 1301)
    acc = [
        ((csv_same < t).sum() + (csv_diff >= t).sum()) / (len(csv_same) + len(csv_diff))
        for t in grid
    ]
    far0 = diff_d.min()
    return {
        "best_acc": max(acc),
        "max_same": same_d.max(),
        "min_diff": far0,
        "gap": far0 - same_d.max(),
        "tar_far0": float((same_d < far0).mean()),
        "mean_same": same_d.mean(),
        "mean_diff": diff_d.mean(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(os.environ.get("FACE_TEST_DATA", ROOT.parent / "shared" / "faces"))
    parser.add_argument("--faces", type=Path, default=default)
    args = parser.parse_args()
    settings = load_settings(ROOT / "config.ini", {})
    samples = load_faces(args.faces, FaceDetector(settings.detector))
    points, aspect = measured_template(samples)
    print(f"measured on {len(samples)} faces: eyes and nose as fractions of the box:")
    print(np.round(points, 4).tolist(), f"box height / width {aspect:.3f}")
    pairs_csv, same, diff = pairs(args.faces, [k for k, _, _ in samples])
    print(f"pairs: {len(same)} same, {len(diff)} different ({len(pairs_csv[1])} from pairs.csv)")
    embedders = {
        flip: FaceEmbedder(dataclasses.replace(settings.embedder, flip=flip))
        for flip in (False, True)
    }
    settings_grid = [("crop", m, 1.0) for m in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)]
    settings_grid += [("affine", m, 1.0) for m in (0.0, 0.1, 0.2)]
    settings_grid += [("similarity", m, 1.0) for m in (0.0, 0.1, 0.2)]
    settings_grid += [("similarity", m, BOX_ASPECT) for m in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)]
    print(
        "method      margin stretch flip best_acc max_same min_diff    gap tar@far0 "
        "mean_same mean_diff"
    )
    for (method, margin, stretch), flip in itertools.product(settings_grid, (False, True)):
        config = dataclasses.replace(
            settings.alignment, method=method, margin=margin, stretch=stretch
        )
        vectors = {
            key: embedders[flip].embed(align(image, face, config)) for key, image, face in samples
        }
        s = score(vectors, pairs_csv, same, diff)
        print(
            f"{method:<11} {margin:6.2f} {stretch:7.2f} {str(flip):>4} {s['best_acc']:8.3f} "
            f"{s['max_same']:8.3f} {s['min_diff']:8.3f} {s['gap']:6.3f} {s['tar_far0']:8.3f} "
            f"{s['mean_same']:9.3f} {s['mean_diff']:9.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
