"""Helpers drivers share to list what they hold by image id (ListableStore)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from glint.domain.image import Location
from glint.stores.base import StoredImage


def image_id_of(name: str) -> str | None:
    """The image id a stored name is, in canonical form; None for any other name."""
    try:
        canonical = str(uuid.UUID(name))
    except ValueError:
        return None
    return canonical if canonical == name.lower() else None


def naive_utc(moment: datetime) -> datetime:
    """A timestamp as the database keeps them: UTC without a zone (naive ones are UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass
class _Found:
    data: Location | None = None
    leftovers: list[str] = field(default_factory=list)
    modified: datetime = datetime.min


class StoredImages:
    """Collects a listing's entries by image id."""

    def __init__(self) -> None:
        self._found: dict[str, _Found] = {}

    def data(self, image_id: str, location: Location, modified: datetime) -> None:
        found = self._entry(image_id, modified)
        found.data = location

    def leftover(self, image_id: str, description: str, modified: datetime) -> None:
        self._entry(image_id, modified).leftovers.append(description)

    def _entry(self, image_id: str, modified: datetime) -> _Found:
        found = self._found.setdefault(image_id, _Found())
        found.modified = max(found.modified, naive_utc(modified))
        return found

    def images(self) -> list[StoredImage]:
        return [StoredImage(image_id=image_id, data=found.data,
                            leftovers=tuple(sorted(found.leftovers)), modified=found.modified)
                for image_id, found in sorted(self._found.items())]
