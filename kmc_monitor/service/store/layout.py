"""The ward's layout: its beds (added, renamed, reordered, retired) and which wrap was on which bed
when (``wrap_assignments``: one open row per wrap and per bed).

Readings and sessions belong to a bed through ``wrap_assignments``: a query by bed joins each wrap's
readings over the time it was on that bed, so swapping two wraps never moves one baby's history
onto another's chart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from kmc_monitor.service.store.admin_audit import record_admin_action
from kmc_monitor.service.store.connection import StoreConnection
from kmc_monitor.service.ward_model import Bed, NotFoundError, WardConflictError, WardError, WrapInUseError

__all__ = ["LayoutStore", "bed_of", "end_assignment", "require_bed", "start_assignment", "wrap_on"]


def require_bed(c: sqlite3.Connection, bed_id: str) -> None:
    if not c.execute("SELECT 1 FROM beds WHERE bed_id = ? AND retired_t IS NULL", (bed_id,)).fetchone():
        raise NotFoundError(f"no bed {bed_id!r} on this ward")


def bed_of(c: sqlite3.Connection, wrap_id: str) -> str | None:
    row = c.execute(
        "SELECT bed_id FROM wrap_assignments WHERE wrap_id = ? AND end_t IS NULL", (wrap_id,)
    ).fetchone()
    return None if row is None else str(row[0])


def wrap_on(c: sqlite3.Connection, bed_id: str) -> str | None:
    row = c.execute(
        "SELECT wrap_id FROM wrap_assignments WHERE bed_id = ? AND end_t IS NULL", (bed_id,)
    ).fetchone()
    return None if row is None else str(row[0])


def start_assignment(c: sqlite3.Connection, wrap_id: str, bed_id: str, now: float, who: str) -> None:
    c.execute(
        "INSERT INTO wrap_assignments(wrap_id, bed_id, start_t, assigned_by) VALUES (?, ?, ?, ?)",
        (wrap_id, bed_id, now, who),
    )


def end_assignment(c: sqlite3.Connection, wrap_id: str, now: float, who: str) -> bool:
    # max(): a clock stepped back must not make an interval end before it began.
    cur = c.execute(
        "UPDATE wrap_assignments SET end_t = max(start_t, ?), ended_by = ? "
        "WHERE wrap_id = ? AND end_t IS NULL",
        (now, who, wrap_id),
    )
    return cur.rowcount > 0


class LayoutStore(StoreConnection):
    """The ``beds`` and ``wrap_assignments`` tables."""

    # Beds -----------------------------------------------------------------------------------------
    def add_bed(self, bed: Bed, *, now: float) -> None:
        with self._write(f"adding bed {bed.bed_id}", durable=True) as c:
            if c.execute("SELECT 1 FROM beds WHERE bed_id = ?", (bed.bed_id,)).fetchone():
                raise WardConflictError(f"bed {bed.bed_id} exists already")
            c.execute(
                "INSERT INTO beds(bed_id, label, position, created_t) VALUES (?, ?, ?, ?)",
                (bed.bed_id, bed.label, bed.position, now),
            )

    def beds(self) -> list[Bed]:
        rows = self._read(
            "listing beds",
            "SELECT bed_id, label, position FROM beds WHERE retired_t IS NULL ORDER BY position, bed_id",
        )
        return [Bed(b, label, pos) for b, label, pos in rows]

    def rename_bed(self, bed_id: str, label: str, *, now: float, who: str) -> None:
        with self._write(f"renaming bed {bed_id}", durable=True) as c:
            row = c.execute(
                "SELECT label FROM beds WHERE bed_id = ? AND retired_t IS NULL", (bed_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no bed {bed_id!r} on this ward")
            c.execute("UPDATE beds SET label = ? WHERE bed_id = ?", (label, bed_id))
            record_admin_action(c, now, who, "bed_renamed", bed_id, f"{row[0]} -> {label}")

    def reorder_beds(self, order: Sequence[str], *, now: float, who: str) -> None:
        """Put the beds in this screen order (every bed of the ward, each once)."""
        with self._write("reordering beds", durable=True) as c:
            live = {r[0] for r in c.execute("SELECT bed_id FROM beds WHERE retired_t IS NULL")}
            if set(order) != live or len(order) != len(live):
                missing = sorted(live - set(order))
                unknown = sorted(set(order) - live)
                raise WardError(
                    "give every bed of the ward once, in the new order"
                    + (f"; missing: {', '.join(missing)}" if missing else "")
                    + (f"; not on this ward: {', '.join(unknown)}" if unknown else "")
                )
            for i, bed_id in enumerate(order, start=1):
                c.execute("UPDATE beds SET position = ? WHERE bed_id = ?", (i, bed_id))
            record_admin_action(c, now, who, "beds_reordered", "ward", ", ".join(order))

    def retire_bed(self, bed_id: str, *, now: float, who: str) -> None:
        """Take an empty bed off the ward (no baby, no wrap); its history stays."""
        with self._write(f"removing bed {bed_id}", durable=True) as c:
            if (
                c.execute(
                    "SELECT 1 FROM admissions WHERE bed_id = ? AND discharged_t IS NULL", (bed_id,)
                ).fetchone()
                or c.execute(
                    "SELECT 1 FROM wrap_assignments WHERE bed_id = ? AND end_t IS NULL", (bed_id,)
                ).fetchone()
            ):
                raise WardConflictError(
                    f"bed {bed_id} has a baby or a wrap: discharge or take the wrap off first"
                )
            cur = c.execute(
                "UPDATE beds SET retired_t = ? WHERE bed_id = ? AND retired_t IS NULL", (now, bed_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no bed {bed_id!r} on this ward")
            record_admin_action(c, now, who, "bed_removed", bed_id, "")

    # Wraps on beds --------------------------------------------------------------------------------
    def current_assignments(self) -> dict[str, str]:
        """Which wrap is on which bed now: ``{wrap_id: bed_id}``."""
        rows = self._read(
            "reading wrap assignments",
            "SELECT wrap_id, bed_id FROM wrap_assignments WHERE end_t IS NULL ORDER BY wrap_id",
        )
        return dict(rows)

    def assign_wrap(self, wrap_id: str, bed_id: str, *, now: float, who: str, replace: bool = False) -> None:
        with self._write(f"assigning wrap {wrap_id} to bed {bed_id}", durable=True) as c:
            if not c.execute(
                "SELECT 1 FROM wraps WHERE wrap_id = ? AND retired_t IS NULL", (wrap_id,)
            ).fetchone():
                raise NotFoundError(f"no wrap {wrap_id!r} registered")
            require_bed(c, bed_id)
            on = bed_of(c, wrap_id)
            if on == bed_id:
                return
            if on is not None:
                raise WrapInUseError(
                    f"wrap {wrap_id} is on bed {on}: take it off there first, or swap the wraps of "
                    f"beds {on} and {bed_id}"
                )
            other = wrap_on(c, bed_id)
            if other is not None:
                if not replace:
                    raise WrapInUseError(
                        f"bed {bed_id} already has wrap {other}: take it off first, or replace it"
                    )
                end_assignment(c, other, now, who)
            start_assignment(c, wrap_id, bed_id, now, who)

    def unassign_wrap(self, wrap_id: str, *, now: float, who: str) -> bool:
        with self._write(f"taking wrap {wrap_id} off its bed", durable=True) as c:
            return end_assignment(c, wrap_id, now, who)

    def swap_wraps(self, bed_a: str, bed_b: str, *, now: float, who: str) -> None:
        if bed_a == bed_b:
            raise WardError(f"swapping needs two different beds; got {bed_a} twice")
        with self._write(f"swapping the wraps of beds {bed_a} and {bed_b}", durable=True) as c:
            require_bed(c, bed_a)
            require_bed(c, bed_b)
            wrap_a, wrap_b = wrap_on(c, bed_a), wrap_on(c, bed_b)
            if wrap_a is None and wrap_b is None:
                raise WardConflictError(f"neither bed {bed_a} nor bed {bed_b} has a wrap to swap")
            # End both first: the one-open-row indexes would refuse the crossed rows otherwise.
            for wrap in (wrap_a, wrap_b):
                if wrap is not None:
                    end_assignment(c, wrap, now, who)
            if wrap_a is not None:
                start_assignment(c, wrap_a, bed_b, now, who)
            if wrap_b is not None:
                start_assignment(c, wrap_b, bed_a, now, who)
