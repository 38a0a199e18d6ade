"""The gateway's outbox: readings on disk until the broker has acknowledged them.

A room gateway must not lose readings when the broker or the network is away, nor when the gateway
itself crashes or loses power, so every reading goes through this SQLite table before it is
published, and a row is deleted only after the broker's PUBACK for it (QoS 1: the broker then owns
the message). Rows are numbered by an ``AUTOINCREMENT`` key, which SQLite never reuses, not even
after every row was deleted or the file reopened: the number is the reading's ``seq`` on the wire,
and publishing goes by it, so readings leave in the order they were heard.

The outbox is bounded (``max_rows``): a gateway cut off for days must not fill its disk. Past the
bound the oldest rows are dropped, as the freshest readings are the ones a ward screen needs, and
every drop is counted in the file (so the count survives a restart) and logged.

Each row keeps the reading's ``counter`` (the wrap's measurement id, see
:class:`~kmc_monitor.devices.reading.Reading`), so a copy sent after an outage is still recognised as
the same measurement by the ward. An outbox file from before that column existed gets it when it is
opened (its waiting rows have none, as their readings had none).

Durability: WAL journal with ``synchronous=FULL``, so a committed append survives a power cut, not
only a crash of the process. Appends are batched by the caller (one transaction per poll, a few per
second), which keeps the fsyncs few on a gateway's SD card.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from kmc_monitor.devices.reading import Reading
from kmc_monitor.errors import KmcError

__all__ = ["DEFAULT_MAX_ROWS", "Outbox", "OutboxError"]

logger = logging.getLogger(__name__)

#: About a day of readings of 20 wraps measuring every 2 s.
DEFAULT_MAX_ROWS = 1_000_000
FILENAME = "mqtt-outbox.sqlite3"
_COLUMNS = (
    "t",
    "wrap_id",
    "skin_temp_c",
    "ambient_temp_c",
    "contact",
    "battery_pct",
    "rssi_dbm",
    "counter",
    "sealed",
)
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        t REAL NOT NULL,
        wrap_id TEXT NOT NULL,
        skin_temp_c REAL,
        ambient_temp_c REAL,
        contact REAL,
        battery_pct REAL,
        rssi_dbm REAL,
        counter INTEGER,
        sealed BLOB
    )""",
    "CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


def _private_file(path: Path) -> None:
    """Create the outbox 0600 in a 0700 directory (it holds the wraps' sealed packets and the
    ward's readings: no other user of the gateway's machine reads them). An existing directory or
    file that others can read is tightened, and said so once."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for target, mode in ((path.parent, 0o700), (path, 0o600)):
        if not target.exists():
            continue
        current = target.stat().st_mode & 0o777
        if current & 0o077:
            os.chmod(target, mode)
            logger.warning("%s was readable by other users (%o): now %o", target, current, mode)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class OutboxError(KmcError):
    """The outbox file cannot be opened or written (disk full, permissions, not a database)."""


class Outbox:
    """The on-disk queue of readings a gateway has not yet had acknowledged.

    Parameters
    ----------
    path
        The SQLite file (created if missing); :meth:`in_data_dir` names it inside a data directory.
    max_rows
        At most this many readings are kept; appending past it drops the oldest (counted).
    """

    def __init__(self, path: str | os.PathLike[str], *, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.path = Path(path)
        self.max_rows = max_rows
        try:
            _private_file(self.path)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                self._db.execute(statement)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
            if "counter" not in columns:  # an outbox written before readings carried a counter
                self._db.execute("ALTER TABLE outbox ADD COLUMN counter INTEGER")
            if "sealed" not in columns:  # an outbox written before gateways forwarded the packets
                self._db.execute("ALTER TABLE outbox ADD COLUMN sealed BLOB")
            self._rows = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])
            row = self._db.execute("SELECT value FROM outbox_meta WHERE key = 'dropped'").fetchone()
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the gateway's outbox {self.path}: {exc}") from None
        except OSError as exc:
            raise OutboxError(f"cannot create the gateway's outbox {self.path}: {exc.strerror}") from None
        self._dropped = 0 if row is None else int(row[0])
        if self._rows:
            logger.info("outbox %s holds %d reading(s) not yet acknowledged", self.path, self._rows)

    @classmethod
    def in_data_dir(cls, data_dir: str | os.PathLike[str], *, max_rows: int = DEFAULT_MAX_ROWS) -> Outbox:
        return cls(Path(data_dir) / FILENAME, max_rows=max_rows)

    def __len__(self) -> int:
        return self._rows

    @property
    def dropped(self) -> int:
        """Readings dropped for the bound since the file was created."""
        return self._dropped

    def append(self, readings: Iterable[Reading]) -> int:
        """Queue readings (in the order given, one transaction); returns how many old ones were
        dropped to stay within ``max_rows``."""
        rows = [
            (
                r.t,
                r.wrap_id,
                r.skin_temp_c,
                r.ambient_temp_c,
                r.contact,
                r.battery_pct,
                r.rssi_dbm,
                r.counter,
                r.sealed,
            )
            for r in readings
        ]
        if not rows:
            return 0
        excess = max(0, self._rows + len(rows) - self.max_rows)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                f"INSERT INTO outbox ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", rows
            )
            if excess:
                self._db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                    (excess,),
                )
                self._db.execute(
                    "INSERT INTO outbox_meta (key, value) VALUES ('dropped', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                    (excess,),
                )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxError(f"cannot write to the gateway's outbox {self.path}: {exc}") from None
        self._rows += len(rows) - excess
        if excess:
            self._dropped += excess
            logger.warning(
                "outbox full (%d readings): dropped the %d oldest (%d dropped in all)",
                self.max_rows,
                excess,
                self._dropped,
            )
        return excess

    def peek(self, limit: int, after_seq: int = 0) -> list[tuple[int, Reading]]:
        """Up to ``limit`` queued readings with their ``seq``, oldest first, from after ``after_seq``."""
        try:
            rows = self._db.execute(
                f"SELECT seq, {', '.join(_COLUMNS)} FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot read the gateway's outbox {self.path}: {exc}") from None
        return [
            (
                int(seq),
                Reading(
                    t,
                    wrap_id,
                    skin,
                    amb,
                    con,
                    bat,
                    rssi,
                    None if ctr is None else int(ctr),
                    None if sealed is None else bytes(sealed),
                ),
            )
            for seq, t, wrap_id, skin, amb, con, bat, rssi, ctr, sealed in rows
        ]

    def ack(self, up_to_seq: int) -> int:
        """Delete the readings up to and including ``up_to_seq`` (the broker has them); how many."""
        try:
            cur = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (up_to_seq,))
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot update the gateway's outbox {self.path}: {exc}") from None
        n = max(0, cur.rowcount)
        self._rows = max(0, self._rows - n)
        return n

    def next_seq(self) -> int:
        """The ``seq`` the next appended reading will get."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return 1 if row is None else int(row[0]) + 1

    def oldest_t(self) -> float:
        """Time of the oldest queued reading (``inf`` when empty): how far behind the gateway is."""
        row = self._db.execute("SELECT t FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return math.inf if row is None else float(row[0])

    def close(self) -> None:
        self._db.close()

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
