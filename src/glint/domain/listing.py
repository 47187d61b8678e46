"""The image list query grammar (filters, sorting, pagination) as pure parsing.

`parse_list_query` turns the request's query parameters into an `ImageQuery`
or raises InvalidInput with the message Glance gives for the same mistake.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from glint.domain.errors import InvalidInput
from glint.domain.input_rules import INT32, INT64, check_integer

SORT_KEYS = (
    "name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at",
)
VISIBILITY_FILTERS = ("public", "private", "shared", "community", "all")
MEMBER_STATUS_FILTERS = ("accepted", "pending", "rejected", "all")
LIST_FILTER_COLUMNS = ("name", "id", "status", "container_format", "disk_format")
TIME_FILTER_COLUMNS = ("created_at", "updated_at")
EQUALITY_COLUMNS = ("owner", "checksum", "os_hash_algo", "os_hash_value")
# Integer filters and the range of the column each is compared with; `size=N`
# is the image's size, as in Glance (not a property named "size").
INTEGER_COLUMNS = {"size": INT64, "min_ram": INT32, "min_disk": INT32, "virtual_size": INT64}
# More `tag=` filters than this are refused: each is one more condition for
# the database, and no image has more tags than image_tag_quota (128) anyway.
MAX_TAG_FILTERS = 50
RESERVED_PARAMETERS = frozenset({
    "limit", "marker", "sort_key", "sort_dir", "sort", "member_status", "visibility", "tag",
    "size_min", "size_max", "protected", "os_hidden",
})


class SortDirection(StrEnum):
    ASC = "asc"
    DESC = "desc"


class Comparison(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"


@dataclass(frozen=True)
class SortKey:
    key: str
    direction: SortDirection


@dataclass(frozen=True)
class TimeFilter:
    column: str
    comparison: Comparison
    moment: datetime


@dataclass
class ImageQuery:
    """Everything a list request asks for, validated."""

    limit: int
    marker: str | None = None
    sort: list[SortKey] = field(default_factory=list)
    # column -> accepted values (one value for "eq", several for "in:")
    one_of: dict[str, list[str]] = field(default_factory=dict)
    equals: dict[str, str | int | bool] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    size_min: int | None = None
    size_max: int | None = None
    times: list[TimeFilter] = field(default_factory=list)
    visibility: str | None = None
    member_status: str = "accepted"


Params = list[tuple[str, str]]


def parse_list_query(params: Params, *, default_limit: int, max_limit: int) -> ImageQuery:
    """Validate and collect the query string of GET /v2/images."""
    single: dict[str, str] = {}
    for key, value in params:
        if key not in ("tag", "sort_key", "sort_dir"):
            single[key] = value
    if "changes-since" in single:
        raise InvalidInput("The 'changes-since' filter is no longer available on the v2 API.")
    query = ImageQuery(limit=_limit(single.get("limit"), default_limit, max_limit))
    query.marker = single.get("marker")
    query.sort = _sort(params)
    query.tags = _tags(params)
    query.visibility = _choice(single.get("visibility"), VISIBILITY_FILTERS, "visibility")
    query.member_status = (
        _choice(single.get("member_status"), MEMBER_STATUS_FILTERS, "member_status") or "accepted"
    )
    query.size_min = _size(single.get("size_min"), "size_min")
    query.size_max = _size(single.get("size_max"), "size_max")
    hidden = _boolean(single.get("os_hidden"), "os_hidden")
    query.equals["os_hidden"] = False if hidden is None else hidden
    protected = _boolean(single.get("protected"), "protected")
    if protected is not None:
        query.equals["protected"] = protected
    for key, value in single.items():
        if key in RESERVED_PARAMETERS:
            continue
        if key in LIST_FILTER_COLUMNS:
            query.one_of[key] = _in_or_eq(value)
        elif key in TIME_FILTER_COLUMNS:
            query.times.append(_time_filter(key, value))
        elif key in EQUALITY_COLUMNS:
            query.equals[key] = value
        elif key in INTEGER_COLUMNS:
            query.equals[key] = check_integer(key, _integer(value, key), INTEGER_COLUMNS[key])
        else:
            query.properties[key] = value
    return query


def _limit(text: str | None, default_limit: int, max_limit: int) -> int:
    if text is None:
        return min(default_limit, max_limit)
    try:
        limit = int(text)
    except ValueError:
        raise InvalidInput("limit param must be an integer") from None
    if limit < 0:
        raise InvalidInput("limit param must be positive")
    return min(limit, max_limit)


def _choice(text: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if text is None:
        return None
    if text not in allowed:
        raise InvalidInput(
            f"Invalid {name} value: {text}. Valid values are: {', '.join(allowed)}."
        )
    return text


def _boolean(text: str | None, name: str) -> bool | None:
    if text is None:
        return None
    if text.lower() == "true":
        return True
    if text.lower() == "false":
        return False
    raise InvalidInput(f"Invalid value '{text}' for '{name}' filter. Valid values are 'true' or 'false'.")


def _integer(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"Invalid value '{text}' for '{name}' filter: expected an integer.") from None


def _size(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        size = int(text)
    except ValueError:
        raise InvalidInput("Unable to filter on a range with a non-numeric value.") from None
    return check_integer(name, size, INT64)


def _tags(params: Params) -> list[str]:
    tags = [value for key, value in params if key == "tag"]
    if len(tags) > MAX_TAG_FILTERS:
        raise InvalidInput(f"Too many tag filters: at most {MAX_TAG_FILTERS} are allowed.")
    return tags


def split_operator(text: str) -> tuple[str, str]:
    """`op:value` -> (op, value); a value without a colon means "eq"."""
    if ":" in text:
        operator, _, value = text.partition(":")
        return operator, value
    return "eq", text


def split_quoted_list(text: str) -> list[str]:
    """Split an `in:` list on commas, honouring "double, quoted" values."""
    try:
        rows = list(csv.reader([text], skipinitialspace=True, strict=True))
    except csv.Error:
        raise InvalidInput(f"Invalid filter value {text}. The quote is not closed.") from None
    return [value for value in rows[0]] if rows else [""]


def _in_or_eq(text: str) -> list[str]:
    operator, value = split_operator(text)
    if operator == "in":
        return split_quoted_list(value)
    if operator == "eq":
        return [value]
    raise InvalidInput(f"Unable to filter by unknown operator '{operator}'.")


def _time_filter(column: str, text: str) -> TimeFilter:
    operator, value = split_operator(text)
    try:
        comparison = Comparison(operator)
    except ValueError:
        raise InvalidInput(f"Unable to filter by unknown operator '{operator}'.") from None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f'Bad "{column}" query filter format. Use ISO 8601 DateTime notation.'
        ) from None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise InvalidInput(f'"{column}" query filter {value} is outside years 1 to 9999 '
                               "in UTC.") from None
    return TimeFilter(column, comparison, moment)


def _sort(params: Params) -> list[SortKey]:
    keys = [value for key, value in params if key == "sort_key"]
    dirs = [value for key, value in params if key == "sort_dir"]
    combined = [value for key, value in params if key == "sort"]
    if combined and (keys or dirs):
        raise InvalidInput("The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'.")
    if combined:
        return [_sort_item(item) for item in ",".join(combined).split(",")]
    if len(dirs) > 1 and len(dirs) != len(keys):
        raise InvalidInput("Number of sort dirs does not match the number of sort keys")
    directions = [_direction(d) for d in dirs] or [SortDirection.DESC]
    if len(directions) == 1:
        directions = directions * max(len(keys), 1)
    sort = [SortKey(_sort_key(key), direction) for key, direction in zip(keys, directions, strict=False)]
    return sort or [SortKey("created_at", directions[0])]


def _sort_item(item: str) -> SortKey:
    key, _, direction = item.strip().partition(":")
    return SortKey(_sort_key(key.strip()), _direction(direction.strip() or "desc"))


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise InvalidInput(f"Invalid sort key: {key}. It must be one of the following: "
                           + ", ".join(SORT_KEYS) + ".")
    return key


def _direction(text: str) -> SortDirection:
    try:
        return SortDirection(text)
    except ValueError:
        raise InvalidInput(
            f"Invalid sort direction: {text}. It must be one of the following: asc, desc."
        ) from None


def with_tiebreakers(sort: list[SortKey]) -> list[SortKey]:
    """Glance always appends created_at and id: in the direction of a lone sort
    key, otherwise descending."""
    keys = [s.key for s in sort]
    default = sort[0].direction if len(sort) == 1 else SortDirection.DESC
    result = list(sort)
    for key in ("created_at", "id"):
        if key not in keys:
            result.append(SortKey(key, default))
    return result
