"""``python -m face_engine``: JSON on stdout, non-zero exit on error.

Each command module exposes ``register(subparsers)``; a registered parser sets
``func(args, settings) -> int`` as its default.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from face_engine.config import load_settings
from face_engine.errors import FaceEngineError

# Commands that live in bench/ (developer tooling, outside the runtime package): name ->
# (module with main(argv), summary).
TOOLING = {
    "bench": ("bench.pipeline_bench", "stage timings, ours against the naive baseline"),
    "index-bench": ("bench.index_bench", "ANN index build/query/recall benchmark"),
}


def emit(obj: Any) -> None:
    """Print ``obj`` as one JSON document on stdout."""
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def build_parser() -> argparse.ArgumentParser:
    from face_engine.cli import (
        detect_commands,
        engine_commands,
        gallery_commands,
        index_commands,
        migrate_commands,
        oidc_commands,
    )

    parser = argparse.ArgumentParser(prog="python -m face_engine", description=__doc__)
    parser.add_argument("--config", type=Path, help="config.ini to read (default: the shipped one)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (
        detect_commands,
        engine_commands,
        gallery_commands,
        index_commands,
        migrate_commands,
        oidc_commands,
    ):
        module.register(subparsers)
    for name, (_, summary) in TOOLING.items():
        subparsers.add_parser(name, help=f"{summary} (developer tooling in bench/)", add_help=False)
    return parser


def run_tooling(name: str, argv: list[str]) -> int:
    """Hand ``argv`` to the developer tool ``name`` in ``bench/`` (a checkout has it; the
    service's image does not)."""
    module_name = TOOLING[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        emit({"error": "tooling_missing", "detail": f"{name} needs {module_name} ({e})"})
        return 1
    return int(module.main(argv))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in TOOLING:
        return run_tooling(argv[0], argv[1:])
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
