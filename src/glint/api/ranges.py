"""HTTP byte ranges for downloads (RFC 9110 section 14), parsed by pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from glint.domain.errors import InvalidInput, RangeNotSatisfiable

# Offsets are ASCII digits; more than 19 cannot be a 64-bit offset (see _offset).
_RANGE = re.compile(r"^\s*bytes\s*=\s*(?P<first>[0-9]*)\s*-\s*(?P<last>[0-9]*)\s*$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?P<first>[0-9]+)-(?P<last>[0-9]+)/(?:[0-9]+|\*)\s*$")
MAX_OFFSET = 2**63 - 1


@dataclass(frozen=True)
class ByteRange:
    start: int
    length: int

    @property
    def end(self) -> int:
        """The last byte's offset (inclusive)."""
        return self.start + self.length - 1


def parse_range(header: str, size: int) -> ByteRange:
    """Resolve a `Range: bytes=...` header against data of `size` bytes.

    Raises InvalidInput for several ranges, RangeNotSatisfiable for a range
    that is malformed or lies outside the data.
    """
    if "," in header:
        raise InvalidInput("Multiple ranges are not supported; ask for one byte range.")
    match = _RANGE.match(header)
    if match is None or (not match["first"] and not match["last"]):
        raise RangeNotSatisfiable(f"Invalid range header: {header}", size)
    if not match["first"]:
        suffix = _offset(match["last"], header, size)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"Range {header} cannot be satisfied", size)
        start = max(size - suffix, 0)
        return ByteRange(start, size - start)
    start = _offset(match["first"], header, size)
    last = _offset(match["last"], header, size) if match["last"] else size - 1
    if start >= size or last < start:
        raise RangeNotSatisfiable(f"Range {header} cannot be satisfied", size)
    return ByteRange(start, min(last, size - 1) - start + 1)


def parse_content_range(header: str, size: int) -> ByteRange:
    """Glance also accepts a legacy request `Content-Range: bytes a-b/total`."""
    match = _CONTENT_RANGE.match(header)
    if match is None:
        raise RangeNotSatisfiable(f"Invalid Content-Range header: {header}", size)
    first, last = _offset(match["first"], header, size), _offset(match["last"], header, size)
    if first >= size or last < first:
        raise RangeNotSatisfiable(f"Range {header} cannot be satisfied", size)
    return ByteRange(first, min(last, size - 1) - first + 1)


def _offset(digits: str, header: str, size: int) -> int:
    """A byte offset of a range header; RangeNotSatisfiable past 64 bits (no data is
    that large, and an unbounded number of digits is not worth converting)."""
    if len(digits) > len(str(MAX_OFFSET)) or int(digits) > MAX_OFFSET:
        raise RangeNotSatisfiable(
            f"Range {header[:64]} cannot be satisfied: byte offsets end at {MAX_OFFSET}", size)
    return int(digits)
