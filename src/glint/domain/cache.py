"""The image cache's rules as plain functions: what an entry must match to be
served, which entries admission evicts, what Glance's API shows of an entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from glint.domain.errors import InvalidInput
from glint.domain.image import Image, ImageStatus


class EntryState(StrEnum):
    FILLING = "filling"
    READY = "ready"


class ClearTarget(StrEnum):
    """`x-image-cache-clear-target` of DELETE /v2/cache ("" clears both)."""

    CACHE = "cache"
    QUEUE = "queue"
    BOTH = ""


@dataclass(frozen=True)
class CacheEntry:
    """One image in one node's cache."""

    node: str
    image_id: str
    state: EntryState
    size: int
    hits: int
    checksum: str
    signature: str | None
    last_accessed: datetime
    last_modified: datetime


@dataclass(frozen=True)
class Expected:
    """What cached data must hash to: `algorithm` (hashlib name) and `value`."""

    algorithm: str
    value: str


def expected_digest(image: Image) -> Expected | None:
    """The digest cached data is verified against: os_hash_value, else the md5
    checksum; None when the image has neither (it is then never cached)."""
    if image.os_hash_algo and image.os_hash_value:
        return Expected(image.os_hash_algo, image.os_hash_value)
    if image.checksum:
        return Expected("md5", image.checksum)
    return None


def cacheable(image: Image, max_size: int) -> Expected | None:
    """The digest to verify a fill against when `image` may be cached: active,
    with a known size that fits the cache and a known digest. None otherwise."""
    if image.status != ImageStatus.ACTIVE or image.size is None or image.size > max_size:
        return None
    return expected_digest(image)


def serves(entry: CacheEntry | None, image: Image, signature: str | None) -> bool:
    """Whether `entry` may answer a download of `image` now: complete, verified
    against the data the image has now (so never stale), the image active, and
    the file on disk the very one verified (`signature` is the open file's)."""
    if entry is None or entry.state != EntryState.READY or image.status != ImageStatus.ACTIVE:
        return False
    expected = expected_digest(image)
    return (expected is not None and entry.checksum == expected.value
            and entry.size == image.size and signature is not None
            and entry.signature == signature)


def evictions(entries: list[CacheEntry], needed: int, max_size: int) -> list[CacheEntry] | None:
    """Ready entries to remove, least recently used first, so that `needed` more
    bytes fit within `max_size`; None when they cannot (entries still filling
    hold their space until they end)."""
    if needed > max_size:
        return None
    total = sum(entry.size for entry in entries)
    chosen: list[CacheEntry] = []
    ready = sorted((e for e in entries if e.state == EntryState.READY),
                   key=lambda e: (e.last_accessed, e.image_id))
    for entry in ready:
        if total + needed <= max_size:
            break
        chosen.append(entry)
        total -= entry.size
    return chosen if total + needed <= max_size else None


def prune_order(entries: list[CacheEntry], max_size: int) -> list[CacheEntry]:
    """Ready entries the pruner removes, least recently used first, until the
    cache holds at most `max_size` bytes."""
    removed = evictions(entries, 0, max_size)
    return removed if removed is not None else [
        e for e in entries if e.state == EntryState.READY]


def clear_target(header: str | None) -> ClearTarget:
    """The `x-image-cache-clear-target` header's value; InvalidInput otherwise."""
    value = (header or "").strip().lower()
    try:
        return ClearTarget(value)
    except ValueError:
        raise InvalidInput(
            f"If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or empty "
            f"string, got {header!r}") from None


def glance_entry(entry: CacheEntry) -> dict[str, object]:
    """An entry as GET /v2/cache lists it (Glance's fields; times as epoch seconds)."""
    return {
        "image_id": entry.image_id,
        "hits": entry.hits,
        "last_accessed": _epoch(entry.last_accessed),
        "last_modified": _epoch(entry.last_modified),
        "size": entry.size,
    }


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch of a naive UTC timestamp (as stored)."""
    return moment.replace(tzinfo=UTC).timestamp()
