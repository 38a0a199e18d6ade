"""A room gateway's own small store: the wraps it may hear and their replay counters.

``kmc-monitor gateway`` verifies what it hears with the wraps' keys and refuses a replayed packet by
its counter, so it keeps both across restarts. It needs nothing else of a ward, so it keeps them in
one small SQLite file of its data directory, ``gateway.sqlite3`` (next to the outbox,
:mod:`~kmc_monitor.mqtt.buffer`), with its own schema:

``wraps(wrap_id, mac, key_hex, last_counter, created_t)``
    The registry (imported from ``--registry`` files) and the last accepted counter per wrap.
``gateway_meta(key, value)``
    ``schema`` (the version, 1) and, after a migration, ``imported_from``.

Migration: gateways before this store kept the same facts in a whole ward database in their data
directory (``kmc-monitor.sqlite3``, its ``wraps`` table). When ``gateway.sqlite3`` is created in a
directory that holds one, the wraps still registered there (ids, MAC addresses, keys, counters) are
copied in once, read-only: the old file is left as it was (nothing reads it again; an operator may
delete it).

The store implements :class:`~kmc_monitor.sources.WrapBook`, the Bluetooth source's view of it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kmc_monitor.devices.protocol.verify import WrapEntry, WrapRegistry
from kmc_monitor.errors import KmcError
from kmc_monitor.sources import RegistryConflictError

__all__ = ["FILENAME", "GatewayStore", "GatewayStoreError"]

logger = logging.getLogger(__name__)

#: The store's file in the gateway's data directory.
FILENAME = "gateway.sqlite3"
#: Where gateways before this store kept their registry and counters (a ward database's file name).
LEGACY_FILENAME = "kmc-monitor.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS wraps (
        wrap_id TEXT PRIMARY KEY,
        mac TEXT NOT NULL UNIQUE,
        key_hex TEXT,
        last_counter INTEGER,
        created_t REAL NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS gateway_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


class GatewayStoreError(KmcError):
    """The gateway's store cannot be read or written (the message says which file and why)."""


class GatewayStore:
    """See the module docstring. ``path``: the database file (created 0600 in a 0700 directory)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        try:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self._path.exists():
                os.close(os.open(self._path, os.O_CREAT | os.O_WRONLY, 0o600))
            self._db = sqlite3.connect(self._path, isolation_level=None)
        except OSError as exc:
            raise GatewayStoreError(
                f"cannot create the gateway's store {self._path}: {exc.strerror or exc}"
            ) from None
        except sqlite3.Error as exc:
            raise GatewayStoreError(f"cannot open the gateway's store {self._path}: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._transaction():
                for statement in _SCHEMA:
                    self._db.execute(statement)
                row = self._db.execute("SELECT value FROM gateway_meta WHERE key = 'schema'").fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO gateway_meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                    )
                    self._import_legacy(self._path.parent / LEGACY_FILENAME)
        except sqlite3.Error as exc:
            self._db.close()
            raise GatewayStoreError(f"cannot open the gateway's store {self._path}: {exc}") from None

    @classmethod
    def in_data_dir(cls, data_dir: str | os.PathLike[str]) -> GatewayStore:
        return cls(Path(data_dir) / FILENAME)

    @property
    def path(self) -> Path:
        return self._path

    def __enter__(self) -> GatewayStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # Transactions ---------------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _import_legacy(self, legacy: Path) -> None:
        """Copy the registered wraps of a ward database the gateway used before (module docstring)."""
        if not legacy.is_file():
            return
        try:
            old = sqlite3.connect(f"{legacy.resolve().as_uri()}?mode=ro", uri=True)
            try:
                rows = old.execute(
                    "SELECT wrap_id, mac, key_hex, last_counter, created_t FROM wraps WHERE retired_t IS NULL"
                ).fetchall()
            finally:
                old.close()
        except sqlite3.Error as exc:
            logger.warning("the earlier registry in %s could not be read (%s): starting afresh", legacy, exc)
            return
        self._db.executemany(
            "INSERT INTO wraps(wrap_id, mac, key_hex, last_counter, created_t) VALUES (?, ?, ?, ?, ?)", rows
        )
        self._db.execute("INSERT INTO gateway_meta(key, value) VALUES ('imported_from', ?)", (str(legacy),))
        logger.info("%d wrap(s) and their replay counters imported from %s", len(rows), legacy)

    # WrapBook -------------------------------------------------------------------------------------
    def fresh(self) -> bool:
        """No wrap registered yet."""
        return int(self._read("SELECT count(*) FROM wraps", ())[0][0]) == 0

    def import_registry(self, registry: WrapRegistry, *, now: float) -> int:
        """Register the wraps not yet known; returns how many were added. A known wrap id with
        another MAC address is a conflict; a known wrap's new key restarts its counter."""
        added = 0
        try:
            with self._transaction():
                for entry in registry:
                    row = self._db.execute(
                        "SELECT mac, key_hex FROM wraps WHERE wrap_id = ?", (entry.wrap_id,)
                    ).fetchone()
                    key_hex = None if entry.key is None else entry.key.hex()
                    if row is None:
                        self._db.execute(
                            "INSERT INTO wraps(wrap_id, mac, key_hex, created_t) VALUES (?, ?, ?, ?)",
                            (entry.wrap_id, entry.mac, key_hex, now),
                        )
                        added += 1
                    elif row[0] != entry.mac:
                        raise RegistryConflictError(
                            f"wrap {entry.wrap_id} has MAC address {row[0]} in the gateway's store but "
                            f"{entry.mac} in the registry file"
                        )
                    elif row[1] != key_hex:
                        self._db.execute(
                            "UPDATE wraps SET key_hex = ?, last_counter = NULL WHERE wrap_id = ?",
                            (key_hex, entry.wrap_id),
                        )
        except sqlite3.IntegrityError as exc:  # another wrap id on a known MAC address
            raise RegistryConflictError(f"the registry contradicts the gateway's store: {exc}") from None
        except sqlite3.Error as exc:
            raise GatewayStoreError(f"cannot import the registry into {self._path}: {exc}") from None
        return added

    def wrap_registry(self) -> list[WrapEntry]:
        rows = self._read("SELECT wrap_id, mac, key_hex FROM wraps ORDER BY wrap_id", ())
        return [WrapEntry(w, mac, None if k is None else bytes.fromhex(k)) for w, mac, k in rows]

    def wrap_counters(self) -> dict[str, int]:
        rows = self._read("SELECT wrap_id, last_counter FROM wraps WHERE last_counter IS NOT NULL", ())
        return {w: int(n) for w, n in rows}

    def save_wrap_counters(self, counters: Mapping[str, int]) -> None:
        """Keep the verifier's last accepted counters (all of them: a wrap left out is reset)."""
        try:
            with self._transaction():
                self._db.execute("UPDATE wraps SET last_counter = NULL")
                self._db.executemany(
                    "UPDATE wraps SET last_counter = ? WHERE wrap_id = ?",
                    [(int(n), w) for w, n in counters.items()],
                )
        except sqlite3.Error as exc:
            raise GatewayStoreError(f"cannot save the replay counters in {self._path}: {exc}") from None

    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise GatewayStoreError(f"cannot read {self._path}: {exc}") from None


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
