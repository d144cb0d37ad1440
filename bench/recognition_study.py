"""FaceNet vs dlib's face-recognition ResNet, with two ways of cutting dlib's chip, on real pairs.

    python bench/recognition_study.py [--faces ../shared/faces] [--json out.json]
        [--fit-template] [--box-mapping] [--template-folds]

Every photo named in ``pairs.csv`` is decoded, detected with our MTCNN (largest face; photos
with more faces are counted as multiple_faces) and embedded once per variant:

- ``facenet``: today's engine (``FaceEngine.embed``: similarity on eyes and nose, 160x160).
- ``dlib-sp``: dlib's 5-point shape predictor in MTCNN's box mapped to a HOG-like box, then
  ``dlib.get_face_chip`` (150x150, padding 0.25), dlib's ResNet. ``dlib-sp-rawbox``: the same
  with MTCNN's box handed over unchanged.
- ``dlib-mtcnn``: MTCNN's five landmarks fitted onto the measured chip template, cv2 warp with
  replicated border; ``dlib-mtcnn-black``: the same with a black (constant) border, as dlib.

Distances are Euclidean between unit vectors. Thresholds and policies are chosen on the
development set only; the check set (the test photos, their pairs.csv) is reported with the
development thresholds applied, never used to choose. ``--faces`` is the test-photo folder
(default ``$FACE_TEST_DATA`` or ``../shared/faces``); the development set is its ``dev/``.
``--fit-template`` refits MTCNN_LANDMARKS_ON_CHIP on the development set; ``--box-mapping``
measures MTCNN boxes against dlib's HOG detector boxes; ``--template-folds`` checks the
template on people it was not fitted on (two folds).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import dlib  # type: ignore[import-untyped]
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from face_engine import Face, FaceEngine, load_settings  # noqa: E402
from face_engine.distance import distance  # noqa: E402
from face_engine.vision import dlib_alignment as da  # noqa: E402

FAR_TARGET = 0.001
REGISTRATION_FAR = 0.01  # stranger photos accepted together at registration: at most 1 %


def models_dir() -> Path:
    """The ``models/`` folder of face-recognition-models, found without importing it."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("face-recognition-models is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@dataclass
class Variant:
    """One way of turning (image, face) into a unit vector, with its timings."""

    name: str
    align: Callable[[np.ndarray, np.ndarray, Face], Any]
    embed: Callable[[Any], np.ndarray]
    align_s: list[float] = field(default_factory=list)
    embed_s: list[float] = field(default_factory=list)

    def run(self, bgr: np.ndarray, rgb: np.ndarray, face: Face) -> np.ndarray:
        t0 = time.perf_counter()
        chip = self.align(bgr, rgb, face)
        t1 = time.perf_counter()
        vector = np.asarray(self.embed(chip), np.float64)
        t2 = time.perf_counter()
        self.align_s.append(t1 - t0)
        self.embed_s.append(t2 - t1)
        return vector / np.linalg.norm(vector)


def make_variants(engine: FaceEngine) -> list[Variant]:
    models = models_dir()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    resnet = dlib.face_recognition_model_v1(
        str(models / "dlib_face_recognition_resnet_model_v1.dat")
    )

    def dlib_embed(chip: np.ndarray) -> np.ndarray:
        return np.array(resnet.compute_face_descriptor(chip))

    def facenet_embed(aligned: np.ndarray) -> np.ndarray:
        return np.asarray(engine.embedder.embed(aligned))

    return [
        Variant("facenet", lambda bgr, rgb, f: engine.align(bgr, f), facenet_embed),
        Variant(
            "dlib-sp",
            lambda bgr, rgb, f: da.chip_from_shape_predictor(rgb, f, predictor),
            dlib_embed,
        ),
        Variant(
            "dlib-sp-rawbox",
            lambda bgr, rgb, f: da.chip_from_shape_predictor(rgb, f, predictor, "mtcnn"),
            dlib_embed,
        ),
        Variant("dlib-mtcnn", lambda bgr, rgb, f: da.chip_from_mtcnn_landmarks(rgb, f), dlib_embed),
        Variant(
            "dlib-mtcnn-black",
            lambda bgr, rgb, f: da.chip_from_mtcnn_landmarks(rgb, f, "constant"),
            dlib_embed,
        ),
    ]


