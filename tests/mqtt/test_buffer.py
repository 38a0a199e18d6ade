"""The gateway's outbox: bounded, oldest dropped and counted, in order, durable, ack-only deletes."""

from __future__ import annotations

import math
import sqlite3
import stat
from pathlib import Path

import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.buffer import Outbox, OutboxError


def readings(n: int, start: int = 0, wrap: str = "W01") -> list[Reading]:
    return [Reading(1.7e9 + i, wrap, 36.5 + i / 100, 25.0, 0.9, 80.0, -60.0) for i in range(start, start + n)]


def test_in_order_with_all_fields(tmp_path: Path) -> None:
    box = Outbox.in_data_dir(tmp_path)
    box.append(readings(3))
    box.append([Reading(1.8e9, "W02")])
    rows = box.peek(10)
    assert [seq for seq, _ in rows] == [1, 2, 3, 4]
    assert [r for _, r in rows] == [*readings(3), Reading(1.8e9, "W02")]
    assert box.peek(2, after_seq=1) == rows[1:3]
    assert len(box) == 4 and box.oldest_t() == 1.7e9
    box.close()


def test_only_acknowledged_rows_are_deleted(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.append(readings(5))
    assert box.ack(2) == 2
    assert [seq for seq, _ in box.peek(10)] == [3, 4, 5]
    assert box.ack(2) == 0  # acknowledged twice: nothing more goes
    assert box.ack(5) == 3 and len(box) == 0 and box.oldest_t() == math.inf
    box.close()


def test_bound_drops_the_oldest_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_rows=4)
    assert box.append(readings(3)) == 0
    assert box.append(readings(3, start=3)) == 2
    assert [r.t - 1.7e9 for _, r in box.peek(10)] == [2, 3, 4, 5]
    assert box.dropped == 2 and len(box) == 4
    assert box.append(readings(10, start=6)) == 10  # a batch larger than the bound keeps its newest
    assert [r.t - 1.7e9 for _, r in box.peek(10)] == [12, 13, 14, 15]
    assert box.dropped == 12
    box.close()


def test_survives_reopening_and_never_reuses_a_seq(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path, max_rows=3)
    box.append(readings(5))  # 2 dropped
    box.ack(4)
    box.close()
    again = Outbox(path, max_rows=3)
    assert len(again) == 1 and again.dropped == 2
    assert [seq for seq, _ in again.peek(10)] == [5]
    again.ack(5)
    assert again.next_seq() == 6
    again.append(readings(1, start=9))
    assert [seq for seq, _ in again.peek(10)] == [6]
    again.close()


def test_unusable_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(OutboxError, match="cannot open the gateway's outbox"):
        Outbox(bad)
    with pytest.raises(ValueError):
        Outbox(tmp_path / "x.sqlite3", max_rows=0)


def test_the_wraps_counter_is_kept(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.append([Reading(1.7e9, "W01", 36.5, counter=4_294_967_295), Reading(1.7e9 + 1, "W01", 36.6)])
    assert [r.counter for _, r in box.peek(10)] == [4_294_967_295, None]
    box.close()


def test_an_outbox_from_before_the_counter_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, t REAL NOT NULL,
        wrap_id TEXT NOT NULL, skin_temp_c REAL, ambient_temp_c REAL, contact REAL,
        battery_pct REAL, rssi_dbm REAL);
        INSERT INTO outbox (t, wrap_id, skin_temp_c) VALUES (1700000000.0, 'W01', 36.4);"""
    )
    db.close()
    box = Outbox(path)
    assert box.peek(10) == [(1, Reading(1.7e9, "W01", 36.4))]
    assert box.peek(10)[0][1].counter is None
    box.append([Reading(1.7e9 + 1, "W01", 36.5, counter=7)])
    assert [(seq, r.counter) for seq, r in box.peek(10)] == [(1, None), (2, 7)]
    box.close()


def test_the_outbox_is_private_in_a_private_directory(tmp_path: Path) -> None:
    # Finding 12: the gateway's outbox was created 0644 in a 0755 directory.
    shared = tmp_path / "gateway"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    box = Outbox.in_data_dir(shared)
    try:
        assert stat.S_IMODE(shared.stat().st_mode) == 0o700
        assert stat.S_IMODE(box.path.stat().st_mode) == 0o600
        fresh = Outbox.in_data_dir(tmp_path / "new" / "dir")
        assert stat.S_IMODE(fresh.path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(fresh.path.stat().st_mode) == 0o600
        fresh.close()
    finally:
        box.close()
