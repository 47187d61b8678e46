"""Capturing the few byte ranges an inspector needs from a stream, and the
inspector interface every format implements.

An inspector never sees the stream twice and never holds more than the
regions it asked for: a few KiB for most formats, at most about 1 MiB (a
VMDK descriptor, the VHDX metadata table).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


class FormatError(Exception):
    """The data claims a format but its structure is broken or unsupported."""


@dataclass(frozen=True)
class SafetyProblem:
    """One failed safety check: `check` is Glance's check name (backing_file,
    data_file, unknown_features, descriptor, footer, mbr, banned, version), or
    Glint's own "structure": data that claims the format but whose structure
    the inspector could not follow to the end (broken, or cut short)."""

    check: str
    reason: str


class Region:
    """`length` bytes starting at `offset`, filled from blocks as they pass.

    With `min_length`, the region counts as complete once that much arrived
    (for structures whose real length is learnt from their first bytes).
    """

    def __init__(self, offset: int, length: int, min_length: int | None = None) -> None:
        self.offset = offset
        self.length = length
        self.min_length = min_length
        self.data = bytearray()

    @property
    def complete(self) -> bool:
        wanted = self.length if self.min_length is None else min(self.min_length, self.length)
        return len(self.data) >= wanted

    @property
    def full(self) -> bool:
        return len(self.data) >= self.length

    def feed(self, block: bytes | memoryview, start: int) -> None:
        """Copy the part of `block` (which begins at stream offset `start`) that
        falls inside the region and follows what was already captured."""
        if self.full:
            return
        want_from = self.offset + len(self.data)
        end = start + len(block)
        if want_from < start or want_from >= end:
            return
        take = min(end, self.offset + self.length) - want_from
        self.data += block[want_from - start: want_from - start + take]


class Tail:
    """The last `length` bytes of the stream (known only once it ended)."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.data = bytearray()

    def feed(self, block: bytes | memoryview) -> None:
        if len(block) >= self.length:
            self.data = bytearray(block[-self.length:])
        else:
            self.data += block
            del self.data[:-self.length]


class Inspector(ABC):
    """One disk format. Subclasses declare regions in `__init__`, interpret
    them in `_inspect` (called after every block until `settled`), and answer
    `matches`, `virtual_size` and `safety_problems` once the stream ended.

    Raising FormatError from `_inspect` means the data is not this format or
    a broken one: the detector drops the inspector when its `matches` says
    no, and otherwise records the reason in `broken` and stops feeding it.
    """

    name = ""
    # True for formats Glance identifies (oslo.utils' format inspector): for
    # those a mismatch with disk_format is an error; others are detect-only.
    glance_inspects = True

    def __init__(self) -> None:
        self.regions: dict[str, Region] = {}
        self.tail: Tail | None = None
        self.total = 0
        self.finished = False
        self.broken: str | None = None

    def add_region(self, name: str, region: Region) -> None:
        if name in self.regions:
            raise FormatError(f"{self.name}: region {name} requested twice")
        self.regions[name] = region

    def region(self, name: str) -> Region:
        return self.regions[name]

    def has(self, name: str) -> bool:
        return name in self.regions and self.regions[name].complete

    @property
    def settled(self) -> bool:
        """True when further data can change nothing but `total` and the tail."""
        return all(r.full for r in self.regions.values())

    def feed(self, block: bytes | memoryview, start: int) -> None:
        """Take the block that begins at stream offset `start`."""
        self.total = start + len(block)
        had_tail = self.tail is not None
        if self.tail is not None:
            self.tail.feed(block)
        if self.settled:
            return
        for region in self.regions.values():
            region.feed(block, start)
        # Interpreting may ask for new regions, which may lie in this very block.
        while True:
            known = len(self.regions)
            self._inspect()
            if len(self.regions) == known:
                break
            for region in list(self.regions.values())[known:]:
                region.feed(block, start)
        if self.tail is not None and not had_tail:
            # Asked for while reading this block, which may already hold the end.
            self.tail.feed(block)

    def finish(self) -> None:
        self.finished = True
        self._inspect()

    def _inspect(self) -> None:  # noqa: B027 - raw has nothing to interpret
        """Interpret the regions captured so far; may add regions."""

    @property
    @abstractmethod
    def matches(self) -> bool:
        """Whether the data seen is this format (each format answers its own way)."""

    @property
    def virtual_size(self) -> int:
        """The disk's size as a guest sees it; 0 when unknown."""
        return self.total

    def problems(self) -> list[SafetyProblem]:
        """Why data of this format may not be stored: a structure the inspector
        could not follow (broken, or cut short before a region it needs), else
        whatever the format's own safety checks find."""
        if self.broken is not None:
            return [SafetyProblem("structure", self.broken)]
        missing = [name for name, region in self.regions.items() if not region.complete]
        if missing:
            return [SafetyProblem("structure",
                                  f"{self.name} image is truncated (no {', '.join(missing)})")]
        return self.safety_problems()

    def safety_problems(self) -> list[SafetyProblem]:
        """The format's own checks, on complete regions."""
        return []


class RawInspector(Inspector):
    """Anything: raw data has no structure to check."""

    name = "raw"

    @property
    def matches(self) -> bool:
        return True
