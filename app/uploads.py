"""Uploaded frames: 1 to N non-empty ``image`` files, as bytes."""

from __future__ import annotations

from flask import current_app, request

from app.errors import ApiError


def image_files(limit: int | None = None) -> list[bytes]:
    """The ``image`` files, 1 to ``limit`` (default ``[app] max_images``), each non-empty."""
    files = request.files.getlist("image")
    limit = limit or int(current_app.config["MAX_IMAGES"])
    if not files:
        raise ApiError(400, "no_image", f"send 1 to {limit} images as multipart field 'image'")
    if len(files) > limit:
        raise ApiError(400, "too_many_images", f"send at most {limit} images, not {len(files)}")
    images = []
    for number, upload in enumerate(files, start=1):
        data = upload.read()
        upload.close()  # large uploads are spooled to a temporary file
        if not data:
            raise ApiError(400, "empty_image", f"image {number} is empty")
        images.append(data)
    return images


def form_text(name: str, max_length: int = 200) -> str:
    value = request.form.get(name, "")
    if len(value) > max_length:
        raise ApiError(400, f"invalid_{name}", f"{name} is too long")
    return value.strip()
