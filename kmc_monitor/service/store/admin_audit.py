"""The ward-admin audit (append-only, like the alarm and wrap audits): every change of the ward's
set-up that the alarm audit does not record — beds added, renamed, reordered or retired, admissions
edited, wraps registered, assigned, replaced, swapped, unassigned, undone, nurses added or changed,
the first-run settings."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from kmc_monitor.service.store.connection import StoreConnection

__all__ = ["AdminAuditLine", "AdminAuditStore", "record_admin_action"]


@dataclass(frozen=True, slots=True)
class AdminAuditLine:
    at_t: float
    who: str
    action: str
    subject: str
    detail: str


def record_admin_action(
    c: sqlite3.Connection, now: float, who: str, action: str, subject: str, detail: str
) -> None:
    """One line of the ward-admin audit, inside the caller's transaction."""
    c.execute(
        "INSERT INTO ward_admin_audit(at_t, who, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
        (now, who, action, subject, detail),
    )


class AdminAuditStore(StoreConnection):
    """The ``ward_admin_audit`` table."""

    def admin_audit(self, now: float, who: str, action: str, subject: str, detail: str = "") -> None:
        """Record a ward-admin action done elsewhere (a wrap assigned, a swap undone)."""
        with self._write(f"recording {action}", durable=True) as c:
            record_admin_action(c, now, who, action, subject, detail)

    def admin_audit_log(self, *, limit: int = 200) -> list[AdminAuditLine]:
        """The most recent ward-admin actions, newest first."""
        rows = self._read(
            "reading the ward admin audit",
            "SELECT at_t, who, action, subject, detail FROM ward_admin_audit ORDER BY audit_id DESC LIMIT ?",
            (limit,),
        )
        return [AdminAuditLine(float(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]
