"""The layers' import rules (docs/architecture.md), read from the source: a test that fails
when a module reaches across a boundary."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

# Room (path prefix under face_engine/) -> the face_engine modules it may import.
BASE = ("face_engine.config", "face_engine.types", "face_engine.errors", "face_engine.distance")
RULES = {
    "face_engine/vision/": (*BASE, "face_engine.vision"),
    "face_engine/liveness/": (*BASE, "face_engine.liveness"),
    "face_engine/store/": (*BASE, "face_engine.usernames", "face_engine.store"),
    "face_engine/index/": (*BASE, "face_engine.store", "face_engine.index"),
    "face_engine/usernames.py": ("face_engine.errors",),
    "face_engine/config/": ("face_engine.config",),
    "face_engine/types.py": (),
    "face_engine/errors.py": (),
    "face_engine/distance.py": (),
    "face_engine/calibration.py": ("face_engine.types",),
    "face_engine/matching.py": (
        *BASE,
        "face_engine.calibration",
        "face_engine.store",
        "face_engine.index",
    ),
    "face_engine/provider/": (*BASE, "face_engine.store", "face_engine.provider"),
    "face_engine/head_turn.py": (
        *BASE,
        "face_engine.liveness",
        "face_engine.store",
        "face_engine.vision",
    ),
}
LMDB_ENVIRONMENT = "face_engine.store.lmdb.environment"
FOREIGN = ("flask", "werkzeug", "flask_limiter", "app", "bench", "tests")


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth (lazy imports count too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def allowed(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", sources("face_engine"), ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_rooms_import_only_what_their_layer_may(path):
    relative = path.relative_to(ROOT).as_posix()
    ours = [name for name in imports(path) if name.split(".")[0] == "face_engine"]
    for room, permitted in RULES.items():
        if relative.startswith(room):
            wrong = [name for name in ours if not allowed(name, permitted)]
            assert not wrong, f"{relative} may not import {wrong}"
    foreign = [name for name in imports(path) if name.split(".")[0] in FOREIGN]
    assert not foreign, f"{relative} imports the web layer or developer tooling: {foreign}"


@pytest.mark.parametrize("path", sources("app"), ids=lambda p: str(p.relative_to(ROOT)))
def test_web_layer_uses_only_the_public_api(path):
    """``app`` imports ``face_engine`` itself (its __init__'s names), never its rooms; and
    ``face_engine.config``, to read its own [app] section in the same single parse; and the
    rate limits' LMDB storage, the store's LMDB environment helper (one open-and-retry loop)."""
    shared = {"face_engine.config"}
    if path.relative_to(ROOT).as_posix() == "app/ratelimits.py":
        shared.add(LMDB_ENVIRONMENT)
    deep = [
        name for name in imports(path) if name.startswith("face_engine.") and name not in shared
    ]
    assert not deep, f"{path.relative_to(ROOT)} reaches into {deep}"


@pytest.mark.parametrize(
    "path", sources("face_engine") + sources("app"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_only_the_lmdb_store_uses_lmdb(path):
    """``lmdb`` is imported in ``face_engine/store/lmdb/`` alone; that package only by the
    store's factory (and the rate limits, its environment helper): the rest of the service
    sees the store's interfaces, whichever backend is behind them."""
    relative = path.relative_to(ROOT).as_posix()
    if relative.startswith("face_engine/store/lmdb/"):
        return
    names = imports(path)
    assert "lmdb" not in [n.split(".")[0] for n in names], f"{relative} imports lmdb"
    permitted = {
        "face_engine/store/factory.py": ("face_engine.store.lmdb",),
        "app/ratelimits.py": (LMDB_ENVIRONMENT,),
    }.get(relative, ())
    wrong = [
        n for n in names if allowed(n, ("face_engine.store.lmdb",)) and not allowed(n, permitted)
    ]
    assert not wrong, f"{relative} imports the LMDB store: {wrong}"


@pytest.mark.parametrize("path", sources("serving"), ids=lambda p: str(p.relative_to(ROOT)))
def test_server_side_imports_nothing_of_the_service(path):
    """``serving`` (the gunicorn worker) is loaded by gunicorn's master, which must stay free
    of the service's native libraries: gunicorn and the standard library only."""
    ours = [n for n in imports(path) if n.split(".")[0] in (*FOREIGN, "face_engine", "cv2")]
    assert not ours, f"{path.relative_to(ROOT)} imports {ours}"
