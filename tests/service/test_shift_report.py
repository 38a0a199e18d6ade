"""The handover report of one shift (#14): a night crossing midnight, in a zone without daylight
saving and in one whose clocks change that night; contact cut to the shift, the alarms with who
acknowledged them, and what is still open at the end. Real SQLite store, values worked out by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.alarms import AlarmBoard
from kmc_monitor.service.reports import alarm_entries, build_report, load_report_inputs, report_csv
from kmc_monitor.service.shifts import parse_shift_starts, shift_at
from kmc_monitor.service.store import Store
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import AdmissionDetails, GestationalAge
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.signal.report import AlarmKind
from tests.service.test_reports import AUTH, TestClient, client

__all__ = ["client"]  # the route tests' fixture, shared with test_reports.py

pytestmark = pytest.mark.timeout(120)

STARTS = parse_shift_starts(["07:00", "19:00"])
STEP_S = 10.0


def local(tz: str, *args: int) -> float:
    return dt.datetime(*args, tzinfo=ZoneInfo(tz)).timestamp()  # type: ignore[misc]


def night_ward(path: Path, tz: str, day: dt.date) -> tuple[Ward, float, float]:
    """Bed 1: a baby admitted at 17:00, skin to skin from 18:00 to 08:00 the next morning without a
    break (readings every 10 s). Returns the ward and the contact's start and end."""
    store = Store(path)
    w = Ward(store, base_url="http://localhost:8000")
    y, m, d = day.year, day.month, day.day
    admitted = local(tz, y, m, d, 17, 0)
    w.add_bed("1", "Bed 1", position=1, now=admitted - 3600)
    store.add_wrap("W1", "54:48:E6:8F:80:A5", None, now=admitted - 3600)
    w.assign_wrap("W1", "1", now=admitted - 1800, who="nurse-a")
    w.admit(
        "1",
        AdmissionDetails("Amani", 1650, GestationalAge(32, 4), daily_goal_s=72000),
        now=admitted,
        who="nurse-a",
    )
    nxt = day + dt.timedelta(days=1)
    start, end = local(tz, y, m, d, 18, 0), local(tz, nxt.year, nxt.month, nxt.day, 8, 0)
    n = int((end - start) / STEP_S)
    store.append_readings([Reading(start + STEP_S * k, "W1", 36.6, 25.0, 1.0, 90.0) for k in range(n)])
    return w, start, end


def cold_night_board(raised: float, acked: float) -> AlarmBoard:
    """A cold-stress alarm raised at ``raised``, acknowledged by nurse-b at ``acked``, still on."""
    board = AlarmBoard()
    key = ("W1", "cold_stress", round(raised * US))
    board.condition_started(key, AlarmKind.COLD_STRESS, "1", "W1", round(raised * US), extreme_c=36.1)
    (alarm,) = board.visible(round(raised * US))
    board.acknowledge(alarm.alarm_id, "nurse-b", round(acked * US))
    return board


def shift_report(ward: Ward, tz: str, moment: float, now: float, board: AlarmBoard) -> dict[str, Any]:
    ward.store.save_alarm_board(board.snapshot(), board.drain_audit(), now=now)
    params = RuleParams(ward_tz=tz)
    shift = shift_at(moment, STARTS, tz)
    inputs = load_report_inputs(ward, params, "1", shift.start_local.date(), now=now, shift=shift)
    return build_report(
        inputs, alarm_entries(inputs, None, round(now * US)), params, generated_us=round(now * US)
    )


@pytest.fixture
def nairobi(tmp_path: Path) -> Iterator[tuple[Ward, float, float]]:
    w, start, end = night_ward(tmp_path / "ward.sqlite3", "Africa/Nairobi", dt.date(2026, 3, 1))
    yield w, start, end
    w.store.close()


def test_a_night_shift_across_midnight(nairobi: tuple[Ward, float, float]) -> None:
    tz = "Africa/Nairobi"
    ward, contact_start, contact_end = nairobi
    raised, acked = local(tz, 2026, 3, 1, 23, 50), local(tz, 2026, 3, 2, 0, 10)
    now = local(tz, 2026, 3, 2, 9, 0)
    r = shift_report(ward, tz, local(tz, 2026, 3, 2, 3, 0), now, cold_night_board(raised, acked))

    assert r["period"] == "shift"
    assert r["shift"]["key"] == "2026-03-01T19:00"
    assert r["day_start_us"] == round(local(tz, 2026, 3, 1, 19, 0) * US)
    assert r["day_end_us"] == round(local(tz, 2026, 3, 2, 7, 0) * US)
    assert r["complete"] is True
    # One session from 18:00 to 08:00 overlaps the shift; 12 of its 14 hours are inside.
    (session,) = r["sessions"]
    assert session["start_us"] <= round(local(tz, 2026, 3, 1, 19, 0) * US)
    (contact,) = r["shift_contact"]
    inside = session["contact_s"] * 12 / (session["duration_s"] / 3600)
    assert contact["contact_s"] == pytest.approx(inside, abs=1.0)
    assert contact["contact_s"] == pytest.approx(12 * 3600, abs=120)
    # The daily totals of both ward days the night touches.
    assert sorted(t["day"] for t in r["totals"]) == ["2026-03-01", "2026-03-02"]
    # Minute rows only inside the shift.
    assert len(r["readings"]) == 12 * 60
    # The alarm, who acknowledged it and when; still open at 07:00.
    (alarm,) = r["alarms"]
    assert alarm["acknowledged_by"] == "nurse-b" and alarm["acknowledged_us"] == round(acked * US)
    assert [(x["who"], x["at_us"]) for x in alarm["audit"] if x["action"] == "acknowledged"] == [
        ("nurse-b", round(acked * US))
    ]
    still = r["open_at_end"]
    assert still["at_us"] == r["day_end_us"]
    assert still["alarms"] == [
        {
            "alarm_id": alarm["alarm_id"],
            "kind": "cold_stress",
            "priority": "low",
            "condition_on": True,
            "acknowledged": True,
            "acknowledged_by": "nurse-b",
            "extreme_c": 36.1,
        }
    ]
    assert still["admissions"] == [
        {"admission_id": r["admissions"][0]["admission_id"], "display_name": "Amani"}
    ]
    rows = [line.split(",") for line in report_csv(r).splitlines()]
    assert ["report", "period", "shift"] in rows
    assert ["report", "shift", "2026-03-01T19:00"] in rows


