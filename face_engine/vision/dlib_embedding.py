"""dlib's face-recognition ResNet (128-D) on onnxruntime, through our own port of its weights.

Chips are the 150x150 RGB faces ``dlib.get_face_chip(image, shape, 150, 0.25)`` cuts. The graph
returns dlib's raw descriptors; this class L2-normalises them (cosine = dot product downstream).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from face_engine.vision.dlib_onnx import INPUT_NAME, OUTPUT_NAME, cached_model_path, sha256_file

CHIP_SIZE = 150


class DlibEmbedder:
    """150x150 RGB uint8 face chips in, unit-norm float32[128] dlib descriptors out.

    Thread-safe: onnxruntime sessions may ``run`` from several threads at once.
    """

    dim = 128

    def __init__(self, dat_path: Path, cache_dir: Path, threads: int = 2) -> None:
        self.weights_hash: str = sha256_file(dat_path)
        model = cached_model_path(dat_path, cache_dir, digest=self.weights_hash)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )

    def embed_batch(self, chips: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """(N, 128) unit rows, one per chip; ValueError on a chip not 150x150x3 uint8."""
        if not chips:
            return np.zeros((0, self.dim), dtype=np.float32)
        for i, chip in enumerate(chips):
            if not isinstance(chip, np.ndarray) or chip.dtype != np.uint8:
                raise ValueError(f"chip {i}: expected a uint8 NumPy array")
            if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3):
                raise ValueError(
                    f"chip {i}: shape {chip.shape}, expected ({CHIP_SIZE}, {CHIP_SIZE}, 3)"
                )
        raw = self._session.run([OUTPUT_NAME], {INPUT_NAME: np.stack(chips)})[0]
        descriptors = np.asarray(raw, dtype=np.float32)
        norms = np.linalg.norm(descriptors, axis=1, keepdims=True)
        unit: NDArray[np.float32] = descriptors / np.maximum(norms, np.float32(1e-12))
        return unit
