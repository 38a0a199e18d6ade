"""Readings by wrap, bed, day and stay; retention; and the batching writer."""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from pathlib import Path

import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.store import (
    ReadingWriter,
    SessionRecord,
    Store,
)
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import AdmissionDetails, GestationalAge
from kmc_monitor.service.ward_time import day_bounds
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import Session
from tests.service.store.common import DAY, T0, TZ, reading


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
