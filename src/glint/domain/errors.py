"""Domain errors: typed attributes, no HTTP status codes (see glint.api.errors)."""

from __future__ import annotations


class GlintError(Exception):
    """Base of every error Glint turns into an HTTP response."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(GlintError):
    """The thing does not exist, or the caller may not know that it does."""


class Forbidden(GlintError):
    """The caller may see the thing but not do this to it."""


class Conflict(GlintError):
    """The request clashes with the thing's current state."""


class InvalidInput(GlintError):
    """The request itself is malformed or breaks a rule of the API."""


class QuotaExceeded(GlintError):
    """A count or size limit would be passed."""


class UnsupportedMediaType(GlintError):
    """The request body's content type is not one this call accepts."""

    def __init__(self, message: str, accepted: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.accepted = accepted


class InvalidImageData(GlintError):
    """Uploaded data that does not match its disk_format or fails a safety check."""


class RangeNotSatisfiable(GlintError):
    """A Range header that lies outside the data."""

    def __init__(self, message: str, size: int | None) -> None:
        super().__init__(message)
        self.size = size


class InvalidTransition(Conflict):
    """An image status change the state machine does not allow."""

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"Image status transition from {current} to {target} is not allowed")
        self.current = current
        self.target = target


class StoreUnavailable(GlintError):
    """A store could not be reached or failed while serving."""

    def __init__(self, message: str, store: str) -> None:
        super().__init__(message)
        self.store = store


class StorageFull(GlintError):
    """The store has no room for the data."""
