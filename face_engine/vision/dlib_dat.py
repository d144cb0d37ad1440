"""Reader of dlib's serialised face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``).

The file is dlib's ``serialize(net)`` of ``anet_type`` from ``dnn_face_recognition_ex.cpp`` (number
encodings: :mod:`face_engine.vision.dlib_serialize`). Layout: the loss layer, then the version of
every layer wrapper from the output end inwards (2: a computational layer, 1: a tag or skip layer,
3: the first layer, which holds the input), then the input layer, then each computational layer
from input to output, each followed by three bools and three empty tensors. Tag and skip layers
carry nothing else, so which is which, and which tag each add refers to, come from the network
template (:data:`TEMPLATE`), against which every layer read is checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from face_engine.vision.dlib_serialize import DlibStream, FloatArray


@dataclass(frozen=True, eq=False)
class Conv:
    """Convolution: filters (out, in, kh, kw), bias (out,), same stride and padding on both axes."""

    filters: FloatArray = field(repr=False)
    bias: FloatArray = field(repr=False)
    stride: int
    pad: int


@dataclass(frozen=True, eq=False)
class Affine:
    """Per-channel ``gamma * x + beta`` (dlib's inference-time batch norm)."""

    gamma: FloatArray = field(repr=False)
    beta: FloatArray = field(repr=False)


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class MaxPool:
    size: int
    stride: int
    pad: int


@dataclass(frozen=True)
class AvgPool:
    """Average pool; ``size == 0`` is dlib's ``avg_pool_everything`` (the whole input)."""

    size: int
    stride: int
    pad: int


@dataclass(frozen=True)
class Tag:
    """Remembers the current tensor under ``id``."""

    id: int


@dataclass(frozen=True)
class Skip:
    """Makes the tensor remembered under ``id`` the current one again."""

    id: int


@dataclass(frozen=True)
class Add:
    """Adds the tensor remembered under ``tag``; the smaller one is zero-filled at its far end."""

    tag: int


@dataclass(frozen=True, eq=False)
class FcNoBias:
    """Fully connected, no bias: ``x @ matrix`` with matrix (inputs, outputs)."""

    matrix: FloatArray = field(repr=False)


Layer = Conv | Affine | Relu | MaxPool | AvgPool | Tag | Skip | Add | FcNoBias


@dataclass(frozen=True)
class DlibNet:
    """The input layer's settings and the layers from input to output."""

    size: int
    mean_rgb: tuple[float, float, float]
    layers: tuple[Layer, ...]


def _residual(n: int, down: bool) -> list[tuple[object, ...]]:
    """``ares`` / ``ares_down`` of the example, from input to output."""
    head = [("tag", 1), ("con", n, 3, 2 if down else 1), ("affine",), ("relu",)]
    body = [("con", n, 3, 1), ("affine",)]
    tail = [("tag", 2), ("skip", 1), ("avg", 2, 2), ("add", 2)] if down else [("add", 1)]
    return [*head, *body, *tail, ("relu",)]


def _template() -> list[tuple[object, ...]]:
    """``anet_type`` of dnn_face_recognition_ex.cpp, from input to output."""
    tokens: list[tuple[object, ...]] = [("con", 32, 7, 2), ("affine",), ("relu",), ("max", 3, 2)]
    for n, down, plain in ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2)):
        if down:
            tokens += _residual(n, True)
        for _ in range(plain):
            tokens += _residual(n, False)
    tokens += _residual(256, True)
    return [*tokens, ("avg", 0, 1), ("fc", 128)]


TEMPLATE: tuple[tuple[object, ...], ...] = tuple(_template())


def _conv(s: DlibStream, token: tuple[object, ...]) -> Conv:
    params = s.read_tensor()
    filters, nr, nc, sy, sx, py, px = (s.read_int() for _ in range(7))
    wanted = (token[1], token[2], token[2], token[3])
    s.expect((filters, nr, nc, sy), wanted, "con filters, rows, cols, stride")
    s.expect((sx, px), (sy, py), "con stride/padding x vs y")
    shape = s.read_dims(1)
    s.expect(s.read_dims(1), (1, filters, 1, 1), "con bias shape")
    s.expect((shape[0], shape[2], shape[3]), (filters, nr, nc), "con filter shape")
    s.expect(params.size, math.prod(shape) + filters, "con parameter count")
    for _ in range(4):
        s.read_float()
    n_weights = math.prod(shape)
    return Conv(params[:n_weights].reshape(shape), params[n_weights:], sy, py)


