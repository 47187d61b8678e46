"""Location changes by JSON patch (`/locations`, `/locations/N`, `/locations/-`). Pure rules.

Glance 33 lets callers edit an image's locations with PATCH when
`show_multiple_locations` is on: `add` inserts one location at a position,
`remove` drops one (never the last one of an active image), `replace` sets
the whole list, either on an image without locations or to change only the
metadata of the ones it has. `validation_data` may give a queued image its
checksum and hashes, and a queued image that gets a location becomes active.

`plan_changes` replays the operations on a copy of the image's locations and
says what the service must check (the new locations, against the stores) and
do (save, activate, delete the data of removed locations). New locations have
no store yet (`store == ""`): the service fills it in once a store accepts them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from glint.domain.errors import Conflict, Forbidden, InvalidInput, QuotaExceeded
from glint.domain.image import Image, ImageStatus, Location
from glint.domain.image_rules import PatchOp

VALIDATION_KEYS = ("checksum", "os_hash_algo", "os_hash_value")
# Statuses whose locations may be added to or replaced; removal needs an active image.
EDITABLE_STATUSES = frozenset({ImageStatus.ACTIVE, ImageStatus.QUEUED})


@dataclass(frozen=True)
class LocationChange:
    """One JSON-patch operation on `/locations` (replace) or `/locations/<position>`."""

    op: PatchOp
    position: str | None = None
    value: Any = None


@dataclass
class LocationPlan:
    """The outcome of the location changes of one patch, before any store is asked."""

    before: list[Location]
    after: list[Location]
    # Locations in `after` that are new: each must be found in a store (and sized).
    unchecked: list[Location] = field(default_factory=list)
    # Values from validation_data to set on the (queued) image.
    validation: dict[str, str] = field(default_factory=dict)
    # The image was queued and now has data: it becomes active.
    activate: bool = False
    # The size of the new locations' data, once the stores told it.
    size: int | None = None

    @property
    def removed(self) -> list[Location]:
        """Locations the image had and no longer has: their data is deleted."""
        kept = {(location.url, location.store) for location in self.after}
        return [location for location in self.before
                if (location.url, location.store) not in kept]


def is_location_path(parts: list[str]) -> bool:
    return bool(parts) and parts[0] == "locations"


def check_path_depth(op: PatchOp, parts: list[str]) -> None:
    """`add` and `remove` need `/locations/<position>`, `replace` exactly `/locations`."""
    wanted = 1 if op == PatchOp.REPLACE else 2
    if len(parts) != wanted:
        raise InvalidInput(f"Invalid JSON pointer for this resource: '/{'/'.join(parts)}'")


def position_of(raw: str | None, length: int, *, for_add: bool) -> int | None:
    """The list index a path position names: digits, or `-` (the end for add, the
    last location for remove); None when it names nothing usable."""
    if raw is None:
        return None
    if raw.isdigit():
        index = int(raw)
    elif raw == "-":
        index = length if for_add else length - 1
    else:
        return None
    if not for_add and not 0 <= index < length:
        return None
    return min(index, length)


def new_location(value: dict[str, Any], *, multistore: bool) -> Location:
    """A location value from a patch (already checked against the image schema).

    With several stores the store comes from the URL, so a `store` key in the
    metadata (as clients copy it from GET) is not kept: it is shown from the store.
    """
    metadata = dict(value.get("metadata") or {})
    if multistore:
        metadata.pop("store", None)
    check_metadata(metadata)
    return Location(url=value["url"], store="", metadata=metadata)


def check_metadata(value: object, key: str = "") -> None:
    """Location metadata holds objects, lists and strings only (glance_store's rule)."""
    if isinstance(value, dict):
        for name, item in value.items():
            check_metadata(item, str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_metadata(item, f"{key}[{index}]")
    elif not isinstance(value, str):
        raise InvalidInput(f"The image metadata key {key} has an invalid type of "
                           f"{type(value).__name__}. Only dict, list, and unicode are supported.")


def validation_values(image: Image, values: Iterable[dict[str, Any]], status: ImageStatus,
                      hashing_algorithm: str) -> dict[str, str]:
    """The checksum and hashes the locations' validation_data give the image.

    Values equal to the image's own are fine; different ones are a conflict,
    and new ones may only be given while the image is queued. Raises Conflict
    (409) for any of these problems, as Glance does.
    """
    given: dict[str, str] = {}
    for value in values:
        for key, item in (value.get("validation_data") or {}).items():
            if given.get(key, item) != item:
                raise Conflict(f"Conflicting values for {key}")
            given[key] = item
    new: dict[str, str] = {}
    for key, item in given.items():
        current = getattr(image, key)
        if item == current:
            continue
        if current:
            raise Conflict(f"{key} is already set with a different value")
        new[key] = item
    if not new:
        return {}
    if status != ImageStatus.QUEUED:
        raise Conflict(f"New value(s) for {', '.join(new)} may only be provided when image "
                       "status is 'queued'")
    if "checksum" in new:
        _check_digest("checksum", new["checksum"], "md5", hashlib.md5().digest_size)
    algorithm = new.get("os_hash_algo")
    if algorithm != hashing_algorithm:
        raise Conflict(f"os_hash_algo must be {hashing_algorithm}, not {algorithm}")
    _check_digest("os_hash_value", new.get("os_hash_value", ""), algorithm,
                  hashlib.new(algorithm).digest_size)
    return new


def _check_digest(name: str, value: str, algorithm: str, size: int) -> None:
    try:
        digest = bytes.fromhex(value)
    except ValueError:
        raise Conflict(f"{name} ({value}) is not a valid hexadecimal value") from None
    if len(digest) != size:
        raise Conflict(f"{name} ({value}) is not the correct size for {algorithm} "
                       f"(should be {size} bytes)")


def _is_duplicate(locations: list[Location], candidate: Location) -> bool:
    return any(location.url == candidate.url and location.metadata == candidate.metadata
               for location in locations)


@dataclass
class _Replay:
    image: Image
    hashing_algorithm: str
    multistore: bool
    shown: bool
    plan: LocationPlan
    status: ImageStatus

    def add(self, change: LocationChange) -> None:
        if not self.shown:
            raise Forbidden("It's not allowed to add locations if locations are invisible.")
        if self.status not in EDITABLE_STATUSES:
            raise Conflict(f"It's not allowed to add locations if image status is "
                           f"{self.status}.")
        validation = validation_values(self.image, [change.value], self.status,
                                       self.hashing_algorithm)
        index = position_of(change.position, len(self.plan.after), for_add=True)
        if index is None:
            raise InvalidInput("Invalid position for adding a location.")
        location = new_location(change.value, multistore=self.multistore)
        if _is_duplicate(self.plan.after, location):
            raise InvalidInput(f"The location {location.url} already exists")
        self.plan.after.insert(index, location)
        self.plan.unchecked.append(location)
        self._gain_data(validation)

    def replace(self, change: LocationChange) -> None:
        if not change.value:
            raise Forbidden("Cannot set locations to empty list.")
        if not self.shown:
            raise Forbidden("It's not allowed to update locations if locations are invisible.")
        if self.status not in EDITABLE_STATUSES:
            raise Conflict(f"It's not allowed to replace locations if image status is "
                           f"{self.status}.")
        values: list[dict[str, Any]] = list(change.value)
        validation = validation_values(self.image, values, self.status, self.hashing_algorithm)
        wanted = [new_location(value, multistore=self.multistore) for value in values]
        current = self.plan.after
        if sorted(loc.url for loc in wanted) == sorted(loc.url for loc in current):
            # The same URLs: only their metadata changes, nothing to check again.
            stores = {location.url: location.store for location in current}
            self.plan.after = [Location(loc.url, stores[loc.url], loc.metadata) for loc in wanted]
        else:
            if current:
                raise InvalidInput("Original locations is not empty: "
                                   f"{[location.url for location in current]}")
            for index, location in enumerate(wanted):
                if _is_duplicate(wanted[:index], location):
                    raise InvalidInput(f"The location {location.url} already exists")
            self.plan.after = wanted
            self.plan.unchecked.extend(wanted)
        self._gain_data(validation)

    def remove(self, change: LocationChange) -> None:
        if not self.shown:
            raise Forbidden("It's not allowed to remove locations if locations are invisible.")
        if self.status != ImageStatus.ACTIVE:
            raise Conflict(f"It's not allowed to remove locations if image status is "
                           f"{self.status}.")
        if len(self.plan.after) == 1:
            raise Forbidden("Cannot remove last location in the image.")
        index = position_of(change.position, len(self.plan.after), for_add=False)
        if index is None:
            raise InvalidInput("Invalid position for removing a location.")
        removed = self.plan.after.pop(index)
        if removed in self.plan.unchecked:
            self.plan.unchecked.remove(removed)

    def _gain_data(self, validation: dict[str, str]) -> None:
        if self.status == ImageStatus.QUEUED:
            self.plan.validation.update(validation)
            self.plan.activate = True
            self.status = ImageStatus.ACTIVE


def plan_changes(image: Image, changes: Iterable[LocationChange], *, hashing_algorithm: str,
                 multistore: bool, shown: bool, quota: int = -1) -> LocationPlan:
    """Replay location changes in order on a copy of the image's locations.

    `shown` is `show_multiple_locations`: without it every location change is
    refused (403). `quota` is `image_location_quota` (negative: none); more
    locations than that is QuotaExceeded. Raises Forbidden, Conflict or
    InvalidInput with Glance's messages; nothing is checked against the stores here.
    """
    replay = _Replay(image=image, hashing_algorithm=hashing_algorithm, multistore=multistore,
                     shown=shown, plan=LocationPlan(before=list(image.locations),
                                                    after=list(image.locations)),
                     status=image.status)
    for change in changes:
        if change.op == PatchOp.ADD:
            replay.add(change)
        elif change.op == PatchOp.REPLACE:
            replay.replace(change)
        else:
            replay.remove(change)
    attempted = len(replay.plan.after)
    if 0 <= quota < attempted:
        raise QuotaExceeded("The limit has been exceeded on the number of allowed image "
                            f"locations. Attempted: {attempted}, Maximum: {quota}")
    return replay.plan


def apply_plan(image: Image, plan: LocationPlan) -> None:
    """Give `image` (as just read for saving) the planned locations.

    Raises Conflict when its locations changed since the plan was made (the
    checks against the stores happen between the two).
    """
    if image.locations != plan.before:
        raise Conflict(f"The locations of image {image.id} changed meanwhile; try again")
    image.locations = list(plan.after)
    if plan.activate and image.status == ImageStatus.QUEUED:
        image.status = ImageStatus.ACTIVE
        for key, value in plan.validation.items():
            setattr(image, key, value)
    if image.size is None and plan.size is not None:
        image.size = plan.size
