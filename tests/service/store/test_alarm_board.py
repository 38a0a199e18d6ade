"""The alarm board's snapshot, history and audit log round trip."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kmc_monitor.service.alarms import AlarmBoard
from kmc_monitor.service.store import (
    Store,
    StoreError,
)
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import AlarmKind
from tests.service.store.common import T0


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
