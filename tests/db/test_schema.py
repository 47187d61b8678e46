"""Alembic migrations build the schema the models describe, on every database."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from glint.db import schema
from glint.db.models import Base
from glint.db.session import create_database_engine
from glint.settings import DatabaseSettings
from tests.conftest import BACKENDS
from tests.servers import database


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_match_models(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url:
        engine = create_database_engine(DatabaseSettings(url=url), maintenance=True)
        try:
            assert schema.current_revision(engine) is None
            assert not schema.is_current(engine)
            schema.upgrade(engine)
            assert schema.is_current(engine)
            schema.upgrade(engine)  # idempotent
            with engine.connect() as connection:
                differences = compare_metadata(MigrationContext.configure(connection),
                                               Base.metadata)
            assert differences == []
        finally:
            engine.dispose()
