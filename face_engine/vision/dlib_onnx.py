"""ONNX graph of dlib's face-recognition ResNet, built from the records of :mod:`dlib_dat`.

Input ``chips``: uint8 [N, 150, 150, 3], RGB, NHWC, the layout the 150x150 chips already have, so
the embedder only stacks them (no float conversion or transpose in NumPy, four times fewer bytes
handed over). The graph casts, applies dlib's input scaling ``(pixel - mean) / 256`` and
transposes to NCHW. Output ``descriptor``: float32 [N, 128], raw like dlib's (not normalised;
the embedder L2-normalises). Each affine (dlib's frozen batch norm) is folded into the
convolution before it; the batch dimension is dynamic.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from face_engine.vision.dlib_dat import (
    Add,
    Affine,
    AvgPool,
    Conv,
    DlibNet,
    FcNoBias,
    Layer,
    MaxPool,
    Relu,
    Skip,
    Tag,
    read_dlib_resnet,
)

OPSET = 17
IR_VERSION = 8
INPUT_NAME = "chips"
OUTPUT_NAME = "descriptor"

Shape = tuple[int, int, int]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pooled(size: int, window: int, stride: int, pad: int) -> int:
    """dlib's (and ONNX's floor-mode) output length of a convolution or pool."""
    return 1 + (size + 2 * pad - window) // stride


class _Builder:
    """Appends nodes and initialisers while tracking each tensor's static (C, H, W)."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, value: NDArray[np.generic]) -> str:
        name = self.name(prefix)
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def pad_to(self, x: str, shape: Shape, target: Shape) -> str:
        """Zero-fill ``x`` at the far end (higher channels, bottom rows, right columns)."""
        if shape == target:
            return x
        ends = [t - s for s, t in zip(shape, target, strict=True)]
        pads = self.const("pads", np.array([0, 0, 0, 0, 0, *ends], dtype=np.int64))
        return self.node("Pad", [x, pads], mode="constant")


def _conv(
    b: _Builder, x: str, shape: Shape, conv: Conv, affine: Affine | None
) -> tuple[str, Shape]:
    filters = conv.filters.astype(np.float64)
    bias = conv.bias.astype(np.float64)
    if affine is not None:
        filters = filters * affine.gamma.astype(np.float64)[:, None, None, None]
        bias = bias * affine.gamma + affine.beta
    out, _, kh, kw = conv.filters.shape
    w = b.const("w", filters.astype(np.float32))
    bias_name = b.const("b", bias.astype(np.float32))
    y = b.node(
        "Conv",
        [x, w, bias_name],
        kernel_shape=[kh, kw],
        strides=[conv.stride] * 2,
        pads=[conv.pad] * 4,
    )
    h = _pooled(shape[1], kh, conv.stride, conv.pad)
    return y, (out, h, _pooled(shape[2], kw, conv.stride, conv.pad))


def _affine(b: _Builder, x: str, affine: Affine) -> str:
    """A lone affine (none in this net, which always has a convolution before it)."""
    gamma = b.const("gamma", affine.gamma.reshape(1, -1, 1, 1))
    beta = b.const("beta", affine.beta.reshape(1, -1, 1, 1))
    return b.node("Add", [b.node("Mul", [x, gamma]), beta])


def _pool(b: _Builder, x: str, shape: Shape, layer: MaxPool | AvgPool) -> tuple[str, Shape]:
    if layer.size == 0:
        return b.node("GlobalAveragePool", [x]), (shape[0], 1, 1)
    op = "MaxPool" if isinstance(layer, MaxPool) else "AveragePool"
    side = [_pooled(n, layer.size, layer.stride, layer.pad) for n in shape[1:]]
    y = b.node(
        op,
        [x],
        kernel_shape=[layer.size] * 2,
        strides=[layer.stride] * 2,
        pads=[layer.pad] * 4,
    )
    return y, (shape[0], side[0], side[1])


def _body(b: _Builder, x: str, size: int, layers: tuple[Layer, ...]) -> str:
    """Nodes for the layers, input ``x`` (N, 3, size, size) float32; returns the output name."""
    shape: Shape = (3, size, size)
    tags: dict[int, tuple[str, Shape]] = {}
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, Conv):
            following = layers[i + 1] if i + 1 < len(layers) else None
            affine = following if isinstance(following, Affine) else None
            x, shape = _conv(b, x, shape, layer, affine)
            i += 1 if affine is not None else 0
        elif isinstance(layer, Affine):
            x = _affine(b, x, layer)
        elif isinstance(layer, Relu):
            x = b.node("Relu", [x])
        elif isinstance(layer, MaxPool | AvgPool):
            x, shape = _pool(b, x, shape, layer)
        elif isinstance(layer, Tag):
            tags[layer.id] = (x, shape)
        elif isinstance(layer, Skip):
            x, shape = tags[layer.id]
        elif isinstance(layer, Add):
            other, other_shape = tags[layer.tag]
            target = tuple(max(a, c) for a, c in zip(shape, other_shape, strict=True))
            big: Shape = (target[0], target[1], target[2])
            x = b.node("Add", [b.pad_to(x, shape, big), b.pad_to(other, other_shape, big)])
            shape = big
        else:
            flat = b.node("Flatten", [x], axis=1)
            x = b.node("MatMul", [flat, b.const("fc", layer.matrix)])
            shape = (layer.matrix.shape[1], 1, 1)
        i += 1
    return x


def build_model(net: DlibNet) -> onnx.ModelProto:
    """ONNX model of the parsed net: uint8 NHWC RGB chips in, raw 128-D descriptors out."""
    b = _Builder()
    x = b.node("Cast", [INPUT_NAME], to=TensorProto.FLOAT)
    mean = b.const("mean", np.array(net.mean_rgb, dtype=np.float32).reshape(1, 1, 1, 3))
    scale = b.const("scale", np.array(1.0 / 256.0, dtype=np.float32))
    x = b.node("Mul", [b.node("Sub", [x, mean]), scale])
    x = b.node("Transpose", [x], perm=[0, 3, 1, 2])
    out = _body(b, x, net.size, net.layers)
    b.nodes.append(helper.make_node("Identity", [out], [OUTPUT_NAME], name="output"))
    width = next(layer.matrix.shape[1] for layer in net.layers if isinstance(layer, FcNoBias))
    chips: list[str | int] = ["N", net.size, net.size, 3]
    graph = helper.make_graph(
        b.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, chips)],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", width])],
        initializer=b.weights,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="face_engine.vision.dlib_onnx",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def cached_model_path(dat_path: Path, cache_dir: Path, *, digest: str | None = None) -> Path:
    """The ONNX model of ``dat_path`` under ``cache_dir``, built once per weights hash.

    Written to a temporary file then renamed, so processes starting together never see a partial
    file (at worst both build it, and the later rename wins with identical bytes). Mode 0600.
    ``digest`` is the .dat's SHA-256 when the caller already has it.
    """
    digest = digest or sha256_file(dat_path)
    path = Path(cache_dir) / f"dlib_resnet_{digest[:16]}.onnx"
    if path.exists():
        return path
    data = build_model(read_dlib_resnet(dat_path)).SerializeToString()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".dlib_resnet_", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