def read_pairs(folder: Path) -> list[tuple[str, str, bool]]:
    with open(folder / "pairs.csv", newline="") as f:
        return [(r["file_x"], r["file_y"], r["same"] == "yes") for r in csv.DictReader(f)]


@dataclass
class Embedded:
    """Per photo: its vector under each variant (None: no face), and detection counts."""

    vectors: dict[str, dict[str, np.ndarray]]
    no_face: list[str]
    multiple_faces: list[str]


def embed_folder(
    engine: FaceEngine, variants: list[Variant], folder: Path, files: list[str]
) -> Embedded:
    vectors: dict[str, dict[str, np.ndarray]] = {v.name: {} for v in variants}
    no_face, multiple = [], []
    for name in files:
        bgr = engine.decode((folder / name).read_bytes())
        faces = engine.detect(bgr)
        if not faces:
            no_face.append(name)
            continue
        if len(faces) > 1:
            multiple.append(name)
        face = max(faces, key=lambda f: f.size)
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        for v in variants:
            vectors[v.name][name] = v.run(bgr, rgb, face)
    return Embedded(vectors, no_face, multiple)


def distances(
    vectors: dict[str, np.ndarray], pairs: list[tuple[str, str, bool]]
) -> tuple[np.ndarray, np.ndarray]:
    """(same-person, different-person) distances over the pairs whose photos have a face."""
    same, diff = [], []
    for x, y, is_same in pairs:
        if x in vectors and y in vectors:
            (same if is_same else diff).append(distance(vectors[x], vectors[y]))
    return np.sort(np.array(same)), np.sort(np.array(diff))


def far_threshold(diff: np.ndarray, far: float) -> float:
    """The largest t with mean(diff < t) <= far (accept when distance < t)."""
    allowed = int(np.floor(far * len(diff) + 1e-9))
    return float(diff[allowed]) if allowed < len(diff) else float("inf")


def rate_below(values: np.ndarray, t: float) -> float:
    return float(np.mean(values < t)) if len(values) else float("nan")


def eer(same: np.ndarray, diff: np.ndarray) -> tuple[float, float]:
    """(equal error rate, its threshold): where FAR(t) = mean(diff < t) meets FRR(t)."""
    ts = np.unique(np.concatenate([same, diff]))
    far = np.searchsorted(diff, ts, side="left") / len(diff)
    frr = 1.0 - np.searchsorted(same, ts, side="left") / len(same)
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2), float(ts[i])


def metrics(same: np.ndarray, diff: np.ndarray, t_login: float | None = None) -> dict[str, Any]:
    t = far_threshold(diff, FAR_TARGET)
    e, t_eer = eer(same, diff)
    out: dict[str, Any] = {
        "same": len(same),
        "different": len(diff),
        "max_same": round(float(same.max()), 4),
        "min_different": round(float(diff.min()), 4),
        "mean_same": round(float(same.mean()), 4),
        "mean_different": round(float(diff.mean()), 4),
        "eer": round(e, 4),
        "eer_threshold": round(t_eer, 4),
        "threshold_far_0.1%": round(t, 4),
        "far_at_threshold": round(rate_below(diff, t), 5),
        "tar_at_far_0.1%": round(rate_below(same, t), 4),
        "tar_at_far_0": round(rate_below(same, float(diff.min())), 4),
    }
    if t_login is not None:
        out["dev_threshold"] = round(t_login, 4)
        out["tar_at_dev_threshold"] = round(rate_below(same, t_login), 4)
        out["far_at_dev_threshold"] = round(rate_below(diff, t_login), 5)
    return out