def _affine(s: DlibStream) -> Affine:
    params = s.read_tensor()
    gamma, beta = s.read_dims(1), s.read_dims(1)
    s.expect(gamma, beta, "affine beta shape")
    s.expect(params.size, 2 * gamma[1], "affine parameter count")
    s.expect(s.read_int(), 0, "affine mode (0 = per channel)")
    return Affine(params[: gamma[1]], params[gamma[1] :])


def _pool(s: DlibStream, token: tuple[object, ...]) -> tuple[int, int, int]:
    nr, nc, sy, sx, py, px = (s.read_int() for _ in range(6))
    s.expect((nr, sy), token[1:], "pool window, stride")
    s.expect((nc, sx, px), (nr, sy, py), "pool x vs y")
    return nr, sy, py


def _fc(s: DlibStream, token: tuple[object, ...]) -> FcNoBias:
    outputs, inputs = s.read_int(), s.read_int()
    s.expect(outputs, token[1], "fc outputs")
    params = s.read_tensor()
    s.expect(s.read_dims(1), (inputs, outputs, 1, 1), "fc weight shape")
    s.expect(s.read_dims(1), (0, 0, 0, 0), "fc bias shape")
    s.expect(s.read_int(), 1, "fc bias mode (1 = no bias)")
    s.expect(params.size, inputs * outputs, "fc parameter count")
    for _ in range(4):
        s.read_float()
    return FcNoBias(params.reshape(inputs, outputs))


def _layer(s: DlibStream, token: tuple[object, ...]) -> Layer:
    """One computational layer's details, checked against its template token."""
    kind, name = token[0], s.read_str()
    wanted = {"con": "con_4", "affine": "affine_", "relu": "relu_", "max": "max_pool_2"}
    wanted |= {"avg": "avg_pool_2", "add": "add_prev_", "fc": "fc_2"}
    s.expect(name, wanted.get(str(kind)), "layer name")
    if kind == "con":
        return _conv(s, token)
    if kind == "affine":
        return _affine(s)
    if kind in ("max", "avg"):
        size, stride, pad = _pool(s, token)
        return (MaxPool if kind == "max" else AvgPool)(size, stride, pad)
    if kind == "fc":
        return _fc(s, token)
    return Add(int(str(token[1]))) if kind == "add" else Relu()


def _layer_tail(s: DlibStream) -> None:
    """The three bools and three (empty) tensors dlib writes after each layer's details."""
    for _ in range(3):
        s.read_bool()
    for _ in range(3):
        s.read_tensor()


def parse_dlib_resnet(data: bytes) -> DlibNet:
    """Parse the bytes of ``dlib_face_recognition_resnet_model_v1.dat``; ValueError if malformed."""
    s = DlibStream(data)
    s.expect(s.read_int(), 1, "loss layer version")
    s.expect(s.read_str(), "loss_metric_2", "loss layer")
    for _ in range(2):
        s.read_float()
    wrappers = [1 if t[0] in ("tag", "skip") else 2 for t in reversed(TEMPLATE)]
    wrappers[-1] = 3
    for wanted in wrappers:
        s.expect(s.read_int(), wanted, "layer wrapper version")
    s.expect(s.read_str(), "input_rgb_image_sized", "input layer")
    mean = (s.read_float(), s.read_float(), s.read_float())
    size = s.read_int()
    s.expect(s.read_int(), size, "input columns vs rows")
    layers: list[Layer] = []
    for token in TEMPLATE:
        if token[0] in ("tag", "skip"):
            layer_id = int(str(token[1]))
            layers.append(Tag(layer_id) if token[0] == "tag" else Skip(layer_id))
            continue
        layers.append(_layer(s, token))
        _layer_tail(s)
        if len(layers) == 1:
            s.expect(s.read_int(), 1, "sample expansion factor")
    if s.pos != len(data):
        raise s.fail(f"{len(data) - s.pos} bytes left over after the last layer")
    return DlibNet(size, mean, tuple(layers))


def read_dlib_resnet(path: Path) -> DlibNet:
    """Read and parse a ``.dat`` file (see :func:`parse_dlib_resnet`)."""
    return parse_dlib_resnet(Path(path).read_bytes())
