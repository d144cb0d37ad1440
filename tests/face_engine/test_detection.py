"""MTCNN detection on real photos, and onnxruntime checked against an independent engine."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_engine.config import DetectorConfig
from face_engine.vision.mtcnn.boxes import nms
from face_engine.vision.mtcnn.crops import crop_patches, crop_patches_from_pyramid
from face_engine.vision.mtcnn.detector import FaceDetector
from face_engine.vision.mtcnn.nets import PNetRunner, ort_session
from face_engine.vision.weights import mtcnn_model_path

pytestmark = pytest.mark.integration

GROUP_COUNTS = {
    "two_people.jpg": 2,
    "kit_with_rose.jpg": 2,
    "obama_and_biden.jpg": 3,
    "multiface.jpg": 6,
}


@pytest.fixture(scope="module")
def detector(settings):
    return FaceDetector(settings.detector)


def read(path):
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


def test_one_face_in_every_people_photo(detector, face_data):
    photos = sorted((face_data / "people").glob("*/*.jpg"))
    assert len(photos) >= 17
    for path in photos:
        faces = detector.detect(read(path))
        assert len(faces) == 1, f"{path.name}: {len(faces)} faces"
        assert faces[0].score > 0.9


@pytest.mark.parametrize("name,count", sorted(GROUP_COUNTS.items()))
def test_group_photo_counts(detector, face_data, name, count):
    assert len(detector.detect(read(face_data / "group" / name))) == count


def test_landmarks_inside_boxes(detector, face_data):
    for path in sorted((face_data / "people").glob("*/*.jpg")) + sorted(
        (face_data / "group").glob("*.jpg")
    ):
        for face in detector.detect(read(path)):
            x, y, w, h = face.box
            pts = face.landmarks
            assert (pts[:, 0] >= x - 2).all() and (pts[:, 0] <= x + w + 2).all(), path.name
            assert (pts[:, 1] >= y - 2).all() and (pts[:, 1] <= y + h + 2).all(), path.name
            left_eye, right_eye, nose = pts[0], pts[1], pts[2]
            assert left_eye[0] < right_eye[0]
            assert nose[1] > min(left_eye[1], right_eye[1])


def test_faces_sorted_largest_first(detector, face_data):
    faces = detector.detect(read(face_data / "group" / "multiface.jpg"))
    sizes = [f.box[2] * f.box[3] for f in faces]
    assert sizes == sorted(sizes, reverse=True)


def test_no_face_in_blank_or_noise(detector):
    rng = np.random.default_rng(0)
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    assert detector.detect(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) == []
    assert detector.detect(np.zeros((5, 5, 3), np.uint8)) == []


def test_same_face_at_every_resolution(detector, face_data):
    boxes = {}
    for path in sorted((face_data / "resolution").glob("obama-*.jpg")):
        image = read(path)
        faces = detector.detect(image)
        assert len(faces) == 1, path.name
        x, y, w, h = faces[0].box
        boxes[path.name] = np.array([x, y, w, h]) / image.shape[0]
    reference = boxes["obama-1080p.jpg"]
    for name, box in boxes.items():
        assert np.abs(box - reference).max() < 0.03, name


def test_large_image_is_downscaled_and_mapped_back(face_data):
    image = read(face_data / "resolution" / "obama-1080p.jpg")
    full = FaceDetector(DetectorConfig(max_side=4000)).detect(image)[0]
    fast = FaceDetector(DetectorConfig(max_side=640)).detect(image)[0]
    assert np.abs(np.array(full.box) - np.array(fast.box)).max() < 25
    assert np.abs(full.landmarks - fast.landmarks).max() < 10


def test_face_cut_by_frame_edge(detector, face_data):
    for path in sorted((face_data / "edge").glob("obama_partial_face*.jpg")):
        faces = detector.detect(read(path))
        assert len(faces) == 1, path.name
        x, y, w, h = faces[0].box
        assert x >= 0 and y >= 0


def test_min_face_size_from_config(face_data):
    image = read(face_data / "resolution" / "obama-240p.jpg")  # face about 60 px
    assert len(FaceDetector(DetectorConfig(min_face_size=40)).detect(image)) == 1
    assert FaceDetector(DetectorConfig(min_face_size=200)).detect(image) == []


def test_onnxruntime_matches_opencv_classic_engine(detector, face_data):
    """R-Net and O-Net outputs from onnxruntime agree with OpenCV's classic DNN engine.

    OpenCV 5's default engine pads the first SAME_UPPER max-pool on the wrong side and is off
    by up to ~0.65; the classic engine is an independent, correct implementation.
    """
    rgb = cv2.cvtColor(read(face_data / "group" / "multiface.jpg"), cv2.COLOR_BGR2RGB)
    boxes = np.array(
        [
            [f.box[0], f.box[1], f.box[0] + f.box[2], f.box[1] + f.box[3]]
            for f in detector.detect(rgb[:, :, ::-1].copy())
        ]
    )
    boxes = np.vstack([boxes, boxes + 7])
    for net, size, outputs in (
        ("rnet", 24, ["dense_2", "softmax_1"]),
        ("onet", 48, ["dense_5", "dense_6", "softmax_2"]),
    ):
        patches = crop_patches(rgb, boxes, size)
        ours = detector.nets.run_rnet(patches) if net == "rnet" else detector.nets.run_onet(patches)
        classic = cv2.dnn.readNetFromONNX(str(mtcnn_model_path(net)), engine=cv2.dnn.ENGINE_CLASSIC)
        for i, patch in enumerate(patches):  # one at a time: the classic engine crashed on batches
            classic.setInput(patch[None])
            theirs = classic.forward(outputs)
            for mine, other in zip(ours, theirs, strict=True):
                np.testing.assert_allclose(mine[i], other[0], atol=2e-3)


def test_pnet_on_opencv_matches_onnxruntime(detector, face_data):
    """P-Net runs on OpenCV's classic engine; its outputs agree with onnxruntime's on real
    pyramid levels, including after the per-shape net cache has evicted and rebuilt nets."""
    reference = ort_session("pnet", 1)
    runner = PNetRunner(kept=2)
    rgb = cv2.cvtColor(read(face_data / "group" / "multiface.jpg"), cv2.COLOR_BGR2RGB)
    levels = [cv2.resize(rgb, None, fx=f, fy=f) for f in (0.3, 0.2, 0.14, 0.1)]
    for level in levels + levels[::-1]:
        net_input = ((level.astype(np.float32) - 127.5) * 0.0078125).transpose(1, 0, 2)[None]
        ours = runner.run(net_input)
        theirs = reference.run(["conv2d_4", "softmax"], {"input_1": net_input})
        for mine, other in zip(ours, theirs, strict=True):
            assert mine.shape == other.shape
            np.testing.assert_allclose(mine, other, atol=1e-4)


def _reference_nms(boxes, scores, threshold):
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        survivors = []
        for j in order:
            w = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]) + 1
            h = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]) + 1
            inter = max(w, 0) * max(h, 0)
            area_i = (boxes[i, 2] - boxes[i, 0] + 1) * (boxes[i, 3] - boxes[i, 1] + 1)
            area_j = (boxes[j, 2] - boxes[j, 0] + 1) * (boxes[j, 3] - boxes[j, 1] + 1)
            if inter / (area_i + area_j - inter) <= threshold:
                survivors.append(j)
        order = survivors
    return keep


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_nms_keeps_what_plain_iou_suppression_keeps(threshold):
    rng = np.random.default_rng(int(threshold * 10))
    for _ in range(50):
        n = int(rng.integers(1, 120))
        corner = rng.uniform(0, 400, (n, 2))
        boxes = np.fix(np.hstack([corner, corner + rng.uniform(5, 150, (n, 2))]))
        scores = rng.uniform(0.5, 1.0, n)
        assert list(nms(boxes, scores, threshold)) == _reference_nms(boxes, scores, threshold)
    assert list(nms(np.zeros((0, 4)), np.zeros(0), 0.5)) == []


def test_crop_patches_pads_boxes_that_leave_the_image():
    image = np.full((50, 60, 3), 200, np.uint8)
    patches = crop_patches(image, np.array([[1.0, 1.0, 60.0, 50.0], [-29.0, 1.0, 30.0, 60.0]]), 24)
    assert patches.shape == (2, 24, 24, 3)
    expected = (200 - 127.5) * 0.0078125
    np.testing.assert_allclose(patches[0], expected, atol=1e-6)
    # Transposed like the nets' input: axis 1 is x. The left half of box 2 lies outside.
    assert np.allclose(patches[1, :11], -127.5 * 0.0078125)
    assert np.allclose(patches[1, 13:, :19], expected)


def test_rnet_crops_from_the_pyramid_match_full_frame_crops(detector, face_data):
    """R-Net's patches, resampled from pyramid levels, look like area-averaged full-frame
    crops (differences of a few grey levels, none systematic)."""
    rgb = cv2.cvtColor(read(face_data / "group" / "obama_and_biden.jpg"), cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(rgb, (640, round(640 * rgb.shape[0] / rgb.shape[1])))
    _, sources = detector._pyramid(rgb, 40)
    rng = np.random.default_rng(0)
    corner = rng.uniform(-20, 500, (60, 2))
    side = rng.uniform(30, 250, (60, 1))
    boxes = np.fix(np.hstack([corner, corner + side]))
    exact = crop_patches(rgb, boxes, 24)
    cheap = crop_patches_from_pyramid(sources, boxes, 24)
    assert cheap.shape == exact.shape
    grey_levels = np.abs(cheap - exact) / 0.0078125
    assert np.median(grey_levels) < 3
    assert abs(float((cheap - exact).mean())) / 0.0078125 < 1


@pytest.mark.parametrize("name", ["obama_and_biden.jpg", "two_people.jpg", "multiface.jpg"])
def test_min_size_finds_the_faces_above_it(detector, face_data, name):
    """Skipping the levels for faces under ``min_size`` still finds every face above it, and a
    face twice that size (its own candidates all come from kept levels) exactly as before."""
    image = read(face_data / "group" / name)
    every = detector.detect(image)
    largest = every[0]
    floor = 0.5 * largest.size
    some = detector.detect(image, min_size=floor)
    assert len([f for f in some if f.size >= 1.1 * floor]) == len(
        [f for f in every if f.size >= 1.1 * floor]
    )
    assert some[0].box == largest.box
    np.testing.assert_array_equal(some[0].landmarks, largest.landmarks)
    assert detector.detect(image, min_size=10 * max(image.shape)) == []