def proposed_thresholds(same: np.ndarray, diff: np.ndarray) -> dict[str, float]:
    """Thresholds to ship, from development distances, rounded to 0.01.

    login: the FAR 0.1 % threshold rounded down (rounding down can only lower the FAR).
    consistency: the EER threshold rounded to nearest (a real user's photos refused as often as
    two strangers' photos accepted as one person). duplicate: the login threshold (a stranger
    that close could log in as that user; refusing them keeps the rate at the FAR).
    """
    login = float(np.floor(far_threshold(diff, FAR_TARGET) * 100) / 100)
    consistency = float(np.round(eer(same, diff)[1], 2))
    return {"login": login, "consistency": consistency, "duplicate": login}


def registration_policy(
    same: np.ndarray, diff: np.ndarray, proposed: dict[str, float]
) -> dict[str, Any]:
    """Consistency (photos of one person) and duplicate (face already registered) figures.

    Consistency: a same-person pair >= C is refused as faces_differ; a different-person pair
    < C passes as one person. Duplicate: a stranger whose distance to a registered face is < D
    is refused as already registered (per pair, that is the FAR at D). Login: TAR and FAR at T.
    """
    t = proposed["login"]
    candidates = [
        ("login T", t),
        ("FAR 1%", far_threshold(diff, REGISTRATION_FAR)),
        ("EER", eer(same, diff)[1]),
        ("proposed", proposed["consistency"]),
    ]
    consistency = [
        {
            "consistency_threshold": label,
            "value": round(c, 4),
            "same_refused": int(np.sum(same >= c)),
            "same_refused_rate": round(float(np.mean(same >= c)), 4),
            "different_pass": int(np.sum(diff < c)),
            "different_pass_rate": round(float(np.mean(diff < c)), 5),
        }
        for label, c in candidates
    ]
    duplicate = [
        {
            "duplicate_threshold": label,
            "value": round(d, 4),
            "false_duplicate": int(np.sum(diff < d)),
            "false_duplicate_rate": round(float(np.mean(diff < d)), 5),
            "same_detected_rate": round(float(np.mean(same < d)), 4),
        }
        for label, d in [("proposed = login T", proposed["duplicate"]), ("0.9 T", 0.9 * t)]
    ]
    return {
        "same_pairs": len(same),
        "different_pairs": len(diff),
        "proposed": proposed,
        "login": {
            "tar": round(rate_below(same, t), 4),
            "far": round(rate_below(diff, t), 5),
            "false_accepts": int(np.sum(diff < t)),
        },
        "consistency": consistency,
        "duplicate": duplicate,
    }


def chip_landmarks(engine: FaceEngine, folder: Path, files: list[str]) -> dict[str, np.ndarray]:
    """Per photo: MTCNN's five landmarks in its reference chip's pixels (HOG-like box)."""
    predictor = dlib.shape_predictor(str(models_dir() / "shape_predictor_5_face_landmarks.dat"))
    points = {}
    for name in files:
        bgr = engine.decode((folder / name).read_bytes())
        faces = engine.detect(bgr)
        if not faces:
            continue
        face = max(faces, key=lambda f: f.size)
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        matrix = da.chip_transform(da.shape_5(rgb, face, predictor))
        lm = np.asarray(face.landmarks, np.float64)
        points[name] = lm @ matrix[:, :2].T + matrix[:, 2]
    return points


