"""The database's schema, version by version: one function per upgrade step, in order.

``PRAGMA user_version`` holds the version a file is at; :func:`upgrade` runs the missing steps, all
in the caller's one transaction (all or nothing). A released step is never edited: a change to the
schema is a new function appended to :data:`STEPS` (its number is its place in the tuple), with
a test that a database of the previous version upgrades to it with its content unchanged.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Final

from kmc_monitor.service.store.errors import StoreError, StoreErrorReason

__all__ = ["SCHEMA_VERSION", "STEPS", "Step", "upgrade"]

logger = logging.getLogger(__name__)

#: One upgrade step: runs its statements on the connection inside the upgrade's transaction.
Step = Callable[[sqlite3.Connection], None]


def _run(c: sqlite3.Connection, *statements: str) -> None:
    for statement in statements:
        c.execute(statement)


def v1_ward(c: sqlite3.Connection) -> None:
    """Version 1: the ward — settings, beds, wraps, admissions, wrap assignments, family links,
    readings, sessions, the alarm board, each alarm's history and the append-only alarm audit."""
    _run(
        c,
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
    )


def v2_wrap_audit(c: sqlite3.Connection) -> None:
    """Version 2: who re-keyed a wrap or accepted its counter restarting (security-relevant,
    append-only)."""
    _run(
        c,
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
    )


def v3_programme(c: sqlite3.Connection) -> None:
    """Version 3 (#16): the admission's KMC mode, birth time and status at discharge; the caregivers
    named at admission; and who held the baby from when (sessions are attributed on reading, so a
    correction changes every report at once). Existing stays become continuous KMC with no birth
    time and no discharge status recorded — what was known about them, no more."""
    _run(
        c,
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
    )


def v4_discharge_teaching(c: sqlite3.Connection) -> None:
    """Version 4 (#19): the discharge checklist the nurse goes through with the family. One row
    per tick or untick, never updated or deleted: the table is its own audit trail (who, when), and
    an item's state is its latest row. Existing stays have no rows: nothing was taught on record."""
    _run(
        c,
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
    )


def v5_station(c: sqlite3.Connection) -> None:
    """Version 5 (#17, the health station): homes in the station's care (one per baby discharged
    "home on KMC", with the family's consent and the pairing token's hash), the wraps that went home
    with their keys and the station's own replay counters, every item a home forwarded by
    ``(home_id, seq)``, the daily summaries (the latest of each day), the follow-up visits, and an
    append-only audit of enrolments, consents, pairing codes and visits. See
    :mod:`kmc_monitor.station.store`."""
    _run(
        c,
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
    )


def v6_people(c: sqlite3.Connection) -> None:
    """Version 6 (#14): nurses and their hashed PINs, the ward-admin audit (append-only), and
    family links kept sealed so that they survive a restart (:mod:`.people`, :mod:`.admin_audit`,
    :mod:`.family_links`)."""
    _run(
        c,
        """CREATE TABLE nurses (
            nurse_id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            initials TEXT NOT NULL,
            pin_salt BLOB NOT NULL,
            pin_hash BLOB NOT NULL,
            created_t REAL NOT NULL,
            created_by TEXT NOT NULL,
            retired_t REAL,
            retired_by TEXT
        )""",
        "CREATE UNIQUE INDEX nurses_initials_live ON nurses(upper(initials)) WHERE retired_t IS NULL",
        """CREATE TABLE ward_admin_audit (
            audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
            at_t REAL NOT NULL,
            who TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TRIGGER ward_admin_audit_no_update BEFORE UPDATE ON ward_admin_audit
            BEGIN SELECT RAISE(ABORT, 'the ward admin audit log is append-only'); END""",
        """CREATE TRIGGER ward_admin_audit_no_delete BEFORE DELETE ON ward_admin_audit
            BEGIN SELECT RAISE(ABORT, 'the ward admin audit log is append-only'); END""",
        """CREATE TABLE family_link_seals (
            admission_id INTEGER PRIMARY KEY REFERENCES admissions(admission_id),
            sealed BLOB NOT NULL,
            saved_t REAL NOT NULL
        )""",
    )


def v7_stream_checkpoints(c: sqlite3.Connection) -> None:
    """Version 7 (#15): each wrap's last stream checkpoint, so that a restart feeds only the readings
    after it (:mod:`kmc_monitor.service.persistence`)."""
    _run(
        c,
        """CREATE TABLE stream_checkpoints (
            wrap_id TEXT PRIMARY KEY,
            bed_id TEXT NOT NULL,
            admission_id INTEGER,
            through_us INTEGER,
            saved_us INTEGER NOT NULL,
            state BLOB NOT NULL
        )""",
    )


