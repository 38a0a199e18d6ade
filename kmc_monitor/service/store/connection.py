"""The store's one SQLite connection: opening the file, WAL and pragmas, its permissions, and the
transactions every table family writes and reads through.

Durability, and why it is split in two
--------------------------------------
The file runs in write-ahead-log mode (readers never block the writer, so a chart query does not
hold up the readings) with ``synchronous=NORMAL``: a commit is written to the WAL but not fsynced;
the WAL is fsynced at each checkpoint. That is safe against a crash of the *process* (``kill -9``,
an exception, the OOM killer): the operating system still holds every committed page and the file
is consistent when reopened (tested with a SIGKILLed writer). Against a *power loss or kernel
crash* it may lose the commits since the last checkpoint, but never corrupts the file.

- **Readings** are committed in batches at least every second
  (:class:`~kmc_monitor.service.store.readings.ReadingWriter`) with ``NORMAL``: an fsync per second
  per ward would wear flash storage and stall the writer for nothing, and losing the last second of
  readings after a power cut is harmless (the wraps keep sending; alarms are judged live, not from
  the file).
- **Everything a person did or must be able to prove** — admissions, discharges, wrap assignments,
  family links, the alarm board and its audit log (acknowledgements), settings — commits with
  ``synchronous=FULL`` for that one transaction (``durable=True``): the WAL is fsynced before the
  call returns, so an acknowledged alarm or an admitted baby survives even a power cut. Those
  transactions are rare (a few per hour), so the fsync costs nothing that matters.

Errors
------
Every SQLite failure becomes a :class:`~kmc_monitor.service.store.errors.StoreError` whose
``reason`` says what happened. The failed transaction is rolled back as a whole, so the caller still
holds its data and can retry: nothing is lost silently and nothing half-written.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Self

from kmc_monitor.service.store import migrations
from kmc_monitor.service.store.errors import ADVICE, StoreError, StoreErrorReason, reason_of

__all__ = ["DB_FILENAME", "StoreConnection"]

logger = logging.getLogger(__name__)

#: The database file's name inside the data directory.
DB_FILENAME: Final = "kmc-monitor.sqlite3"
_DAY_S: Final = 86400.0


class StoreConnection:
    """One connection behind a lock, and the write and read transactions over it.

    Thread-safe: the asyncio service may call the store from worker threads
    (``asyncio.to_thread``) to keep the event loop free while SQLite waits on the disk. Each table
    family (:mod:`kmc_monitor.service.store`) is a subclass adding its own methods; the
    :class:`~kmc_monitor.service.store.facade.Store` façade combines them over this one connection.

    Parameters
    ----------
    path
        The database file; created (readable by this user only) and migrated if needed.
    busy_timeout_s
        How long a write waits for another connection's lock before :class:`StoreError`
        (``reason="locked"``).
    retention_days
        Readings older than this are removed by ``prune``.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout_s: float = 5.0, retention_days: float = 30
    ) -> None:
        if not retention_days > 0:
            raise ValueError("retention_days must be positive")
        self._path = Path(path)
        self._busy_timeout_s = float(busy_timeout_s)
        self._retention_s = float(retention_days) * _DAY_S
        self._lock = threading.RLock()
        #: Per thread: a shorter wait for another connection's lock (:meth:`waiting_at_most`).
        self._wait = threading.local()
        self._conn: sqlite3.Connection | None = None
        self._create_private(self._path)
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout_s,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
                check_same_thread=False,  # guarded by self._lock
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "opening the database") from exc
        self._conn = conn
        try:
            self._configure(conn)
            self._migrate()
        except BaseException:
            conn.close()
            self._conn = None
            raise

    @property
    def path(self) -> Path:
        return self._path

    @property
    def retention_days(self) -> float:
        return self._retention_s / _DAY_S

    @property
    def schema_version(self) -> int:
        return int(self._read("reading the schema version", "PRAGMA user_version")[0][0])

    def close(self) -> None:
        """Close the connection (SQLite checkpoints the WAL into the main file). Idempotent."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _create_private(path: Path) -> None:
        # Wrap keys and names live here: create the file for this user only. SQLite gives the -wal
        # and -shm files the permissions of the database file.
        if path.exists():
            return
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            raise StoreError(
                f"cannot create the database {path}: {exc.strerror or exc}", reason=StoreErrorReason.IO
            ) from None
        os.close(fd)

    def _configure(self, conn: sqlite3.Connection) -> None:
        try:
            mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            if mode != "wal":
                raise StoreError(
                    f"the database {self._path} cannot use write-ahead logging (journal mode {mode}): "
                    "put the data directory on a local disk",
                    reason=StoreErrorReason.IO,
                )
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise self._error(exc, "opening the database") from exc

    def _migrate(self) -> None:
        """Bring the file to :data:`~.migrations.SCHEMA_VERSION`, all steps in one transaction."""
        with self._write("upgrading the database schema", durable=True) as c:
            migrations.upgrade(c, self._path)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the database {self._path} is closed", reason=StoreErrorReason.CLOSED)
        return self._conn

    def _error(self, exc: sqlite3.Error, action: str, *, waited_s: float | None = None) -> StoreError:
        reason = reason_of(exc)
        advice = ADVICE[reason]
        if reason is StoreErrorReason.LOCKED:
            advice = f"waited {self._busy_timeout_s if waited_s is None else waited_s:g} s; " + advice
        return StoreError(
            f"{action} failed, nothing was written ({self._path}: {exc}): {advice}", reason=reason
        )

    @contextmanager
    def waiting_at_most(self, seconds: float) -> Iterator[None]:
        """Writes made by this thread inside the block wait at most ``seconds`` for another
        connection's lock (instead of the busy timeout) before :class:`StoreError` ``locked``.

        Why: the ward's tick writes on the event loop that also sends every screen its updates and
        alarms. Waiting the full busy timeout there would freeze every screen for that long each
        time another program holds the database; the tick's writes are kept and retried instead
        (:class:`ReadingWriter`), so failing fast costs nothing. Staff actions keep the full wait:
        they are rare, and one that waits a little is better than one refused.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError("seconds must be a non-negative number")
        before = getattr(self._wait, "seconds", None)
        self._wait.seconds = float(seconds)
        try:
            yield
        finally:
            self._wait.seconds = before

    @contextmanager
    def _write(self, action: str, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it committed, or none of it and a :class:`StoreError`.

        ``BEGIN IMMEDIATE`` takes the write lock up front, so waiting for another writer happens
        here (bounded by the busy timeout, or :meth:`waiting_at_most`), never half-way through.
        ``durable`` commits with ``synchronous=FULL`` (see the module docstring).
        """
        wait: float | None = getattr(self._wait, "seconds", None)
        with self._lock:
            conn = self._connection()
            try:
                if wait is not None:
                    conn.execute(f"PRAGMA busy_timeout = {round(wait * 1000):d}")
                if durable:
                    conn.execute("PRAGMA synchronous=FULL")
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._relax(conn, durable)
                self._restore_wait(conn, wait)
                raise self._error(exc, action, waited_s=wait) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise self._error(exc, action, waited_s=wait) from exc
                raise
            finally:
                self._relax(conn, durable)
                self._restore_wait(conn, wait)

    def _restore_wait(self, conn: sqlite3.Connection, wait: float | None) -> None:
        if wait is not None:
            try:
                conn.execute(f"PRAGMA busy_timeout = {round(self._busy_timeout_s * 1000):d}")
            except sqlite3.Error:  # a shorter wait is a faster refusal, never a lost write
                logger.warning("could not restore the database's busy timeout", exc_info=True)

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:  # SQLite may already have rolled back (e.g. on SQLITE_FULL)
                logger.debug("rollback after a failed transaction failed", exc_info=True)

    @staticmethod
    def _relax(conn: sqlite3.Connection, durable: bool) -> None:
        if durable:
            try:
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error:  # staying at FULL is slower, never less safe
                logger.warning("could not return the database to synchronous=NORMAL", exc_info=True)

    def _read(self, action: str, sql: str, params: Sequence[object] | Mapping[str, object] = ()) -> list[Any]:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc, action) from exc
