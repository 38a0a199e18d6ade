"""The SQLite store on real files: schema and WAL, readings by bed and day, retention, alarms and
their audit log, and the failures that must not lose data (SIGKILL, a locked database, a full disk)."""

from __future__ import annotations

import datetime as dt
import math
import os
import queue
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmc_monitor.devices.protocol.verify import AdvertVerifier, WrapEntry, WrapRegistry
from kmc_monitor.devices.reading import Reading
from kmc_monitor.service import store as store_module
from kmc_monitor.service.alarms import AlarmBoard
from kmc_monitor.service.store import (
    DB_FILENAME,
    SCHEMA_VERSION,
    ReadingWriter,
    SessionRecord,
    Store,
    StoreError,
    day_bounds,
)
from kmc_monitor.service.ward import AdmissionDetails, GestationalAge, Ward, WardConflictError, WardError
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import AlarmKind, Session
from tests.timing import scaled

REPO = Path(__file__).resolve().parents[2]
TZ = "Europe/Berlin"
#: 2025-03-30 00:00 in Berlin (UTC+1): a 23 h day (daylight saving starts at 02:00).
DAY = dt.date(2025, 3, 30)
T0 = dt.datetime(2025, 3, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp()


def reading(t: float, wrap: str = "W1", skin: float | None = 36.8) -> Reading:
    return Reading(t, wrap, skin, 30.0, 1.0, 88.0, -60.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.in_data_dir(tmp_path / "data", busy_timeout_s=0.2) as s:
        yield s


@pytest.fixture
def ward(store: Store) -> Ward:
    w = Ward(store, base_url="http://localhost:8000")
    for bed in ("1", "2"):
        w.add_bed(bed, now=T0 - 86400)
    store.add_wrap("W1", "54:48:E6:8F:80:A5", now=T0 - 86400)
    store.add_wrap("W2", "54:48:E6:8F:80:A6", now=T0 - 86400)
    return w


# Schema, WAL, migrations ------------------------------------------------------------------------
def test_new_data_dir_is_private_wal_and_current(tmp_path: Path, store: Store) -> None:
    assert store.path == tmp_path / "data" / DB_FILENAME
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert store.schema_version == SCHEMA_VERSION >= 4  # other branches append steps
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
        assert other.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "admissions",
        "beds",
        "wraps",
        "wrap_assignments",
        "family_links",
        "readings",
        "sessions",
    } <= tables
    assert {"alarm_board", "alarms", "alarm_audit", "settings", "wrap_audit"} <= tables
    assert store._conn is not None
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL at rest


def test_migrates_an_empty_file_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite3"
    path.touch()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        s.set_setting("ward_note", {"screen": "big"})
    with Store(path) as s:  # opening again changes nothing and keeps the data
        assert s.schema_version == SCHEMA_VERSION
        assert s.get_setting("ward_note") == {"screen": "big"}
        assert s.settings() == {"ward_note": {"screen": "big"}}
        assert s.get_setting("missing", 5) == 5


def test_a_failed_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.sqlite3"
    Store(path).close()
    broken = (*store_module._MIGRATIONS, ("CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL"))
    monkeypatch.setattr(store_module, "_MIGRATIONS", broken)
    with pytest.raises(StoreError, match="upgrading the database schema failed, nothing was written"):
        Store(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0
    fixed = (*store_module._MIGRATIONS[:SCHEMA_VERSION], ("CREATE TABLE extra (x INTEGER)",))
    monkeypatch.setattr(store_module, "_MIGRATIONS", fixed)
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


def test_closed_store(tmp_path: Path) -> None:
    s = Store(tmp_path / "c.sqlite3")
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed") as info:
        s.beds()
    assert info.value.reason == "closed"


# Durability: which transactions are fsynced ------------------------------------------------------
def test_people_actions_commit_with_full_sync_readings_with_normal(ward: Ward, store: Store) -> None:
    statements: list[str] = []
    assert store._conn is not None
    store._conn.set_trace_callback(statements.append)

    ward.admit("1", AdmissionDetails("Baby", 1500, GestationalAge(30)), now=T0, who="n")
    seen = [s.strip().upper() for s in statements]
    begin = seen.index("BEGIN IMMEDIATE")
    commit = seen.index("COMMIT")
    assert seen[:begin] == ["PRAGMA SYNCHRONOUS=FULL"]  # set before the transaction began
    assert seen[commit + 1 :] == ["PRAGMA SYNCHRONOUS=NORMAL"]  # and back after its commit

    statements.clear()
    board = AlarmBoard()
    board.condition_started(("W1", "cold_stress", 1), AlarmKind.COLD_STRESS, "1", "W1", int(T0 * US))
    store.save_alarm_board(board.snapshot(), board.drain_audit(), now=T0)
    assert "PRAGMA SYNCHRONOUS=FULL" in [s.strip().upper() for s in statements]

    statements.clear()
    store.append_readings([reading(T0)])
    assert not [s for s in statements if "SYNCHRONOUS" in s.upper()]
    store._conn.set_trace_callback(None)


def test_committed_data_survives_sigkill_of_the_writer(tmp_path: Path) -> None:
    """A writer process is killed mid-stream; everything it reported committed is in the file."""
    path = tmp_path / "crash.sqlite3"
    batch = 200
    child = f"""
import sys
from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.store import Store
from kmc_monitor.service.ward import AdmissionDetails, GestationalAge, Ward
store = Store(sys.argv[1])
ward = Ward(store, base_url="http://localhost")
ward.add_bed("1", now=1.0)
admission, _ = ward.admit("1", AdmissionDetails("Baby K", 1500, GestationalAge(31)), now=2.0, who="nurse")
sys.stdout.write("admitted\\n"); sys.stdout.flush()
i = 0
while True:
    t0 = 1000.0 + i * {batch}
    store.append_readings([Reading(t0 + k, "W1", 36.5, 30.0, 1.0, 90.0) for k in range({batch})])
    i += 1
    sys.stdout.write(f"{{i * {batch}}}\\n"); sys.stdout.flush()
"""
    lines: queue.Queue[str | None] = queue.Queue()
    committed, admitted = 0, False
    with subprocess.Popen(
        [sys.executable, "-c", child, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        stdout = proc.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                lines.put(line.strip())
            lines.put(None)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        deadline = time.monotonic() + 20
        try:
            while committed < 30 * batch:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    pytest.fail("the writer did not get going in time")
                assert line is not None, "the writer stopped by itself"
                if line == "admitted":
                    admitted = True
                else:
                    committed = int(line)
        finally:
            os.kill(proc.pid, signal.SIGKILL)  # mid-stream: it is writing its next batch
            proc.wait(timeout=10)
            reader.join(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    while not lines.empty():  # lines written just before the kill were committed too
        line = lines.get()
        if line is not None and line != "admitted":
            committed = max(committed, int(line))
    assert admitted
    assert Path(f"{path}-wal").stat().st_size > 0  # recovery from the WAL, not a clean close

    with Store(path) as s:
        count = len(s.readings("W1", 0.0, math.inf))
        assert count >= committed
        assert count % batch == 0  # the batch in flight is all there or not at all
        assert [r.t for r in s.readings("W1", 0.0, math.inf)] == [1000.0 + k for k in range(count)]
        (current,) = s.current_admissions()
        assert current.display_name == "Baby K"
        assert s._conn is not None
        assert s._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# Failures the caller survives --------------------------------------------------------------------
def test_locked_database_is_a_store_error_after_the_busy_timeout(ward: Ward, store: Store) -> None:
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock, as another program would
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked") as info:
            store.append_readings([reading(T0), reading(T0 + 1)])
        waited = time.monotonic() - started
        assert info.value.reason == "locked" and info.value.retryable
        assert "waited 0.2 s" in str(info.value) and "nothing was written" in str(info.value)
        assert 0.1 <= waited < scaled(3.0)
        with pytest.raises(StoreError, match="locked"):
            ward.admit("1", AdmissionDetails("Baby", 1500, GestationalAge(30)), now=T0, who="n")
        writer = ReadingWriter(store, max_batch=10)
        writer.add([reading(T0 + k) for k in range(10)], now=T0)  # never raises
        assert writer.pending == 10 and writer.last_error is not None
    finally:
        other.execute("ROLLBACK")
        other.close()
    writer.tick(now=T0 + 1.0)
    assert writer.pending == 0 and writer.written == 10 and writer.last_error is None
    assert store.current_admissions() == []  # the failed admission left nothing behind
    assert len(store.readings("W1", 0, math.inf)) == 10


def test_full_disk_keeps_the_batch_for_retry(ward: Ward, store: Store) -> None:
    conn = store._conn
    assert conn is not None
    store.append_readings([reading(T0)])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # the disk is all but full

    batch = [reading(T0 + 1 + k, skin=36.0 + k / 10_000) for k in range(5000)]
    with pytest.raises(StoreError) as info:
        store.append_readings(batch)
    assert info.value.reason == "full" and info.value.retryable
    assert "free disk space" in str(info.value)
    assert len(store.readings("W1", 0, math.inf)) == 1  # nothing half-written

    writer = ReadingWriter(store, max_batch=10_000, interval_s=1.0, retry_s=2.0)
    writer.add(batch, now=T0)
    writer.tick(now=T0 + 1.0)
    assert writer.pending == len(batch) and writer.last_error is not None
    assert writer.last_error.reason == "full"
    with pytest.raises(StoreError):  # an explicit flush (shutdown) does tell
        writer.flush(now=T0 + 1.5)
    assert writer.pending == len(batch)
    # The ward's own actions fail cleanly too (a StoreError, not a crash).
    with pytest.raises(StoreError):
        for i in range(200):
            ward.add_bed(f"B{i}", "x" * 30, now=T0)
    conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    writer.tick(now=T0 + 2.0)  # still backing off
    assert writer.pending == len(batch)
    writer.tick(now=T0 + 4.0)
    assert writer.pending == 0 and writer.written == len(batch) and writer.dropped == 0
    assert len(store.readings("W1", 0, math.inf)) == 1 + len(batch)


# Readings ----------------------------------------------------------------------------------------
def test_append_and_query_by_bed_and_day(ward: Ward, store: Store) -> None:
    ward.assign_wrap("W1", "1", now=T0 - 3600, who="n")
    ward.assign_wrap("W2", "2", now=T0 - 3600, who="n")
    day_start, day_end = day_bounds(DAY, TZ)
    assert (day_start, day_end - day_start) == (T0, 23 * 3600)  # the DST day is 23 h long
    batch = [reading(T0 - 60 + 30 * k, "W1") for k in range(10)]
    batch += [reading(T0 + k, "W2") for k in range(5)]
    batch += [reading(day_end - 1, "W1"), reading(day_end, "W1")]
    assert store.append_readings(batch) == len(batch)
    assert store.append_readings(batch[:3]) == 0  # one reading per (wrap, t), as the rules say

    bed1 = store.readings_for_bed_day("1", DAY, TZ)
    assert all(r.wrap_id == "W1" for r in bed1)
    assert [r.t for r in bed1] == [T0 + 30 * k for k in range(8)] + [day_end - 1]
    assert bed1[0] == reading(T0, "W1")
    assert [r.t for r in store.readings_for_bed_day("2", DAY, TZ)] == [T0 + k for k in range(5)]
    assert store.readings_for_bed_day("1", DAY + dt.timedelta(days=1), TZ) == [reading(day_end, "W1")]
    assert store.readings("W2", T0 + 1, T0 + 3) == [reading(T0 + 1, "W2"), reading(T0 + 2, "W2")]


def test_missing_values_and_unstorable_readings(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    odd = [
        Reading(T0, "W1"),
        Reading(T0 + 1, "W1", math.nan, None, 0.5),
        Reading(math.nan, "W1", 36.0),
        Reading(T0 + 2, "", 36.0),
    ]
    assert store.append_readings(odd) == 2
    assert "2 reading(s) without a valid time or wrap id" in caplog.text
    assert store.readings("W1", 0, math.inf) == [Reading(T0, "W1"), Reading(T0 + 1, "W1", None, None, 0.5)]
    assert store.append_readings([]) == 0


def test_readings_follow_the_wrap_across_a_swap(ward: Ward, store: Store) -> None:
    ward.assign_wrap("W1", "1", now=T0, who="n")
    ward.assign_wrap("W2", "2", now=T0, who="n")
    store.append_readings([reading(T0 + k, w) for k in range(0, 100, 10) for w in ("W1", "W2")])
    ward.swap_wraps("1", "2", now=T0 + 50, who="n")
    bed1 = store.readings_for_bed("1", T0, T0 + 100)
    assert [(r.t - T0, r.wrap_id) for r in bed1] == [(k, "W1") for k in range(0, 50, 10)] + [
        (k, "W2") for k in range(50, 100, 10)
    ]
    assert [r.t - T0 for r in store.readings_for_bed("2", T0 + 40, T0 + 60)] == [40, 50]


def test_a_family_sees_only_its_own_stay(ward: Ward, store: Store) -> None:
    ward.assign_wrap("W1", "1", now=T0, who="n")
    first, _ = ward.admit("1", AdmissionDetails("First", 1500, GestationalAge(30)), now=T0, who="n")
    store.append_readings([reading(T0 + k) for k in range(0, 300, 10)])
    ward.discharge(first.admission_id, now=T0 + 100, who="n")
    ward.assign_wrap("W1", "1", now=T0 + 150, who="n")
    second, _ = ward.admit("1", AdmissionDetails("Second", 1500, GestationalAge(30)), now=T0 + 200, who="n")
    mine = store.readings_for_admission(second.admission_id, 0, math.inf)
    assert [r.t - T0 for r in mine] == list(range(200, 300, 10))
    theirs = store.readings_for_admission(first.admission_id, 0, math.inf)
    assert [r.t - T0 for r in theirs] == list(range(0, 100, 10))


def test_prune_removes_only_readings_past_retention(tmp_path: Path) -> None:
    with Store(tmp_path / "p.sqlite3", retention_days=30) as s:
        now = T0 + 40 * 86400
        old = [reading(now - 31 * 86400 + k, w) for k in range(5) for w in ("W1", "W2", "W3")]
        recent = [reading(now - 29 * 86400 + k, w) for k in range(5) for w in ("W1", "W2")]
        s.append_readings(old + recent)
        old_session = Session(int((now - 31 * 86400) * US), int((now - 30.9 * 86400) * US), US, True)
        s.save_sessions([SessionRecord("W1", old_session)])
        assert s.prune(now) == len(old)
        assert sorted(
            (r.wrap_id, r.t) for w in ("W1", "W2", "W3") for r in s.readings(w, 0, math.inf)
        ) == sorted((r.wrap_id, r.t) for r in recent)
        assert s.prune(now) == 0
        assert s._conn is not None
        assert s._conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1  # the record stays
    with Store(tmp_path / "p.sqlite3", retention_days=1) as s:
        assert s.retention_days == 1
        assert s.prune(now) == len(recent)


# Sessions ----------------------------------------------------------------------------------------
def test_sessions_by_bed_and_day(ward: Ward, store: Store) -> None:
    ward.assign_wrap("W1", "1", now=T0, who="n")
    start = int((T0 + 3600) * US)
    running = Session(start, start + 600 * US, 590 * US, True)
    store.save_sessions([SessionRecord("W1", running, open=True)])
    grown = Session(start, start + 7200 * US, 7000 * US, False)
    store.save_sessions([SessionRecord("W1", grown, open=False)])  # the same session, finished
    other = Session(int((T0 - 7200) * US), int((T0 - 3600) * US), 3000 * US, True)  # before W1 came
    store.save_sessions([SessionRecord("W1", other), SessionRecord("W2", grown)])
    (saved,) = store.sessions_for_bed_day("1", DAY, TZ)
    assert (saved.bed_id, saved.wrap_id, saved.session, saved.open) == ("1", "W1", grown, False)
    assert store.sessions_for_bed("1", T0 + 4000, T0 + 5000) == [saved]  # overlaps the window
    assert store.sessions_for_bed("2", T0 - 86400, T0 + 86400) == []  # W2 was on no bed
    store.save_sessions([])


# Wraps -------------------------------------------------------------------------------------------
def test_wrap_registry_keys_and_counters(store: Store) -> None:
    key = "231d39c1d7cc1ab1aee224cd096db932"
    store.add_wrap("W1", "54-48-e6-8f-80-a5", key, now=T0)
    store.add_wrap("W2", "54:48:E6:8F:80:A6", now=T0)
    with pytest.raises(WardConflictError, match="registered already"):
        store.add_wrap("W1", "54:48:E6:8F:80:A7", now=T0)
    with pytest.raises(
        WardConflictError, match="MAC address 54:48:E6:8F:80:A6 is registered already, as wrap W2"
    ):
        store.add_wrap("W3", "54:48:E6:8F:80:A6", now=T0)
    with pytest.raises(WardError, match="32 hex digits"):
        store.add_wrap("W4", "54:48:E6:8F:80:A8", "abc", now=T0)
    registry = store.wrap_registry(allow_unencrypted=True)
    assert registry.allow_unencrypted
    w1 = registry.by_mac("54:48:E6:8F:80:A5")
    assert w1 is not None and w1.key == bytes.fromhex(key)
    store.save_wrap_counters({"W1": 41})
    verifier = AdvertVerifier(registry, last_counters=store.wrap_counters())
    assert verifier.last_counters() == {"W1": 41}
    store.rekey_wrap("W1", None, now=T0, who="staff-test")  # re-provisioned: a new counter space
    assert store.wrap_counters() == {}
    assert store.wrap_registry().by_id("W1") == WrapEntry("W1", "54:48:E6:8F:80:A5")
    with pytest.raises(WardError):
        store.rekey_wrap("W9", key, now=T0, who="staff-test")


def test_import_registry(store: Store) -> None:
    registry = WrapRegistry(
        [WrapEntry("W1", "54:48:E6:8F:80:A5", bytes(16)), WrapEntry("W2", "54:48:E6:8F:80:A6")]
    )
    assert store.import_registry(registry, now=T0) == 2
    assert store.import_registry(registry, now=T0) == 0
    rekeyed = WrapRegistry([WrapEntry("W1", "54:48:E6:8F:80:A5", bytes([1] * 16))])
    assert store.import_registry(rekeyed, now=T0) == 0
    w1 = store.wrap_registry().by_id("W1")
    assert w1 is not None and w1.key == bytes([1] * 16)
    moved = WrapRegistry([WrapEntry("W2", "54:48:E6:8F:80:AF")])
    with pytest.raises(WardConflictError, match="W2 has MAC address"):
        store.import_registry(moved, now=T0)


# Alarms and the audit log ------------------------------------------------------------------------
def test_alarm_board_and_audit_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "alarms.sqlite3"
    board = AlarmBoard()
    t = int(T0 * US)
    board.condition_started(("W1", "severe", t), AlarmKind.HYPOTHERMIA_SEVERE, "1", "W1", t, extreme_c=31.5)
    board.condition_started(("W2", "battery", t), AlarmKind.LOW_BATTERY, "2", "W2", t + US)
    (alarm_id,) = [a.alarm_id for a in board.visible(t + 2 * US) if a.kind is AlarmKind.HYPOTHERMIA_SEVERE]
    board.acknowledge(alarm_id, "nurse Achieng", t + 3 * US)
    audit = board.drain_audit()
    with Store(path) as s:
        s.save_alarm_board(board.snapshot(), audit, now=T0 + 3)
        s.save_alarm_board(board.snapshot(), audit, now=T0 + 3)  # a retry stores nothing twice
    with Store(path) as s:
        snapshot = s.load_alarm_board()
        assert snapshot == board.snapshot()
        restored = AlarmBoard.restore(snapshot)
        assert restored.visible(t + 4 * US) == board.visible(t + 4 * US)
        assert s.audit_log() == audit
        acks = [r for r in s.audit_log(alarm_id=alarm_id) if r.action == "acknowledged"]
        assert [(r.who, r.at_us) for r in acks] == [("nurse Achieng", t + 3 * US)]
        assert s.audit_log(start_us=t + US, end_us=t + 2 * US) == [r for r in audit if r.at_us == t + US]
        assert len(s.audit_log(limit=1)) == 1
        history = s.alarms_for_bed("1", t - US, t + US)
        assert [(a["kind"], a["acked_by"]) for a in history] == [("hypothermia_severe", "nurse Achieng")]
        assert s.alarms_for_bed("2", t + 10 * US, t + 20 * US)[0]["kind"] == "low_battery"

        board.pause_audio("screen-1", "nurse Achieng", t + 5 * US)
        s.append_audit(board.drain_audit())
        assert s.audit_log()[-1].screen_id == "screen-1"
        assert s.audit_log()[-1].alarm_id is None

        with sqlite3.connect(path) as raw, pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE alarm_audit SET who = 'someone else'")
        with sqlite3.connect(path) as raw, pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM alarm_audit")


def test_new_store_has_no_alarm_board(store: Store) -> None:
    assert store.load_alarm_board() is None
    with pytest.raises(StoreError, match="cannot store"):
        store.set_setting("bad", object())


# ReadingWriter -----------------------------------------------------------------------------------
def test_writer_commits_on_time_and_on_size(store: Store) -> None:
    writer = ReadingWriter(store, max_batch=100, interval_s=1.0)
    writer.add([reading(T0 + k) for k in range(3)], now=100.0)
    assert writer.pending == 3  # not yet due
    writer.tick(now=100.5)
    assert writer.pending == 3
    writer.add([reading(T0 + 3)], now=100.9)  # the clock runs from the oldest pending reading
    writer.tick(now=101.0)
    assert writer.pending == 0 and writer.written == 4
    writer.add([reading(T0 + 10 + k) for k in range(250)], now=102.0)  # full batches go at once
    assert writer.pending == 0 and writer.written == 254
    writer.tick(now=200.0)  # nothing pending: nothing to do
    writer.add([reading(T0 + 999)], now=300.0)
    assert writer.flush(now=300.0) == 1
    assert len(store.readings("W1", 0, math.inf)) == 255


def test_writer_bounds_its_memory_and_counts_what_it_drops(store: Store) -> None:
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        writer = ReadingWriter(store, max_batch=10, max_pending=20, retry_s=60.0)
        writer.add([reading(T0 + k) for k in range(15)], now=0.0)
        writer.add([reading(T0 + 15 + k) for k in range(15)], now=0.1)
        assert writer.pending == 20 and writer.dropped == 10
    finally:
        other.execute("ROLLBACK")
        other.close()
    writer.tick(now=61.0)
    assert [r.t - T0 for r in store.readings("W1", 0, math.inf)] == list(range(10, 30))  # the newest


def test_writer_arguments() -> None:
    with pytest.raises(ValueError):
        ReadingWriter(None, max_batch=0)  # type: ignore[arg-type]
