"""The visibility rule is written once (domain/visibility.py) and rendered as
SQL by db/listing_sql.py: on every database, the images a list returns, and
the markers it accepts, are exactly those `Sight.admits` names, for every kind
of caller and every list filter."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from glint.db import metadef_repositories as metadef_repo
from glint.db import repositories as repo
from glint.db.session import Database
from glint.domain.errors import InvalidInput
from glint.domain.image import Image, ImageStatus, Member, MemberStatus, Visibility
from glint.domain.listing import MEMBER_STATUS_FILTERS, VISIBILITY_FILTERS, ImageQuery
from glint.domain.metadef_policy import NamespaceSight
from glint.domain.metadefs import Namespace, NamespaceQuery, NamespaceVisibility
from glint.domain.visibility import Sight
from tests.conftest import BACKENDS
from tests.db.plans import caller_sight
from tests.servers import migrated_database

CALLER = "caller-project"
MOMENT = datetime(2026, 1, 1)
CALLERS = {
    "admin": caller_sight(CALLER, is_admin=True),
    "admin without project": caller_sight(None, is_admin=True),
    "project": caller_sight(CALLER, is_admin=False),
    "no project": caller_sight(None, is_admin=False),
}


@dataclass(frozen=True)
class Case:
    image: Image
    # The caller project's membership of the image, if any.
    membership: MemberStatus | None


@pytest.fixture(scope="module", params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[Database]:
    with migrated_database(request.param, tmp_path_factory.mktemp("visibility")) as opened:
        yield opened


@pytest.fixture(scope="module")
def cases(db: Database) -> list[Case]:
    """One image per visibility, owner (the caller's project, another, none)
    and membership of the caller's project (none, or each status)."""
    made: list[Case] = []
    combinations = itertools.product(Visibility, [CALLER, "other-project", None],
                                     [None, *MemberStatus])
    with db.writing() as session:
        for n, (visibility, owner, membership) in enumerate(combinations):
            when = MOMENT + timedelta(seconds=n)
            image = Image(id=str(uuid.uuid4()), status=ImageStatus.ACTIVE, visibility=visibility,
                          created_at=when, updated_at=when, owner=owner)
            repo.insert_image(session, image)
            if membership is not None:
                repo.insert_member(session, Member(image.id, CALLER, membership, when, when))
            made.append(Case(image, membership))
    return made


def _admitted(sight: Sight, cases: list[Case]) -> set[str]:
    return {case.image.id for case in cases if sight.admits(case.image, case.membership)}


@pytest.mark.parametrize("caller", CALLERS)
def test_a_list_returns_what_the_rule_admits(db: Database, cases: list[Case], caller: str
                                             ) -> None:
    sight = CALLERS[caller]
    for visibility, member_status in itertools.product([None, *VISIBILITY_FILTERS],
                                                       MEMBER_STATUS_FILTERS):
        query = ImageQuery(limit=1000, visibility=visibility, member_status=member_status)
        with db.reading() as session:
            listed = {image.id for image in repo.list_images(session, query, sight)}
        expected = _admitted(sight.listed(visibility, member_status), cases)
        assert listed == expected, (visibility, member_status)
        # A list's filters only ever narrow what the caller sees.
        assert expected <= _admitted(sight, cases), (visibility, member_status)


@pytest.mark.parametrize("caller", CALLERS)
def test_a_marker_must_be_an_image_the_rule_admits(db: Database, cases: list[Case], caller: str
                                                   ) -> None:
    sight = CALLERS[caller]
    for case in cases:
        query = ImageQuery(limit=1, marker=case.image.id, visibility="all")
        with db.reading() as session:
            try:
                repo.list_images(session, query, sight)
                accepted = True
            except InvalidInput:
                accepted = False
        assert accepted is sight.admits(case.image, case.membership), case


NAMESPACE_SIGHTS = {
    "admin": NamespaceSight(everything=True, project=CALLER),
    "project": NamespaceSight(everything=False, project=CALLER),
    "no project": NamespaceSight(everything=False, project=None),
}


@pytest.fixture(scope="module")
def namespaces(db: Database) -> list[Namespace]:
    made = [Namespace(namespace=f"Glint::{visibility.value}-{owner}", visibility=visibility,
                      protected=False, owner=owner, created_at=MOMENT, updated_at=MOMENT)
            for visibility, owner in itertools.product(NamespaceVisibility,
                                                       (CALLER, "other-project", None))]
    with db.writing() as session:
        for namespace in made:
            metadef_repo.insert_namespace(session, namespace)
    return made


@pytest.mark.parametrize("caller", NAMESPACE_SIGHTS)
def test_a_namespace_list_returns_what_the_rule_admits(
        db: Database, namespaces: list[Namespace], caller: str) -> None:
    sight = NAMESPACE_SIGHTS[caller]
    with db.reading() as session:
        listed = metadef_repo.list_namespaces(session, NamespaceQuery(limit=1000), sight)
    assert {c.namespace.namespace for c in listed} == {
        n.namespace for n in namespaces if sight.admits(n)}
