"""The store's connection on real files: a private WAL file, settings kept across a reopen, a closed
store, which transactions are durable, and the failures that must not lose data (SIGKILL, a
locked database, a full disk)."""

from __future__ import annotations

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
from pathlib import Path

import pytest

from kmc_monitor.service.alarms import AlarmBoard
from kmc_monitor.service.store import (
    DB_FILENAME,
    SCHEMA_VERSION,
    ReadingWriter,
    Store,
    StoreError,
)
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import AdmissionDetails, GestationalAge
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import AlarmKind
from tests.service.store.common import REPO, T0, reading
from tests.timing import scaled


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


def test_closed_store(tmp_path: Path) -> None:
    s = Store(tmp_path / "c.sqlite3")
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed") as info:
        s.beds()
    assert info.value.reason == "closed"


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
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import AdmissionDetails, GestationalAge
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
