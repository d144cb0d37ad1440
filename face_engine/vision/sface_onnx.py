"""SFace on onnxruntime: the shipped file made runnable there, for comparison with ``sface``.

onnxruntime 1.32 builds a session from the file as shipped but refuses to run it: 29 int8
weight tensors are listed as graph inputs without initialisers, so it asks for them as inputs
(``Required inputs (['conv_1_conv2d_weight', ...]) are missing``). ``runnable_model`` keeps
only ``data`` as an input and, with ``dequantize``, turns the block-quantised int8 weights into
float initialisers at load (onnxruntime runs the int8 graph about twice as slowly). The service
embeds with ``sface.SFaceNet`` (OpenCV 5's DNN), which measured faster with equal descriptors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from onnx import numpy_helper

from face_engine.vision.sface import DIM, INPUT_NAME, to_blob, unit_rows


def _attribute(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def _dequantized(node: onnx.NodeProto, tensors: dict[str, NDArray[Any]]) -> NDArray[np.float32]:
    """The float tensor a DequantizeLinear node makes of its constant int8 input."""
    quantized = tensors[node.input[0]].astype(np.float32)
    scale = tensors[node.input[1]].astype(np.float32)
    zero = (
        tensors[node.input[2]].astype(np.float32)
        if len(node.input) > 2 and node.input[2]
        else np.zeros_like(scale)
    )
    if scale.ndim == 0:
        return np.asarray((quantized - zero) * scale, np.float32)
    axis = _attribute(node, "axis", 1) % quantized.ndim
    block = _attribute(node, "block_size", 0)
    if block:
        scale = np.repeat(scale, block, axis=axis)
        zero = np.repeat(zero, block, axis=axis)
        cut = tuple(
            slice(0, quantized.shape[axis]) if i == axis else slice(None)
            for i in range(quantized.ndim)
        )
        return np.asarray((quantized - zero[cut]) * scale[cut], np.float32)
    shape = [1] * quantized.ndim
    shape[axis] = -1
    return np.asarray((quantized - zero.reshape(shape)) * scale.reshape(shape), np.float32)


def runnable_model(path: Path, dequantize: bool) -> bytes:
    """The shipped SFace graph with ``data`` its only input; with ``dequantize``, its int8
    weights turned into float initialisers."""
    model = onnx.load(str(path))
    graph = model.graph
    inputs = [i for i in graph.input if i.name == INPUT_NAME]
    del graph.input[:]
    graph.input.extend(inputs)
    if dequantize:
        tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        nodes = []
        for node in graph.node:
            if node.op_type == "DequantizeLinear" and node.input[0] in tensors:
                weights = _dequantized(node, tensors)
                graph.initializer.append(numpy_helper.from_array(weights, node.output[0]))
            else:
                nodes.append(node)
        del graph.node[:]
        graph.node.extend(nodes)
        used = {name for node in graph.node for name in node.input}
        kept = [t for t in graph.initializer if t.name in used]
        del graph.initializer[:]
        graph.initializer.extend(kept)
    return bytes(model.SerializeToString())


class OnnxRuntimeSFace:
    """SFace on onnxruntime (batch 1 per run: the graph's input is fixed at one face)."""

    def __init__(self, path: Path, dequantize: bool = True, threads: int = 2) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            runnable_model(path, dequantize), options, providers=["CPUExecutionProvider"]
        )

    def embed_batch(self, chips: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """(N, 128) unit rows, one per chip."""
        if not chips:
            return np.zeros((0, DIM), np.float32)
        blob = to_blob(chips)
        rows = [self._session.run(None, {INPUT_NAME: blob[i : i + 1]})[0] for i in range(len(blob))]
        return unit_rows(np.concatenate(rows))
