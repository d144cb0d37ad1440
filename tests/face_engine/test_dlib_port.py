"""Our port of dlib's face-recognition ResNet: reader, ONNX cache, and equality with dlib itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from face_engine.vision.dlib_dat import (
    Add,
    Affine,
    AvgPool,
    Conv,
    FcNoBias,
    MaxPool,
    Skip,
    Tag,
    parse_dlib_resnet,
    read_dlib_resnet,
)
from face_engine.vision.dlib_embedding import DlibEmbedder
from face_engine.vision.dlib_onnx import sha256_file
from face_engine.vision.dlib_serialize import DlibStream
from face_engine.vision.weights import dlib_model_paths

MIN_COSINE = 0.99999
MIN_PHOTOS = 15


@pytest.fixture(scope="module")
def dat() -> Path:
    return dlib_model_paths()[0]


@pytest.fixture(scope="module")
def embedder(dat: Path, tmp_path_factory: pytest.TempPathFactory) -> DlibEmbedder:
    return DlibEmbedder(dat, tmp_path_factory.mktemp("dlib_cache"))


def test_integers_floats_bools_strings_in_dlib_encoding() -> None:
    data = b"\x00\x01\x05\x81\x1c\x02\x80\x12\x88" + b"\xff" * 7 + b"\x7f"
    data += b"\x03\x0a\xd7\xa3\x81\x1c" + b"\x01\x03\x01\x00" + b"10" + b"\x01\x03abc"
    s = DlibStream(data)
    assert [s.read_int() for _ in range(5)] == [0, 5, -28, 0x1280, -(2**63 - 1)]
    assert s.read_float() == 0xA3D70A * 2.0**-28 and abs(0xA3D70A * 2.0**-28 - 0.04) < 1e-8
    assert s.read_float() == 3.0
    assert (s.read_bool(), s.read_bool(), s.read_str()) == (True, False, "abc")
    assert s.pos == len(data)


@pytest.mark.parametrize(
    ("data", "read"),
    [
        (b"\x19", "read_int"),  # control byte with stray bits set
        (b"\x02\x80", "read_int"),  # two bytes announced, one present
        (b"\x01\x01\x02\x00\x40", "read_float"),  # exponent 16384: not a finite float
        (b"x", "read_bool"),
        (b"\x01\x09abc", "read_str"),
        (b"\x01\x01" + b"\x01\x01" * 4, "read_tensor"),  # tensor version must be 2
        (b"\x01\x02" + b"\x01\x02" * 4 + b"\x00" * 63, "read_tensor"),  # 16 floats, 63 bytes
    ],
)
def test_malformed_bytes_raise_value_error(data: bytes, read: str) -> None:
    with pytest.raises(ValueError, match="malformed dlib .dat"):
        getattr(DlibStream(data), read)()


def test_reader_finds_the_example_network(dat: Path) -> None:
    net = read_dlib_resnet(dat)
    assert net.size == 150
    assert np.allclose(net.mean_rgb, (122.782, 117.001, 104.298), atol=1e-4)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds.count("Conv") == kinds.count("Affine") == 29
    assert kinds.count("Tag") == 18 and kinds.count("Skip") == 4 and kinds.count("Add") == 14
    first = net.layers[0]
    assert isinstance(first, Conv) and first.filters.shape == (32, 3, 7, 7)
    assert (first.stride, first.pad) == (2, 0) and first.bias.shape == (32,)
    assert isinstance(net.layers[1], Affine) and net.layers[1].gamma.shape == (32,)
    assert net.layers[3] == MaxPool(3, 2, 0)
    assert net.layers[-2] == AvgPool(0, 1, 0)
    fc = net.layers[-1]
    assert isinstance(fc, FcNoBias) and fc.matrix.shape == (256, 128)
    convs = [layer for layer in net.layers if isinstance(layer, Conv)]
    assert {(c.filters.shape[2], c.stride, c.pad) for c in convs} == {
        (7, 2, 0),
        (3, 2, 0),
        (3, 1, 1),
    }
    down = net.layers.index(Skip(1))
    assert net.layers[down - 1 : down + 3] == (Tag(2), Skip(1), AvgPool(2, 2, 0), Add(2))


def test_reader_rejects_truncated_and_padded_files(dat: Path) -> None:
    data = dat.read_bytes()
    with pytest.raises(ValueError, match="file ends"):
        parse_dlib_resnet(data[:-1])
    with pytest.raises(ValueError, match="left over"):
        parse_dlib_resnet(data + b"\x00")
    with pytest.raises(ValueError, match="loss layer"):
        parse_dlib_resnet(b"\x01\x01\x01\x03abc")


def test_model_cache_reused_and_keyed_by_weights_hash(dat: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = DlibEmbedder(dat, cache)
    digest = sha256_file(dat)
    model = cache / f"dlib_resnet_{digest[:16]}.onnx"
    assert first.weights_hash == digest and model.is_file()
    assert model.stat().st_mode & 0o777 == 0o600
    mtime = model.stat().st_mtime_ns
    DlibEmbedder(dat, cache)
    assert model.stat().st_mtime_ns == mtime
    changed = tmp_path / "changed.dat"
    data = bytearray(dat.read_bytes())
    data[-100] ^= 0x01  # a bit of the last fc weight
    changed.write_bytes(bytes(data))
    other = DlibEmbedder(changed, cache)
    assert other.weights_hash != digest
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [model.name, f"dlib_resnet_{other.weights_hash[:16]}.onnx"]
    )


def test_embed_batch_shapes_and_errors(embedder: DlibEmbedder) -> None:
    assert embedder.embed_batch([]).shape == (0, 128)
    rng = np.random.default_rng(7)
    chips = [rng.integers(0, 256, (150, 150, 3), dtype=np.uint8) for _ in range(3)]
    batch = embedder.embed_batch(chips)
    assert batch.shape == (3, 128) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-5)
    single = np.vstack([embedder.embed_batch([chip]) for chip in chips])
    assert np.abs(batch - single).max() < 1e-5
    with pytest.raises(ValueError, match="shape"):
        embedder.embed_batch([np.zeros((160, 160, 3), np.uint8)])
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed_batch([np.zeros((150, 150, 3), np.float32)])


def _dlib_chips(face_data: Path, shape_predictor: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(photo, 150x150 chip cut by dlib) for each people/ photo where dlib finds a face."""
    import dlib  # type: ignore[import-untyped]

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(shape_predictor))
    for photo in sorted(face_data.glob("people/*/*.jpg")):
        rgb = dlib.load_rgb_image(str(photo))
        boxes = detector(rgb, 1)
        if len(boxes) == 0:
            continue
        chip = dlib.get_face_chip(rgb, predictor(rgb, boxes[0]), 150, 0.25)
        yield str(photo.relative_to(face_data)), np.asarray(chip)


@pytest.mark.integration
def test_port_matches_dlib_on_every_photo(face_data: Path, embedder: DlibEmbedder) -> None:
    import dlib

    resnet, shape_predictor = dlib_model_paths()
    reference = dlib.face_recognition_model_v1(str(resnet))
    cosines: dict[str, float] = {}
    for name, chip in _dlib_chips(face_data, shape_predictor):
        theirs = np.asarray(reference.compute_face_descriptor(chip), dtype=np.float64)
        ours = embedder.embed_batch([chip])[0].astype(np.float64)
        cosines[name] = float(ours @ theirs / np.linalg.norm(theirs))
    print(f"dlib port: {len(cosines)} photos, min cosine {min(cosines.values()):.9f}")
    assert len(cosines) >= MIN_PHOTOS, cosines
    assert min(cosines.values()) >= MIN_COSINE, cosines
