"""The size and hashes of an image's data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Digests:
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str
