"""The auditor's rules: what differs, and which copies a download may read."""

from __future__ import annotations

import pytest

from glint.domain.copy_checks import Expected, Verdict, differences, servable
from glint.domain.digests import Digests
from glint.domain.errors import NoGoodCopy
from glint.domain.image import Location

RECORD = Expected(size=4, checksum="aa", os_hash_algo="sha512", os_hash_value="bb")
FAST = Location(url="file:///fast/1", store="fast")
CHEAP = Location(url="file:///cheap/1", store="cheap")
REMOTE = Location(url="s3://host/bucket/1", store="remote")


def test_a_matching_copy_has_no_differences() -> None:
    assert differences(RECORD, Digests(4, "aa", "sha512", "bb")) == []


def test_each_difference_is_named() -> None:
    found = differences(RECORD, Digests(5, "ax", "sha512", "bx"))
    assert found == ["size: expected 4, found 5", "checksum: expected aa, found ax",
                     "os_hash_value (sha512): expected bb, found bx"]


def test_what_the_record_lacks_is_not_compared() -> None:
    bare = Expected(size=None, checksum=None, os_hash_algo=None, os_hash_value=None)
    assert differences(bare, Digests(5, "ax", "sha512", "bx")) == []
    other_algorithm = Expected(size=5, checksum="ax", os_hash_algo="sha256", os_hash_value="c")
    assert differences(other_algorithm, Digests(5, "ax", "sha512", "bx")) == []


def test_no_verdicts_keeps_every_location() -> None:
    assert servable("1", [FAST, CHEAP], {}) == [FAST, CHEAP]


def test_bad_copies_are_skipped_in_order() -> None:
    verdicts = {FAST.url: Verdict.MISMATCH, CHEAP.url: Verdict.UNREADABLE}
    assert servable("1", [FAST, CHEAP, REMOTE], verdicts) == [REMOTE]


def test_unreadable_copies_are_the_last_resort() -> None:
    verdicts = {FAST.url: Verdict.MISMATCH, CHEAP.url: Verdict.UNREADABLE}
    assert servable("1", [FAST, CHEAP], verdicts) == [CHEAP]


def test_only_mismatching_copies_is_an_error() -> None:
    verdicts = {FAST.url: Verdict.MISMATCH, CHEAP.url: Verdict.MISMATCH}
    with pytest.raises(NoGoodCopy) as raised:
        servable("img", [FAST, CHEAP], verdicts)
    assert raised.value.image_id == "img" and "integrity check" in raised.value.message
