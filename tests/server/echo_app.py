"""A WSGI app with no models, for the worker's own server test: the body's length, or a
large answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BIG = b"x" * (32 * 1024 * 1024)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/big":
        start_response("200 OK", [("Content-Length", str(len(BIG)))])
        return [BIG]
    body = environ["wsgi.input"].read()
    text = f"{environ['PATH_INFO']} {len(body)}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(text)))])
    return [text]
