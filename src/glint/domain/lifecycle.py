"""The image status state machine, as Glance defines it."""

from __future__ import annotations

from glint.domain.errors import InvalidInput, InvalidTransition
from glint.domain.image import Image, ImageStatus

S = ImageStatus

ALLOWED: dict[ImageStatus, frozenset[ImageStatus]] = {
    S.QUEUED: frozenset({S.SAVING, S.UPLOADING, S.IMPORTING, S.ACTIVE, S.DELETED}),
    S.SAVING: frozenset({S.ACTIVE, S.KILLED, S.DELETED, S.QUEUED}),
    S.UPLOADING: frozenset({S.IMPORTING, S.QUEUED, S.DELETED}),
    S.IMPORTING: frozenset({S.ACTIVE, S.DELETED, S.QUEUED}),
    S.ACTIVE: frozenset({S.PENDING_DELETE, S.DELETED, S.DEACTIVATED}),
    S.DEACTIVATED: frozenset({S.ACTIVE, S.DELETED}),
    S.PENDING_DELETE: frozenset({S.DELETED, S.ACTIVE}),
    S.KILLED: frozenset({S.DELETED}),
    S.DELETED: frozenset(),
}

# Entering these from queued/uploading carries data, which needs both formats.
_DATA_STATES = frozenset({S.SAVING, S.ACTIVE, S.IMPORTING})


def transition(current: ImageStatus, target: ImageStatus) -> ImageStatus:
    """Return `target` if the state machine allows current -> target.

    Raises InvalidTransition otherwise.
    """
    if target not in ALLOWED[current]:
        raise InvalidTransition(current, target)
    return target


def begin_data(image: Image, target: ImageStatus) -> ImageStatus:
    """Check that `image` may start receiving data by moving to `target`.

    Raises InvalidInput when a format is missing (Glance: "must be set prior
    to saving data") and InvalidTransition when the status forbids it.
    """
    new_status = transition(image.status, target)
    if target in _DATA_STATES and (image.disk_format is None or image.container_format is None):
        raise InvalidInput(
            "Properties disk_format, container_format must be set prior to saving data."
        )
    return new_status


def is_listed(status: ImageStatus) -> bool:
    """Killed and deleted images never appear in lists."""
    return status not in (S.KILLED, S.DELETED)


def deleted_status(image: Image, *, delayed: bool) -> ImageStatus:
    """The status DELETE moves `image` to: pending_delete when deletes are
    delayed and the image has data (locations), as Glance decides; deleted
    otherwise. Raises InvalidInput when the status forbids it (a deactivated
    image with delayed deletes: Glance answers 400 then)."""
    target = S.PENDING_DELETE if delayed and image.locations else S.DELETED
    try:
        return transition(image.status, target)
    except InvalidTransition as exc:
        raise InvalidInput(str(exc)) from exc
