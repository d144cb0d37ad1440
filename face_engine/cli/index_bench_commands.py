"""Index benchmark: index-bench on synthetic clustered vectors (issue 3)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands to ``subparsers``."""