def template_folds(
    engine: FaceEngine, folder: Path, pairs: list[tuple[str, str, bool]]
) -> dict[str, Any]:
    """Is the template over-fitted? People split in two folds (alternate names); each fold's
    photos are embedded with the template fitted on the other fold and with the shipped one,
    and the pairs inside a fold are scored both ways."""
    files = sorted({p for x, y, _ in pairs for p in (x, y)})
    points = chip_landmarks(engine, folder, files)
    people = sorted({Path(f).parent.name for f in files})
    fold_of = {p: i % 2 for i, p in enumerate(people)}
    templates = [
        np.mean([v for f, v in points.items() if fold_of[Path(f).parent.name] != k], axis=0)
        for k in (0, 1)
    ]
    resnet = dlib.face_recognition_model_v1(
        str(models_dir() / "dlib_face_recognition_resnet_model_v1.dat")
    )
    held_out: dict[str, np.ndarray] = {}
    shipped: dict[str, np.ndarray] = {}
    for name in points:
        bgr = engine.decode((folder / name).read_bytes())
        face = max(engine.detect(bgr), key=lambda f: f.size)
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        for store, tpl in [
            (held_out, templates[fold_of[Path(name).parent.name]]),
            (shipped, da.MTCNN_LANDMARKS_ON_CHIP),
        ]:
            v = np.array(
                resnet.compute_face_descriptor(
                    da.chip_from_mtcnn_landmarks(rgb, face, template=tpl)
                )
            )
            store[name] = v / np.linalg.norm(v)
    inside = [
        (x, y, s)
        for x, y, s in pairs
        if fold_of[Path(x).parent.name] == fold_of[Path(y).parent.name]
    ]
    out: dict[str, Any] = {"fold_templates": [np.round(t, 2).tolist() for t in templates]}
    for label, vectors in [("held_out_template", held_out), ("shipped_template", shipped)]:
        same, diff = distances(vectors, inside)
        m = metrics(same, diff)
        out[label] = {
            k: m[k]
            for k in (
                "same",
                "different",
                "eer",
                "tar_at_far_0.1%",
                "tar_at_far_0",
                "max_same",
                "min_different",
            )
        }
    return out


def fit_template(engine: FaceEngine, folder: Path, files: list[str]) -> dict[str, Any]:
    """Mean MTCNN landmarks in reference-chip pixels (shape predictor on the HOG-like box)."""
    arr = np.array(list(chip_landmarks(engine, folder, files).values()))
    return {
        "faces": len(arr),
        "mean": np.round(arr.mean(axis=0), 2).tolist(),
        "std": np.round(arr.std(axis=0), 2).tolist(),
        "shipped": da.MTCNN_LANDMARKS_ON_CHIP.tolist(),
    }


def box_mapping(engine: FaceEngine, folder: Path, files: list[str]) -> dict[str, Any]:
    """dlib's HOG box in MTCNN box units, and how far the shape predictor's points move."""
    predictor = dlib.shape_predictor(str(models_dir() / "shape_predictor_5_face_landmarks.dat"))
    hog = dlib.get_frontal_face_detector()
    rows, errors = [], {"mtcnn": [], "hog": []}  # type: ignore[var-annotated]
    for name in files:
        bgr = engine.decode((folder / name).read_bytes())
        faces = engine.detect(bgr)
        if not faces:
            continue
        face = max(faces, key=lambda f: f.size)
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        x, y, w, h = face.box
        best, best_iou = None, 0.3
        for r in hog(rgb, 1 if max(rgb.shape[:2]) < 1000 else 0):
            rl, rt, rw, rh = r.left(), r.top(), r.width(), r.height()
            ix = max(0.0, min(rl + rw, x + w) - max(rl, x))
            iy = max(0.0, min(rt + rh, y + h) - max(rt, y))
            iou = ix * iy / (rw * rh + w * h - ix * iy)
            if iou > best_iou:
                best, best_iou = r, iou
        if best is None:
            continue
        side = np.sqrt(best.width() * best.height())
        rows.append(
            [
                (best.left() + best.width() / 2 - x - w / 2) / w,
                (best.top() + best.height() / 2 - y - h / 2) / h,
                side / np.sqrt(w * h),
            ]
        )
        ref = np.array([[p.x, p.y] for p in predictor(rgb, best).parts()], np.float64)
        eyes = np.linalg.norm(ref[0:2].mean(axis=0) - ref[2:4].mean(axis=0))
        for mapping in errors:
            shape = da.shape_5(rgb, face, predictor, mapping)  # type: ignore[arg-type]
            pts = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
            errors[mapping].append(float(np.linalg.norm(pts - ref, axis=1).mean() / eyes))
    arr = np.array(rows)
    return {
        "faces_matched": len(rows),
        "hog_centre_dx_over_w_median": round(float(np.median(arr[:, 0])), 3),
        "hog_centre_dy_over_h_median": round(float(np.median(arr[:, 1])), 3),
        "hog_side_over_sqrt_wh_median": round(float(np.median(arr[:, 2])), 3),
        "point_error_over_eye_distance_mean": {
            k: round(float(np.mean(v)), 4) for k, v in errors.items()
        },
    }


