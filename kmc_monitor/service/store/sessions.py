"""Contact sessions as the engine finds them: a running session is saved again as it grows; a bed's
chart reads the sessions of whichever wraps were on it when each began."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from kmc_monitor.service.store.connection import StoreConnection
from kmc_monitor.service.ward_time import day_bounds
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import Session

__all__ = ["BedSession", "SessionRecord", "SessionStore"]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A wrap's session to save; ``open`` while it is still running (its end will move)."""

    wrap_id: str
    session: Session
    open: bool = False


@dataclass(frozen=True, slots=True)
class BedSession:
    """A saved session as a bed's chart shows it."""

    bed_id: str
    wrap_id: str
    session: Session
    open: bool


class SessionStore(StoreConnection):
    """The ``sessions`` table."""

    def save_sessions(self, records: Iterable[SessionRecord]) -> None:
        """Insert or update sessions (a running session is saved again as it grows)."""
        rows = [
            (
                r.wrap_id,
                int(r.session.start_us),
                int(r.session.end_us),
                int(r.session.contact_us),
                int(bool(r.session.short)),
                int(bool(r.open)),
            )
            for r in records
        ]
        if not rows:
            return
        with self._write(f"saving {len(rows)} session(s)") as c:
            c.executemany(
                "INSERT INTO sessions(wrap_id, start_us, end_us, contact_us, short, open) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(wrap_id, start_us) DO UPDATE SET "
                "end_us = excluded.end_us, contact_us = excluded.contact_us, short = excluded.short, "
                "open = excluded.open",
                rows,
            )

    def sessions_for_bed(self, bed_id: str, start_t: float, end_t: float) -> list[BedSession]:
        """Sessions overlapping ``[start_t, end_t)`` of the wraps that were on the bed when each began."""
        rows = self._read(
            "reading a bed's sessions",
            "SELECT a.bed_id, s.wrap_id, s.start_us, s.end_us, s.contact_us, s.short, s.open "
            "FROM wrap_assignments a JOIN sessions s ON s.wrap_id = a.wrap_id "
            "AND s.start_us >= a.start_t * 1000000 AND (a.end_t IS NULL OR s.start_us < a.end_t * 1000000) "
            "WHERE a.bed_id = ? AND s.start_us < ? AND s.end_us > ? ORDER BY s.start_us",
            (bed_id, end_t * US, start_t * US),
        )
        return [
            BedSession(b, w, Session(int(s), int(e), int(cu), bool(sh)), bool(op))
            for b, w, s, e, cu, sh, op in rows
        ]

    def sessions_for_bed_day(self, bed_id: str, day: dt.date, ward_tz: str) -> list[BedSession]:
        return self.sessions_for_bed(bed_id, *day_bounds(day, ward_tz))
