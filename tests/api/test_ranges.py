from __future__ import annotations

import pytest

from glint.api.ranges import ByteRange, parse_content_range, parse_range
from glint.domain.errors import InvalidInput, RangeNotSatisfiable


@pytest.mark.parametrize("header,expected", [
    ("bytes=0-0", ByteRange(0, 1)),
    ("bytes=10-19", ByteRange(10, 10)),
    ("bytes=90-", ByteRange(90, 10)),
    ("bytes=-3", ByteRange(97, 3)),
    ("bytes=-500", ByteRange(0, 100)),
    ("bytes=95-1000", ByteRange(95, 5)),
])
def test_satisfiable(header: str, expected: ByteRange) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=5-4", "bytes=-0", "bytes=a-b", "items=1-2",
                                    "bytes=-"])
def test_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_several_ranges_are_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_range("bytes=0-1,5-6", 100)


def test_legacy_content_range() -> None:
    assert parse_content_range("bytes 2-4/100", 100) == ByteRange(2, 3)
    with pytest.raises(RangeNotSatisfiable):
        parse_content_range("bytes 200-300/*", 100)


def test_end_is_inclusive() -> None:
    assert ByteRange(10, 10).end == 19


@pytest.mark.parametrize("header", [
    f"bytes=0-{2**63}", f"bytes={2**70}-", f"bytes=-{2**64}", "bytes=0-" + "9" * 5000,
    "bytes=٠-٩",  # digits, but not ASCII ones
])
def test_offsets_are_ascii_and_64_bit(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as raised:
        parse_range(header, 100)
    assert raised.value.size == 100
    with pytest.raises(RangeNotSatisfiable):
        parse_content_range(header.replace("=", " ") + "/*", 100)


def test_the_largest_offset_is_accepted() -> None:
    assert parse_range(f"bytes=5-{2**63 - 1}", 100) == ByteRange(5, 95)
