"""A request's frames, decoded one at a time when first looked at, then kept.

Every frame's size and header are checked before any is decoded (cheap), so a request with
one oversized frame is refused before the others cost anything; a request that fails on its
first frames (too many faces, too few) never decodes the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import overload

from face_engine.types import BGRImage


class LazyFrames(Sequence[BGRImage]):
    """``decode(number, data)`` of each frame (numbered from 1), on first access."""

    def __init__(self, images: list[bytes], decode: Callable[[int, bytes], BGRImage]) -> None:
        self._images = images
        self._decode = decode
        self._decoded: dict[int, BGRImage] = {}

    def __len__(self) -> int:
        return len(self._images)

    @overload
    def __getitem__(self, index: int) -> BGRImage: ...

    @overload
    def __getitem__(self, index: slice) -> list[BGRImage]: ...

    def __getitem__(self, index: int | slice) -> BGRImage | list[BGRImage]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = range(len(self._images))[index]  # IndexError as a list would
        if position not in self._decoded:
            self._decoded[position] = self._decode(position + 1, self._images[position])
        return self._decoded[position]

    @property
    def decoded(self) -> int:
        """How many frames have been decoded so far."""
        return len(self._decoded)
