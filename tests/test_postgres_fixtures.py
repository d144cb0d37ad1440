"""tests/postgres.py's switch of the suite to PostgreSQL (FACE_TEST_STORE=postgres): every
configuration read in-process sees the store overrides beneath the environment it is given."""

from __future__ import annotations

import pytest

from tests.postgres import lmdb_only, patch_configuration_reads, schema_dsn, store_environment


@lmdb_only  # under FACE_TEST_STORE=postgres the suite's own overrides are in place
def test_configuration_reads_get_the_store_overrides_and_a_tests_own_values_win():
    import app.config
    import face_engine.config
    import face_engine.config.loading as loading

    overrides = store_environment(schema_dsn("host=/tmp/pg dbname=postgres", "face_test"))
    assert "search_path=face_test,public" in overrides["FACE_LOGIN_STORE_POSTGRES_DSN"]
    with pytest.MonkeyPatch.context() as patch:
        patch_configuration_reads(patch, overrides)
        for read_config in (
            loading.read_config,
            face_engine.config.read_config,
            app.config.read_config,
        ):
            assert dict(read_config(None, {"FACE_LOGIN_DATA": "/x"}).env) == {
                **overrides,
                "FACE_LOGIN_DATA": "/x",
            }
        own = read_config(None, {"FACE_LOGIN_STORE_BACKEND": "lmdb"}).env
        assert own["FACE_LOGIN_STORE_BACKEND"] == "lmdb"
    assert dict(loading.read_config(None, {}).env) == {}
