"""The image listing's queries are answered from indexes on every database: a
regression (an index dropped, an expression in ORDER BY, an OR no planner can
split) shows up here as a full scan or a sort, without a benchmark. The data is
bench/scale.py's mix (tests/db/bulk_images.py) at a few thousand images."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from glint.db import repositories, schema
from glint.domain.listing import parse_list_query
from tests.conftest import BACKENDS
from tests.db import bulk_images
from tests.db.plans import Plan, caller_sight, explain, listing_statement
from tests.servers import database

IMAGES = 4000


@pytest.fixture(scope="module", params=BACKENDS)
def filled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Engine, bulk_images.BuiltImages]]:
    folder = tmp_path_factory.mktemp(f"plans-{request.param}")
    with database(request.param, folder) as url:
        engine = create_engine(url)
        try:
            schema.upgrade(engine)
            yield engine, bulk_images.build(engine, IMAGES)
        finally:
            engine.dispose()


def _plan(engine: Engine, params: list[tuple[str, str]], *, admin: bool = True) -> Plan:
    statement, parameters = listing_statement(
        engine, [("limit", "20"), *params], is_admin=admin,
        project_id=None if admin else bulk_images.MEMBER_PROJECT)
    return explain(engine, statement, parameters, usable=True)


def test_default_listing_walks_the_creation_index(filled: tuple[Engine, object]) -> None:
    plan = _plan(filled[0], [])
    assert plan.full_scans() == [], plan.text
    assert plan.indexes("images") == ["ix_images_deleted_created_at_id"], plan.text
    assert not plan.sorts, plan.text


@pytest.mark.parametrize("where", ["deep", "middle"])
def test_a_marker_starts_the_walk_at_the_marker(
        filled: tuple[Engine, bulk_images.BuiltImages], where: str) -> None:
    engine, built = filled
    marker = built.deep_marker if where == "deep" else built.middle_marker
    plan = _plan(engine, [("marker", marker)])
    assert plan.full_scans() == [], plan.text
    # Near the end of the list, sorting the few rows left can be the cheaper plan.
    assert plan.indexes("images") == ["ix_images_deleted_created_at_id"], plan.text
    # The marker's creation time bounds the index read: no walk over the rows before it.
    detail = plan.accesses[0].detail
    assert {"sqlite": "created_at<" in detail, "postgresql": "created_at <=" in detail,
            "mysql": detail == "range"}[engine.dialect.name], plan.text


def test_sorting_by_name_walks_the_name_index(filled: tuple[Engine, object]) -> None:
    plan = _plan(filled[0], [("sort_key", "name"), ("sort_dir", "asc")])
    assert plan.full_scans() == [], plan.text
    assert plan.indexes("images") == ["ix_images_deleted_name_created_at_id"], plan.text
    assert not plan.sorts, plan.text


@pytest.mark.parametrize("admin", [True, False], ids=["admin", "member"])
def test_tag_and_property_filters_use_indexes(filled: tuple[Engine, object], admin: bool) -> None:
    for params in ([("tag", "golden")], [("os_distro", "ubuntu")],
                   [("tag", "nightly"), ("hw_disk_bus", "scsi")],
                   [("tag", "nightly"), ("tag", "build-3"), ("os_distro", "ubuntu"),
                    ("hw_disk_bus", "scsi")]):
        plan = _plan(filled[0], params, admin=admin)
        assert plan.full_scans() == [], (params, plan.text)
        for table in ("image_tags", "image_properties"):
            assert all(a.index for a in plan.accesses if a.table == table), (params, plan.text)


def test_a_member_listing_walks_one_index_per_kind_of_image(filled: tuple[Engine, object]) -> None:
    """Own images by owner, public ones by visibility, shared ones from the
    caller's memberships: never every image in time order."""
    plan = _plan(filled[0], [], admin=False)
    assert plan.full_scans() == [], plan.text
    used = plan.indexes("images")
    assert "ix_images_owner_deleted_created_at_id" in used, plan.text
    assert "ix_images_visibility_deleted_created_at_id" in used, plan.text
    assert "ix_images_deleted_created_at_id" not in used, plan.text
    assert plan.indexes("image_members"), plan.text
    # Shared images are looked up by id from the memberships.
    assert set(used) & {"pk_images", "PRIMARY", "sqlite_autoindex_images_1"}, plan.text


@pytest.mark.parametrize("admin", [True, False], ids=["admin", "member"])
def test_one_visibility_walks_the_visibility_index(filled: tuple[Engine, object], admin: bool
                                                   ) -> None:
    """Its own public images are among the public ones: one walk, for a member too."""
    plan = _plan(filled[0], [("visibility", "public")], admin=admin)
    assert plan.full_scans() == [], plan.text
    assert plan.indexes("images") == ["ix_images_visibility_deleted_created_at_id"], plan.text
    assert not plan.sorts, plan.text


def test_pages_follow_each_other(filled: tuple[Engine, bulk_images.BuiltImages]) -> None:
    """The data itself: a member's pages, followed by marker, list exactly what it may see."""
    engine, built = filled
    seen: list[str] = []
    marker: list[tuple[str, str]] = []
    with Session(engine) as session:
        while True:
            query = parse_list_query([("limit", "37"), *marker], default_limit=25, max_limit=1000)
            page = repositories.list_images(
                session, query, caller_sight(bulk_images.MEMBER_PROJECT, is_admin=False))
            seen += [image.id for image in page]
            if len(page) < 37:
                break
            marker = [("marker", page[-1].id)]
    assert seen == list(reversed(built.member_visible))
