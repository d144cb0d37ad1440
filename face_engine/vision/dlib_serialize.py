"""dlib's serialisation primitives (``dlib/serialize.h``, ``dlib/dnn/tensor.h``), read-only.

An integer is a control byte (low nibble: byte count, top bit: negative) then that many
little-endian magnitude bytes; a float is an integer mantissa then an integer exponent (value =
mantissa * 2**exponent); a bool is one ASCII '0' or '1'; a string is its length then its bytes. A
tensor is version 2, four dimensions, then raw little-endian float32 data; an alias tensor (a view
into a layer's parameters) is version 1 and its four dimensions.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]


class DlibStream:
    """Cursor over the file's bytes; every read checks bounds and raises ValueError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"malformed dlib .dat at byte {self.pos}: {what}")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"needs {n} more bytes, file ends")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def read_int(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if control & 0x70 or size > 8:
            raise self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def read_float(self) -> float:
        mantissa, exponent = self.read_int(), self.read_int()
        if abs(exponent) > 1100:
            raise self.fail(f"non-finite or absurd float exponent {exponent}")
        return math.ldexp(mantissa, exponent)

    def read_bool(self) -> bool:
        byte = self.take(1)
        if byte not in (b"0", b"1"):
            raise self.fail(f"bool must be ASCII '0' or '1', got {byte!r}")
        return byte == b"1"

    def read_str(self) -> str:
        return self.take(self.read_int()).decode("ascii", errors="replace")

    def read_dims(self, version: int) -> tuple[int, int, int, int]:
        if (found := self.read_int()) != version:
            raise self.fail(f"tensor version {found}, expected {version}")
        n, k, nr, nc = (self.read_int() for _ in range(4))
        if min(n, k, nr, nc) < 0:
            raise self.fail("negative tensor dimension")
        return n, k, nr, nc

    def read_tensor(self) -> FloatArray:
        """A resizable_tensor as a flat float32 array (its dims are checked by the caller)."""
        count = math.prod(self.read_dims(2))
        return np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32)

    def expect(self, found: object, wanted: object, what: str) -> None:
        if found != wanted:
            raise self.fail(f"{what} is {found!r}, expected {wanted!r}")
