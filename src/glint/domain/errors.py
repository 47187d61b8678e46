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


class BodyTooSlow(GlintError):
    """The client sent the request body too slowly, or stopped sending it."""


class RangeNotSatisfiable(GlintError):
    """A Range header that lies outside the data."""

    def __init__(self, message: str, size: int | None) -> None:
        super().__init__(message)
        self.size = size


class ConcurrentChange(Conflict):
    """Another request changed the same thing at the same moment, and the
    database refused this one (a deadlock or lock timeout); trying again works."""


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


class NoGoodCopy(GlintError):
    """No copy of the image's data can be served: the integrity auditor recorded
    them as not matching the image, or as unreadable and they still are."""

    def __init__(self, image_id: str) -> None:
        super().__init__(
            f"Image {image_id} cannot be downloaded: every stored copy of its data failed "
            "the integrity check (its size or checksum does not match the image, or it "
            "cannot be read). An administrator must repair or re-upload the data."
        )
        self.image_id = image_id


class StorageFull(GlintError):
    """The store has no room for the data."""


class DatabaseUnavailable(GlintError):
    """The database could not be reached or did not answer in time.

    `reason` is the driver's account, for the log; the message stays generic,
    since what the client can do about it is the same: try again later.
    """

    def __init__(self, reason: str) -> None:
        super().__init__("The database is unavailable; try again later.")
        self.reason = reason


class RequestTooLarge(GlintError):
    """A part of the request passes one of Glint's size limits (README "Limits")."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class BodyTooLarge(RequestTooLarge):
    """A JSON request body longer than `[oslo_middleware] max_request_body_size`."""


class UrlTooLong(RequestTooLarge):
    """A request target (path and query string) longer than the URL limit."""


class HeadersTooLarge(RequestTooLarge):
    """A header line, or the request head as a whole, longer than its limit."""


class NotAuthenticated(GlintError):
    """The caller is not who it must be: a refused console login, or a console
    session that is missing or has expired."""


class IdentityUnavailable(GlintError):
    """The identity service (Keystone) could not be reached or answered with an error."""