def v8_alarm_subjects(c: sqlite3.Connection) -> None:
    """Version 8 (#15): an alarm says what it is about — ``subject`` ``ward`` or ``wrap`` — and a
    ward alarm (storage failure, HL7 link) has no wrap id. Until now a ward alarm was stored under
    the placeholder wrap id ``"(ward)"``: those rows get ``wrap_id`` NULL and subject ``ward``, in
    their columns and in their saved JSON, and so do the alarms of the board's saved snapshot.

    SQLite cannot drop ``NOT NULL`` from a column, so ``alarms`` is rebuilt, with its columns in the
    old order and ``subject`` last. Other rows keep their JSON as it was (a reader takes a missing
    subject as ``wrap``). Self-contained on purpose (plain JSON, no model of today's code): a
    released step must mean the same thing for ever."""
    _run(
        c,
        """CREATE TABLE alarms_v8 (
            alarm_id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            bed_id TEXT,
            wrap_id TEXT,
            raised_us INTEGER NOT NULL,
            ended_us INTEGER,
            cleared_us INTEGER,
            data TEXT NOT NULL,
            subject TEXT NOT NULL DEFAULT 'wrap' CHECK (subject IN ('ward', 'wrap')),
            CHECK ((subject = 'ward') = (wrap_id IS NULL))
        )""",
    )
    rows = c.execute(
        "SELECT alarm_id, kind, bed_id, wrap_id, raised_us, ended_us, cleared_us, data FROM alarms"
    ).fetchall()
    moved = 0
    for alarm_id, kind, bed_id, wrap_id, raised_us, ended_us, cleared_us, data in rows:
        subject = "wrap"
        if wrap_id == _LEGACY_WARD_WRAP_ID:
            subject, wrap_id = "ward", None
            data = _ward_alarm_json(data)
            moved += 1
        c.execute(
            "INSERT INTO alarms_v8(alarm_id, kind, bed_id, wrap_id, raised_us, ended_us, cleared_us, data, "
            "subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (alarm_id, kind, bed_id, wrap_id, raised_us, ended_us, cleared_us, data, subject),
        )
    _run(
        c,
        "DROP TABLE alarms",
        "ALTER TABLE alarms_v8 RENAME TO alarms",
        "CREATE INDEX alarms_by_bed ON alarms(bed_id, raised_us)",
    )
    for board_id, text in c.execute("SELECT board_id, snapshot FROM alarm_board").fetchall():
        new = _snapshot_with_subjects(text)
        if new != text:
            c.execute("UPDATE alarm_board SET snapshot = ? WHERE board_id = ?", (new, board_id))
    if moved:
        logger.info("%d ward alarms moved from wrap id %r to subject 'ward'", moved, _LEGACY_WARD_WRAP_ID)


#: The placeholder wrap id of a ward alarm up to version 7.
_LEGACY_WARD_WRAP_ID: Final = "(ward)"


def _ward_alarm_json(text: str) -> str:
    """A ward alarm's saved JSON with ``wrap_id`` null and ``subject`` ward (unparseable: as it was)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if not isinstance(value, dict):
        return text
    value["wrap_id"] = None
    value["subject"] = "ward"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _snapshot_with_subjects(text: str) -> str:
    """A board snapshot of format 1 as format 2: every alarm with its subject, a ward alarm
    without wrap id. Anything else (another format, damaged JSON) is left for the board to judge."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if not isinstance(value, dict) or value.get("format") != 1 or not isinstance(value.get("alarms"), list):
        return text
    for alarm in value["alarms"]:
        if not isinstance(alarm, dict):
            return text
    for alarm in value["alarms"]:
        if alarm.get("wrap_id") == _LEGACY_WARD_WRAP_ID:
            alarm["wrap_id"], alarm["subject"] = None, "ward"
        else:
            alarm["subject"] = "wrap"
    value["format"] = 2
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


#: Every step in order: step ``n`` (1-based) brings a file from version ``n - 1`` to ``n``.
#: Append new steps here, never reorder or edit a released one.
STEPS: tuple[Step, ...] = (
    v1_ward,
    v2_wrap_audit,
    v3_programme,
    v4_discharge_teaching,
    v5_station,
    v6_people,
    v7_stream_checkpoints,
    v8_alarm_subjects,
)

#: The schema version this code writes and reads.
SCHEMA_VERSION: Final = len(STEPS)


def upgrade(c: sqlite3.Connection, path: Path) -> None:
    """Bring the file to the newest version, inside the caller's write transaction.

    Reads the version inside the write lock (another process may have upgraded in the meantime);
    a file newer than this code is refused with a :class:`StoreError` (``schema``).
    """
    steps = STEPS
    version = int(c.execute("PRAGMA user_version").fetchone()[0])
    if version > len(steps):
        raise StoreError(
            f"the database {path} has schema version {version}, newer than this "
            f"kmc-monitor understands ({len(steps)}): upgrade kmc-monitor",
            reason=StoreErrorReason.SCHEMA,
        )
    for number in range(version, len(steps)):
        steps[number](c)
        # user_version lives in the file header and is part of this transaction.
        c.execute(f"PRAGMA user_version = {number + 1:d}")
    if version < len(steps):
        logger.info("database %s upgraded from schema %d to %d", path, version, len(steps))
