"""Engine commands: detect, compare, evaluate, bench (issue 2)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the engine's commands to ``subparsers``."""
