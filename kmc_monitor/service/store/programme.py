"""The programme's records of a stay (#16, #19): the caregivers named at admission, who held the
baby from when (sessions are attributed on reading, so a correction changes every report at once),
and the discharge checklist (one append-only row per tick or untick: its own audit trail)."""

from __future__ import annotations

import sqlite3

from kmc_monitor.service.store.admissions import get_admission
from kmc_monitor.service.store.codec import utc_text
from kmc_monitor.service.store.connection import StoreConnection
from kmc_monitor.service.ward_model import (
    AlreadyDischargedError,
    CaregiverRole,
    FamilyMember,
    WardConflictError,
)

__all__ = ["ProgrammeStore", "insert_caregiver"]


def insert_caregiver(
    c: sqlite3.Connection, admission_id: int, member: FamilyMember, now: float, who: str
) -> int:
    cur = c.execute(
        "INSERT INTO caregivers(admission_id, role, name, created_t, created_by) VALUES (?, ?, ?, ?, ?)",
        (admission_id, CaregiverRole(member.role).value, member.name, now, who),
    )
    return int(cur.lastrowid or 0)


class ProgrammeStore(StoreConnection):
    """The ``caregivers``, ``holding`` and ``discharge_teaching`` tables."""

    # Caregivers -----------------------------------------------------------------------------------
    def add_caregiver(self, admission_id: int, member: FamilyMember, *, now: float, who: str) -> FamilyMember:
        with self._write(f"naming a caregiver of admission {admission_id}", durable=True) as c:
            current = get_admission(c, admission_id)
            if current.discharged_t is not None:
                raise AlreadyDischargedError(f"admission {admission_id} was discharged")
            if (
                member.role is not CaregiverRole.FAMILY
                and c.execute(
                    "SELECT 1 FROM caregivers WHERE admission_id = ? AND role = ?",
                    (current.admission_id, member.role.value),
                ).fetchone()
            ):
                raise WardConflictError(
                    f"the {member.role.value} of admission {admission_id} is named already"
                )
            new_id = insert_caregiver(c, current.admission_id, member, now, who)
        return FamilyMember(member.role, member.name, new_id)

    def caregivers(self, admission_id: int) -> list[FamilyMember]:
        rows = self._read(
            "listing caregivers",
            "SELECT caregiver_id, role, name FROM caregivers WHERE admission_id = ? "
            "ORDER BY CASE role WHEN 'mother' THEN 0 WHEN 'father' THEN 1 ELSE 2 END, caregiver_id",
            (int(admission_id),),
        )
        return [FamilyMember(CaregiverRole(r), n, int(i)) for i, r, n in rows]

    # Who holds the baby ---------------------------------------------------------------------------
    def set_holder(
        self,
        admission_id: int,
        caregiver_id: int | None,
        *,
        from_t: float,
        until_t: float | None,
        now: float,
        who: str,
        source: str,
    ) -> None:
        """Who holds from ``from_t`` (and, with ``until_t``, whoever held before holds again from
        there); a span at the same instant is replaced. Durable: it is a person's record."""
        with self._write(f"recording who holds the baby of admission {admission_id}", durable=True) as c:
            if until_t is not None:
                row = c.execute(
                    "SELECT caregiver_id FROM holding WHERE admission_id = ? AND from_t <= ? "
                    "ORDER BY from_t DESC LIMIT 1",
                    (admission_id, until_t),
                ).fetchone()
                before = None if row is None else row[0]
                c.execute(
                    "DELETE FROM holding WHERE admission_id = ? AND from_t > ? AND from_t < ?",
                    (admission_id, from_t, until_t),
                )
                c.execute(
                    "INSERT INTO holding(admission_id, from_t, caregiver_id, set_t, set_by, source) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(admission_id, from_t) DO NOTHING",
                    (admission_id, until_t, before, now, who, source),
                )
            c.execute(
                "INSERT INTO holding(admission_id, from_t, caregiver_id, set_t, set_by, source) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(admission_id, from_t) DO UPDATE SET "
                "caregiver_id = excluded.caregiver_id, set_t = excluded.set_t, set_by = excluded.set_by, "
                "source = excluded.source",
                (admission_id, from_t, caregiver_id, now, who, source),
            )

    def holding(self, admission_id: int) -> list[tuple[float, int | None]]:
        """The admission's "who holds from when" steps: ``(from_t, caregiver_id or None)``, by time."""
        rows = self._read(
            "reading who held the baby",
            "SELECT from_t, caregiver_id FROM holding WHERE admission_id = ? ORDER BY from_t",
            (int(admission_id),),
        )
        return [(float(t), None if cg is None else int(cg)) for t, cg in rows]

    # Discharge checklist (#19) ----------------------------------------------------------------------
    def set_teaching(self, admission_id: int, item: str, done: bool, *, now: float, who: str) -> None:
        """Tick (or untick) one checklist item of a current stay; durable, it is a person's record.

        The same state again writes nothing, so a double click does not pad the audit trail."""
        with self._write(f"recording the discharge checklist of admission {admission_id}", durable=True) as c:
            current = get_admission(c, admission_id)
            if current.discharged_t is not None:
                raise AlreadyDischargedError(
                    f"admission {admission_id} ({current.display_name}) was discharged at "
                    f"{utc_text(current.discharged_t)}: its checklist is closed"
                )
            row = c.execute(
                "SELECT done FROM discharge_teaching WHERE admission_id = ? AND item = ? "
                "ORDER BY teaching_id DESC LIMIT 1",
                (current.admission_id, item),
            ).fetchone()
            if row is not None and bool(row[0]) == done:
                return
            c.execute(
                "INSERT INTO discharge_teaching(admission_id, item, done, set_t, set_by) "
                "VALUES (?, ?, ?, ?, ?)",
                (current.admission_id, item, int(done), now, who),
            )

    def teaching(self, admission_id: int) -> list[tuple[str, bool, float, str]]:
        """Every tick and untick of the stay's checklist, oldest first: ``(item, done, set_t, set_by)``."""
        rows = self._read(
            "reading the discharge checklist",
            "SELECT item, done, set_t, set_by FROM discharge_teaching WHERE admission_id = ? "
            "ORDER BY teaching_id",
            (int(admission_id),),
        )
        return [(str(i), bool(d), float(t), str(b)) for i, d, t, b in rows]
