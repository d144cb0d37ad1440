"""``python -m face_engine``: JSON on stdout, non-zero exit on error.

Each command module exposes ``register(subparsers)``; a registered parser sets
``func(args, settings) -> int`` as its default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from face_engine.config import load_settings
from face_engine.errors import FaceEngineError


def emit(obj: Any) -> None:
    """Print ``obj`` as one JSON document on stdout."""
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def build_parser() -> argparse.ArgumentParser:
    from face_engine.cli import (
        bench_commands,
        detect_commands,
        engine_commands,
        index_bench_commands,
        index_commands,
    )

    parser = argparse.ArgumentParser(prog="python -m face_engine", description=__doc__)
    parser.add_argument("--config", type=Path, help="config.ini to read (default: the shipped one)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (
        detect_commands,
        engine_commands,
        bench_commands,
        index_commands,
        index_bench_commands,
    ):
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config, os.environ)
        return int(args.func(args, settings))
    except FaceEngineError as e:
        emit({"error": e.code, "detail": e.detail})
        return 1
    except (OSError, ValueError) as e:
        emit({"error": type(e).__name__, "detail": str(e)})
        return 1
