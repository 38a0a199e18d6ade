"""Admissions: one baby's stay on one bed, from admission to discharge (one current admission per
bed), read back as :class:`~kmc_monitor.service.ward_model.Admission` values, and corrected by staff
(audited). Admitting and discharging, which touch several tables at once, are in :mod:`.stays`."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import Any, Final

from kmc_monitor.service.store.admin_audit import record_admin_action
from kmc_monitor.service.store.connection import StoreConnection
from kmc_monitor.service.ward_model import (
    Admission,
    DischargeStatus,
    GestationalAge,
    KmcMode,
    NotFoundError,
    WardConflictError,
    WardError,
)

__all__ = ["ADMISSION_COLUMNS", "AdmissionStore", "admission_from_row", "get_admission"]

#: The columns :func:`admission_from_row` reads, in its order.
ADMISSION_COLUMNS: Final = (
    "admission_id, bed_id, display_name, hospital_number, birth_weight_g, gestational_age_days, "
    "daily_goal_s, site_offset_c, admitted_t, admitted_by, discharged_t, discharged_by, "
    "kmc_mode, birth_t, discharge_status"
)


def admission_from_row(row: Sequence[Any]) -> Admission:
    return Admission(
        admission_id=int(row[0]),
        bed_id=row[1],
        display_name=row[2],
        hospital_number=row[3],
        birth_weight_g=int(row[4]),
        gestational_age=GestationalAge.from_days(int(row[5])),
        daily_goal_s=float(row[6]),
        site_offset_c=float(row[7]),
        admitted_t=float(row[8]),
        admitted_by=row[9],
        discharged_t=None if row[10] is None else float(row[10]),
        discharged_by=row[11],
        kmc_mode=KmcMode(row[12]),
        birth_t=None if row[13] is None else float(row[13]),
        discharge_status=None if row[14] is None else DischargeStatus(row[14]),
    )


def get_admission(c: sqlite3.Connection, admission_id: int) -> Admission:
    row = c.execute(
        f"SELECT {ADMISSION_COLUMNS} FROM admissions WHERE admission_id = ?", (int(admission_id),)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no admission {admission_id}")
    return admission_from_row(row)


class AdmissionStore(StoreConnection):
    """The ``admissions`` table."""

    def admission(self, admission_id: int) -> Admission | None:
        rows = self._read(
            "reading an admission",
            f"SELECT {ADMISSION_COLUMNS} FROM admissions WHERE admission_id = ?",
            (int(admission_id),),
        )
        return admission_from_row(rows[0]) if rows else None

    def current_admissions(self) -> list[Admission]:
        rows = self._read(
            "listing current admissions",
            f"SELECT {ADMISSION_COLUMNS} FROM admissions WHERE discharged_t IS NULL ORDER BY admitted_t",
        )
        return [admission_from_row(r) for r in rows]

    def past_admissions(
        self, *, since_t: float | None = None, until_t: float | None = None, limit: int = 100
    ) -> list[Admission]:
        """Discharged admissions overlapping ``[since_t, until_t)``, most recent discharge first."""
        rows = self._read(
            "listing past admissions",
            f"SELECT {ADMISSION_COLUMNS} FROM admissions WHERE discharged_t IS NOT NULL "
            "AND discharged_t >= ? AND admitted_t < ? ORDER BY discharged_t DESC, admission_id DESC LIMIT ?",
            (
                -math.inf if since_t is None else since_t,
                math.inf if until_t is None else until_t,
                int(limit),
            ),
        )
        return [admission_from_row(r) for r in rows]

    def admissions_for_bed(self, bed_id: str, start_t: float, end_t: float) -> list[Admission]:
        """The bed's admissions (current or past) overlapping ``[start_t, end_t)``, oldest first:
        whose totals a day's history of the bed shows."""
        rows = self._read(
            "listing a bed's admissions",
            f"SELECT {ADMISSION_COLUMNS} FROM admissions WHERE bed_id = ? AND admitted_t < ? "
            "AND (discharged_t IS NULL OR discharged_t > ?) ORDER BY admitted_t, admission_id",
            (bed_id, end_t, start_t),
        )
        return [admission_from_row(r) for r in rows]

    def admissions_between(self, start_t: float, end_t: float) -> list[Admission]:
        """Every admission (any bed) whose stay overlaps ``[start_t, end_t)``, oldest first."""
        rows = self._read(
            "listing admissions",
            f"SELECT {ADMISSION_COLUMNS} FROM admissions WHERE admitted_t < ? "
            "AND (discharged_t IS NULL OR discharged_t > ?) ORDER BY admitted_t, admission_id",
            (end_t, start_t),
        )
        return [admission_from_row(r) for r in rows]

    def set_discharge_status(self, admission_id: int, status: DischargeStatus) -> Admission:
        """Record or correct the status of a discharged stay."""
        with self._write(f"recording the discharge status of admission {admission_id}", durable=True) as c:
            current = get_admission(c, admission_id)
            if current.discharged_t is None:
                raise WardConflictError(f"admission {admission_id} is not discharged yet: discharge it")
            c.execute(
                "UPDATE admissions SET discharge_status = ? WHERE admission_id = ?",
                (DischargeStatus(status).value, current.admission_id),
            )
            return get_admission(c, current.admission_id)

    def edit_admission(self, admission_id: int, changes: dict[str, object], *, now: float, who: str) -> None:
        """Correct a current admission's details (a misspelt name, a goal the doctor changed).

        ``changes`` maps column names (from the fixed list below, never from a client) to values;
        the audit keeps what changed, from what to what.
        """
        allowed = {
            "display_name",
            "hospital_number",
            "birth_weight_g",
            "gestational_age_days",
            "daily_goal_s",
            "birth_t",
        }
        bad = set(changes) - allowed
        if bad:
            raise WardError(f"cannot change {', '.join(sorted(bad))} of an admission")
        with self._write(f"editing admission {admission_id}", durable=True) as c:
            cols = ", ".join(sorted(allowed))
            row = c.execute(
                f"SELECT {cols}, discharged_t FROM admissions WHERE admission_id = ?", (admission_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no admission {admission_id}")
            if row[-1] is not None:
                raise WardConflictError(
                    f"admission {admission_id} is discharged: its details are kept as they were"
                )
            before = dict(zip(sorted(allowed), row[:-1], strict=True))
            number = changes.get("hospital_number")
            if number is not None and number != before["hospital_number"]:
                other = c.execute(
                    "SELECT bed_id FROM admissions WHERE hospital_number = ? AND discharged_t IS NULL "
                    "AND admission_id != ?",
                    (number, admission_id),
                ).fetchone()
                if other is not None:
                    raise WardConflictError(
                        f"hospital number {number} is already admitted at bed {other[0]}: "
                        "check the baby's identity"
                    )
            diffs = [f"{k}: {before[k]} -> {v}" for k, v in sorted(changes.items()) if before[k] != v]
            for key, value in changes.items():
                c.execute(f"UPDATE admissions SET {key} = ? WHERE admission_id = ?", (value, admission_id))
            record_admin_action(
                c, now, who, "admission_edited", f"admission {admission_id}", "; ".join(diffs)
            )
