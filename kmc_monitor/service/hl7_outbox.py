"""The HL7 interface's outbound queue: messages on disk until the interface engine accepts them.

A hospital's interface engine restarts, its network drops; neither may cost an alarm message or an
hour of observations. Every outbound HL7 message is written here, in the tick that made it, before
anything is sent; the sender takes the oldest row, and deletes it only after the engine's
acknowledgement (``AA``/``CA``). So a downed engine, or a killed service, loses nothing, and on
reconnection the backlog goes out in the order it was made (rows are numbered by an
``AUTOINCREMENT`` key, never reused). A message the engine refuses (``AE``/``AR``: resending will not
change its mind) moves to the ``rejected`` table, kept for an engineer, counted and logged, so it
does not block every later message.

Bounded (``max_rows``): an engine gone for weeks must not fill the disk. Past the bound the oldest
rows are dropped, observations first (alarms are kept while any observation can go), each drop
counted in the file and logged.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from kmc_monitor.errors import KmcError

__all__ = ["DEFAULT_MAX_ROWS", "FILENAME", "Hl7Outbox", "Hl7OutboxError", "QueuedMessage"]

logger = logging.getLogger(__name__)

FILENAME = "hl7-outbox.sqlite3"
#: A week of a 30-bed ward's minute-by-minute observations, with room for its alarms.
DEFAULT_MAX_ROWS = 500_000
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        control_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        made_us INTEGER NOT NULL,
        message TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS rejected (
        seq INTEGER PRIMARY KEY,
        control_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        made_us INTEGER NOT NULL,
        message TEXT NOT NULL,
        ack_code TEXT NOT NULL,
        reason TEXT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


class Hl7OutboxError(KmcError):
    """The HL7 queue file cannot be opened or written (disk full, permissions, not a database)."""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One waiting message: its queue number, MSH-10, kind (``pcd01``, ``pcd04``) and ER7 text."""

    seq: int
    control_id: str
    kind: str
    made_us: int
    message: str


class Hl7Outbox:
    """The on-disk queue of HL7 messages the interface engine has not yet accepted."""

    def __init__(self, path: str | os.PathLike[str], *, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.path = Path(path)
        self.max_rows = max_rows
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            for stmt in _SCHEMA:
                self._db.execute(stmt)
        except sqlite3.Error as exc:
            raise Hl7OutboxError(f"the HL7 queue {self.path} cannot be opened: {exc}") from None

    @classmethod
    def in_data_dir(cls, data_dir: str | os.PathLike[str], *, max_rows: int = DEFAULT_MAX_ROWS) -> Hl7Outbox:
        return cls(Path(data_dir) / FILENAME, max_rows=max_rows)

    def close(self) -> None:
        self._db.close()

    # Writing -------------------------------------------------------------------------------------
    def append(self, messages: list[tuple[str, str, int, str]]) -> None:
        """Queue ``(control_id, kind, made_us, message)`` rows in one transaction, in order."""
        if not messages:
            return
        try:
            with self._tx():
                self._db.executemany(
                    "INSERT INTO outbox (control_id, kind, made_us, message) VALUES (?, ?, ?, ?)", messages
                )
                self._bound()
        except sqlite3.Error as exc:
            raise Hl7OutboxError(f"HL7 messages could not be queued in {self.path}: {exc}") from None

    def _bound(self) -> None:
        over = self.pending() - self.max_rows
        if over <= 0:
            return
        # Observations go first: a stale temperature matters less than an alarm's start or end.
        order = "CASE kind WHEN 'pcd01' THEN 0 ELSE 1 END, seq"
        self._db.execute(
            f"DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY {order} LIMIT ?)", (over,)
        )
        self._db.execute(
            "INSERT INTO outbox_meta (key, value) VALUES ('dropped', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            (over,),
        )
        logger.warning("HL7 queue full (%d messages): the %d oldest were dropped", self.max_rows, over)

    def delete(self, seq: int) -> None:
        """The engine accepted message ``seq``: it leaves the queue."""
        try:
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
        except sqlite3.Error as exc:
            raise Hl7OutboxError(f"the HL7 queue {self.path} cannot be written: {exc}") from None

    def reject(self, seq: int, ack_code: str, reason: str) -> None:
        """The engine refused message ``seq``: kept aside (not resent), the queue moves on."""
        try:
            with self._tx():
                self._db.execute(
                    "INSERT OR REPLACE INTO rejected "
                    "(seq, control_id, kind, made_us, message, ack_code, reason) "
                    "SELECT seq, control_id, kind, made_us, message, ?, ? FROM outbox WHERE seq = ?",
                    (ack_code, reason, seq),
                )
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
        except sqlite3.Error as exc:
            raise Hl7OutboxError(f"the HL7 queue {self.path} cannot be written: {exc}") from None

    # Reading -------------------------------------------------------------------------------------
    def first(self) -> QueuedMessage | None:
        """The oldest waiting message (None when the queue is empty)."""
        row = self._db.execute(
            "SELECT seq, control_id, kind, made_us, message FROM outbox ORDER BY seq LIMIT 1"
        ).fetchone()
        return None if row is None else QueuedMessage(*row)

    def pending(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def rejected(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM rejected").fetchone()[0])

    def dropped(self) -> int:
        row = self._db.execute("SELECT value FROM outbox_meta WHERE key = 'dropped'").fetchone()
        return 0 if row is None else int(row[0])

    def last_seq(self) -> int:
        """The highest queue number ever given (survives restarts: the next control ids follow it)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return 0 if row is None else int(row[0])

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
