"""Store and index commands: rebuild-index, index-bench (issue 3)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the store's and index's commands to ``subparsers``."""
