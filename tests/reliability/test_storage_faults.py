"""Storage faults in process: the database locked by another program, or full for real.

A runtime without a tick loop is stepped on a fake clock (one step per ward second); the faults are
real SQLite ones: another connection holding ``BEGIN EXCLUSIVE``, and ``PRAGMA max_page_count``
capping the service's own connection at the pages the file has (SQLITE_FULL on the next page).
What must hold: every step returns quickly and publishes its update (the screens keep streaming),
a ward-level ``storage_failure`` alarm comes after a few seconds of refusals (not after one), says
why in words, ends when writes succeed again, and no reading is lost.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmc_monitor.service.alarms import AlarmSubject, WardAlarmKind, ward_condition_key
from kmc_monitor.service.hub import Subscriber
from kmc_monitor.service.persistence import checkpoint
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.storage_health import STORAGE_ALARM_AFTER_S
from kmc_monitor.service.store import DB_FILENAME
from tests.clock import Clock
from tests.reliability.helpers import T0, TwoWraps, settings_for
from tests.timing import scaled

pytestmark = pytest.mark.timeout(60)

#: A step must never wait anything like the store's 5 s busy timeout.
MAX_STEP_S = scaled(1.0)


class Ward:
    def __init__(self, data_dir: Path) -> None:
        self.clock = Clock(T0)
        self.source = TwoWraps()
        self.rt = WardRuntime(settings_for(data_dir), source=self.source, clock=self.clock, tick_s=None)
        self.rt.open()
        self.sub: Subscriber = self.rt.ward_channel.subscribe(None)
        self.sub.needs_snapshot = False  # live messages only: the test reads the queue itself
        self.db = data_dir / DB_FILENAME
        self.produced = 0

    def run(self, seconds: float, step_s: float = 1.0) -> list[dict[str, Any]]:
        """Step ``step_s`` ward seconds at a time; the messages the ward stream published meanwhile."""
        out: list[dict[str, Any]] = []
        for _ in range(round(seconds / step_s)):
            before = self.source.next_t
            self.clock.t += step_s
            started = time.monotonic()
            self.rt.step()
            took = time.monotonic() - started
            assert took < MAX_STEP_S, f"a tick took {took:.2f} s: the screens froze"
            self.produced += 2 * round((self.source.next_t - before) / 2.0)
            while not self.sub.queue.empty():
                out.append(json.loads(self.sub.queue.get_nowait()))
        assert not self.sub.needs_snapshot  # the test's reader never fell behind
        return out

    def storage_alarms(self) -> list[Any]:
        return [
            v
            for v in self.rt.engine.board.visible(self.rt.now_us())
            if v.kind is WardAlarmKind.STORAGE_FAILURE
        ]

    def stored(self) -> int:
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
        finally:
            db.close()

    def assert_nothing_lost(self) -> None:
        """Every reading produced is on disk, but for the last second's, which the writer commits
        within a second (the spec: readings committed at least every second)."""
        writer = self.rt.writer
        assert writer is not None and writer.dropped == 0
        assert writer.last_error is None, writer.last_error
        assert self.stored() + writer.pending == self.produced
        assert writer.pending <= 2, writer.pending

    def close(self) -> None:
        asyncio.run(self.rt.stop())


@pytest.fixture
def ward(tmp_path: Path) -> Iterator[Ward]:
    w = Ward(tmp_path / "data")
    w.run(20 * 60, step_s=10.0)  # 20 minutes: W2, cold and apart, has its alarm
    w.run(5)
    w.assert_nothing_lost()  # the healthy baseline
    try:
        yield w
    finally:
        w.close()


def lock(db: Path) -> sqlite3.Connection:
    """Another program takes the database's write lock and keeps it."""
    conn = sqlite3.connect(db, timeout=5, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def updates(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in msgs if m["type"] == "update"]


def alarm_events(msgs: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [
        m
        for m in msgs
        if m["type"] == "alarm" and m["action"] == action and m["alarm"]["kind"] == "storage_failure"
    ]


def test_a_locked_database_raises_a_ward_alarm_and_loses_nothing(ward: Ward) -> None:
    holder = lock(ward.db)
    try:
        early = ward.run(STORAGE_ALARM_AFTER_S - 2)
        # Streaming goes on, and a lock of a few seconds (a backup tool) is not worth an alarm.
        assert len(updates(early)) >= STORAGE_ALARM_AFTER_S - 2
        assert not ward.storage_alarms() and not alarm_events(early, "raised")
        during = ward.run(5)
        assert len(updates(during)) >= 5
        raised = alarm_events(during, "raised")
        assert len(raised) == 1, during
        alarm = raised[0]["alarm"]
        assert alarm["bed_id"] is None and alarm["wrap_id"] is None  # about the ward, not a baby
        assert alarm["category"] == "technical" and alarm["priority"] == "medium"
        assert "another program holds the database" in alarm["detail"]
        assert "pending" in alarm["detail"] and "alarms go on" in alarm["detail"]
        (view,) = ward.storage_alarms()
        assert view.subject is AlarmSubject.WARD and view.wrap_id is None and view.ended_us is None
        assert ward.rt.alarm_json(view)["detail"] == ward.rt.storage_detail()
        # Physiological alarms keep working meanwhile: W2 (cold, apart) still has its alarm.
        assert any(v.bed_id is not None for v in ward.rt.engine.board.visible(ward.rt.now_us()))
    finally:
        holder.rollback()
        holder.close()
    after = ward.run(3)
    ended = alarm_events(after, "ended")
    assert len(ended) == 1 and ended[0]["alarm"]["state"] == "cleared", after
    assert not ward.storage_alarms()
    assert ward.rt.storage_error() is None and ward.rt.storage_detail() is None
    ward.assert_nothing_lost()  # every reading kept through the lock is on disk now


def test_a_brief_lock_is_retried_without_an_alarm(ward: Ward) -> None:
    holder = lock(ward.db)
    try:
        ward.run(2)
        assert ward.rt.storage_error() is not None  # refused, kept, retried ...
    finally:
        holder.rollback()
        holder.close()
    msgs = ward.run(3)
    assert not alarm_events(msgs, "raised") and not ward.storage_alarms()  # ... and nobody was bothered
    ward.assert_nothing_lost()


def test_a_full_database_says_so_and_recovers_when_space_is_freed(ward: Ward) -> None:
    conn = ward.rt.store._connection()  # the service's own connection: cap it at its current size
    conn.execute("VACUUM")  # without free pages (a replaced stream checkpoint leaves some)
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    conn.execute(f"PRAGMA max_page_count = {pages}")
    try:
        # Ten minutes of readings (600) cannot fit in the free room of the pages the file has.
        msgs = ward.run(600, step_s=2.0)
        assert len(updates(msgs)) >= 300
        raised = alarm_events(msgs, "raised")
        assert len(raised) == 1, [m for m in msgs if m["type"] == "alarm"]
        detail = ward.rt.storage_detail()
        assert detail is not None and detail.startswith("the disk is full: readings are kept in memory (")
        assert "written when space is freed" in detail
        assert ward.stored() < ward.produced
    finally:
        conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    after = ward.run(3)
    assert len(alarm_events(after, "ended")) == 1
    ward.assert_nothing_lost()


def test_an_acknowledgement_during_the_lock_stands_and_is_saved_after(ward: Ward) -> None:
    cold = next(v for v in ward.rt.engine.board.visible(ward.rt.now_us()) if v.bed_id is not None)
    holder = lock(ward.db)
    try:
        started = time.monotonic()
        view = ward.rt.acknowledge(cold.alarm_id, "nurse-a")  # not a 500, not a 5 s freeze
        assert time.monotonic() - started < MAX_STEP_S
        assert view.acknowledged_by == "nurse-a"
        ward.run(8)
        assert ward.storage_alarms()
    finally:
        holder.rollback()
        holder.close()
    ward.run(2)
    audit = ward.rt.store.audit_log(alarm_id=cold.alarm_id)
    assert any(r.action == "acknowledged" and r.who == "nurse-a" for r in audit)


def test_a_storage_alarm_saved_open_ends_at_the_next_start(tmp_path: Path) -> None:
    """Killed while the alarm was open and the board was saved: the restart ends it (the database
    takes writes again), instead of leaving an alarm nothing would ever end."""
    w = Ward(tmp_path / "data")
    w.run(5)
    key = ward_condition_key(WardAlarmKind.STORAGE_FAILURE, w.rt.now_us())
    w.rt.engine.board.condition_started(key, WardAlarmKind.STORAGE_FAILURE, None, None, w.rt.now_us())
    checkpoint(w.rt.engine, w.rt.store, w.rt.now_us(), writer=w.rt.writer)
    w.rt.store.close()  # no clean stop: as after kill -9
    again = Ward(tmp_path / "data")
    try:
        assert not again.storage_alarms()
    finally:
        again.close()
