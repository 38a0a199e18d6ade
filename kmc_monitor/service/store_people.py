"""The ward's people and its administration in the database: nurses, their PINs, the ward-admin
audit, and the family links kept sealed so that they survive a restart.

A mixin of :class:`~kmc_monitor.service.store.Store` (which inherits it), so the store keeps one
connection and one lock; the tables are created by the migration step appended in ``store.py``.

- **Nurses** are people, not tokens: a name, initials (unique among the nurses on the ward) and a
  PIN of 4 to 6 digits kept as scrypt(PIN, a salt of the nurse's own). A PIN is short, so it is
  the slow KDF plus the web layer's rate limit (attempts counted per screen and initials) that
  keep it from being guessed; nothing here ever holds a PIN in clear.
- **The ward-admin audit** (append-only, like the alarm and wrap audits) records every change of
  the ward's set-up that the alarm audit does not: beds added, renamed, reordered or retired,
  admissions edited, wraps registered, assigned, replaced, swapped, unassigned, undone, nurses
  added or changed, the first-run settings.
- **Sealed family links**: the family token is otherwise kept only as a hash, so a restarted
  service could not print a card again and used to make a new link (cutting off the parents'
  open page). The token is kept here encrypted (AES-GCM) with a key that lives in a file of the
  data directory, not in the database: the database alone does not open a family page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kmc_monitor.service.ward_model import NotFoundError, WardConflictError, WardError

__all__ = [
    "PEOPLE_MIGRATION",
    "PIN_MAX",
    "PIN_MIN",
    "AdminAuditLine",
    "Nurse",
    "PeopleStore",
    "hash_pin",
    "verify_pin",
]

#: A PIN has 4 to 6 digits: typed with a glove on a shared screen, but not a birthday year alone.
PIN_MIN: Final = 4
PIN_MAX: Final = 6
#: scrypt cost: ~50 ms and 16 MiB per try on the ward's PC, so a stolen database costs an attacker
#: real time per guess, while a nurse confirming an acknowledgement waits for nothing she notices.
_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1

#: The schema step: appended to the store's migrations (``store.py``, branch issue-14a).
PEOPLE_MIGRATION: Final[tuple[str, ...]] = (
    """CREATE TABLE nurses (
        nurse_id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        initials TEXT NOT NULL,
        pin_salt BLOB NOT NULL,
        pin_hash BLOB NOT NULL,
        created_t REAL NOT NULL,
        created_by TEXT NOT NULL,
        retired_t REAL,
        retired_by TEXT
    )""",
    "CREATE UNIQUE INDEX nurses_initials_live ON nurses(upper(initials)) WHERE retired_t IS NULL",
    """CREATE TABLE ward_admin_audit (
        audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_t REAL NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE TRIGGER ward_admin_audit_no_update BEFORE UPDATE ON ward_admin_audit
        BEGIN SELECT RAISE(ABORT, 'the ward admin audit log is append-only'); END""",
    """CREATE TRIGGER ward_admin_audit_no_delete BEFORE DELETE ON ward_admin_audit
        BEGIN SELECT RAISE(ABORT, 'the ward admin audit log is append-only'); END""",
    """CREATE TABLE family_link_seals (
        admission_id INTEGER PRIMARY KEY REFERENCES admissions(admission_id),
        sealed BLOB NOT NULL,
        saved_t REAL NOT NULL
    )""",
)


def hash_pin(pin: str, salt: bytes) -> bytes:
    """scrypt of the PIN with the nurse's own salt (see the module docstring for why scrypt)."""
    return hashlib.scrypt(
        pin.encode("utf-8"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )


def verify_pin(pin: str, salt: bytes, stored: bytes) -> bool:
    return hmac.compare_digest(hash_pin(pin, salt), stored)


def check_pin(pin: str) -> str:
    """The PIN if it is 4 to 6 digits; else a :class:`WardError` saying what a PIN must be."""
    if not (pin.isascii() and pin.isdigit() and PIN_MIN <= len(pin) <= PIN_MAX):
        raise WardError(f"a PIN is {PIN_MIN} to {PIN_MAX} digits (0-9)")
    return pin


@dataclass(frozen=True, slots=True)
class Nurse:
    """A nurse of the ward (never her PIN): how the audit names her is :attr:`signature`."""

    nurse_id: int
    name: str
    initials: str
    created_t: float
    retired_t: float | None

    @property
    def signature(self) -> str:
        """ "Lan Nguyen (LN)": what the audit and the handover report show."""
        return f"{self.name} ({self.initials})"


@dataclass(frozen=True, slots=True)
class AdminAuditLine:
    at_t: float
    who: str
    action: str
    subject: str
    detail: str


class PeopleStore:
    """Nurses, the ward-admin audit and sealed family links; mixed into ``Store``."""

    if TYPE_CHECKING:

        def _write(
            self, action: str, *, durable: bool = False
        ) -> AbstractContextManager[sqlite3.Connection]: ...

        def _read(self, action: str, sql: str, params: Sequence[object] = ()) -> list[Any]: ...

    # Nurses ---------------------------------------------------------------------------------------
    @staticmethod
    def _nurse(row: Sequence[Any]) -> Nurse:
        return Nurse(
            int(row[0]), str(row[1]), str(row[2]), float(row[3]), None if row[4] is None else float(row[4])
        )

    def nurses(self, *, include_retired: bool = False) -> list[Nurse]:
        where = "" if include_retired else "WHERE retired_t IS NULL"
        rows = self._read(
            "listing nurses",
            "SELECT nurse_id, name, initials, created_t, retired_t FROM nurses "
            f"{where} ORDER BY name, nurse_id",
        )
        return [self._nurse(r) for r in rows]

    def add_nurse(self, name: str, initials: str, pin: str, *, now: float, who: str) -> Nurse:
        """Add a nurse; initials already used by a nurse on the ward are a conflict (they are what
        she types with her PIN)."""
        salt = secrets.token_bytes(16)
        digest = hash_pin(check_pin(pin), salt)
        with self._write(f"adding nurse {initials}", durable=True) as c:
            self._initials_free(c, initials)
            cur = c.execute(
                "INSERT INTO nurses(name, initials, pin_salt, pin_hash, created_t, created_by) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, initials, salt, digest, now, who),
            )
            nurse_id = int(cur.lastrowid or 0)
            self._audit(c, now, who, "nurse_added", f"{name} ({initials})", "")
        return Nurse(nurse_id, name, initials, now, None)

    @staticmethod
    def _initials_free(c: sqlite3.Connection, initials: str, but: int | None = None) -> None:
        row = c.execute(
            "SELECT nurse_id, name FROM nurses WHERE upper(initials) = upper(?) AND retired_t IS NULL",
            (initials,),
        ).fetchone()
        if row is not None and int(row[0]) != but:
            raise WardConflictError(
                f"the initials {initials} are {row[1]}'s already: add a letter (e.g. a middle initial)"
            )

    def _get_nurse(self, c: sqlite3.Connection, nurse_id: int) -> Nurse:
        row = c.execute(
            "SELECT nurse_id, name, initials, created_t, retired_t FROM nurses WHERE nurse_id = ?",
            (nurse_id,),
        ).fetchone()
        if row is None or row[4] is not None:
            raise NotFoundError(f"no nurse {nurse_id} on this ward")
        return self._nurse(row)

    def update_nurse(
        self,
        nurse_id: int,
        *,
        name: str | None = None,
        initials: str | None = None,
        pin: str | None = None,
        now: float,
        who: str,
    ) -> Nurse:
        """Change a nurse's name, initials or PIN (a new salt with a new PIN); audited, never the PIN."""
        fresh = None if pin is None else (lambda s: (s, hash_pin(check_pin(pin), s)))(secrets.token_bytes(16))
        with self._write(f"changing nurse {nurse_id}", durable=True) as c:
            nurse = self._get_nurse(c, nurse_id)
            changed: list[str] = []
            if name is not None and name != nurse.name:
                c.execute("UPDATE nurses SET name = ? WHERE nurse_id = ?", (name, nurse_id))
                changed.append(f"name {nurse.name} -> {name}")
            if initials is not None and initials != nurse.initials:
                self._initials_free(c, initials, but=nurse_id)
                c.execute("UPDATE nurses SET initials = ? WHERE nurse_id = ?", (initials, nurse_id))
                changed.append(f"initials {nurse.initials} -> {initials}")
            if fresh is not None:
                c.execute(
                    "UPDATE nurses SET pin_salt = ?, pin_hash = ? WHERE nurse_id = ?",
                    (fresh[0], fresh[1], nurse_id),
                )
                changed.append("new PIN")
            out = self._get_nurse(c, nurse_id)
            self._audit(c, now, who, "nurse_changed", out.signature, "; ".join(changed))
            return out

    def retire_nurse(self, nurse_id: int, *, now: float, who: str) -> Nurse:
        """A nurse who left: her PIN stops working; the audit keeps her name on what she did."""
        with self._write(f"removing nurse {nurse_id}", durable=True) as c:
            nurse = self._get_nurse(c, nurse_id)
            c.execute(
                "UPDATE nurses SET retired_t = ?, retired_by = ? WHERE nurse_id = ?", (now, who, nurse_id)
            )
            self._audit(c, now, who, "nurse_removed", nurse.signature, "")
            return nurse

    def nurse_by_pin(self, initials: str, pin: str) -> Nurse | None:
        """The nurse on the ward with these initials and this PIN, else None (the same None for
        unknown initials and a wrong PIN, after the same scrypt work, so the answer's timing does
        not say which initials exist)."""
        rows = self._read(
            "checking a nurse's PIN",
            "SELECT nurse_id, name, initials, created_t, retired_t, pin_salt, pin_hash FROM nurses "
            "WHERE upper(initials) = upper(?) AND retired_t IS NULL",
            (initials,),
        )
        if not rows:
            verify_pin(pin, b"\0" * 16, b"\0" * 32)
            return None
        row = rows[0]
        return self._nurse(row) if verify_pin(pin, bytes(row[5]), bytes(row[6])) else None

    # Beds -----------------------------------------------------------------------------------------
    def rename_bed(self, bed_id: str, label: str, *, now: float, who: str) -> None:
        with self._write(f"renaming bed {bed_id}", durable=True) as c:
            row = c.execute(
                "SELECT label FROM beds WHERE bed_id = ? AND retired_t IS NULL", (bed_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no bed {bed_id!r} on this ward")
            c.execute("UPDATE beds SET label = ? WHERE bed_id = ?", (label, bed_id))
            self._audit(c, now, who, "bed_renamed", bed_id, f"{row[0]} -> {label}")

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
            self._audit(c, now, who, "beds_reordered", "ward", ", ".join(order))

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
            self._audit(c, now, who, "bed_removed", bed_id, "")

    # Admissions -----------------------------------------------------------------------------------
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
            self._audit(c, now, who, "admission_edited", f"admission {admission_id}", "; ".join(diffs))

    # The audit ------------------------------------------------------------------------------------
    @staticmethod
    def _audit(c: sqlite3.Connection, now: float, who: str, action: str, subject: str, detail: str) -> None:
        c.execute(
            "INSERT INTO ward_admin_audit(at_t, who, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
            (now, who, action, subject, detail),
        )

    def admin_audit(self, now: float, who: str, action: str, subject: str, detail: str = "") -> None:
        """Record a ward-admin action done elsewhere (a wrap assigned, a swap undone)."""
        with self._write(f"recording {action}", durable=True) as c:
            self._audit(c, now, who, action, subject, detail)

    def admin_audit_log(self, *, limit: int = 200) -> list[AdminAuditLine]:
        """The most recent ward-admin actions, newest first."""
        rows = self._read(
            "reading the ward admin audit",
            "SELECT at_t, who, action, subject, detail FROM ward_admin_audit ORDER BY audit_id DESC LIMIT ?",
            (limit,),
        )
        return [AdminAuditLine(float(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]

    # Sealed family links --------------------------------------------------------------------------
    def seal_family_link(self, admission_id: int, sealed: bytes, *, now: float) -> None:
        with self._write("keeping a family link", durable=True) as c:
            c.execute(
                "INSERT INTO family_link_seals(admission_id, sealed, saved_t) VALUES (?, ?, ?) "
                "ON CONFLICT(admission_id) DO UPDATE SET sealed = excluded.sealed, "
                "saved_t = excluded.saved_t",
                (admission_id, sealed, now),
            )

    def sealed_family_links(self) -> Iterator[tuple[int, bytes]]:
        """Sealed tokens of the current admissions (a discharged stay's link is dead anyway)."""
        rows = self._read(
            "reading kept family links",
            "SELECT s.admission_id, s.sealed FROM family_link_seals s JOIN admissions a "
            "ON a.admission_id = s.admission_id WHERE a.discharged_t IS NULL",
        )
        for admission_id, sealed in rows:
            yield int(admission_id), bytes(sealed)
