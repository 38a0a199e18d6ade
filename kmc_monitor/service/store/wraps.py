"""The wraps: their registry (id, MAC address, key), their replay counters, and the wrap audit
(who re-keyed a wrap or accepted its counter restarting; append-only)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from kmc_monitor.devices.errors import CredentialError
from kmc_monitor.devices.protocol.bthome import parse_key
from kmc_monitor.devices.protocol.verify import WrapEntry, WrapRegistry
from kmc_monitor.service.store.connection import StoreConnection
from kmc_monitor.service.ward_model import NotFoundError, WardConflictError, WardError, WrapInfo

__all__ = ["WrapStore", "insert_wrap", "record_wrap_action"]


def insert_wrap(c: sqlite3.Connection, entry: WrapEntry, now: float) -> None:
    if c.execute("SELECT 1 FROM wraps WHERE wrap_id = ?", (entry.wrap_id,)).fetchone():
        raise WardConflictError(f"wrap {entry.wrap_id} is registered already")
    row = c.execute("SELECT wrap_id FROM wraps WHERE mac = ?", (entry.mac,)).fetchone()
    if row:
        raise WardConflictError(f"MAC address {entry.mac} is registered already, as wrap {row[0]}")
    c.execute(
        "INSERT INTO wraps(wrap_id, mac, key_hex, created_t) VALUES (?, ?, ?, ?)",
        (entry.wrap_id, entry.mac, None if entry.key is None else entry.key.hex(), now),
    )


def record_wrap_action(
    c: sqlite3.Connection, now: float, wrap_id: str, action: str, who: str, detail: str
) -> None:
    c.execute(
        "INSERT INTO wrap_audit(at_t, wrap_id, action, who, detail) VALUES (?, ?, ?, ?, ?)",
        (float(now), wrap_id, action, who, detail),
    )


class WrapStore(StoreConnection):
    """The ``wraps`` and ``wrap_audit`` tables."""

    def add_wrap(self, wrap_id: str, mac: str, key: str | bytes | None = None, *, now: float) -> WrapInfo:
        """Register a wrap (MAC in any usual spelling, key as 32 hex digits or 16 bytes)."""
        try:
            entry = WrapEntry(wrap_id, mac, None if key is None else parse_key(key))
        except CredentialError as exc:
            raise WardError(f"wrap {wrap_id!r}: {exc}") from None
        with self._write(f"registering wrap {wrap_id}", durable=True) as c:
            insert_wrap(c, entry, now)
        return WrapInfo(entry.wrap_id, entry.mac, entry.key is not None, None)

    def import_registry(self, registry: WrapRegistry, *, now: float) -> int:
        """Register the wraps of a registry file not yet known; returns how many were added.

        A known wrap id with another MAC address is a conflict (fix the file or the database);
        a known wrap's key is updated to the file's.
        """
        added = 0
        with self._write("importing the wrap registry", durable=True) as c:
            for entry in registry:
                row = c.execute(
                    "SELECT mac, key_hex FROM wraps WHERE wrap_id = ?", (entry.wrap_id,)
                ).fetchone()
                key_hex = None if entry.key is None else entry.key.hex()
                if row is None:
                    insert_wrap(c, entry, now)
                    added += 1
                elif row[0] != entry.mac:
                    raise WardConflictError(
                        f"wrap {entry.wrap_id} has MAC address {row[0]} in the database but {entry.mac} "
                        "in the registry file"
                    )
                elif row[1] != key_hex:
                    c.execute(
                        "UPDATE wraps SET key_hex = ?, last_counter = NULL WHERE wrap_id = ?",
                        (key_hex, entry.wrap_id),
                    )
        return added

    def rekey_wrap(self, wrap_id: str, key: str | bytes | None, *, now: float, who: str) -> None:
        """Give a wrap a new key (re-provisioned) and restart its replay counter, recording who did
        it in the wrap audit log, in one transaction."""
        try:
            raw = None if key is None else parse_key(key)
        except CredentialError as exc:
            raise WardError(f"wrap {wrap_id!r}: {exc}") from None
        with self._write(f"re-keying wrap {wrap_id}", durable=True) as c:
            cur = c.execute(
                "UPDATE wraps SET key_hex = ?, last_counter = NULL WHERE wrap_id = ? AND retired_t IS NULL",
                (None if raw is None else raw.hex(), wrap_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no wrap {wrap_id!r} registered")
            detail = "key removed (keyless bench wrap)" if raw is None else "new key"
            record_wrap_action(c, now, wrap_id, "rekeyed", who, detail)

    def reset_wrap_counter(self, wrap_id: str, *, now: float, who: str) -> int | None:
        """Accept a re-flashed wrap's restarted counter: forget its last accepted counter (returned),
        recording who did it, in one transaction."""
        with self._write(f"resetting the counter of wrap {wrap_id}", durable=True) as c:
            row = c.execute(
                "SELECT last_counter FROM wraps WHERE wrap_id = ? AND retired_t IS NULL", (wrap_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no wrap {wrap_id!r} registered")
            c.execute("UPDATE wraps SET last_counter = NULL WHERE wrap_id = ?", (wrap_id,))
            before = None if row[0] is None else int(row[0])
            record_wrap_action(c, now, wrap_id, "counter_reset", who, f"last accepted counter was {before}")
        return before

    def wrap_audit(self, wrap_id: str | None = None) -> list[dict[str, Any]]:
        """Re-keys and counter resets, oldest first (one wrap's, or all)."""
        sql = "SELECT at_t, wrap_id, action, who, detail FROM wrap_audit"
        params: tuple[str, ...] = ()
        if wrap_id is not None:
            sql += " WHERE wrap_id = ?"
            params = (wrap_id,)
        rows = self._read("reading the wrap audit log", sql + " ORDER BY audit_id", params)
        return [{"at_t": t, "wrap_id": w, "action": a, "who": who, "detail": d} for t, w, a, who, d in rows]

    def wraps(self) -> list[WrapInfo]:
        rows = self._read(
            "listing wraps",
            "SELECT w.wrap_id, w.mac, w.key_hex IS NOT NULL, a.bed_id, w.last_counter FROM wraps w "
            "LEFT JOIN wrap_assignments a ON a.wrap_id = w.wrap_id AND a.end_t IS NULL "
            "WHERE w.retired_t IS NULL ORDER BY w.wrap_id",
        )
        return [WrapInfo(w, mac, bool(k), bed, counter) for w, mac, k, bed, counter in rows]

    def wrap_registry(self, *, allow_unencrypted: bool = False) -> WrapRegistry:
        """The registered wraps as the :class:`WrapRegistry` the advertisement verifier needs."""
        rows = self._read(
            "reading the wrap registry",
            "SELECT wrap_id, mac, key_hex FROM wraps WHERE retired_t IS NULL ORDER BY wrap_id",
        )
        entries = [WrapEntry(w, mac, None if k is None else bytes.fromhex(k)) for w, mac, k in rows]
        return WrapRegistry(entries, allow_unencrypted=allow_unencrypted)

    def save_wrap_counters(self, counters: Mapping[str, int]) -> None:
        """Keep the verifier's last accepted counters (all of them: a wrap left out is reset)."""
        with self._write("saving wrap replay counters", durable=True) as c:
            c.execute("UPDATE wraps SET last_counter = NULL")
            c.executemany(
                "UPDATE wraps SET last_counter = ? WHERE wrap_id = ?",
                [(int(n), w) for w, n in counters.items()],
            )

    def wrap_counters(self) -> dict[str, int]:
        rows = self._read(
            "reading wrap replay counters",
            "SELECT wrap_id, last_counter FROM wraps WHERE last_counter IS NOT NULL",
        )
        return {w: int(n) for w, n in rows}
