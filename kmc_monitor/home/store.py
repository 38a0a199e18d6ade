"""The home gateway's one SQLite file: pairing, readings, replay counters and the outbox.

Why one file with ``synchronous=FULL``: a home board loses power without warning (a cut, a
knocked plug) for weeks on end. Each step of the gateway commits the readings it heard, the wraps'
replay counters and the outbox items they produce in *one* transaction, fsynced in the WAL before it
returns; so after any cut the file holds either all of a step or none of it. An item is never in
the outbox without the reading that caused it, a sequence number is never handed out twice
(``AUTOINCREMENT`` keeps the high-water mark even after every row is acknowledged and deleted), and
a packet already committed is refused as ``replayed`` if a wrap's old advert is heard again.

Bounded: local readings are kept for ``keep_days`` (the family view and the rules after a restart
need a few days; the station keeps the record): about 103 bytes a reading, 4.5 MB a wrap-day at a
reading every 2 s. The outbox holds only what the station has not yet acknowledged
(``accepted_through`` deletes the rest): about 142 bytes an item on disk, so a month offline at one
reading a minute is 43 200 items, about 6.1 MB per wrap, plus about 255 kB per hour of cold
episode (every reading). docs/home.md says how these were measured.

This file is the home's own, not the ward service's database: its schema is versioned here
(``user_version``), apart from ``service/store/migrations.py``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np

from kmc_monitor.devices.reading import Reading
from kmc_monitor.errors import KmcError
from kmc_monitor.station.wire import PairingCode

__all__ = ["DB_NAME", "SCHEMA_VERSION", "HomeStore", "HomeStoreError", "OutboxRow", "StoredReadings"]

#: The file's name inside ``--data-dir``.
DB_NAME: Final = "home.sqlite"
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS readings (wrap_id TEXT NOT NULL, t REAL NOT NULL, skin REAL, "
    "ambient REAL, contact REAL, battery REAL, rssi REAL, counter INTEGER, sealed BLOB)",
    "CREATE INDEX IF NOT EXISTS readings_wrap_t ON readings (wrap_id, t)",
    "CREATE TABLE IF NOT EXISTS counters (wrap_id TEXT PRIMARY KEY, last_counter INTEGER, "
    "last_minute INTEGER)",
    "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "kind TEXT NOT NULL CHECK (kind IN ('reading', 'day')), body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS days_done (wrap_id TEXT NOT NULL, day TEXT NOT NULL, "
    "PRIMARY KEY (wrap_id, day))",
)

Kind = Literal["reading", "day"]


class HomeStoreError(KmcError):
    """The home's data file cannot be used (another version, a damaged file)."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One queued item: its sequence number, kind and JSON body (the wire item without ``seq``)."""

    seq: int
    kind: Kind
    body: str


@dataclass(frozen=True, slots=True)
class StoredReadings:
    """One wrap's stored readings as columns (NaN for a value the wrap did not send)."""

    t: np.ndarray
    skin: np.ndarray
    ambient: np.ndarray
    contact: np.ndarray
    battery: np.ndarray