def test_the_day_shift_before_sees_no_alarm_and_its_own_contact(nairobi: tuple[Ward, float, float]) -> None:
    tz = "Africa/Nairobi"
    ward, _, _ = nairobi
    raised, acked = local(tz, 2026, 3, 1, 23, 50), local(tz, 2026, 3, 2, 0, 10)
    now = local(tz, 2026, 3, 2, 9, 0)
    r = shift_report(ward, tz, local(tz, 2026, 3, 1, 12, 0), now, cold_night_board(raised, acked))
    assert r["shift"]["key"] == "2026-03-01T07:00"
    assert r["alarms"] == [] and r["open_at_end"]["alarms"] == []
    (contact,) = r["shift_contact"]
    assert contact["contact_s"] == pytest.approx(3600, abs=120)  # 18:00 to 19:00
    # An alarm raised after the end of the shift is not the outgoing shift's to hand over.
    assert r["open_at_end"]["admissions"][0]["display_name"] == "Amani"


def test_the_night_the_clocks_go_forward_is_eleven_hours(tmp_path: Path) -> None:
    tz = "Europe/Paris"  # 02:00 -> 03:00 on 2026-03-29
    ward, _, _ = night_ward(tmp_path / "ward.sqlite3", tz, dt.date(2026, 3, 28))
    try:
        raised, acked = local(tz, 2026, 3, 29, 1, 0), local(tz, 2026, 3, 29, 1, 20)
        now = local(tz, 2026, 3, 29, 9, 0)
        r = shift_report(ward, tz, local(tz, 2026, 3, 29, 4, 0), now, cold_night_board(raised, acked))
        assert r["shift"] == {
            "key": "2026-03-28T19:00",
            "start_local": "2026-03-28T19:00:00+01:00",
            "end_local": "2026-03-29T07:00:00+02:00",
        }
        assert (r["day_end_us"] - r["day_start_us"]) / US == 11 * 3600
        assert len(r["readings"]) == 11 * 60
        (contact,) = r["shift_contact"]
        assert contact["contact_s"] == pytest.approx(11 * 3600, abs=120)
        assert r["open_at_end"]["alarms"][0]["acknowledged_by"] == "nurse-b"
    finally:
        ward.store.close()


# Route -------------------------------------------------------------------------------------------
def test_the_route_takes_a_shift_or_the_current_one(client: TestClient) -> None:
    # The ward clock reads 10:05 UTC: the day shift began 3 h ago, so it is the one to hand over.
    r = client.get("/api/beds/B01/report", params={"shift": "current"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["shift"]["key"] == "2026-01-01T07:00" and r.json()["complete"] is False
    assert {"caregivers", "discharge_checklists", "open_at_end", "shift_contact"} <= set(r.json())
    assert (
        r.json()["shift"]["previous"] == "2025-12-31T19:00"
        and r.json()["shift"]["next"] == "2026-01-01T19:00"
    )
    night = client.get("/api/beds/B01/report", params={"shift": "2025-12-31T19:00"}, headers=AUTH).json()
    assert night["period"] == "shift" and night["shift"]["end_local"] == "2026-01-01T07:00:00+00:00"
    csv_r = client.get("/api/beds/B01/report.csv", params={"shift": "current"}, headers=AUTH)
    assert csv_r.status_code == 200 and "report,shift,2026-01-01T07:00" in csv_r.text
    assert csv_r.headers["content-disposition"] == 'attachment; filename="kmc-B01-2026-01-01T0700.csv"'
    assert client.get("/api/beds/B01/report", headers=AUTH).json()["period"] == "day"  # unchanged


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"shift": "2026-01-01T08:00"}, "shifts start at 07:00, 19:00"),
        ({"shift": "yesterday"}, "YYYY-MM-DDTHH:MM"),
        ({"shift": "current", "day": "2026-01-01"}, "not both"),
        ({"shift": "0001-01-01T07:00"}, "no such date"),
        ({"shift": "9999-12-31T19:00"}, "no such date"),
    ],
)
def test_a_bad_shift_says_what_to_ask(client: TestClient, params: dict[str, str], says: str) -> None:
    r = client.get("/api/beds/B01/report", params=params, headers=AUTH)
    assert r.status_code == 422 and says in r.json()["detail"]


def test_the_settings_api_names_the_shift_starts(client: TestClient) -> None:
    assert client.get("/api/settings", headers=AUTH).json()["shift_starts"] == ["07:00", "19:00"]
