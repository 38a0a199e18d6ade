"""Schema upgrades: all or nothing, a newer or foreign file refused, old databases upgraded with
their content unchanged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from kmc_monitor.service.alarms import AlarmBoard, AlarmSubject, WardAlarmKind
from kmc_monitor.service.store import (
    SCHEMA_VERSION,
    Store,
    StoreError,
    migrations,
)


def test_a_failed_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.sqlite3"
    Store(path).close()

    def broken_step(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE extra (x INTEGER)")
        c.execute("THIS IS NOT SQL")

    monkeypatch.setattr(migrations, "STEPS", (*migrations.STEPS, broken_step))
    with pytest.raises(StoreError, match="upgrading the database schema failed, nothing was written"):
        Store(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0

    def fixed_step(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE extra (x INTEGER)")

    monkeypatch.setattr(migrations, "STEPS", (*migrations.STEPS[:SCHEMA_VERSION], fixed_step))
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION + 1


def test_refuses_newer_schema_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer than this kmc-monitor understands") as info:
        Store(path)
    assert info.value.reason == "schema"
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is a text file, not a database" * 100)
    with pytest.raises(StoreError) as info:
        Store(junk)
    assert info.value.reason == "corrupt"
    assert "restore it from a backup" in str(info.value)


# Old databases ------------------------------------------------------------------------------------
#: Rows written into a database of each old version, as that version's code could have written them.
_CONTENT_V1 = (
    "INSERT INTO settings(key, value) VALUES ('ward_tz', '\"Africa/Nairobi\"')",
    "INSERT INTO beds(bed_id, label, position, created_t) VALUES ('B1', 'Bed 1', 1, 10)",
    "INSERT INTO beds(bed_id, label, position, created_t, retired_t) VALUES ('B2', 'Old', 2, 10, 20)",
    "INSERT INTO wraps(wrap_id, mac, key_hex, last_counter, created_t) "
    "VALUES ('W1', '54:48:E6:8F:80:A5', '00112233445566778899aabbccddeeff', 41, 10)",
    "INSERT INTO admissions(bed_id, display_name, hospital_number, birth_weight_g, gestational_age_days, "
    "daily_goal_s, site_offset_c, admitted_t, admitted_by) "
    "VALUES ('B1', 'Old baby', 'H-1', 1400, 224, 72000, 0.2, 100, 'n')",
    "INSERT INTO wrap_assignments(wrap_id, bed_id, start_t, assigned_by) VALUES ('W1', 'B1', 100, 'n')",
    "INSERT INTO family_links(admission_id, token_sha256, created_t, created_by) "
    "VALUES (1, zeroblob(32), 100, 'n')",
    "INSERT INTO readings VALUES ('W1', 200.0, 36.6, 29.0, 1.0, 80.0, -61.0)",
    "INSERT INTO readings VALUES ('W1', 201.0, NULL, NULL, NULL, NULL, NULL)",
    "INSERT INTO sessions VALUES ('W1', 200000000, 260000000, 60000000, 0, 1)",
    "INSERT INTO alarm_board VALUES (1, 300, '{\"alarms\":[]}')",
    "INSERT INTO alarms VALUES (7, 'hypothermia', 'B1', 'W1', 200000000, NULL, NULL, '{\"id\":7}')",
    "INSERT INTO alarm_audit(seq, at_us, alarm_id, screen_id, action, who, detail) "
    "VALUES (1, 200000000, 7, 'S1', 'acknowledged', 'n', '')",
)
_CONTENT_LATER = {
    2: (
        "INSERT INTO wrap_audit(at_t, wrap_id, action, who, detail) "
        "VALUES (150, 'W1', 'rekeyed', 'n', 'new key')",
    ),
    3: (
        "INSERT INTO caregivers(admission_id, role, name, created_t, created_by) "
        "VALUES (1, 'mother', '', 100, 'n')",
        "INSERT INTO holding VALUES (1, 100, 1, 100, 'n', 'admission')",
    ),
}


def _old_database(path: Path, version: int) -> None:
    with sqlite3.connect(path) as db:
        for step in migrations.STEPS[:version]:
            step(db)
        for statement in _CONTENT_V1:
            db.execute(statement)
        for since, statements in _CONTENT_LATER.items():
            if version >= since:
                for statement in statements:
                    db.execute(statement)
        db.execute(f"PRAGMA user_version = {version:d}")
    db.close()


def _content(path: Path) -> dict[str, tuple[list[str], list[tuple[object, ...]]]]:
    """Every table's columns and rows, ordered, read with plain sqlite3."""
    out: dict[str, tuple[list[str], list[tuple[object, ...]]]] = {}
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            if table.startswith("sqlite_"):
                continue
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            rows = db.execute(f"SELECT * FROM {table} ORDER BY {', '.join(columns)}").fetchall()
            out[table] = (columns, rows)
    db.close()
    return out


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_old_database_upgrades_with_its_content_unchanged(tmp_path: Path, version: int) -> None:
    path = tmp_path / f"v{version}.sqlite3"
    _old_database(path, version)
    before = _content(path)
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        (adm,) = store.current_admissions()
        assert (adm.display_name, adm.hospital_number, adm.birth_weight_g) == ("Old baby", "H-1", 1400)
        assert store.wrap_counters() == {"W1": 41}
        assert store.current_assignments() == {"W1": "B1"}
        assert store.get_setting("ward_tz") == "Africa/Nairobi"
        assert [r.t for r in store.readings("W1", 0, 1000)] == [200.0, 201.0]
        assert [a.alarm_id for a in store.audit_log()] == [7]
    after = _content(path)
    # Every table keeps every row; a column added later holds its default for the old rows.
    for table, (columns, rows) in before.items():
        new_columns, new_rows = after[table]
        assert new_columns[: len(columns)] == columns, table
        assert [row[: len(columns)] for row in new_rows] == rows, table
    added = {t: after[t][0][len(before[t][0]) :] for t in before if after[t][0] != before[t][0]}
    # Version 8: every alarm says its subject; this one is a wrap's.
    assert added.pop("alarms") == ["subject"]
    assert [row[-1] for row in after["alarms"][1]] == ["wrap"]
    if version < 3:
        assert added == {"admissions": ["kmc_mode", "birth_t", "discharge_status"]}
        assert [row[-3:] for row in after["admissions"][1]] == [("continuous", None, None)]
    else:
        assert added == {}
    assert set(after) - set(before) >= ({"wrap_audit"} if version < 2 else set()) | {"nurses"}


