"""Reading and writing web console sessions (see glint.services.console_sessions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from glint.db.models import ConsoleSessionRow


def insert_session(session: Session, row: ConsoleSessionRow) -> None:
    session.add(row)
    session.flush()


def get_session(session: Session, session_id: str) -> ConsoleSessionRow | None:
    return session.scalars(
        select(ConsoleSessionRow).where(ConsoleSessionRow.id == session_id)
    ).one_or_none()


def delete_session(session: Session, session_id: str) -> None:
    session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.id == session_id))


def delete_expired(session: Session, now: datetime) -> int:
    """Remove sessions that expired before `now`; how many there were."""
    result = session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)
