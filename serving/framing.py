"""Where an HTTP/1.x request ends, read from the bytes received so far: enough to know when
a whole request (headers, then its Content-Length or chunked body) has arrived, and to refuse
an over-long body from its headers. Not a parser: anything odd is handed on ("ready") to
gunicorn's own parser, which then answers it with its own 400, reading only these bytes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

HEADERS_END = b"\r\n\r\n"
# A chunk-size line longer than this is not a chunk-size line: the parser rejects it.
MAX_CHUNK_LINE = 4096


class Verdict(enum.Enum):
    MORE = "more"  # keep reading
    READY = "ready"  # a whole request (or something the parser must refuse) is buffered
    TOO_LARGE = "too_large"  # the body is over the limit: answer 413 without reading it


@dataclass(slots=True)
class RequestFraming:
    """One request's bytes as they arrive (``feed``), and what they amount to.

    max_header_bytes: the request line and headers past which the parser is left to refuse
    them (gunicorn's limit_request_* settings); max_body: the largest body in bytes (the
    app's max_content_length), declared or chunked."""

    max_header_bytes: int
    max_body: int
    buf: bytearray = field(default_factory=bytearray)
    expects_continue: bool = False
    _searched: int = 0  # the headers' end is not before this
    _body_start: int = -1
    _end: int = -1  # where the request ends (Content-Length); -1: unknown yet
    _chunked: bool = False
    _chunk_pos: int = 0  # chunked: where the next chunk-size line starts
    _chunked_size: int = 0
    _verdict: Verdict = Verdict.MORE

    def feed(self, data: bytes) -> Verdict:
        """Add received bytes; MORE, READY or TOO_LARGE (final once not MORE)."""
        self.buf += data
        if self._verdict is Verdict.MORE:
            self._verdict = self._scan()
        return self._verdict

    def _scan(self) -> Verdict:
        if self._body_start < 0:
            # From just before the new bytes only: trickled headers cost O(n), not O(n^2).
            end = self.buf.find(HEADERS_END, self._searched)
            if end < 0:
                self._searched = max(0, len(self.buf) - len(HEADERS_END) + 1)
                too_long = len(self.buf) > self.max_header_bytes
                return Verdict.READY if too_long else Verdict.MORE
            self._body_start = end + len(HEADERS_END)
            verdict = self._read_headers(bytes(self.buf[:end]))
            if verdict is not Verdict.MORE:
                return verdict
        if self._chunked:
            return self._scan_chunks()
        return Verdict.READY if len(self.buf) >= self._end else Verdict.MORE

    def _read_headers(self, head: bytes) -> Verdict:
        """Content-Length or chunked from the header block; READY when there is no body."""
        lines = head.lstrip(b"\r\n").split(b"\r\n")
        http11 = lines[0].rstrip().endswith(b"HTTP/1.1")
        lengths: list[bytes] = []
        codings: list[bytes] = []
        expect = b""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                lengths.append(value.strip())
            elif name == b"transfer-encoding":
                codings += [c.strip().lower() for c in value.split(b",")]
            elif name == b"expect":
                expect = value.strip().lower()
        if codings:
            if lengths or codings[-1] != b"chunked":
                return Verdict.READY  # the parser refuses these framings
            self._chunked, self._chunk_pos = True, self._body_start
        elif lengths:
            if len(set(lengths)) != 1 or not lengths[0].isdigit():
                return Verdict.READY
            size = int(lengths[0])
            if size > self.max_body:
                return Verdict.TOO_LARGE
            if size == 0:
                return Verdict.READY
            self._end = self._body_start + size
        else:
            return Verdict.READY  # no body
        self.expects_continue = http11 and expect == b"100-continue"
        return Verdict.MORE

    def _scan_chunks(self) -> Verdict:
        while True:
            line_end = self.buf.find(b"\r\n", self._chunk_pos)
            if line_end < 0:
                too_long = len(self.buf) - self._chunk_pos > MAX_CHUNK_LINE
                return Verdict.READY if too_long else Verdict.MORE
            size_text = bytes(self.buf[self._chunk_pos : line_end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return Verdict.READY
            if size < 0:
                return Verdict.READY
            self._chunked_size += size
            if self._chunked_size > self.max_body:
                return Verdict.TOO_LARGE
            if size == 0:
                return self._scan_trailers(line_end + 2)
            next_pos = line_end + 2 + size + 2
            if next_pos > len(self.buf):
                return Verdict.MORE
            self._chunk_pos = next_pos

    def _scan_trailers(self, start: int) -> Verdict:
        """After the last chunk: an empty line, or trailer fields and then one."""
        if self.buf[start : start + 2] == b"\r\n":
            return Verdict.READY
        if self.buf.find(HEADERS_END, start - 2) >= 0:
            return Verdict.READY
        too_long = len(self.buf) - start > self.max_header_bytes
        return Verdict.READY if too_long else Verdict.MORE
