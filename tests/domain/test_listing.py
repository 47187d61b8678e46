from __future__ import annotations

import pytest

from glint.domain.errors import InvalidInput
from glint.domain.listing import (
    SortDirection,
    SortKey,
    parse_list_query,
    split_quoted_list,
    with_tiebreakers,
)


def parse(*pairs: tuple[str, str]):  # type: ignore[no-untyped-def]
    return parse_list_query(list(pairs), default_limit=25, max_limit=1000)


def test_defaults() -> None:
    query = parse()
    assert query.limit == 25
    assert query.sort == [SortKey("created_at", SortDirection.DESC)]
    assert query.equals == {"os_hidden": False}
    assert query.member_status == "accepted" and query.visibility is None


def test_limit_is_capped() -> None:
    assert parse(("limit", "5000")).limit == 1000


def test_in_lists_with_quotes() -> None:
    query = parse(("name", 'in:a,"b, c",d'))
    assert query.one_of["name"] == ["a", "b, c", "d"]
    assert split_quoted_list("x") == ["x"]


def test_eq_prefix_keeps_colons() -> None:
    assert parse(("name", "eq:a:b")).one_of["name"] == ["a:b"]


def test_unknown_operator_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="unknown operator 'a'"):
        parse(("name", "a:b"))


def test_size_is_the_image_size_not_a_property() -> None:
    query = parse(("size", "2570"), ("min_ram", "512"))
    assert query.equals["size"] == 2570 and query.equals["min_ram"] == 512
    assert "size" not in query.properties
    with pytest.raises(InvalidInput, match="'size'"):
        parse(("size", "big"))


def test_custom_properties_and_tags() -> None:
    query = parse(("hw_disk_bus", "scsi"), ("tag", "a"), ("tag", "b"))
    assert query.properties == {"hw_disk_bus": "scsi"} and query.tags == ["a", "b"]


def test_sort_styles() -> None:
    query = parse(("sort", "name:asc,size"))
    assert query.sort == [SortKey("name", SortDirection.ASC), SortKey("size", SortDirection.DESC)]
    query = parse(("sort_key", "name"), ("sort_key", "size"), ("sort_dir", "asc"))
    assert [s.direction for s in query.sort] == [SortDirection.ASC, SortDirection.ASC]
    with pytest.raises(InvalidInput):
        parse(("sort", "name"), ("sort_dir", "asc"))


def test_tiebreakers_follow_a_single_key() -> None:
    keys = with_tiebreakers([SortKey("name", SortDirection.ASC)])
    assert [k.key for k in keys] == ["name", "created_at", "id"]
    assert {k.direction for k in keys} == {SortDirection.ASC}
    keys = with_tiebreakers([SortKey("name", SortDirection.ASC), SortKey("size", SortDirection.ASC)])
    assert keys[-1] == SortKey("id", SortDirection.DESC)


def test_time_filters_are_parsed_to_naive_utc() -> None:
    query = parse(("created_at", "gte:2026-01-01T10:00:00+02:00"))
    assert query.times[0].moment.isoformat() == "2026-01-01T08:00:00"


def test_tag_filters_are_capped() -> None:
    assert len(parse(*[("tag", f"t{i}") for i in range(50)]).tags) == 50
    with pytest.raises(InvalidInput, match="Too many tag filters: at most 50 are allowed."):
        parse(*[("tag", f"t{i}") for i in range(51)])


@pytest.mark.parametrize("name, good, bad", [
    ("size_min", 2**63 - 1, 2**63), ("size_max", -(2**63), -(2**63) - 1),
    ("virtual_size", 2**63 - 1, 2**63), ("min_ram", 2**31 - 1, 2**31),
    ("min_disk", -(2**31), -(2**31) - 1),
])
def test_integer_filters_fit_their_columns(name: str, good: int, bad: int) -> None:
    parse((name, str(good)))
    with pytest.raises(InvalidInput, match=f"'{name}' must be between"):
        parse((name, str(bad)))


@pytest.mark.parametrize("value", ["lt:9999-12-31T23:59:59-01:00", "gt:0001-01-01T00:00:00+00:01"])
def test_time_filters_stay_within_years_1_to_9999(value: str) -> None:
    with pytest.raises(InvalidInput, match="is outside years 1 to 9999 in UTC"):
        parse(("updated_at", value))
