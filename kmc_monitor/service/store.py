"""Persistence of the ward service: one SQLite file (WAL) in the data directory.

What is kept: beds, wraps and their keys and replay counters, admissions and their family links
(hashes only), which wrap was on which bed when, readings, contact sessions, the alarm board's
snapshot with an append-only audit log and each alarm's history, and the ward's runtime settings.

Durability, and why it is split in two
--------------------------------------
The file runs in write-ahead-log mode (readers never block the writer, so a chart query does not
hold up the readings) with ``synchronous=NORMAL``: a commit is written to the WAL but not fsynced;
the WAL is fsynced at each checkpoint. That is safe against a crash of the *process* (``kill -9``,
an exception, the OOM killer): the operating system still holds every committed page and the file
is consistent when reopened (tested with a SIGKILLed writer). Against a *power loss or kernel
crash* it may lose the commits since the last checkpoint, but never corrupts the file.

- **Readings** are committed in batches at least every second (:class:`ReadingWriter`) with
  ``NORMAL``: an fsync per second per ward would wear flash storage and stall the writer for
  nothing, and losing the last second of readings after a power cut is harmless (the wraps keep
  sending; alarms are judged live, not from the file).
- **Everything a person did or must be able to prove** — admissions, discharges, wrap assignments,
  family links, the alarm board and its audit log (acknowledgements), settings — commits with
  ``synchronous=FULL`` for that one transaction: the WAL is fsynced before the call returns, so an
  acknowledged alarm or an admitted baby survives even a power cut. Those transactions are rare
  (a few per hour), so the fsync costs nothing that matters.

Errors
------
Every SQLite failure becomes a :class:`StoreError` whose ``reason`` says what happened (``locked``:
another program holds the database beyond the busy timeout; ``full``: the disk or the size limit is
reached; ``io``, ``readonly``, ``corrupt``, ...). The failed transaction is rolled back as a whole, so
the caller still holds its data and can retry: nothing is lost silently and nothing half-written.
Ward rule violations (bed occupied, wrap in use) raise the errors of :mod:`kmc_monitor.service.ward`.

Schema (version 4; ``PRAGMA user_version`` holds the version, :data:`_MIGRATIONS` the steps)::

    settings(key PK, value JSON)
    beds(bed_id PK, label, position, created_t, retired_t)
    wraps(wrap_id PK, mac UNIQUE, key_hex, last_counter, created_t, retired_t)
    admissions(admission_id PK, bed_id→beds, display_name, hospital_number, birth_weight_g,
               gestational_age_days, daily_goal_s, site_offset_c, admitted_t, admitted_by,
               discharged_t, discharged_by, kmc_mode, birth_t, discharge_status)
                                                            -- one current admission per bed
    caregivers(caregiver_id PK, admission_id→admissions, role, name, created_t, created_by)
    holding(admission_id, from_t, caregiver_id, set_t, set_by, source) PK (admission_id, from_t)
                                                            -- who holds the baby from when
    wrap_assignments(assignment_id PK, wrap_id→wraps, bed_id→beds, start_t, end_t,
               assigned_by, ended_by)                       -- one open row per wrap and per bed
    family_links(link_id PK, admission_id→admissions, token_sha256 UNIQUE, created_t, created_by,
               revoked_t, revoked_by)                       -- one live link per admission
    readings(wrap_id, t, skin_temp_c, ambient_temp_c, contact, battery_pct, rssi_dbm)
               PK (wrap_id, t), WITHOUT ROWID               -- one reading per (wrap, t)
    sessions(wrap_id, start_us, end_us, contact_us, short, open) PK (wrap_id, start_us)
    alarm_board(board_id PK, saved_t, snapshot JSON)
    alarms(alarm_id PK, kind, bed_id, wrap_id, raised_us, ended_us, cleared_us, data JSON)
    alarm_audit(audit_id PK, seq, at_us, alarm_id, screen_id, action, who, detail)
               append-only (triggers refuse UPDATE and DELETE); identical rows stored once
    wrap_audit(audit_id PK, at_t, wrap_id, action, who, detail)   -- version 2: re-keys and
               counter resets, append-only

Times are seconds since the Unix epoch (``*_t``, REAL) except where the alarm board and the signal
core count integer microseconds (``*_us``). Readings and sessions belong to a bed through
``wrap_assignments``: a query by bed joins each wrap's readings over the time it was on that bed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hmac
import itertools
import json
import logging
import math
import os
import secrets
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kmc_monitor.devices.bthome import parse_key
from kmc_monitor.devices.errors import CredentialError
from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.verify import WrapEntry, WrapRegistry
from kmc_monitor.errors import KmcError
from kmc_monitor.service.alarms import AlarmAction, AuditRecord
from kmc_monitor.service.store_people import PEOPLE_MIGRATION, PeopleStore
from kmc_monitor.service.ward import (
    Admission,
    AdmissionDetails,
    AlreadyDischargedError,
    Bed,
    BedOccupiedError,
    CaregiverRole,
    DischargeStatus,
    FamilyMember,
    GestationalAge,
    InvalidAdmissionError,
    KmcMode,
    NotFoundError,
    WardConflictError,
    WardError,
    WrapInfo,
    WrapInUseError,
)
from kmc_monitor.signal.calendar import DayCalendar
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import Session

if TYPE_CHECKING:
    from kmc_monitor.service.config import Settings

__all__ = [
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "BedSession",
    "ReadingWriter",
    "SessionRecord",
    "Store",
    "StoreError",
    "day_bounds",
]

logger = logging.getLogger(__name__)

#: The database file's name inside the data directory.
DB_FILENAME: Final = "kmc-monitor.sqlite3"
_DAY_S: Final = 86400.0

# Each migration is a list of statements run in one transaction; never edit a released one, append.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        """CREATE TABLE beds (
            bed_id TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            position INTEGER NOT NULL DEFAULT 0,
            created_t REAL NOT NULL,
            retired_t REAL
        )""",
        """CREATE TABLE wraps (
            wrap_id TEXT PRIMARY KEY,
            mac TEXT NOT NULL UNIQUE,
            key_hex TEXT,
            last_counter INTEGER,
            created_t REAL NOT NULL,
            retired_t REAL
        )""",
        """CREATE TABLE admissions (
            admission_id INTEGER PRIMARY KEY AUTOINCREMENT,
            bed_id TEXT NOT NULL REFERENCES beds(bed_id),
            display_name TEXT NOT NULL,
            hospital_number TEXT,
            birth_weight_g INTEGER NOT NULL,
            gestational_age_days INTEGER NOT NULL,
            daily_goal_s REAL NOT NULL,
            site_offset_c REAL NOT NULL,
            admitted_t REAL NOT NULL,
            admitted_by TEXT NOT NULL,
            discharged_t REAL,
            discharged_by TEXT,
            CHECK (discharged_t IS NULL OR discharged_t >= admitted_t)
        )""",
        "CREATE UNIQUE INDEX admissions_one_per_bed ON admissions(bed_id) WHERE discharged_t IS NULL",
        "CREATE INDEX admissions_by_discharge ON admissions(discharged_t)",
        """CREATE TABLE wrap_assignments (
            assignment_id INTEGER PRIMARY KEY AUTOINCREMENT,
            wrap_id TEXT NOT NULL REFERENCES wraps(wrap_id),
            bed_id TEXT NOT NULL REFERENCES beds(bed_id),
            start_t REAL NOT NULL,
            end_t REAL,
            assigned_by TEXT NOT NULL,
            ended_by TEXT,
            CHECK (end_t IS NULL OR end_t >= start_t)
        )""",
        "CREATE UNIQUE INDEX assignments_open_wrap ON wrap_assignments(wrap_id) WHERE end_t IS NULL",
        "CREATE UNIQUE INDEX assignments_open_bed ON wrap_assignments(bed_id) WHERE end_t IS NULL",
        "CREATE INDEX assignments_by_bed ON wrap_assignments(bed_id, start_t)",
        """CREATE TABLE family_links (
            link_id INTEGER PRIMARY KEY AUTOINCREMENT,
            admission_id INTEGER NOT NULL REFERENCES admissions(admission_id),
            token_sha256 BLOB NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
            created_t REAL NOT NULL,
            created_by TEXT NOT NULL,
            revoked_t REAL,
            revoked_by TEXT
        )""",
        "CREATE UNIQUE INDEX family_links_one_live ON family_links(admission_id) WHERE revoked_t IS NULL",
        """CREATE TABLE readings (
            wrap_id TEXT NOT NULL,
            t REAL NOT NULL,
            skin_temp_c REAL,
            ambient_temp_c REAL,
            contact REAL,
            battery_pct REAL,
            rssi_dbm REAL,
            PRIMARY KEY (wrap_id, t)
        ) WITHOUT ROWID""",
        """CREATE TABLE sessions (
            wrap_id TEXT NOT NULL,
            start_us INTEGER NOT NULL,
            end_us INTEGER NOT NULL,
            contact_us INTEGER NOT NULL,
            short INTEGER NOT NULL,
            open INTEGER NOT NULL,
            PRIMARY KEY (wrap_id, start_us)
        )""",
        """CREATE TABLE alarm_board (
            board_id INTEGER PRIMARY KEY CHECK (board_id = 1),
            saved_t REAL NOT NULL,
            snapshot TEXT NOT NULL
        )""",
        """CREATE TABLE alarms (
            alarm_id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            bed_id TEXT,
            wrap_id TEXT NOT NULL,
            raised_us INTEGER NOT NULL,
            ended_us INTEGER,
            cleared_us INTEGER,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX alarms_by_bed ON alarms(bed_id, raised_us)",
        """CREATE TABLE alarm_audit (
            audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
            seq INTEGER NOT NULL,
            at_us INTEGER NOT NULL,
            alarm_id INTEGER,
            screen_id TEXT,
            action TEXT NOT NULL,
            who TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        # A retried save must not write an audit line twice; NULLs are distinct in a UNIQUE index,
        # hence the COALESCEs.
        """CREATE UNIQUE INDEX alarm_audit_once ON alarm_audit(
            seq, at_us, action, who, COALESCE(alarm_id, -1), COALESCE(screen_id, ''), detail)""",
        "CREATE INDEX alarm_audit_by_time ON alarm_audit(at_us)",
        "CREATE INDEX alarm_audit_by_alarm ON alarm_audit(alarm_id)",
        """CREATE TRIGGER alarm_audit_no_update BEFORE UPDATE ON alarm_audit
            BEGIN SELECT RAISE(ABORT, 'the alarm audit log is append-only'); END""",
        """CREATE TRIGGER alarm_audit_no_delete BEFORE DELETE ON alarm_audit
            BEGIN SELECT RAISE(ABORT, 'the alarm audit log is append-only'); END""",
    ),
    # 2: who re-keyed a wrap or accepted its counter restarting (security-relevant, append-only).
    (
        """CREATE TABLE wrap_audit (
            audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
            at_t REAL NOT NULL,
            wrap_id TEXT NOT NULL,
            action TEXT NOT NULL,
            who TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TRIGGER wrap_audit_no_update BEFORE UPDATE ON wrap_audit
            BEGIN SELECT RAISE(ABORT, 'the wrap audit log is append-only'); END""",
        """CREATE TRIGGER wrap_audit_no_delete BEFORE DELETE ON wrap_audit
            BEGIN SELECT RAISE(ABORT, 'the wrap audit log is append-only'); END""",
    ),
)

# Version 3 (#16): the admission's KMC mode, birth time and status at discharge; the caregivers
# named at admission; and who held the baby from when (sessions are attributed on reading, so a
# correction changes every report at once). Existing stays become continuous KMC with no birth time
# and no discharge status recorded — what was known about them, no more.
_MIGRATIONS += (
    (
        "ALTER TABLE admissions ADD COLUMN kmc_mode TEXT NOT NULL DEFAULT 'continuous'",
        "ALTER TABLE admissions ADD COLUMN birth_t REAL",
        "ALTER TABLE admissions ADD COLUMN discharge_status TEXT",
        """CREATE TABLE caregivers (
            caregiver_id INTEGER PRIMARY KEY AUTOINCREMENT,
            admission_id INTEGER NOT NULL REFERENCES admissions(admission_id),
            role TEXT NOT NULL CHECK (role IN ('mother', 'father', 'family')),
            name TEXT NOT NULL,
            created_t REAL NOT NULL,
            created_by TEXT NOT NULL
        )""",
        "CREATE INDEX caregivers_by_admission ON caregivers(admission_id)",
        """CREATE TABLE holding (
            admission_id INTEGER NOT NULL REFERENCES admissions(admission_id),
            from_t REAL NOT NULL,
            caregiver_id INTEGER REFERENCES caregivers(caregiver_id),
            set_t REAL NOT NULL,
            set_by TEXT NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (admission_id, from_t)
        )""",
    ),
)

# Version 4 (#19): the discharge checklist the nurse goes through with the family. One row per
# tick or untick, never updated or deleted: the table is its own audit trail (who, when), and an
# item's state is its latest row. Existing stays have no rows: nothing was taught on record.
_MIGRATIONS += (
    (
        """CREATE TABLE discharge_teaching (
            teaching_id INTEGER PRIMARY KEY AUTOINCREMENT,
            admission_id INTEGER NOT NULL REFERENCES admissions(admission_id),
            item TEXT NOT NULL,
            done INTEGER NOT NULL CHECK (done IN (0, 1)),
            set_t REAL NOT NULL,
            set_by TEXT NOT NULL
        )""",
        "CREATE INDEX discharge_teaching_by_admission ON discharge_teaching(admission_id, teaching_id)",
        """CREATE TRIGGER discharge_teaching_no_update BEFORE UPDATE ON discharge_teaching
            BEGIN SELECT RAISE(ABORT, 'the discharge checklist is append-only'); END""",
        """CREATE TRIGGER discharge_teaching_no_delete BEFORE DELETE ON discharge_teaching
            BEGIN SELECT RAISE(ABORT, 'the discharge checklist is append-only'); END""",
    ),
)

# issue-17b (#17, the health station): homes in the station's care (one per baby discharged "home
# on KMC", with the family's consent and the pairing token's hash), the wraps that went home with
# their keys and the station's own replay counters, every item a home forwarded by (home_id, seq),
# the daily summaries (the latest of each day), the follow-up visits, and an append-only audit of
# enrolments, consents, pairing codes and visits. See kmc_monitor/station/store.py.
_MIGRATIONS += (
    (
        """CREATE TABLE station_homes (
            home_id TEXT PRIMARY KEY,
            admission_id INTEGER REFERENCES admissions(admission_id),
            display_name TEXT NOT NULL,
            daily_goal_s REAL NOT NULL,
            language TEXT NOT NULL,
            tz TEXT NOT NULL,
            discharged_t REAL NOT NULL,
            enrolled_t REAL NOT NULL,
            enrolled_by TEXT NOT NULL,
            consent_by TEXT NOT NULL,
            consent_t REAL NOT NULL,
            token_sha256 BLOB,
            token_t REAL,
            accepted_through INTEGER NOT NULL DEFAULT 0,
            last_sync_t REAL,
            status TEXT,
            refused INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE station_home_wraps (
            home_id TEXT NOT NULL REFERENCES station_homes(home_id),
            wrap_id TEXT NOT NULL,
            mac TEXT NOT NULL,
            key_hex TEXT,
            last_counter INTEGER,
            PRIMARY KEY (home_id, wrap_id)
        )""",
        """CREATE TABLE station_items (
            home_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('reading', 'day')),
            wrap_id TEXT NOT NULL,
            t REAL,
            skin_temp_c REAL,
            ambient_temp_c REAL,
            contact REAL,
            battery_pct REAL,
            rssi_dbm REAL,
            refused TEXT,
            received_t REAL NOT NULL,
            PRIMARY KEY (home_id, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE station_days (
            home_id TEXT NOT NULL,
            wrap_id TEXT NOT NULL,
            day TEXT NOT NULL,
            seq INTEGER NOT NULL,
            contact_s REAL NOT NULL,
            goal_s REAL NOT NULL,
            measured_s REAL NOT NULL,
            cold_episodes INTEGER NOT NULL,
            coldest_c REAL,
            hot_episodes INTEGER NOT NULL,
            battery_pct REAL,
            complete INTEGER NOT NULL,
            received_t REAL NOT NULL,
            PRIMARY KEY (home_id, wrap_id, day)
        )""",
        """CREATE TABLE station_visits (
            visit_id INTEGER PRIMARY KEY AUTOINCREMENT,
            home_id TEXT NOT NULL REFERENCES station_homes(home_id),
            day TEXT NOT NULL,
            weight_g REAL,
            notes TEXT NOT NULL,
            recorded_t REAL NOT NULL,
            recorded_by TEXT NOT NULL
        )""",
        "CREATE INDEX station_visits_by_home ON station_visits(home_id, day)",
        """CREATE TABLE station_audit (
            audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
            at_t REAL NOT NULL,
            home_id TEXT NOT NULL,
            action TEXT NOT NULL,
            who TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TRIGGER station_audit_no_update BEFORE UPDATE ON station_audit
            BEGIN SELECT RAISE(ABORT, 'the station audit log is append-only'); END""",
        """CREATE TRIGGER station_audit_no_delete BEFORE DELETE ON station_audit
            BEGIN SELECT RAISE(ABORT, 'the station audit log is append-only'); END""",
    ),
)
# issue-14a: nurses and their hashed PINs, the ward-admin audit, sealed family links
# (kmc_monitor/service/store_people.py).
_MIGRATIONS += (PEOPLE_MIGRATION,)
# issue-15 (H4): each wrap's last stream checkpoint, so a restart feeds only the readings after it
# (kmc_monitor/service/persistence.py).
_MIGRATIONS += (
    (
        """CREATE TABLE stream_checkpoints (
            wrap_id TEXT PRIMARY KEY,
            bed_id TEXT NOT NULL,
            admission_id INTEGER,
            through_us INTEGER,
            saved_us INTEGER NOT NULL,
            state BLOB NOT NULL
        )""",
    ),
)

#: The schema version this code writes and reads.
SCHEMA_VERSION: Final = len(_MIGRATIONS)

_ADMISSION_COLUMNS: Final = (
    "admission_id, bed_id, display_name, hospital_number, birth_weight_g, gestational_age_days, "
    "daily_goal_s, site_offset_c, admitted_t, admitted_by, discharged_t, discharged_by, "
    "kmc_mode, birth_t, discharge_status"
)
_READING_COLUMNS: Final = "t, wrap_id, skin_temp_c, ambient_temp_c, contact, battery_pct, rssi_dbm"


class StoreError(KmcError):
    """The database could not do what was asked; nothing of the failed call was written.

    ``reason`` is one of ``locked``, ``full``, ``io``, ``readonly``, ``corrupt``, ``constraint``,
    ``schema``, ``closed``, ``invalid`` or ``other``; :attr:`retryable` says whether trying the same
    call again later may succeed (keep the data until then).
    """

    def __init__(self, message: str, *, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def retryable(self) -> bool:
        return self.reason in ("locked", "full", "io")


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A wrap's session to save; ``open`` while it is still running (its end will move)."""

    wrap_id: str
    session: Session
    open: bool = False


@dataclass(frozen=True, slots=True)
class BedSession:
    """A saved session as a bed's chart shows it."""

    bed_id: str
    wrap_id: str
    session: Session
    open: bool


def day_bounds(day: dt.date, ward_tz: str) -> tuple[float, float]:
    """The ward-local calendar day as ``[start_t, end_t)`` (23 or 25 h across a DST change).

    Uses the signal core's :class:`DayCalendar`, so the history's days are the daily totals' days.
    """
    cal = DayCalendar(ward_tz)
    return cal.midnight_us(day) / US, cal.midnight_us(day + dt.timedelta(days=1)) / US


#: Runtime settings under this prefix are secrets: never listed by :meth:`Store.settings`.
_SECRET_PREFIX = "secret."


def _utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _reason(exc: sqlite3.Error) -> str:
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return "locked"
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return "full"
    if (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
        or "not a database" in text
        or "malformed" in text
    ):
        return "corrupt"
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return "readonly"
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) or "disk i/o" in text or "unable to open" in text:
        return "io"
    if name.startswith("SQLITE_CONSTRAINT") or isinstance(exc, sqlite3.IntegrityError):
        return "constraint"
    return "other"


_ADVICE: Final = {
    "locked": "another program or connection holds the database: make sure only one kmc-monitor "
    "service uses this data directory (a backup tool may hold it briefly)",
    "full": "the disk is full or the database reached its size limit: free disk space (old "
    "readings are pruned after the retention period)",
    "io": "the disk reported an error: check the disk and its free space",
    "readonly": "the database cannot be written: check the permissions of the data directory",
    "corrupt": "the database file is damaged or is not a kmc-monitor database: restore it from a "
    "backup, or move it aside to start afresh",
    "constraint": "the data broke a rule of the database (a program error): report it",
    "other": "see the SQLite message",
}


def _json(value: object) -> str:
    def default(obj: object) -> object:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.asdict(obj)
        if isinstance(obj, enum.Enum):
            return obj.value
        if isinstance(obj, dt.date | dt.datetime):
            return obj.isoformat()
        if isinstance(obj, Path):
            return str(obj)
        if isinstance(obj, tuple | set | frozenset):
            return list(obj)
        raise TypeError(f"{type(obj).__name__} cannot be stored as JSON")

    try:
        return json.dumps(value, default=default, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store this value: {exc}", reason="invalid") from None


def _opt_float(value: float | None) -> float | None:
    """None for missing; NaN is missing too (SQLite would store it as NULL anyway)."""
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) else f


class Store(PeopleStore):
    """The ward's SQLite database: open it once per process and share it.

    Thread-safe: one connection behind a lock, so the asyncio service may call it from worker
    threads (``asyncio.to_thread``) to keep the event loop free while SQLite waits on the disk.

    Parameters
    ----------
    path
        The database file; created (readable by this user only) and migrated if needed.
    busy_timeout_s
        How long a write waits for another connection's lock before :class:`StoreError`
        (``reason="locked"``).
    retention_days
        Readings older than this are removed by :meth:`prune`.
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

    @classmethod
    def in_data_dir(
        cls, data_dir: str | os.PathLike[str], *, busy_timeout_s: float = 5.0, retention_days: float = 30
    ) -> Store:
        """Open (creating if needed) ``data_dir/kmc-monitor.sqlite3``; the directory is made private."""
        directory = Path(data_dir)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data directory {directory}: {exc.strerror or exc}", reason="io"
            ) from None
        return cls(directory / DB_FILENAME, busy_timeout_s=busy_timeout_s, retention_days=retention_days)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls.in_data_dir(settings.data_dir, retention_days=settings.retention_days)

    # Lifecycle ------------------------------------------------------------------------------------
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

    def __enter__(self) -> Store:
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
                f"cannot create the database {path}: {exc.strerror or exc}", reason="io"
            ) from None
        os.close(fd)

    def _configure(self, conn: sqlite3.Connection) -> None:
        try:
            mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            if mode != "wal":
                raise StoreError(
                    f"the database {self._path} cannot use write-ahead logging (journal mode {mode}): "
                    "put the data directory on a local disk",
                    reason="io",
                )
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise self._error(exc, "opening the database") from exc

    def _migrate(self) -> None:
        """Bring the file to :data:`SCHEMA_VERSION`, all steps in one transaction (all or nothing)."""
        with self._write("upgrading the database schema", durable=True) as c:
            # Read inside the write lock: another process may have migrated in the meantime.
            version = int(c.execute("PRAGMA user_version").fetchone()[0])
            if version > len(_MIGRATIONS):
                raise StoreError(
                    f"the database {self._path} has schema version {version}, newer than this "
                    f"kmc-monitor understands ({len(_MIGRATIONS)}): upgrade kmc-monitor",
                    reason="schema",
                )
            for number in range(version, len(_MIGRATIONS)):
                for statement in _MIGRATIONS[number]:
                    c.execute(statement)
                # user_version lives in the file header and is part of this transaction.
                c.execute(f"PRAGMA user_version = {number + 1:d}")
            if version < len(_MIGRATIONS):
                logger.info(
                    "database %s upgraded from schema %d to %d", self._path, version, len(_MIGRATIONS)
                )

    # Transactions ---------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the database {self._path} is closed", reason="closed")
        return self._conn

    def _error(self, exc: sqlite3.Error, action: str, *, waited_s: float | None = None) -> StoreError:
        reason = _reason(exc)
        advice = _ADVICE[reason]
        if reason == "locked":
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

    # Settings -----------------------------------------------------------------------------------
    def set_setting(self, key: str, value: object) -> None:
        """Keep a runtime setting (any JSON value), durably."""
        text = _json(value)
        with self._write(f"saving setting {key!r}", durable=True) as c:
            c.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    def get_setting(self, key: str, default: object = None) -> Any:
        rows = self._read("reading a setting", "SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def settings(self) -> dict[str, Any]:
        """Every runtime setting except secrets (see :meth:`session_secret`)."""
        rows = self._read("reading settings", "SELECT key, value FROM settings ORDER BY key")
        return {k: json.loads(v) for k, v in rows if not k.startswith(_SECRET_PREFIX)}

    def session_secret(self) -> bytes:
        """The key that signs staff session cookies, made on first use and kept with the ward.

        Kept here (the database is readable by the service user only) so that ward screens stay
        signed in across restarts; a new data directory signs everyone out.
        """
        key = f"{_SECRET_PREFIX}session"
        value = self.get_setting(key)
        if isinstance(value, str) and len(value) == 64:
            return bytes.fromhex(value)
        secret = secrets.token_bytes(32)
        self.set_setting(key, secret.hex())
        return secret

    # Beds -----------------------------------------------------------------------------------------
    def add_bed(self, bed: Bed, *, now: float) -> None:
        with self._write(f"adding bed {bed.bed_id}", durable=True) as c:
            if c.execute("SELECT 1 FROM beds WHERE bed_id = ?", (bed.bed_id,)).fetchone():
                raise WardConflictError(f"bed {bed.bed_id} exists already")
            c.execute(
                "INSERT INTO beds(bed_id, label, position, created_t) VALUES (?, ?, ?, ?)",
                (bed.bed_id, bed.label, bed.position, now),
            )

    def beds(self) -> list[Bed]:
        rows = self._read(
            "listing beds",
            "SELECT bed_id, label, position FROM beds WHERE retired_t IS NULL ORDER BY position, bed_id",
        )
        return [Bed(b, label, pos) for b, label, pos in rows]

    @staticmethod
    def _require_bed(c: sqlite3.Connection, bed_id: str) -> None:
        if not c.execute("SELECT 1 FROM beds WHERE bed_id = ? AND retired_t IS NULL", (bed_id,)).fetchone():
            raise NotFoundError(f"no bed {bed_id!r} on this ward")

    # Wraps ----------------------------------------------------------------------------------------
    def add_wrap(self, wrap_id: str, mac: str, key: str | bytes | None = None, *, now: float) -> WrapInfo:
        """Register a wrap (MAC in any usual spelling, key as 32 hex digits or 16 bytes)."""
        try:
            entry = WrapEntry(wrap_id, mac, None if key is None else parse_key(key))
        except CredentialError as exc:
            raise WardError(f"wrap {wrap_id!r}: {exc}") from None
        with self._write(f"registering wrap {wrap_id}", durable=True) as c:
            self._insert_wrap(c, entry, now)
        return WrapInfo(entry.wrap_id, entry.mac, entry.key is not None, None)

    @staticmethod
    def _insert_wrap(c: sqlite3.Connection, entry: WrapEntry, now: float) -> None:
        if c.execute("SELECT 1 FROM wraps WHERE wrap_id = ?", (entry.wrap_id,)).fetchone():
            raise WardConflictError(f"wrap {entry.wrap_id} is registered already")
        row = c.execute("SELECT wrap_id FROM wraps WHERE mac = ?", (entry.mac,)).fetchone()
        if row:
            raise WardConflictError(f"MAC address {entry.mac} is registered already, as wrap {row[0]}")
        c.execute(
            "INSERT INTO wraps(wrap_id, mac, key_hex, created_t) VALUES (?, ?, ?, ?)",
            (entry.wrap_id, entry.mac, None if entry.key is None else entry.key.hex(), now),
        )

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
                    self._insert_wrap(c, entry, now)
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
            self._wrap_audit(c, now, wrap_id, "rekeyed", who, detail)

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
            self._wrap_audit(c, now, wrap_id, "counter_reset", who, f"last accepted counter was {before}")
        return before

    @staticmethod
    def _wrap_audit(
        c: sqlite3.Connection, now: float, wrap_id: str, action: str, who: str, detail: str
    ) -> None:
        c.execute(
            "INSERT INTO wrap_audit(at_t, wrap_id, action, who, detail) VALUES (?, ?, ?, ?, ?)",
            (float(now), wrap_id, action, who, detail),
        )

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

    def current_assignments(self) -> dict[str, str]:
        """Which wrap is on which bed now: ``{wrap_id: bed_id}``."""
        rows = self._read(
            "reading wrap assignments",
            "SELECT wrap_id, bed_id FROM wrap_assignments WHERE end_t IS NULL ORDER BY wrap_id",
        )
        return dict(rows)

    def assign_wrap(self, wrap_id: str, bed_id: str, *, now: float, who: str, replace: bool = False) -> None:
        with self._write(f"assigning wrap {wrap_id} to bed {bed_id}", durable=True) as c:
            if not c.execute(
                "SELECT 1 FROM wraps WHERE wrap_id = ? AND retired_t IS NULL", (wrap_id,)
            ).fetchone():
                raise NotFoundError(f"no wrap {wrap_id!r} registered")
            self._require_bed(c, bed_id)
            on = self._bed_of(c, wrap_id)
            if on == bed_id:
                return
            if on is not None:
                raise WrapInUseError(
                    f"wrap {wrap_id} is on bed {on}: take it off there first, or swap the wraps of "
                    f"beds {on} and {bed_id}"
                )
            other = self._wrap_on(c, bed_id)
            if other is not None:
                if not replace:
                    raise WrapInUseError(
                        f"bed {bed_id} already has wrap {other}: take it off first, or replace it"
                    )
                self._end_assignment(c, other, now, who)
            self._start_assignment(c, wrap_id, bed_id, now, who)

    def unassign_wrap(self, wrap_id: str, *, now: float, who: str) -> bool:
        with self._write(f"taking wrap {wrap_id} off its bed", durable=True) as c:
            return self._end_assignment(c, wrap_id, now, who)

    def swap_wraps(self, bed_a: str, bed_b: str, *, now: float, who: str) -> None:
        if bed_a == bed_b:
            raise WardError(f"swapping needs two different beds; got {bed_a} twice")
        with self._write(f"swapping the wraps of beds {bed_a} and {bed_b}", durable=True) as c:
            self._require_bed(c, bed_a)
            self._require_bed(c, bed_b)
            wrap_a, wrap_b = self._wrap_on(c, bed_a), self._wrap_on(c, bed_b)
            if wrap_a is None and wrap_b is None:
                raise WardConflictError(f"neither bed {bed_a} nor bed {bed_b} has a wrap to swap")
            # End both first: the one-open-row indexes would refuse the crossed rows otherwise.
            for wrap in (wrap_a, wrap_b):
                if wrap is not None:
                    self._end_assignment(c, wrap, now, who)
            if wrap_a is not None:
                self._start_assignment(c, wrap_a, bed_b, now, who)
            if wrap_b is not None:
                self._start_assignment(c, wrap_b, bed_a, now, who)

    @staticmethod
    def _bed_of(c: sqlite3.Connection, wrap_id: str) -> str | None:
        row = c.execute(
            "SELECT bed_id FROM wrap_assignments WHERE wrap_id = ? AND end_t IS NULL", (wrap_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _wrap_on(c: sqlite3.Connection, bed_id: str) -> str | None:
        row = c.execute(
            "SELECT wrap_id FROM wrap_assignments WHERE bed_id = ? AND end_t IS NULL", (bed_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _start_assignment(c: sqlite3.Connection, wrap_id: str, bed_id: str, now: float, who: str) -> None:
        c.execute(
            "INSERT INTO wrap_assignments(wrap_id, bed_id, start_t, assigned_by) VALUES (?, ?, ?, ?)",
            (wrap_id, bed_id, now, who),
        )

    @staticmethod
    def _end_assignment(c: sqlite3.Connection, wrap_id: str, now: float, who: str) -> bool:
        # max(): a clock stepped back must not make an interval end before it began.
        cur = c.execute(
            "UPDATE wrap_assignments SET end_t = max(start_t, ?), ended_by = ? "
            "WHERE wrap_id = ? AND end_t IS NULL",
            (now, who, wrap_id),
        )
        return cur.rowcount > 0

    # Admissions -----------------------------------------------------------------------------------
    @staticmethod
    def _admission(row: Sequence[Any]) -> Admission:
        return Admission(
            admission_id=int(row[0]),
            bed_id=row[1],
            display_name=row[2],
            hospital_number=row[3],
            birth_weight_g=int(row[4]),
            gestational_age=GestationalAge.from_days(int(row[5])),
            daily_goal_s=float(row[6]),
            site_offset_c=float(row[7]),
            admitted_t=float(row[8]),
            admitted_by=row[9],
            discharged_t=None if row[10] is None else float(row[10]),
            discharged_by=row[11],
            kmc_mode=KmcMode(row[12]),
            birth_t=None if row[13] is None else float(row[13]),
            discharge_status=None if row[14] is None else DischargeStatus(row[14]),
        )

    def _get_admission(self, c: sqlite3.Connection, admission_id: int) -> Admission:
        row = c.execute(
            f"SELECT {_ADMISSION_COLUMNS} FROM admissions WHERE admission_id = ?", (int(admission_id),)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no admission {admission_id}")
        return self._admission(row)

    def admit(
        self, bed_id: str, details: AdmissionDetails, token_sha256: bytes, *, now: float, who: str
    ) -> Admission:
        """Admit a baby and store its family link's hash, in one durable transaction."""
        if details.daily_goal_s is None:
            raise InvalidAdmissionError("the admission needs a daily goal (the ward's default)")
        with self._write(f"admitting a baby to bed {bed_id}", durable=True) as c:
            self._require_bed(c, bed_id)
            row = c.execute(
                "SELECT display_name, admitted_t FROM admissions WHERE bed_id = ? AND discharged_t IS NULL",
                (bed_id,),
            ).fetchone()
            if row is not None:
                raise BedOccupiedError(
                    f"bed {bed_id} is occupied by {row[0]} (admitted {_utc(row[1])}): discharge first, "
                    "or choose a free bed"
                )
            if details.hospital_number is not None:
                row = c.execute(
                    "SELECT bed_id FROM admissions WHERE hospital_number = ? AND discharged_t IS NULL",
                    (details.hospital_number,),
                ).fetchone()
                if row is not None:
                    raise WardConflictError(
                        f"hospital number {details.hospital_number} is already admitted at bed {row[0]}: "
                        "check the baby's identity"
                    )
            cur = c.execute(
                "INSERT INTO admissions(bed_id, display_name, hospital_number, birth_weight_g, "
                "gestational_age_days, daily_goal_s, site_offset_c, admitted_t, admitted_by, kmc_mode, "
                "birth_t) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bed_id,
                    details.display_name,
                    details.hospital_number,
                    details.birth_weight_g,
                    details.gestational_age.total_days,
                    details.daily_goal_s,
                    details.site_offset_c,
                    now,
                    who,
                    details.kmc_mode.value,
                    details.birth_t,
                ),
            )
            admission_id = int(cur.lastrowid or 0)
            for member in details.family:
                self._insert_caregiver(c, admission_id, member, now, who)
            self._insert_link(c, admission_id, token_sha256, now, who)
            return self._get_admission(c, admission_id)

    def discharge(
        self, admission_id: int, *, now: float, who: str, status: DischargeStatus | None = None
    ) -> Admission:
        """End a stay: revoke its family link and free its bed's wrap, in one durable transaction."""
        with self._write(f"discharging admission {admission_id}", durable=True) as c:
            current = self._get_admission(c, admission_id)
            if current.discharged_t is not None:
                raise AlreadyDischargedError(
                    f"admission {admission_id} ({current.display_name}) was already discharged at "
                    f"{_utc(current.discharged_t)} by {current.discharged_by}"
                )
            c.execute(
                "UPDATE admissions SET discharged_t = max(admitted_t, ?), discharged_by = ?, "
                "discharge_status = ? WHERE admission_id = ?",
                (now, who, None if status is None else DischargeStatus(status).value, current.admission_id),
            )
            self._revoke(c, current.admission_id, now, who)
            wrap = self._wrap_on(c, current.bed_id)
            if wrap is not None:
                self._end_assignment(c, wrap, now, who)
            return self._get_admission(c, current.admission_id)

    def set_discharge_status(self, admission_id: int, status: DischargeStatus) -> Admission:
        """Record or correct the status of a discharged stay."""
        with self._write(f"recording the discharge status of admission {admission_id}", durable=True) as c:
            current = self._get_admission(c, admission_id)
            if current.discharged_t is None:
                raise WardConflictError(f"admission {admission_id} is not discharged yet: discharge it")
            c.execute(
                "UPDATE admissions SET discharge_status = ? WHERE admission_id = ?",
                (DischargeStatus(status).value, current.admission_id),
            )
            return self._get_admission(c, current.admission_id)

    def admissions_between(self, start_t: float, end_t: float) -> list[Admission]:
        """Every admission (any bed) whose stay overlaps ``[start_t, end_t)``, oldest first."""
        rows = self._read(
            "listing admissions",
            f"SELECT {_ADMISSION_COLUMNS} FROM admissions WHERE admitted_t < ? "
            "AND (discharged_t IS NULL OR discharged_t > ?) ORDER BY admitted_t, admission_id",
            (end_t, start_t),
        )
        return [self._admission(r) for r in rows]

    # Caregivers -----------------------------------------------------------------------------------
    @staticmethod
    def _insert_caregiver(
        c: sqlite3.Connection, admission_id: int, member: FamilyMember, now: float, who: str
    ) -> int:
        cur = c.execute(
            "INSERT INTO caregivers(admission_id, role, name, created_t, created_by) VALUES (?, ?, ?, ?, ?)",
            (admission_id, CaregiverRole(member.role).value, member.name, now, who),
        )
        return int(cur.lastrowid or 0)

    def add_caregiver(self, admission_id: int, member: FamilyMember, *, now: float, who: str) -> FamilyMember:
        with self._write(f"naming a caregiver of admission {admission_id}", durable=True) as c:
            current = self._get_admission(c, admission_id)
            if current.discharged_t is not None:
                raise AlreadyDischargedError(f"admission {admission_id} was discharged")
            if member.role is not CaregiverRole.FAMILY and c.execute(
                "SELECT 1 FROM caregivers WHERE admission_id = ? AND role = ?",
                (current.admission_id, member.role.value),
            ).fetchone():
                raise WardConflictError(
                    f"the {member.role.value} of admission {admission_id} is named already"
                )
            new_id = self._insert_caregiver(c, current.admission_id, member, now, who)
        return FamilyMember(member.role, member.name, new_id)

    def caregivers(self, admission_id: int) -> list[FamilyMember]:
        rows = self._read(
            "listing caregivers",
            "SELECT caregiver_id, role, name FROM caregivers WHERE admission_id = ? "
            "ORDER BY CASE role WHEN 'mother' THEN 0 WHEN 'father' THEN 1 ELSE 2 END, caregiver_id",
            (int(admission_id),),
        )
        return [FamilyMember(CaregiverRole(r), n, int(i)) for i, r, n in rows]

    def set_holder(
        self,
        admission_id: int,
        caregiver_id: int | None,
        *,
        from_t: float,
        until_t: float | None,
        now: float,
        who: str,
        source: str,
    ) -> None:
        """Who holds from ``from_t`` (and, with ``until_t``, whoever held before holds again from
        there); a span at the same instant is replaced. Durable: it is a person's record."""
        with self._write(f"recording who holds the baby of admission {admission_id}", durable=True) as c:
            if until_t is not None:
                row = c.execute(
                    "SELECT caregiver_id FROM holding WHERE admission_id = ? AND from_t <= ? "
                    "ORDER BY from_t DESC LIMIT 1",
                    (admission_id, until_t),
                ).fetchone()
                before = None if row is None else row[0]
                c.execute(
                    "DELETE FROM holding WHERE admission_id = ? AND from_t > ? AND from_t < ?",
                    (admission_id, from_t, until_t),
                )
                c.execute(
                    "INSERT INTO holding(admission_id, from_t, caregiver_id, set_t, set_by, source) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(admission_id, from_t) DO NOTHING",
                    (admission_id, until_t, before, now, who, source),
                )
            c.execute(
                "INSERT INTO holding(admission_id, from_t, caregiver_id, set_t, set_by, source) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(admission_id, from_t) DO UPDATE SET "
                "caregiver_id = excluded.caregiver_id, set_t = excluded.set_t, set_by = excluded.set_by, "
                "source = excluded.source",
                (admission_id, from_t, caregiver_id, now, who, source),
            )

    def holding(self, admission_id: int) -> list[tuple[float, int | None]]:
        """The admission's "who holds from when" steps: ``(from_t, caregiver_id or None)``, by time."""
        rows = self._read(
            "reading who held the baby",
            "SELECT from_t, caregiver_id FROM holding WHERE admission_id = ? ORDER BY from_t",
            (int(admission_id),),
        )
        return [(float(t), None if cg is None else int(cg)) for t, cg in rows]

    # Discharge checklist (#19) ----------------------------------------------------------------------
    def set_teaching(self, admission_id: int, item: str, done: bool, *, now: float, who: str) -> None:
        """Tick (or untick) one checklist item of a current stay; durable, it is a person's record.

        The same state again writes nothing, so a double click does not pad the audit trail."""
        with self._write(f"recording the discharge checklist of admission {admission_id}", durable=True) as c:
            current = self._get_admission(c, admission_id)
            if current.discharged_t is not None:
                raise AlreadyDischargedError(
                    f"admission {admission_id} ({current.display_name}) was discharged at "
                    f"{_utc(current.discharged_t)}: its checklist is closed"
                )
            row = c.execute(
                "SELECT done FROM discharge_teaching WHERE admission_id = ? AND item = ? "
                "ORDER BY teaching_id DESC LIMIT 1",
                (current.admission_id, item),
            ).fetchone()
            if row is not None and bool(row[0]) == done:
                return
            c.execute(
                "INSERT INTO discharge_teaching(admission_id, item, done, set_t, set_by) "
                "VALUES (?, ?, ?, ?, ?)",
                (current.admission_id, item, int(done), now, who),
            )

    def teaching(self, admission_id: int) -> list[tuple[str, bool, float, str]]:
        """Every tick and untick of the stay's checklist, oldest first: ``(item, done, set_t, set_by)``."""
        rows = self._read(
            "reading the discharge checklist",
            "SELECT item, done, set_t, set_by FROM discharge_teaching WHERE admission_id = ? "
            "ORDER BY teaching_id",
            (int(admission_id),),
        )
        return [(str(i), bool(d), float(t), str(b)) for i, d, t, b in rows]

    def admission(self, admission_id: int) -> Admission | None:
        rows = self._read(
            "reading an admission",
            f"SELECT {_ADMISSION_COLUMNS} FROM admissions WHERE admission_id = ?",
            (int(admission_id),),
        )
        return self._admission(rows[0]) if rows else None

    def current_admissions(self) -> list[Admission]:
        rows = self._read(
            "listing current admissions",
            f"SELECT {_ADMISSION_COLUMNS} FROM admissions WHERE discharged_t IS NULL ORDER BY admitted_t",
        )
        return [self._admission(r) for r in rows]

    def past_admissions(
        self, *, since_t: float | None = None, until_t: float | None = None, limit: int = 100
    ) -> list[Admission]:
        """Discharged admissions overlapping ``[since_t, until_t)``, most recent discharge first."""
        rows = self._read(
            "listing past admissions",
            f"SELECT {_ADMISSION_COLUMNS} FROM admissions WHERE discharged_t IS NOT NULL "
            "AND discharged_t >= ? AND admitted_t < ? ORDER BY discharged_t DESC, admission_id DESC LIMIT ?",
            (
                -math.inf if since_t is None else since_t,
                math.inf if until_t is None else until_t,
                int(limit),
            ),
        )
        return [self._admission(r) for r in rows]

    def admissions_for_bed(self, bed_id: str, start_t: float, end_t: float) -> list[Admission]:
        """The bed's admissions (current or past) overlapping ``[start_t, end_t)``, oldest first:
        whose totals a day's history of the bed shows."""
        rows = self._read(
            "listing a bed's admissions",
            f"SELECT {_ADMISSION_COLUMNS} FROM admissions WHERE bed_id = ? AND admitted_t < ? "
            "AND (discharged_t IS NULL OR discharged_t > ?) ORDER BY admitted_t, admission_id",
            (bed_id, end_t, start_t),
        )
        return [self._admission(r) for r in rows]

    # Family links ---------------------------------------------------------------------------------
    @staticmethod
    def _insert_link(
        c: sqlite3.Connection, admission_id: int, token_sha256: bytes, now: float, who: str
    ) -> None:
        if len(token_sha256) != 32:
            raise ValueError("token_sha256 must be a SHA-256 digest (32 bytes)")
        c.execute(
            "INSERT INTO family_links(admission_id, token_sha256, created_t, created_by) VALUES (?, ?, ?, ?)",
            (admission_id, bytes(token_sha256), now, who),
        )

    @staticmethod
    def _revoke(c: sqlite3.Connection, admission_id: int, now: float, who: str) -> int:
        return c.execute(
            "UPDATE family_links SET revoked_t = ?, revoked_by = ? "
            "WHERE admission_id = ? AND revoked_t IS NULL",
            (now, who, admission_id),
        ).rowcount

    def replace_family_link(self, admission_id: int, token_sha256: bytes, *, now: float, who: str) -> None:
        """Revoke the admission's live link and store a new one's hash (current admissions only)."""
        with self._write(f"renewing the family link of admission {admission_id}", durable=True) as c:
            current = self._get_admission(c, admission_id)
            if current.discharged_t is not None:
                raise AlreadyDischargedError(
                    f"admission {admission_id} was discharged: it cannot have a family link"
                )
            self._revoke(c, current.admission_id, now, who)
            self._insert_link(c, current.admission_id, token_sha256, now, who)

    def revoke_family_links(self, admission_id: int, *, now: float, who: str) -> int:
        """Revoke the admission's live link; returns how many were revoked (0 or 1)."""
        with self._write(f"revoking the family link of admission {admission_id}", durable=True) as c:
            self._get_admission(c, admission_id)
            return self._revoke(c, int(admission_id), now, who)

    def admission_for_token_hash(self, token_sha256: bytes) -> Admission | None:
        """The current admission whose live link has this hash, else None.

        Looking the hash up in an index leaks, at most, timing about the *hash*, which tells an
        attacker nothing about a token; the final comparison is constant-time all the same.
        """
        rows = self._read(
            "checking a family link",
            f"SELECT l.token_sha256, {', '.join('a.' + c.strip() for c in _ADMISSION_COLUMNS.split(','))} "
            "FROM family_links l JOIN admissions a ON a.admission_id = l.admission_id "
            "WHERE l.token_sha256 = ? AND l.revoked_t IS NULL AND a.discharged_t IS NULL",
            (bytes(token_sha256),),
        )
        for row in rows:
            if hmac.compare_digest(bytes(row[0]), bytes(token_sha256)):
                return self._admission(row[1:])
        return None

    # Readings -------------------------------------------------------------------------------------
    def append_readings(self, batch: Iterable[Reading]) -> int:
        """Store a batch of readings in one transaction; returns how many were new.

        A reading already stored (same wrap and time) is kept once, as the rules ask. A reading
        without a finite time or a wrap id cannot be stored and is dropped with a warning rather
        than poisoning the batch forever. On :class:`StoreError` nothing of the batch is stored:
        keep it and retry (:class:`ReadingWriter` does).
        """
        rows: list[
            tuple[str, float, float | None, float | None, float | None, float | None, float | None]
        ] = []
        bad = 0
        counters: dict[str, int] = {}
        for r in batch:
            t = float(r.t)
            if not math.isfinite(t) or not isinstance(r.wrap_id, str) or not r.wrap_id:
                bad += 1
                continue
            rows.append(
                (
                    r.wrap_id,
                    t,
                    _opt_float(r.skin_temp_c),
                    _opt_float(r.ambient_temp_c),
                    _opt_float(r.contact),
                    _opt_float(r.battery_pct),
                    _opt_float(r.rssi_dbm),
                )
            )
            if r.sealed is not None and r.counter is not None:
                counters[r.wrap_id] = max(counters.get(r.wrap_id, -1), int(r.counter))
        if bad:
            logger.warning("%d reading(s) without a valid time or wrap id not stored", bad)
        if not rows:
            return 0
        with self._write(f"saving {len(rows)} readings") as c:
            before = c.total_changes
            c.executemany(
                "INSERT OR IGNORE INTO readings(wrap_id, t, skin_temp_c, ambient_temp_c, contact, "
                "battery_pct, rssi_dbm) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            stored = c.total_changes - before
            # The replay counter of a sealed packet is kept with the reading it admitted, in the
            # same transaction: after a kill -9 no admitted packet can be admitted again.
            c.executemany(
                "UPDATE wraps SET last_counter = ? WHERE wrap_id = ? "
                "AND (last_counter IS NULL OR last_counter < ?)",
                [(n, w, n) for w, n in counters.items()],
            )
            return stored

    @staticmethod
    def _reading(row: Sequence[Any]) -> Reading:
        return Reading(float(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])

    def readings(self, wrap_id: str, start_t: float, end_t: float) -> list[Reading]:
        """A wrap's readings in ``[start_t, end_t)``, by time (whatever bed it was on)."""
        rows = self._read(
            "reading a wrap's readings",
            f"SELECT {_READING_COLUMNS} FROM readings WHERE wrap_id = ? AND t >= ? AND t < ? ORDER BY t",
            (wrap_id, start_t, end_t),
        )
        return [self._reading(r) for r in rows]

    def readings_for_bed(self, bed_id: str, start_t: float, end_t: float) -> list[Reading]:
        """Readings in ``[start_t, end_t)`` of whichever wraps were on the bed, each while it was there."""
        rows = self._read(
            "reading a bed's readings",
            f"SELECT {', '.join('r.' + c.strip() for c in _READING_COLUMNS.split(','))} "
            "FROM wrap_assignments a JOIN readings r ON r.wrap_id = a.wrap_id "
            "AND r.t >= max(a.start_t, :start) AND r.t < min(coalesce(a.end_t, :end), :end) "
            "WHERE a.bed_id = :bed AND a.start_t < :end AND coalesce(a.end_t, :end) > :start "
            "ORDER BY r.t, r.wrap_id",
            {"bed": bed_id, "start": start_t, "end": end_t},
        )
        return [self._reading(r) for r in rows]

    def readings_for_bed_day(self, bed_id: str, day: dt.date, ward_tz: str) -> list[Reading]:
        """A bed's readings of one ward-local calendar day (the history chart's day)."""
        return self.readings_for_bed(bed_id, *day_bounds(day, ward_tz))

    def readings_for_admission(self, admission_id: int, start_t: float, end_t: float) -> list[Reading]:
        """A bed's readings cut to one stay: what a family link may show, nothing of the bed's past."""
        admission = self.admission(admission_id)
        if admission is None:
            raise NotFoundError(f"no admission {admission_id}")
        lo, hi = admission.clamp(start_t, end_t)
        return self.readings_for_bed(admission.bed_id, lo, hi) if lo < hi else []

    def prune(self, now: float) -> int:
        """Delete readings older than the retention period; returns how many.

        One short transaction per wrap, so the live writer never waits long. Sessions, admissions
        and the alarm audit log are small and kept: they are the ward's record.
        """
        cutoff = now - self._retention_s
        deleted = 0
        wrap: str | None = ""
        while True:
            # Walk the distinct wrap ids by seeking the primary key (fast on a big table).
            row = self._read(
                "pruning old readings", "SELECT min(wrap_id) FROM readings WHERE wrap_id > ?", (wrap,)
            )
            wrap = row[0][0] if row else None
            if wrap is None:
                break
            with self._write("pruning old readings") as c:
                deleted += c.execute(
                    "DELETE FROM readings WHERE wrap_id = ? AND t < ?", (wrap, cutoff)
                ).rowcount
        if deleted:
            logger.info("pruned %d readings older than %s", deleted, _utc(cutoff))
        return deleted

    # Sessions -------------------------------------------------------------------------------------
    def save_sessions(self, records: Iterable[SessionRecord]) -> None:
        """Insert or update sessions (a running session is saved again as it grows)."""
        rows = [
            (
                r.wrap_id,
                int(r.session.start_us),
                int(r.session.end_us),
                int(r.session.contact_us),
                int(bool(r.session.short)),
                int(bool(r.open)),
            )
            for r in records
        ]
        if not rows:
            return
        with self._write(f"saving {len(rows)} session(s)") as c:
            c.executemany(
                "INSERT INTO sessions(wrap_id, start_us, end_us, contact_us, short, open) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(wrap_id, start_us) DO UPDATE SET "
                "end_us = excluded.end_us, contact_us = excluded.contact_us, short = excluded.short, "
                "open = excluded.open",
                rows,
            )

    def sessions_for_bed(self, bed_id: str, start_t: float, end_t: float) -> list[BedSession]:
        """Sessions overlapping ``[start_t, end_t)`` of the wraps that were on the bed when each began."""
        rows = self._read(
            "reading a bed's sessions",
            "SELECT a.bed_id, s.wrap_id, s.start_us, s.end_us, s.contact_us, s.short, s.open "
            "FROM wrap_assignments a JOIN sessions s ON s.wrap_id = a.wrap_id "
            "AND s.start_us >= a.start_t * 1000000 AND (a.end_t IS NULL OR s.start_us < a.end_t * 1000000) "
            "WHERE a.bed_id = ? AND s.start_us < ? AND s.end_us > ? ORDER BY s.start_us",
            (bed_id, end_t * US, start_t * US),
        )
        return [
            BedSession(b, w, Session(int(s), int(e), int(cu), bool(sh)), bool(op))
            for b, w, s, e, cu, sh, op in rows
        ]

    def sessions_for_bed_day(self, bed_id: str, day: dt.date, ward_tz: str) -> list[BedSession]:
        return self.sessions_for_bed(bed_id, *day_bounds(day, ward_tz))

    # Alarms -----------------------------------------------------------------------------------------
    def save_alarm_board(
        self, snapshot: Mapping[str, Any], audit: Iterable[AuditRecord] = (), *, now: float
    ) -> None:
        """Keep the alarm board's snapshot, its alarms' history and new audit lines, durably.

        One transaction, so the snapshot never runs ahead of or behind its audit log. Audit lines
        already stored are not stored twice: after a :class:`StoreError`, call again with the same
        records (the board's :meth:`~kmc_monitor.service.alarms.AlarmBoard.drain_audit` has handed
        them over; the caller keeps them until this succeeds).
        """
        text = _json(snapshot)
        alarms: list[tuple[int, str, str | None, str, int, int | None, int | None, str]] = []
        raw_alarms = snapshot.get("alarms", [])
        for raw in raw_alarms if isinstance(raw_alarms, list) else []:
            if not isinstance(raw, Mapping):
                continue
            try:
                alarms.append(
                    (
                        int(raw["id"]),
                        str(raw["kind"]),
                        None if raw.get("bed_id") is None else str(raw["bed_id"]),
                        str(raw["wrap_id"]),
                        int(raw["raised_us"]),
                        None if raw.get("ended_us") is None else int(raw["ended_us"]),
                        None if raw.get("cleared_us") is None else int(raw["cleared_us"]),
                        _json(raw),
                    )
                )
            except (KeyError, TypeError, ValueError):
                logger.warning("alarm snapshot entry without id/kind/wrap_id/raised_us not kept in history")
        lines = [self._audit_row(r) for r in audit]
        with self._write("saving the alarm board", durable=True) as c:
            c.execute(
                "INSERT INTO alarm_board(board_id, saved_t, snapshot) VALUES (1, ?, ?) "
                "ON CONFLICT(board_id) DO UPDATE SET saved_t = excluded.saved_t, "
                "snapshot = excluded.snapshot",
                (now, text),
            )
            c.executemany(
                "INSERT INTO alarms(alarm_id, kind, bed_id, wrap_id, raised_us, ended_us, cleared_us, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(alarm_id) DO UPDATE SET kind = excluded.kind, "
                "bed_id = excluded.bed_id, wrap_id = excluded.wrap_id, raised_us = excluded.raised_us, "
                "ended_us = excluded.ended_us, cleared_us = excluded.cleared_us, data = excluded.data",
                alarms,
            )
            self._insert_audit(c, lines)

    def append_audit(self, audit: Iterable[AuditRecord]) -> None:
        """Keep audit lines on their own (e.g. an audio pause), durably; repeats are stored once."""
        lines = [self._audit_row(r) for r in audit]
        if lines:
            with self._write("saving the alarm audit log", durable=True) as c:
                self._insert_audit(c, lines)

    @staticmethod
    def _audit_row(r: AuditRecord) -> tuple[int, int, int | None, str | None, str, str, str]:
        return (int(r.seq), int(r.at_us), r.alarm_id, r.screen_id, str(r.action), r.who, r.detail)

    @staticmethod
    def _insert_audit(
        c: sqlite3.Connection, lines: list[tuple[int, int, int | None, str | None, str, str, str]]
    ) -> None:
        c.executemany(
            "INSERT OR IGNORE INTO alarm_audit(seq, at_us, alarm_id, screen_id, action, who, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            lines,
        )

    def load_alarm_board(self) -> dict[str, Any] | None:
        """The last saved snapshot (for :meth:`AlarmBoard.restore`), or None on a new ward."""
        rows = self._read("reading the alarm board", "SELECT snapshot FROM alarm_board WHERE board_id = 1")
        if not rows:
            return None
        value = json.loads(rows[0][0])
        return value if isinstance(value, dict) else None

    def audit_log(
        self,
        *,
        start_us: int | None = None,
        end_us: int | None = None,
        alarm_id: int | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Audit lines in ``[start_us, end_us)`` (optionally of one alarm), oldest first."""
        sql = (
            "SELECT seq, at_us, who, action, alarm_id, screen_id, detail FROM alarm_audit "
            "WHERE at_us >= ? AND at_us < ?"
        )
        params: list[object] = [
            -(2**63) if start_us is None else int(start_us),
            2**63 - 1 if end_us is None else int(end_us),
        ]
        if alarm_id is not None:
            sql += " AND alarm_id = ?"
            params.append(int(alarm_id))
        sql += " ORDER BY at_us, seq, audit_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = self._read("reading the alarm audit log", sql, params)
        return [
            AuditRecord(int(s), int(t), who, AlarmAction(a), al, sc, d) for s, t, who, a, al, sc, d in rows
        ]

    def alarms_raised_between(self, start_us: int, end_us: int) -> list[dict[str, Any]]:
        """Every alarm raised in ``[start_us, end_us)``, as the board described it last."""
        rows = self._read(
            "reading the ward's alarms",
            "SELECT data FROM alarms WHERE raised_us >= ? AND raised_us < ? ORDER BY raised_us, alarm_id",
            (int(start_us), int(end_us)),
        )
        return [json.loads(r[0]) for r in rows]

    def alarms_for_bed(self, bed_id: str, start_us: int, end_us: int) -> list[dict[str, Any]]:
        """The bed's alarms overlapping ``[start_us, end_us)``, as the board described them last."""
        rows = self._read(
            "reading a bed's alarms",
            "SELECT data FROM alarms WHERE bed_id = ? AND raised_us < ? "
            "AND (ended_us IS NULL OR ended_us >= ?) ORDER BY raised_us, alarm_id",
            (bed_id, int(end_us), int(start_us)),
        )
        return [json.loads(r[0]) for r in rows]


class ReadingWriter:
    """Buffers readings and commits them in batches: on size, or when the oldest waited ``interval_s``.

    The caller feeds it with :meth:`add` and calls :meth:`tick` from its timer (time is injected),
    so readings reach the disk within a second even when none follow. A failed write
    (:class:`StoreError`) keeps every reading for the next attempt, one ``retry_s`` later — the
    caller is never interrupted, and nothing is lost unless the outage outlasts ``max_pending``
    readings, in which case the oldest are dropped, counted in :attr:`dropped` and logged as an
    error (show it: the history has a gap).

    Not thread-safe: feed it from one task.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 1000,
        interval_s: float = 1.0,
        retry_s: float = 1.0,
        max_pending: int = 500_000,
    ) -> None:
        if max_batch < 1 or max_pending < max_batch or interval_s <= 0 or retry_s < 0:
            raise ValueError("need max_batch >= 1, max_pending >= max_batch, interval_s > 0, retry_s >= 0")
        self._store = store
        self._max_batch = int(max_batch)
        self._interval_s = float(interval_s)
        self._retry_s = float(retry_s)
        self._max_pending = int(max_pending)
        self._pending: deque[Reading] = deque()
        self._due_t: float | None = None
        self._not_before_t = -math.inf
        self.written = 0
        self.dropped = 0
        self.last_error: StoreError | None = None

    @property
    def pending(self) -> int:
        """Readings waiting to be written."""
        return len(self._pending)

    def add(self, readings: Iterable[Reading], now: float) -> None:
        """Buffer readings, and write if a batch is full or the oldest has waited long enough."""
        before = len(self._pending)
        self._pending.extend(readings)
        if before == 0 and self._pending and self._due_t is None:
            self._due_t = now + self._interval_s
        overflow = len(self._pending) - self._max_pending
        if overflow > 0:
            for _ in range(overflow):
                self._pending.popleft()
            self.dropped += overflow
            logger.error(
                "%d readings dropped: the database has refused writes for too long (%s)",
                overflow,
                self.last_error,
            )
        self.tick(now)

    def tick(self, now: float) -> None:
        """Write what is due; call at least once a second. Never raises :class:`StoreError`."""
        if not self._pending or now < self._not_before_t:
            return
        full = len(self._pending) >= self._max_batch
        if full or (self._due_t is not None and now >= self._due_t):
            try:
                self.flush(now)
            except StoreError:
                pass  # kept, logged, retried after retry_s

    def flush(self, now: float) -> int:
        """Write everything pending now; returns how many were written.

        Raises :class:`StoreError` (at shutdown the caller must know); what was not written stays
        pending.
        """
        done = 0
        while self._pending:
            batch = list(itertools.islice(self._pending, self._max_batch))
            try:
                self._store.append_readings(batch)
            except StoreError as exc:
                if self.last_error is None:
                    logger.warning("readings kept for retry (%d pending): %s", len(self._pending), exc)
                self.last_error = exc
                self._not_before_t = now + self._retry_s
                self._due_t = now + self._retry_s
                raise
            for _ in range(len(batch)):
                self._pending.popleft()
            done += len(batch)
            self.written += len(batch)
        if self.last_error is not None:
            logger.info("readings are being saved again after: %s", self.last_error)
            self.last_error = None
        self._due_t = None
        self._not_before_t = -math.inf
        return done
