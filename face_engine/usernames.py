"""Usernames: what a valid one is, and the form it is stored and compared in."""

from __future__ import annotations

import re
import unicodedata

from face_engine.errors import InvalidUsername

USERNAME_PATTERN = re.compile(r"[\w.-]{1,64}")


def normalise_username(username: str) -> str:
    """NFC-normalised, stripped username; InvalidUsername unless 1-64 letters, digits, . _ -."""
    if not isinstance(username, str):
        raise InvalidUsername()
    name = unicodedata.normalize("NFC", username.strip())
    if not USERNAME_PATTERN.fullmatch(name):
        raise InvalidUsername()
    return name
