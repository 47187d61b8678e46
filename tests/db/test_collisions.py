"""Writing units of work that collide: a real deadlock becomes ConcurrentChange
(409, never 500), `retried` runs the loser again, and a writer that reads an
image waits for another writer of that image."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from glint.db import repositories as repo
from glint.db import schema
from glint.db.session import Database, open_database, retried
from glint.domain.errors import ConcurrentChange
from glint.domain.image import Image, ImageStatus, Visibility
from glint.settings import DatabaseSettings
from tests.conftest import BACKENDS
from tests.servers import database

SERVER_BACKENDS = [b for b in BACKENDS if b != "sqlite"]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with database(request.param, tmp_path) as url:
        db = open_database(DatabaseSettings(url=url))
        schema.upgrade(db.engine)
        yield db
        db.dispose()


def _image(number: int) -> Image:
    when = datetime(2026, 1, 1)
    return Image(id=f"00000000-0000-0000-0000-{number:012d}", status=ImageStatus.QUEUED,
                 visibility=Visibility.SHARED, created_at=when, updated_at=when, owner="p")


def _insert(db: Database, *images: Image) -> None:
    with db.writing() as session:
        for image in images:
            repo.insert_image(session, image)


def test_a_reader_of_an_image_in_a_writing_unit_waits_for_the_other_writer(db: Database) -> None:
    image = _image(1)
    _insert(db, image)
    first_has_it = threading.Event()
    order: list[str] = []

    def first() -> None:
        with db.writing() as session:
            assert repo.get_image(session, image.id) is not None
            first_has_it.set()
            time.sleep(0.5)
            repo.add_tag(session, image.id, "first")
            order.append("first commits")

    def second() -> None:
        first_has_it.wait()
        with db.writing() as session:
            loaded = repo.get_image(session, image.id)
            order.append("second reads")
            assert loaded is not None and loaded.tags == {"first"}

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert order == ["first commits", "second reads"]


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
def test_a_deadlock_becomes_concurrent_change_and_a_retry_succeeds(
    backend: str, tmp_path: Path
) -> None:
    with database(backend, tmp_path) as url:
        db = open_database(DatabaseSettings(url=url))
        schema.upgrade(db.engine)
        try:
            a, b = _image(1), _image(2)
            _insert(db, a, b)
            both_locked_one = threading.Barrier(2, timeout=30)
            outcomes: dict[str, str] = {}

            @retried
            def attempt(name: str, first: Image, second: Image) -> None:
                retrying = name in outcomes
                outcomes.setdefault(name, "tried")
                try:
                    with db.writing() as session:
                        repo.get_image(session, first.id, details=False)
                        if not retrying:  # each holds one lock and wants the other's
                            both_locked_one.wait()
                        repo.get_image(session, second.id, details=False)
                        repo.add_tag(session, first.id, name)
                except ConcurrentChange:
                    outcomes[name] = "collided"
                    raise

            def run(name: str, first: Image, second: Image) -> None:
                attempt(name, first, second)

            threads = [threading.Thread(target=run, args=("ab", a, b)),
                       threading.Thread(target=run, args=("ba", b, a))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert "collided" in outcomes.values(), "the database reported no deadlock"
            with db.reading() as session:
                tags = [repo.get_image(session, i.id) for i in (a, b)]
            assert [t.tags if t else None for t in tags] == [{"ab"}, {"ba"}]
        finally:
            db.dispose()


def test_retried_gives_up_with_the_conflict() -> None:
    calls: list[int] = []

    @retried
    def always_collides() -> None:
        calls.append(1)
        raise ConcurrentChange("collided")

    with pytest.raises(ConcurrentChange):
        always_collides()
    assert len(calls) > 1
