"""What a failed database call reports: :class:`StoreError` and its :class:`StoreErrorReason`."""

from __future__ import annotations

import enum
import sqlite3
from typing import Final

from kmc_monitor.errors import KmcError

__all__ = ["ADVICE", "StoreError", "StoreErrorReason", "reason_of"]


class StoreErrorReason(enum.StrEnum):
    """Why the database refused a call (a string, so logs, metrics and the API show it as is)."""

    #: Another program or connection held the database beyond the busy timeout.
    LOCKED = "locked"
    #: The disk or the database's size limit is reached.
    FULL = "full"
    #: The disk reported an error, or the file could not be opened or created.
    IO = "io"
    #: The database cannot be written (permissions).
    READONLY = "readonly"
    #: The file is damaged or is not a kmc-monitor database.
    CORRUPT = "corrupt"
    #: The data broke a rule of the database (a program error).
    CONSTRAINT = "constraint"
    #: The file's schema is newer than this kmc-monitor understands.
    SCHEMA = "schema"
    #: The store was closed.
    CLOSED = "closed"
    #: The value cannot be stored (not JSON).
    INVALID = "invalid"
    #: Anything else SQLite reported.
    OTHER = "other"


#: Reasons after which the same call may succeed later: keep the data and retry.
_RETRYABLE: Final = frozenset({StoreErrorReason.LOCKED, StoreErrorReason.FULL, StoreErrorReason.IO})


class StoreError(KmcError):
    """The database could not do what was asked; nothing of the failed call was written.

    ``reason`` (a :class:`StoreErrorReason`) says what happened; :attr:`retryable` says whether
    trying the same call again later may succeed (keep the data until then).
    """

    def __init__(self, message: str, *, reason: StoreErrorReason | str = StoreErrorReason.OTHER) -> None:
        super().__init__(message)
        self.reason = StoreErrorReason(reason)

    @property
    def retryable(self) -> bool:
        return self.reason in _RETRYABLE


def reason_of(exc: sqlite3.Error) -> StoreErrorReason:
    """Classify an SQLite failure by its extended error name, or failing that its message."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return StoreErrorReason.LOCKED
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return StoreErrorReason.FULL
    if (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
        or "not a database" in text
        or "malformed" in text
    ):
        return StoreErrorReason.CORRUPT
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return StoreErrorReason.READONLY
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) or "disk i/o" in text or "unable to open" in text:
        return StoreErrorReason.IO
    if name.startswith("SQLITE_CONSTRAINT") or isinstance(exc, sqlite3.IntegrityError):
        return StoreErrorReason.CONSTRAINT
    return StoreErrorReason.OTHER


#: What to do about each reason SQLite can report, for the error's message.
ADVICE: Final[dict[StoreErrorReason, str]] = {
    StoreErrorReason.LOCKED: "another program or connection holds the database: make sure only one "
    "kmc-monitor service uses this data directory (a backup tool may hold it briefly)",
    StoreErrorReason.FULL: "the disk is full or the database reached its size limit: free disk space "
    "(old readings are pruned after the retention period)",
    StoreErrorReason.IO: "the disk reported an error: check the disk and its free space",
    StoreErrorReason.READONLY: "the database cannot be written: check the permissions of the data directory",
    StoreErrorReason.CORRUPT: "the database file is damaged or is not a kmc-monitor database: restore "
    "it from a backup, or move it aside to start afresh",
    StoreErrorReason.CONSTRAINT: "the data broke a rule of the database (a program error): report it",
    StoreErrorReason.OTHER: "see the SQLite message",
}
