"""Rules of the integrity auditor: what differs between a copy and the image's
record, and which copies a download may use once some are recorded bad."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from glint.domain.digests import Digests
from glint.domain.errors import NoGoodCopy
from glint.domain.image import Location


class Verdict(StrEnum):
    GOOD = "good"
    # The copy was read in full, and its size or a hash is not the image's.
    MISMATCH = "mismatch"
    # The store could not give the copy's data (missing, or failed while reading).
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Expected:
    """What the database says an image's data is; None where it says nothing."""

    size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None


def differences(expected: Expected, found: Digests) -> list[str]:
    """What differs between the image's record and a copy read in full; [] when
    it matches. A hash the record lacks (or of another algorithm) is not compared."""
    found_differences = []
    if expected.size is not None and expected.size != found.size:
        found_differences.append(f"size: expected {expected.size}, found {found.size}")
    if expected.checksum and expected.checksum != found.checksum:
        found_differences.append(f"checksum: expected {expected.checksum}, "
                                 f"found {found.checksum}")
    if (expected.os_hash_value and expected.os_hash_algo == found.os_hash_algo
            and expected.os_hash_value != found.os_hash_value):
        found_differences.append(f"os_hash_value ({found.os_hash_algo}): expected "
                                 f"{expected.os_hash_value}, found {found.os_hash_value}")
    return found_differences


def servable(image_id: str, locations: list[Location],
             verdicts: dict[str, Verdict]) -> list[Location]:
    """The locations a download may read, in their order: those not recorded bad
    (`verdicts` maps a URL to its bad verdict). When all are bad, the unreadable
    ones are tried (their store may be back; a store that still fails answers
    like any failing store), never a mismatching one.

    Raises NoGoodCopy when every location is recorded as mismatching."""
    if not verdicts:
        return locations
    not_bad = [location for location in locations if location.url not in verdicts]
    if not_bad:
        return not_bad
    unreadable = [location for location in locations
                  if verdicts[location.url] == Verdict.UNREADABLE]
    if unreadable or not locations:
        return unreadable
    raise NoGoodCopy(image_id)
