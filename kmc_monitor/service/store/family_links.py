"""Family links: each admission's one live link, kept as the token's SHA-256 only (a copied
database holds no working link), revoked at discharge; and the token kept sealed (AES-GCM, with a
key that lives in a file of the data directory, not in the database) so that a restarted service
can print a card again without cutting off the parents' open page."""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Iterator

from kmc_monitor.service.store.admissions import ADMISSION_COLUMNS, admission_from_row, get_admission
from kmc_monitor.service.store.connection import StoreConnection
from kmc_monitor.service.ward_model import Admission, AlreadyDischargedError

__all__ = ["FamilyLinkStore", "insert_link", "revoke_links"]


def insert_link(c: sqlite3.Connection, admission_id: int, token_sha256: bytes, now: float, who: str) -> None:
    if len(token_sha256) != 32:
        raise ValueError("token_sha256 must be a SHA-256 digest (32 bytes)")
    c.execute(
        "INSERT INTO family_links(admission_id, token_sha256, created_t, created_by) VALUES (?, ?, ?, ?)",
        (admission_id, bytes(token_sha256), now, who),
    )


def revoke_links(c: sqlite3.Connection, admission_id: int, now: float, who: str) -> int:
    return c.execute(
        "UPDATE family_links SET revoked_t = ?, revoked_by = ? WHERE admission_id = ? AND revoked_t IS NULL",
        (now, who, admission_id),
    ).rowcount


class FamilyLinkStore(StoreConnection):
    """The ``family_links`` and ``family_link_seals`` tables."""

    def replace_family_link(self, admission_id: int, token_sha256: bytes, *, now: float, who: str) -> None:
        """Revoke the admission's live link and store a new one's hash (current admissions only)."""
        with self._write(f"renewing the family link of admission {admission_id}", durable=True) as c:
            current = get_admission(c, admission_id)
            if current.discharged_t is not None:
                raise AlreadyDischargedError(
                    f"admission {admission_id} was discharged: it cannot have a family link"
                )
            revoke_links(c, current.admission_id, now, who)
            insert_link(c, current.admission_id, token_sha256, now, who)

    def revoke_family_links(self, admission_id: int, *, now: float, who: str) -> int:
        """Revoke the admission's live link; returns how many were revoked (0 or 1)."""
        with self._write(f"revoking the family link of admission {admission_id}", durable=True) as c:
            get_admission(c, admission_id)
            return revoke_links(c, int(admission_id), now, who)

    def admission_for_token_hash(self, token_sha256: bytes) -> Admission | None:
        """The current admission whose live link has this hash, else None.

        Looking the hash up in an index leaks, at most, timing about the *hash*, which tells an
        attacker nothing about a token; the final comparison is constant-time all the same.
        """
        rows = self._read(
            "checking a family link",
            f"SELECT l.token_sha256, {', '.join('a.' + c.strip() for c in ADMISSION_COLUMNS.split(','))} "
            "FROM family_links l JOIN admissions a ON a.admission_id = l.admission_id "
            "WHERE l.token_sha256 = ? AND l.revoked_t IS NULL AND a.discharged_t IS NULL",
            (bytes(token_sha256),),
        )
        for row in rows:
            if hmac.compare_digest(bytes(row[0]), bytes(token_sha256)):
                return admission_from_row(row[1:])
        return None

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