def markdown(results: dict[str, Any], dataset: str) -> str:
    cols = [
        "same",
        "different",
        "no_face",
        "multiple_faces",
        "max_same",
        "min_different",
        "eer",
        "threshold_far_0.1%",
        "tar_at_far_0.1%",
        "tar_at_far_0",
        "align_ms",
        "embed_ms",
    ]
    if any("dev_threshold" in m for m in results[dataset].values()):
        cols += ["dev_threshold", "tar_at_dev_threshold", "far_at_dev_threshold"]
    lines = ["| variant | " + " | ".join(cols) + " |", "| --- |" + " ---: |" * len(cols)]
    for name, m in results[dataset].items():
        lines.append(f"| {name} | " + " | ".join(str(m.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("FACE_TEST_DATA", ROOT.parent / "shared/faces"))
    parser.add_argument("--faces", type=Path, default=default)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--fit-template", action="store_true")
    parser.add_argument("--box-mapping", action="store_true")
    parser.add_argument("--template-folds", action="store_true")
    args = parser.parse_args()
    args.dev, args.check = args.faces / "dev", args.faces

    engine = FaceEngine(load_settings())
    dev_pairs = read_pairs(args.dev)
    dev_files = sorted({p for x, y, _ in dev_pairs for p in (x, y)})
    report: dict[str, Any] = {}
    if args.fit_template:
        report["template"] = fit_template(engine, args.dev, dev_files)
    if args.box_mapping:
        report["box_mapping"] = box_mapping(engine, args.dev, dev_files)
    if args.template_folds:
        report["template_folds"] = template_folds(engine, args.dev, dev_pairs)

    results: dict[str, Any] = {}
    thresholds: dict[str, float] = {}
    dists: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for dataset, folder in [("dev", args.dev), ("check", args.check)]:
        pairs = read_pairs(folder)
        files = sorted({p for x, y, _ in pairs for p in (x, y)})
        variants = make_variants(engine)
        embedded = embed_folder(engine, variants, folder, files)
        results[dataset] = {}
        for v in variants:
            same, diff = distances(embedded.vectors[v.name], pairs)
            m = metrics(same, diff, thresholds.get(v.name))
            dists[dataset, v.name] = (same, diff)
            if dataset == "dev":
                thresholds[v.name] = m["threshold_far_0.1%"]
            m["no_face"] = len(embedded.no_face)
            m["multiple_faces"] = len(embedded.multiple_faces)
            m["align_ms"] = round(1000 * float(np.median(v.align_s)), 2)
            m["embed_ms"] = round(1000 * float(np.median(v.embed_s)), 2)
            results[dataset][v.name] = m

    # The dlib variant to ship: highest TAR at FAR 0.1 % on dev, then lowest EER.
    chosen = max(
        (name for name in results["dev"] if name.startswith("dlib")),
        key=lambda n: (results["dev"][n]["tar_at_far_0.1%"], -results["dev"][n]["eer"]),
    )
    proposed = proposed_thresholds(*dists["dev", chosen])
    report["results"] = results
    report["chosen"] = chosen
    report["registration_policy"] = {
        dataset: registration_policy(*dists[dataset, chosen], proposed)
        for dataset in ("dev", "check")
    }

    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    for dataset in ("dev", "check"):
        print(f"\n{dataset} (median ms per face)\n")
        print(markdown(results, dataset))


if __name__ == "__main__":
    main()
