"""The service's clock: one place that says what time it is."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """Timestamps are naive UTC with microseconds, as stored."""
    return datetime.now(UTC).replace(tzinfo=None)
