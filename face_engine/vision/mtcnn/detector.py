"""MTCNN face detection: our own cascade (pyramid, P-Net, R-Net, O-Net) around the nets."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from face_engine.config import DetectorConfig
from face_engine.types import BGRImage, Box, Face
from face_engine.vision.mtcnn.boxes import nms, regress, square
from face_engine.vision.mtcnn.crops import crop_patches, crop_patches_from_pyramid, halvable
from face_engine.vision.mtcnn.nets import CascadeNets

PNET_STRIDE = 2
PNET_CELL = 12
# After a stage's box regression, candidates overlapping a better one by more than this IoU are
# merged before the next net (measured on the bench frame: R-Net 38 -> 30, O-Net 10 -> 6
# candidates, detection 18% faster; pairs.csv gap 0.2309 -> 0.2382).
MERGE_FOR_RNET = 0.7
MERGE_FOR_ONET = 0.9
# ``refine`` runs O-Net this many times, each on the square around the last answer.
REFINE_PASSES = 2


class FaceDetector:
    """MTCNN cascade; ``detect`` is thread-safe and returns faces in the input's coordinates."""

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self.nets = CascadeNets(max(1, config.threads))
        self._lock = threading.Lock()

    def detect(self, image: BGRImage, min_size: float = 0.0, max_side: int = 0) -> list[Face]:
        """Every face in ``image`` (HxWx3 uint8 BGR), largest box first; ``embedding`` is None.

        ``min_size`` (pixels of ``image``) skips the pyramid levels that only find smaller
        faces; the kept levels are those of a full search. Every face above ``min_size`` is
        still found, and one of at least twice that size (all its P-Net candidates come from
        kept levels) exactly as a full search finds it. Smaller faces may or may not be found.
        ``max_side``: the longer side the search runs at (0: ``[detector] max_side``).
        """
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < PNET_CELL:
            return []
        height, width = image.shape[:2]
        shrink = min(1.0, (max_side or self.config.max_side) / max(height, width))
        small = image
        if shrink < 1.0:
            size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
            small = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
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

    def refine(self, images: list[BGRImage], boxes: list[Box]) -> list[Face | None]:
        """Each image's face near its guessed ``(x, y, w, h)`` box, found by O-Net alone, in
        one batch: O-Net sees the square around the guess, then the square around what it
        found. None where O-Net sees no face. For the frames of a stream between two full
        detections (the guesses interpolate those): a fraction of ``detect``'s cost."""
        if not images:
            return []
        cand = square(np.array([[x + 1, y + 1, x + w, y + h] for x, y, w, h in boxes], float))
        for _ in range(REFINE_PASSES):
            cand = np.fix(cand)
            patches = np.concatenate(
                [crop_patches(image, cand[k : k + 1], 48) for k, image in enumerate(images)]
            )
            # crop_patches keeps the frame's channel order: BGR here, RGB for the nets.
            reg, points, prob = self.nets.run_onet(np.ascontiguousarray(patches[..., ::-1]))
            w = (cand[:, 2] - cand[:, 0] + 1)[:, None]
            h = (cand[:, 3] - cand[:, 1] + 1)[:, None]
            points = np.hstack(
                [w * points[:, :5] + cand[:, :1] - 1, h * points[:, 5:] + cand[:, 1:2] - 1]
            )
            found = regress(cand, reg)
            cand = square(found)
        faces: list[Face | None] = []
        for k, image in enumerate(images):
            if prob[k, 1] <= self.config.thresholds[2]:
                faces.append(None)
                continue
            row = np.hstack([found[k], prob[k, 1]])[None]
            located = self._to_faces(row, points[k : k + 1], 1.0, image.shape[1], image.shape[0])
            faces.append(located[0] if located else None)
        return faces

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
                while halvable(level, size):
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
            reg, prob = self.nets.run_pnet(net_input)
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
        boxes = np.fix(square(boxes))
        # Regression pulls candidates of one face together; R-Net need not see copies.
        pick = nms(boxes, cand[:, 4], MERGE_FOR_RNET)
        return np.hstack([boxes[pick], cand[pick, 4:5]])

    def _stage2(self, sources: list[np.ndarray], cand: np.ndarray) -> np.ndarray:
        reg, prob = self.nets.run_rnet(crop_patches_from_pyramid(sources, cand[:, :4], 24))
        keep = prob[:, 1] > self.config.thresholds[1]
        boxes, scores, reg = cand[keep, :4], prob[keep, 1], reg[keep]
        if not len(boxes):
            return np.empty((0, 5))
        pick = nms(boxes, scores, 0.7)
        boxes, scores = square(regress(boxes[pick], reg[pick])), scores[pick]
        # O-Net keeps the best of a face's candidates, and its landmarks drive the alignment:
        # only near-copies are merged (at 0.7, pairs.csv's gap fell from 0.23 to 0.17).
        pick = nms(boxes, scores, MERGE_FOR_ONET)
        return np.hstack([boxes[pick], scores[pick, None]])

    def _stage3(self, rgb: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = np.fix(cand[:, :4])
        reg, points, prob = self.nets.run_onet(crop_patches(rgb, boxes, 48))
        keep = prob[:, 1] > self.config.thresholds[2]
        boxes, scores, reg, points = boxes[keep], prob[keep, 1], reg[keep], points[keep]
        if not len(boxes):
            return np.empty((0, 5)), np.empty((0, 10))
        w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = np.hstack(
            [w * points[:, :5] + boxes[:, :1] - 1, h * points[:, 5:] + boxes[:, 1:2] - 1]
        )
        boxes = regress(boxes, reg)
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
