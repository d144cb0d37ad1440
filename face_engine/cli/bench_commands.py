"""Pipeline benchmark: bench, ours against the naive baseline (issue 2)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands to ``subparsers``."""
