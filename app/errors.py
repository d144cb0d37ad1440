"""Errors to HTTP, once: JSON under /api and /healthz, a page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from face_engine.errors import FaceEngineError

log = logging.getLogger(__name__)

STATUS = {
    "bad_image": 422,
    "no_face": 422,
    "multiple_faces": 422,
    "faces_differ": 422,
    "invalid_username": 400,
    "username_taken": 409,
    "face_already_registered": 409,
    "unknown_user": 404,
    "not_recognized": 401,
    "index_unavailable": 503,
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


def wants_json() -> bool:
    return (
        request.path.startswith("/api/")
        or request.path == "/healthz"
        or (request.accept_mimetypes.best == "application/json")
    )


def error_response(status: int, code: str, detail: str):
    if wants_json():
        body = {"error": code, "detail": detail}
        if request.path == "/api/login":
            body["ok"] = False
        return jsonify(body), status
    return render_template("error.html", status=status, code=code, detail=detail), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(FaceEngineError)
    def engine_error(e: FaceEngineError):
        return error_response(STATUS.get(e.code, 400), e.code, e.detail)

    @app.errorhandler(ApiError)
    def api_error(e: ApiError):
        return error_response(e.status, e.code, e.detail)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(e: RateLimitExceeded):
        response = error_response(
            429, "rate_limited", f"too many attempts ({e.description}); wait and try again"
        )
        return response

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        status = e.code or 500
        code = HTTP_CODES.get(status, "http_error")
        detail = e.description or code
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            detail = f"the upload is larger than the limit of {limit} bytes"
        return error_response(status, code, detail)

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side")
