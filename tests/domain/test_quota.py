"""The quota rules: sizes, grants and Glance's messages."""

from __future__ import annotations

import pytest

from glint.domain.quota import (
    MIB,
    LimitExceeded,
    Resource,
    StorageQuotaFull,
    check_bytes,
    check_count,
    grant,
    parse_storage_size,
)


@pytest.mark.parametrize(("text", "size"), [
    ("0", 0), ("1234", 1234), ("10B", 10), ("2KB", 2048), ("500MB", 500 * MIB),
    ("10GB", 10 << 30), ("1TB", 1 << 40), (" 3 gb ", 3 << 30),
])
def test_storage_sizes(text: str, size: int) -> None:
    assert parse_storage_size(text) == size


@pytest.mark.parametrize("text", ["", "-1", "1.5GB", "10 GiB", "GB", "10PB"])
def test_not_storage_sizes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_storage_size(text)


def test_grant_gives_what_is_wanted_while_there_is_room() -> None:
    assert grant(limit=1000, used=100, held=0, needed=0, wanted=300) == 300
    # What is needed and half the rest, when less than wanted.
    assert grant(limit=1000, used=900, held=0, needed=50, wanted=300) == 75
    assert grant(limit=1000, used=900, held=0, needed=100, wanted=300) == 100
    # The reservation's own bytes are room it already has.
    assert grant(limit=1000, used=1000, held=400, needed=400, wanted=500) == 400


def test_grant_refuses_what_does_not_fit() -> None:
    with pytest.raises(StorageQuotaFull) as raised:
        grant(limit=1000, used=700, held=100, needed=500, wanted=500)
    assert raised.value.remaining == 400
    assert raised.value.message == (
        "Denying attempt to upload image because it exceeds the quota: The size of the "
        "data 500 will exceed the limit. 400 bytes remaining.")


def test_count_limits() -> None:
    check_count(Resource.IMAGE_COUNT_TOTAL, project="p", limit=2, used=1)
    with pytest.raises(LimitExceeded) as raised:
        check_count(Resource.IMAGE_COUNT_TOTAL, project="p", limit=2, used=2)
    assert raised.value.message.endswith(
        "Project p is over a limit for [Resource image_count_total is over limit of 2 due "
        "to current usage 2 and delta 1]")


def test_byte_limits_in_mib() -> None:
    check_bytes(Resource.IMAGE_SIZE_TOTAL, project="p", limit_mib=2, used=MIB, held=0,
                needed=MIB)
    with pytest.raises(LimitExceeded) as raised:
        check_bytes(Resource.IMAGE_SIZE_TOTAL, project="p", limit_mib=2, used=MIB, held=0,
                    needed=MIB + 1)
    assert "Resource image_size_total is over limit of 2 due to current usage 1 and " \
        "delta 2" in raised.value.message
