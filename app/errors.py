"""Errors to HTTP, once: each engine error class has its status here; JSON under /api and
/healthz, a page elsewhere. An engine error with no status here is a bug: logged, 500."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from face_engine import (
    ChallengeInvalid,
    ChallengeRequired,
    ClientExists,
    FaceAlreadyRegistered,
    FaceEngineError,
    FacesDiffer,
    ImageDecodeError,
    InvalidClient,
    InvalidUsername,
    LivenessFailed,
    MultipleFaces,
    NoFaceFound,
    NotRecognized,
    PendingLoginInvalid,
    StoreUnavailable,
    TooManyFaces,
    UnknownClient,
    UnknownUser,
    UsernameRequired,
    UsernameTaken,
)

log = logging.getLogger(__name__)

STATUS: dict[type[FaceEngineError], int] = {
    ImageDecodeError: 422,
    NoFaceFound: 422,
    MultipleFaces: 422,
    TooManyFaces: 422,
    FacesDiffer: 422,
    InvalidUsername: 400,
    UsernameTaken: 409,
    FaceAlreadyRegistered: 409,
    UnknownUser: 404,
    NotRecognized: 401,
    ChallengeRequired: 400,
    ChallengeInvalid: 400,
    LivenessFailed: 401,
    InvalidClient: 400,
    UnknownClient: 404,
    ClientExists: 409,
    UsernameRequired: 401,
    PendingLoginInvalid: 400,
    StoreUnavailable: 503,
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ApiError(Exception):
    """A 4xx with a code and a sentence, raised by the views."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def status_of(error: FaceEngineError) -> int | None:
    """The HTTP status of ``error``'s class (or its nearest mapped base), None if unmapped."""
    return next((STATUS[cls] for cls in type(error).__mro__ if cls in STATUS), None)


def wants_json() -> bool:
    return (
        request.path.startswith("/api/")
        or request.path == "/healthz"
        or (request.accept_mimetypes.best == "application/json")
    )


def error_response(
    status: int, code: str, detail: str, **extra: str | int
) -> tuple[Response | str, int]:
    """``{"ok": false, "error": code, "detail": sentence, ...extra}``, or the error page."""
    if wants_json():
        return jsonify({"ok": False, "error": code, "detail": detail, **extra}), status
    return render_template("error.html", status=status, code=code, detail=detail), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(FaceEngineError)
    def engine_error(e: FaceEngineError) -> tuple[Response | str, int]:
        status = status_of(e)
        if status is None:
            log.error("unmapped engine error %s on %s", type(e).__name__, request.path)
            return error_response(500, "internal_error", "something went wrong on our side")
        if isinstance(e, LivenessFailed) and e.reason:
            return error_response(status, e.code, e.detail, reason=e.reason)
        if isinstance(e, UsernameRequired):
            return error_response(
                status, e.code, e.detail, pending=e.pending, expires_in=e.expires_in
            )
        return error_response(status, e.code, e.detail)

    @app.errorhandler(ApiError)
    def api_error(e: ApiError) -> tuple[Response | str, int]:
        return error_response(e.status, e.code, e.detail)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(e: RateLimitExceeded) -> tuple[Response | str, int]:
        return error_response(
            429, "rate_limited", f"too many attempts ({e.description}); wait and try again"
        )

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[Response | str, int]:
        status = e.code or 500
        code = HTTP_CODES.get(status, "http_error")
        detail = e.description or code
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            detail = f"the upload is larger than the limit of {limit} bytes"
        return error_response(status, code, detail)

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> tuple[Response | str, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side")
