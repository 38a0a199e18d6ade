"""The ward's nurses: people, not tokens. A name, initials (unique among the nurses on the ward) and
a PIN of 4 to 6 digits kept as scrypt(PIN, a salt of the nurse's own). A PIN is short, so it is the
slow KDF plus the web layer's rate limit (attempts counted per screen and initials) that keep it
from being guessed; nothing here ever holds a PIN in clear. Every change is in the ward-admin audit
(:mod:`.admin_audit`)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from kmc_monitor.service.store.admin_audit import record_admin_action
from kmc_monitor.service.store.connection import StoreConnection
from kmc_monitor.service.ward_model import NotFoundError, WardConflictError, WardError

__all__ = ["PIN_MAX", "PIN_MIN", "Nurse", "NurseStore", "check_pin", "hash_pin", "verify_pin"]

#: A PIN has 4 to 6 digits: typed with a glove on a shared screen, but not a birthday year alone.
PIN_MIN: Final = 4
PIN_MAX: Final = 6
#: scrypt cost: ~50 ms and 16 MiB per try on the ward's PC, so a stolen database costs an attacker
#: real time per guess, while a nurse confirming an acknowledgement waits for nothing she notices.
_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1


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


class NurseStore(StoreConnection):
    """The ``nurses`` table."""

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
            record_admin_action(c, now, who, "nurse_added", f"{name} ({initials})", "")
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
            record_admin_action(c, now, who, "nurse_changed", out.signature, "; ".join(changed))
            return out

    def retire_nurse(self, nurse_id: int, *, now: float, who: str) -> Nurse:
        """A nurse who left: her PIN stops working; the audit keeps her name on what she did."""
        with self._write(f"removing nurse {nurse_id}", durable=True) as c:
            nurse = self._get_nurse(c, nurse_id)
            c.execute(
                "UPDATE nurses SET retired_t = ?, retired_by = ? WHERE nurse_id = ?", (now, who, nurse_id)
            )
            record_admin_action(c, now, who, "nurse_removed", nurse.signature, "")
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
