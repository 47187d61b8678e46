"""Storage quotas as plain rules: sizes parsed, limits compared, Glance's messages.

A project's usage is what its images hold (size times locations; staged data
counts once) plus what its uploads in flight have reserved. An upload holds a
reservation and may only grow it while the project's usage stays within its
limit (`grant`), so no number of parallel uploads ends above the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from glint.domain.errors import QuotaExceeded

MIB = 1024 * 1024
# How much an upload of undeclared size reserves at a time: large enough that
# growing the reservation is rare, small enough not to starve the project's
# other uploads.
RESERVATION_STEP = 64 * MIB

_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|TB)?\s*$", re.IGNORECASE)


def parse_storage_size(text: str) -> int:
    """`user_storage_quota`: bytes, or a number with B, KB, MB, GB or TB (powers of
    1024, as Glance); ValueError otherwise."""
    found = _SIZE.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a size (bytes, or a number with B, KB, MB, GB, TB)")
    return int(found.group(1)) * _UNITS[(found.group(2) or "B").upper()]


class Resource(StrEnum):
    """What a limit counts; the names are Keystone's registered limits' (Glance's)."""

    IMAGE_SIZE_TOTAL = "image_size_total"  # MiB of image data, staged data included
    IMAGE_STAGE_TOTAL = "image_stage_total"  # MiB of staged data
    IMAGE_COUNT_TOTAL = "image_count_total"  # images
    IMAGE_COUNT_UPLOADING = "image_count_uploading"  # images receiving data


class StorageQuotaFull(QuotaExceeded):
    """`user_storage_quota` would be passed (Glance's StorageQuotaFull, as its
    upload answers it)."""

    def __init__(self, size: int, remaining: int) -> None:
        super().__init__("Denying attempt to upload image because it exceeds the quota: "
                         f"The size of the data {size} will exceed the limit. "
                         f"{max(remaining, 0)} bytes remaining.")
        self.size = size
        self.remaining = remaining


class LimitExceeded(QuotaExceeded):
    """A unified limit (Keystone's) would be passed; worded as Glance's
    LimitExceeded around oslo.limit's ProjectOverLimit."""

    def __init__(self, project: str, over: list[Over]) -> None:
        details = ", ".join(str(item) for item in over)
        super().__init__(
            "The request returned a 413 Request Entity Too Large. This generally means "
            "that rate limiting or a quota threshold was breached.\n\nThe response body:\n"
            f"Project {project} is over a limit for [{details}]")
        self.project = project
        self.over = over


@dataclass(frozen=True)
class Usage:
    """A project's usage, what its reservations hold included: bytes stored
    (staged data included) and staged, images, and images receiving data."""

    stored: int
    staged: int
    images: int
    receiving: int


@dataclass(frozen=True)
class Over:
    """One limit passed, worded as oslo.limit's OverLimitInfo."""

    resource: Resource
    limit: int
    current_usage: int
    delta: int

    def __str__(self) -> str:
        return (f"Resource {self.resource} is over limit of {self.limit} due to current "
                f"usage {self.current_usage} and delta {self.delta}")


def grant(*, limit: int, used: int, held: int, needed: int, wanted: int) -> int:
    """How many bytes a reservation may hold, from `held` now.

    `used` is the project's usage including `held`; the reservation must cover
    at least `needed` bytes and would like `wanted` (>= needed), but takes at
    most half the room left beyond `needed`, so one upload of unknown size
    never shuts the project's others out. Raises StorageQuotaFull when even
    `needed` does not fit under `limit`.
    """
    remaining = limit - (used - held)
    if needed > remaining:
        raise StorageQuotaFull(needed, remaining)
    return min(wanted, needed + (remaining - needed) // 2)


def check_count(resource: Resource, *, project: str, limit: int, used: int,
                delta: int = 1) -> None:
    """A count limit: LimitExceeded when `used + delta` passes `limit`."""
    if used + delta > limit:
        raise LimitExceeded(project, [Over(resource, limit, used, delta)])


def check_bytes(resource: Resource, *, project: str, limit_mib: int, used: int,
                held: int, needed: int) -> None:
    """A size limit in MiB over bytes: LimitExceeded when the reservation cannot
    hold `needed` bytes. The usage is reported in MiB, as Glance does."""
    others = used - held
    if others + needed > limit_mib * MIB:
        raise LimitExceeded(project, [Over(resource, limit_mib, others // MIB,
                                           -(-needed // MIB))])
