"""The quota service in-process: reservations grow, settle, release, and are
swept when their release failed or their process died."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from glint.db.models import QuotaReservationRow
from glint.domain.quota import StorageQuotaFull
from glint.services.clock import now
from glint.services.container import Services
from glint.services.quotas import Quotas, ReservationKind
from glint.settings import QuotaSettings, embedded_settings
from tests.services.conftest import built_services

LIMIT = 1000


@pytest.fixture
def quotas(tmp_path: Path) -> Iterator[Quotas]:
    settings = replace(embedded_settings(tmp_path),
                       quota=QuotaSettings(user_storage_quota=LIMIT))
    with built_services(f"sqlite:///{tmp_path / 'glint.db'}", tmp_path, settings) as built:
        yield built.quotas


def _rows(quotas: Quotas) -> int:
    with quotas.db.reading() as session:
        return int(session.scalar(select(func.count(QuotaReservationRow.token))) or 0)


def test_reservations_grow_and_refuse(quotas: Quotas) -> None:
    project = uuid.uuid4().hex
    first = asyncio.run(quotas.reserve(project, str(uuid.uuid4()), ReservationKind.UPLOAD, None))
    assert first is not None and first.granted == LIMIT // 2  # half the room, not all of it
    asyncio.run(first.cover(700))
    assert first.granted == 700 + (LIMIT - 700) // 2
    with pytest.raises(StorageQuotaFull):
        asyncio.run(quotas.reserve(project, str(uuid.uuid4()), ReservationKind.UPLOAD,
                                   LIMIT - 700 + 1))
    asyncio.run(first.release())
    assert _rows(quotas) == 0
    whole = asyncio.run(quotas.reserve(project, str(uuid.uuid4()), ReservationKind.UPLOAD,
                                       LIMIT))
    assert whole is not None and whole.granted == LIMIT


def test_stale_reservations_are_swept(quotas: Quotas) -> None:
    held = asyncio.run(quotas.reserve(uuid.uuid4().hex, str(uuid.uuid4()),
                                      ReservationKind.STAGE, 10))
    lost = asyncio.run(quotas.reserve(uuid.uuid4().hex, str(uuid.uuid4()),
                                      ReservationKind.UPLOAD, 10))
    assert held is not None and lost is not None
    quotas.forget(lost.token)  # as if its release had failed
    assert quotas.drop_stale(now() - timedelta(minutes=1)) == 0  # too young yet
    assert quotas.drop_stale(now() + timedelta(seconds=1)) == 1
    with quotas.db.reading() as session:
        assert list(session.scalars(select(QuotaReservationRow.token))) == [held.token]


def test_orphans_of_dead_owners_are_dropped(quotas: Quotas) -> None:
    asyncio.run(quotas.reserve(uuid.uuid4().hex, str(uuid.uuid4()), ReservationKind.UPLOAD, 5))
    assert quotas.owners() == {quotas.owner}
    assert quotas.drop_orphans({"someone-else"}) == 0
    assert quotas.drop_orphans({quotas.owner}) == 1
    assert _rows(quotas) == 0


def test_no_quota_no_reservation(services: Services) -> None:
    assert not services.quotas.enabled
    assert asyncio.run(services.quotas.reserve("p", str(uuid.uuid4()), ReservationKind.UPLOAD,
                                               5)) is None
