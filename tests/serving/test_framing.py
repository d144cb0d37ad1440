"""Where a request ends (serving/framing.py): whole requests are ready, partial ones want
more, over-long bodies are refused from their headers, odd framings go to gunicorn's parser."""

from __future__ import annotations

import pytest

from serving.framing import RequestFraming, Verdict

MORE, READY, TOO_LARGE = Verdict.MORE, Verdict.READY, Verdict.TOO_LARGE


def framing(max_body: int = 1000, max_header_bytes: int = 4096) -> RequestFraming:
    return RequestFraming(max_header_bytes=max_header_bytes, max_body=max_body)


def fed(*pieces: bytes, **limits: int) -> list[Verdict]:
    f = framing(**limits)
    return [f.feed(p) for p in pieces]


def test_a_get_is_ready_when_its_headers_end_and_not_before():
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    assert fed(request) == [READY]
    # One byte at a time: ready exactly at the last one, even when the end straddles feeds.
    assert fed(*[request[i : i + 1] for i in range(len(request))])[-2:] == [MORE, READY]


def test_a_content_length_body_is_ready_when_all_of_it_has_come():
    head = b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
    assert fed(head, b"12345", b"6789", b"0") == [MORE, MORE, MORE, READY]
    assert fed(head + b"1234567890") == [READY]


def test_a_declared_body_over_the_limit_is_refused_from_the_headers():
    head = b"POST /api/login HTTP/1.1\r\nContent-Length: 1001\r\n\r\n"
    assert fed(head) == [TOO_LARGE]
    assert fed(head.replace(b"1001", b"1000")) == [MORE]


def test_chunked_bodies_end_at_the_last_chunk_and_count_toward_the_limit():
    head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert fed(head, b"5\r\nhello\r\n", b"3;ext=1\r\nabc\r\n", b"0\r\n", b"\r\n") == [
        MORE,
        MORE,
        MORE,
        MORE,
        READY,
    ]
    assert fed(head + b"2\r\nhi\r\n0\r\nX-Trailer: 1\r\n", b"\r\n") == [MORE, READY]
    assert fed(head, b"200\r\n" + b"a" * 0x200 + b"\r\n", b"300\r\n") == [MORE, MORE, TOO_LARGE]


@pytest.mark.parametrize(
    "head",
    [
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["two-lengths", "negative", "length-and-chunked", "not-chunked", "bad-chunk-size"],
)
def test_odd_framings_go_to_the_parser_at_once(head):
    """gunicorn's parser refuses these (400); waiting for a body would only hold a socket."""
    assert fed(head) == [READY]


def test_headers_past_the_limit_go_to_the_parser():
    assert fed(b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 5000, max_header_bytes=4096) == [READY]


def test_expect_100_continue_is_noticed_only_with_a_body_on_http_1_1():
    f = framing()
    f.feed(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    assert f.expects_continue
    f = framing()
    f.feed(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    assert not f.expects_continue


def test_a_verdict_is_final_and_pipelined_bytes_stay_in_the_buffer():
    f = framing()
    two = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"
    assert f.feed(two) == READY
    assert f.feed(b"more") == READY
    assert bytes(f.buf) == two + b"more"
