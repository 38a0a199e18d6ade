"""What the ward queues for the hospital: alarm phases, periodic observations, finished sessions."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from kmc_monitor.service.alarms import AlarmBoard, WardAlarmKind, ward_condition_key
from kmc_monitor.service.engine import BedView
from kmc_monitor.service.hl7 import Identity
from kmc_monitor.service.hl7_feed import Hl7Feed
from kmc_monitor.service.hl7_outbox import Hl7Outbox
from kmc_monitor.service.ward_model import Admission, GestationalAge
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import AlarmKind

T0_US = 1_767_268_800 * US
ADMISSION = Admission(7, "B01", "Baby A", "HN-7", 1500, GestationalAge(32, 0), 72000.0, 0.0, 0.0, "nurse")


def view(**kw: Any) -> BedView:
    base: dict[str, Any] = {
        "bed_id": "B01", "label": "Bed 1", "position": 1, "admission_id": 7, "display_name": "Baby A",
        "wrap_id": "W01", "temperature_c": 36.8, "band": "normal", "judging": "judged", "contact": True,
        "session_state": "running", "session_s": 600.0, "contact_today_s": 3600.0, "rolling_24h_s": 3600.0,
        "daily_goal_s": 72000.0, "battery_pct": 90.0, "rssi_dbm": -60.0, "last_heard_us": T0_US,
        "last_heard_s": 0.5, "alarms": (),
    }  # fmt: skip
    base.update(kw)
    return BedView(**base)


def drain(box: Hl7Outbox) -> list[tuple[str, dict[str, str]]]:
    """(kind, OBX name -> value) of every queued message, oldest first, emptying the queue."""
    out = []
    while (m := box.first()) is not None:
        values = {}
        for seg in m.message.split("\r"):
            f = seg.split("|")
            if f[0] == "OBX":
                values[f[3].split("^")[1]] = f[5]
        out.append((m.kind, values))
        box.delete(m.seq)
    return out


def make(tmp_path: Path, interval_s: float = 60.0) -> tuple[Hl7Feed, Hl7Outbox, list[int]]:
    box = Hl7Outbox.in_data_dir(tmp_path)
    woken: list[int] = []
    feed = Hl7Feed(box, Identity(), "Ward", lambda _id: ADMISSION, interval_s=interval_s,
                   wake=lambda: woken.append(1))  # fmt: skip
    return feed, box, woken


def test_observations_every_interval_of_ward_time(tmp_path: Path) -> None:
    feed, box, woken = make(tmp_path, interval_s=60)
    beds = [view(), view(bed_id="B02", admission_id=None, display_name=None)]
    for k in range(0, 121, 10):  # two minutes of ticks every 10 s
        feed.on_tick(T0_US + k * US, [], [], lambda: beds)
    got = drain(box)
    # At 0, 60 and 120 s, the admitted bed only (an empty bed describes no patient).
    assert [kind for kind, _ in got] == ["pcd01"] * 3
    assert got[0][1]["MDC_TEMP_SKIN"] == "36.80" and woken


def test_alarm_phases_start_update_end_and_latched_clear(tmp_path: Path) -> None:
    feed, box, _ = make(tmp_path, interval_s=3600)
    feed.on_tick(T0_US, [], [view()], lambda: [])  # the bed is known
    drain(box)
    board = AlarmBoard()
    key = ("W01", "cold")
    events = board.condition_started(key, AlarmKind.HYPOTHERMIA_SEVERE, "B01", "W01", T0_US + US)
    feed.on_tick(T0_US + US, events, [], lambda: [])
    events = board.condition_ended(key, T0_US + 60 * US)
    feed.on_tick(T0_US + 60 * US, events, [], lambda: [])
    alarm_id = events[0].alarm.alarm_id if events[0].alarm else 0
    events = board.acknowledge(alarm_id, "nurse-a", T0_US + 90 * US)
    feed.on_tick(T0_US + 90 * US, events, [], lambda: [])
    got = [(v["MDC_ATTR_EVENT_PHASE"], v["MDC_ATTR_ALARM_STATE"], v["MDC_ATTR_ALARM_INACTIVATION_STATE"])
           for kind, v in drain(box) if kind == "pcd04"]  # fmt: skip
    assert got[0] == ("start", "active", "enabled")
    assert got[1] == ("end", "latched", "enabled")  # high priority: stays shown until acknowledged
    assert got[-1][0] == "update" and got[-1][2] == "alert-acknowledged"
    assert got[-1][1] == "inactive"


def test_the_links_own_alarm_is_not_sent_over_it(tmp_path: Path) -> None:
    feed, box, _ = make(tmp_path, interval_s=3600)
    feed.on_tick(T0_US, [], [], lambda: [])
    drain(box)
    board = AlarmBoard()
    kind = WardAlarmKind.HL7_LINK_FAILURE
    events = board.condition_started(ward_condition_key(kind, T0_US), kind, None, None, T0_US)
    feed.on_tick(T0_US + US, events, [], lambda: [])
    assert box.pending() == 0


def test_a_finished_session_is_sent_at_once_with_its_summary(tmp_path: Path) -> None:
    feed, box, _ = make(tmp_path, interval_s=3600)
    feed.on_tick(T0_US, [], [view(session_s=0.0)], lambda: [])
    running = view(session_s=1800.0)
    feed.on_tick(T0_US + 1800 * US, [], [running], lambda: [])
    drain(box)
    feed.on_tick(T0_US + 2000 * US, [], [dataclasses.replace(running, session_state="none", session_s=0.0)],
                 lambda: [])  # fmt: skip
    (msg,) = drain(box)
    assert msg[0] == "pcd01" and msg[1]["Session duration"] == "1800"


def test_a_ward_alarm_goes_out_about_the_ward_with_no_patient(tmp_path: Path) -> None:
    """The feed knows a ward alarm by its subject (no placeholder wrap id to recognise)."""
    feed, box, _ = make(tmp_path, interval_s=3600)
    feed.on_tick(T0_US, [], [view()], lambda: [])
    drain(box)
    board = AlarmBoard()
    kind = WardAlarmKind.STORAGE_FAILURE
    events = board.condition_started(ward_condition_key(kind, T0_US), kind, None, None, T0_US + US)
    feed.on_tick(T0_US + US, events, [], lambda: [])
    m = box.first()
    assert m is not None and m.kind == "pcd04"
    segments = {seg.split("|")[0] for seg in m.message.split("\r")}
    assert "PID" not in segments
    assert "storage_failure" in m.message and "ward^Ward service" in m.message
