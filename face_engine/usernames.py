"""Usernames: what a valid one is, and the form it is stored and compared in.

A username is NFKC-normalised (so fullwidth ``ａｄａ`` becomes ``ada``), then must be 1 to 64
ASCII letters, digits, ``.``, ``_`` or ``-``; it is unique without regard to case. The
alphabet is restricted on purpose: letters of other scripts that look like Latin ones
(Cyrillic ``а`` for ``a``, Greek ``ο`` for ``o``) would let ``аdа`` pass for ``ada`` on an
admin's screen, and a confusables table covering every script is more than a login name
needs.
"""

from __future__ import annotations

import re
import unicodedata

from face_engine.errors import InvalidUsername

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def normalise_username(username: str) -> str:
    """The stored form of ``username``; InvalidUsername unless, after NFKC normalisation and
    stripping, it is 1-64 ASCII letters, digits, '.', '_' or '-'."""
    if not isinstance(username, str):
        raise InvalidUsername()
    name = unicodedata.normalize("NFKC", username).strip()
    if not USERNAME_PATTERN.fullmatch(name):
        raise InvalidUsername()
    return name
