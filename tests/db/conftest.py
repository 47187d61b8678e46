"""Private database servers for tests that kill or freeze them (see tests/private_databases.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS
from tests.private_databases import PrivateServer, private_server

SERVER_BACKENDS = [backend for backend in BACKENDS if backend != "sqlite"]


@pytest.fixture(scope="session", params=SERVER_BACKENDS)
def private_database_server(request: pytest.FixtureRequest,
                            tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServer]:
    """One private server per backend for the whole run."""
    with private_server(request.param, tmp_path_factory.mktemp(f"private-{request.param}")) as server:
        yield server


@pytest.fixture
def private_database(private_database_server: PrivateServer) -> Iterator[PrivateServer]:
    """The private server, running again after the test whatever it did to it."""
    private_database_server.ensure_running()
    yield private_database_server
    private_database_server.ensure_running()