def test_the_steps_are_functions_in_order() -> None:
    assert len(migrations.STEPS) == SCHEMA_VERSION
    assert [step.__name__ for step in migrations.STEPS][:3] == ["v1_ward", "v2_wrap_audit", "v3_programme"]
    assert all(step.__name__.startswith(f"v{n}_") for n, step in enumerate(migrations.STEPS, start=1))


# Version 8: alarm subjects ------------------------------------------------------------------------
#: A version-7 ward: the board's snapshot (format 1) and the alarms table each hold a storage
#: failure under the placeholder wrap id "(ward)", next to a wrap's cold alarm.
_V7_WARD_ALARM = {
    "id": 1,
    "key": ["(ward)", "storage_failure", 100_000_000],
    "kind": "storage_failure",
    "bed_id": None,
    "wrap_id": "(ward)",
    "raised_us": 105_000_000,
    "extreme_c": None,
    "escalate_at_us": 405_000_000,
    "signal_seq": 1,
    "ended_us": None,
    "acked_us": None,
    "acked_by": None,
    "escalated_us": None,
    "cleared_us": None,
    "reminded_us": None,
}
_V7_WRAP_ALARM = {
    **_V7_WARD_ALARM,
    "id": 2,
    "key": ["W1", "cold_stress", 150_000_000],
    "kind": "cold_stress",
    "bed_id": "B1",
    "wrap_id": "W1",
    "raised_us": 150_000_000,
    "escalate_at_us": None,
    "signal_seq": 2,
}


def _v7_with_a_ward_alarm(path: Path) -> None:
    _old_database(path, 7)
    snapshot = {
        "format": 1,
        "clock_us": 200_000_000,
        "next_id": 3,
        "seq": 2,
        "alarms": [_V7_WARD_ALARM, _V7_WRAP_ALARM],
        "pauses": [],
    }
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alarm_board SET snapshot = ?", (json.dumps(snapshot),))
        for a in (_V7_WARD_ALARM, _V7_WRAP_ALARM):
            db.execute(
                "INSERT INTO alarms VALUES (?, ?, ?, ?, ?, NULL, NULL, ?)",
                (a["id"] + 10, a["kind"], a["bed_id"], a["wrap_id"], a["raised_us"], json.dumps(a)),
            )
    db.close()


def test_a_version_7_ward_alarm_reads_back_as_a_ward_subject_alarm(tmp_path: Path) -> None:
    path = tmp_path / "v7.sqlite3"
    _v7_with_a_ward_alarm(path)
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        # The history rows: columns and saved JSON both moved to the subject.
        stored = {a["id"]: a for a in store.alarms_raised_between(0, 10**12)}
        assert (stored[1]["subject"], stored[1]["wrap_id"]) == ("ward", None)
        assert stored[2] == _V7_WRAP_ALARM  # a wrap's row keeps its JSON as it was
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT alarm_id, subject, wrap_id FROM alarms ORDER BY alarm_id").fetchall()
            (no_wrap,) = db.execute("SELECT count(*) FROM alarms WHERE wrap_id = '(ward)'").fetchone()
        db.close()
        assert rows == [(7, "wrap", "W1"), (11, "ward", None), (12, "wrap", "W1")]
        assert no_wrap == 0
        # The board's snapshot restores with the ward alarm about the ward, and saves again.
        snapshot = store.load_alarm_board()
        assert snapshot is not None
        board = AlarmBoard.restore(snapshot)
        ward, wrap = sorted(board.visible(300_000_000), key=lambda v: v.alarm_id)
        assert (ward.kind, ward.subject, ward.wrap_id, ward.bed_id) == (
            WardAlarmKind.STORAGE_FAILURE,
            AlarmSubject.WARD,
            None,
            None,
        )
        assert (wrap.subject, wrap.wrap_id) == (AlarmSubject.WRAP, "W1")
        store.save_alarm_board(board.snapshot(), now=400)
        assert store.load_alarm_board() == board.snapshot()


def test_the_subjects_are_checked_by_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "v8.sqlite3"
    with Store(path):
        pass
    with sqlite3.connect(path) as db:
        for subject, wrap_id in (("ward", "W1"), ("wrap", None), ("bed", "W1")):
            with pytest.raises(sqlite3.IntegrityError):
                db.execute(
                    "INSERT INTO alarms(alarm_id, kind, subject, wrap_id, raised_us, data) "
                    "VALUES (1, 'no_data', ?, ?, 0, '{}')",
                    (subject, wrap_id),
                )
    db.close()
