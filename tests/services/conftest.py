"""The services in-process, as the application's lifespan builds them, on a
real database: `services` on SQLite (fast, one per test), and
`built_services` for a test module that runs over every backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from glint.db.ownership import new_owner_id
from glint.db.session import open_database
from glint.domain.context import RequestContext
from glint.domain.image import Image
from glint.domain.new_image import NewImage
from glint.services.authorization import build_policy
from glint.services.container import Services, build_services
from glint.settings import DatabaseSettings, Settings, embedded_settings
from glint.stores.registry import build_registry
from tests.servers import migrate


@contextmanager
def built_services(url: str, folder: Path, settings: Settings | None = None
                   ) -> Iterator[Services]:
    """Every service, on the database at `url` (migrated here), with the
    stores and staging of `folder` (or of `settings`, when given)."""
    settings = replace(settings or embedded_settings(folder), database=DatabaseSettings(url=url))
    migrate(url)
    db = open_database(settings.database)
    registry = build_registry(settings.store)
    try:
        # No recovery runs here: an owner id without its lock is enough.
        yield build_services(settings, db, registry, build_policy(settings.policy), new_owner_id())
    finally:
        asyncio.run(registry.close())
        db.dispose()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with built_services(f"sqlite:///{tmp_path / 'glint.db'}", tmp_path) as built:
        yield built


def caller(project: str | None = None, *roles: str) -> RequestContext:
    """A caller of `project` (by default a new one) with `roles` (by default
    member and reader); with "admin" among them, an admin."""
    given = frozenset(roles or ("member", "reader"))
    return RequestContext(request_id="req-test", user_id=uuid.uuid4().hex,
                          project_id=project or uuid.uuid4().hex, roles=given,
                          is_admin="admin" in given)


def new_image(services: Services, creator: RequestContext, **body: object) -> Image:
    """A queued raw image created by `creator` through ImageServices."""
    request = NewImage.from_body({"disk_format": "raw", "container_format": "bare", **body},
                                 creator.project_id)
    return services.images.create(creator, request)