class HomeStore:
    """One connection to the home's data file. Not shared between threads: the forwarder opens its own."""

    def __init__(self, data_dir: str | Path) -> None:
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / DB_NAME
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version not in (0, SCHEMA_VERSION):
            raise HomeStoreError(
                f"{self.path} is schema version {version}; this kmc-monitor reads version "
                f"{SCHEMA_VERSION}: upgrade kmc-monitor, or pair into a new --data-dir"
            )
        with self._tx():
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _tx(self) -> _Tx:
        return _Tx(self._db)

    def close(self) -> None:
        self._db.close()

    # Meta --------------------------------------------------------------------------------------
    def _get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def pairing(self) -> PairingCode | None:
        """The pairing this home runs under, or None before ``home pair``."""
        text = self._get("pairing")
        return None if text is None else PairingCode.model_validate_json(text)

    def set_pairing(self, code: PairingCode) -> None:
        """Pair (or re-pair to the same home). Pairing to another home needs a new data dir:
        its outbox sequence belongs to the first home and must not be continued under another id."""
        current = self.pairing()
        if current is not None and current.home_id != code.home_id:
            raise HomeStoreError(
                f"this data dir belongs to home {current.home_id!r}; pair home {code.home_id!r} "
                "into a new --data-dir (its queued items still go to the first home's station)"
            )
        with self._tx():
            self._set("pairing", code.model_dump_json())

    def begin_run(self) -> int:
        """Mark the start of a run; returns the count of runs that ended without a clean shutdown."""
        with self._tx():
            cuts = int(self._get("power_cuts") or 0)
            if self._get("running") == "1":
                cuts += 1
                self._set("power_cuts", str(cuts))
            self._set("running", "1")
        return cuts

    def end_run(self) -> None:
        """A clean shutdown: the next start is not counted as a power cut."""
        with self._tx():
            self._set("running", "0")

    @property
    def power_cuts(self) -> int:
        return int(self._get("power_cuts") or 0)

    # Readings and state ------------------------------------------------------------------------
    def counters(self) -> tuple[dict[str, int], dict[str, int]]:
        """Per wrap: the last accepted encryption counter, and the last minute forwarded."""
        counters: dict[str, int] = {}
        minutes: dict[str, int] = {}
        for wrap_id, counter, minute in self._db.execute(
            "SELECT wrap_id, last_counter, last_minute FROM counters"
        ):
            if counter is not None:
                counters[str(wrap_id)] = int(counter)
            if minute is not None:
                minutes[str(wrap_id)] = int(minute)
        return counters, minutes

    def commit_step(
        self,
        readings: Sequence[Reading],
        items: Sequence[tuple[Kind, str]],
        counters: Mapping[str, int],
        minutes: Mapping[str, int],
        days_done: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Store one step atomically: readings heard, outbox items (in order), replay state."""
        with self._tx():
            self._db.executemany(
                "INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.wrap_id,
                        r.t,
                        r.skin_temp_c,
                        r.ambient_temp_c,
                        r.contact,
                        r.battery_pct,
                        r.rssi_dbm,
                        r.counter,
                        r.sealed,
                    )
                    for r in readings
                ],
            )
            self._db.executemany("INSERT INTO outbox (kind, body) VALUES (?, ?)", items)
            for wrap_id in set(counters) | set(minutes):
                self._db.execute(
                    "INSERT INTO counters (wrap_id, last_counter, last_minute) VALUES (?, ?, ?) "
                    "ON CONFLICT (wrap_id) DO UPDATE SET "
                    "last_counter = coalesce(excluded.last_counter, last_counter), "
                    "last_minute = coalesce(excluded.last_minute, last_minute)",
                    (wrap_id, counters.get(wrap_id), minutes.get(wrap_id)),
                )
            self._db.executemany("INSERT OR IGNORE INTO days_done VALUES (?, ?)", days_done)

    def days_done(self, wrap_id: str) -> set[str]:
        """ISO dates whose complete summary is queued (or already sent) for this wrap."""
        rows = self._db.execute("SELECT day FROM days_done WHERE wrap_id = ?", (wrap_id,))
        return {str(d) for (d,) in rows}

    def readings_since(self, wrap_id: str, t_s: float) -> StoredReadings:
        """A wrap's readings from ``t_s`` on, in time order, as columns (to rebuild the rules)."""
        rows = self._db.execute(
            "SELECT t, skin, ambient, contact, battery FROM readings WHERE wrap_id = ? AND t >= ? ORDER BY t",
            (wrap_id, t_s),
        ).fetchall()
        a = np.array(rows, dtype=np.float64).reshape(-1, 5)  # None becomes NaN
        return StoredReadings(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4])

    def last_reading_t(self) -> float | None:
        row = self._db.execute("SELECT max(t) FROM readings").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def prune(self, before_s: float) -> int:
        """Delete local readings older than ``before_s`` (retention); returns how many."""
        with self._tx():
            cur = self._db.execute("DELETE FROM readings WHERE t < ?", (before_s,))
            self._db.execute("DELETE FROM days_done WHERE day < date(?, 'unixepoch', '-7 days')", (before_s,))
        return cur.rowcount

    # Outbox ------------------------------------------------------------------------------------
    def outbox_head(self, max_readings: int, max_days: int) -> list[OutboxRow]:
        """The oldest queued items, contiguous in sequence, within both per-batch limits."""
        out: list[OutboxRow] = []
        left = {"reading": max_readings, "day": max_days}
        rows = self._db.execute(
            "SELECT seq, kind, body FROM outbox ORDER BY seq LIMIT ?", (max_readings + max_days,)
        )
        for seq, kind, body in rows:
            if left[kind] == 0:
                break  # the batch stays contiguous: the station acknowledges without gaps
            left[kind] -= 1
            out.append(OutboxRow(int(seq), kind, str(body)))
        return out

    def acknowledge(self, through: int) -> int:
        """Drop every item the station holds for good (``seq <= through``); returns how many."""
        with self._tx():
            cur = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (through,))
            self._set("accepted_through", str(max(through, int(self._get("accepted_through") or 0))))
        return cur.rowcount

    def accepted_through(self) -> int:
        """The highest sequence the station has acknowledged (0 before the first answer)."""
        return int(self._get("accepted_through") or 0)

    def last_battery(self) -> float | None:
        """The wrap battery last heard (any wrap of the home), for the station's list."""
        row = self._db.execute(
            "SELECT battery FROM readings WHERE battery IS NOT NULL ORDER BY t DESC LIMIT 1"
        ).fetchone()
        return None if row is None else float(row[0])

    def pending(self) -> int:
        """Items waiting for the station."""
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def last_seq(self) -> int:
        """The highest sequence number ever handed out (0 before the first)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return 0 if row is None else int(row[0])

    def outbox_bytes(self) -> int:
        """Bytes of the queued items' bodies (the outbox's payload size, without SQLite's overhead)."""
        row = self._db.execute("SELECT coalesce(sum(length(body)), 0) FROM outbox").fetchone()
        return int(row[0])

    def set_meta_json(self, key: str, value: object) -> None:
        with self._tx():
            self._set(key, json.dumps(value))

    def meta_json(self, key: str) -> object:
        text = self._get(key)
        return None if text is None else json.loads(text)


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on an exception)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
