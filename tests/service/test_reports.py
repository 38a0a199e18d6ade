"""The handover report: its JSON and CSV built from readings, sessions and alarms put in a real
SQLite store, checked against values worked out by hand; and its routes' access and errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.alarms import AlarmBoard
from kmc_monitor.service.app import create_app
from kmc_monitor.service.config import Settings
from kmc_monitor.service.reports import (
    ReportInputs,
    alarm_entries,
    build_report,
    load_report_inputs,
    minute_bins,
    neutralise,
    report_csv,
    report_filename,
)
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.store import Store
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import AdmissionDetails, GestationalAge
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.signal.report import AlarmKind
from kmc_monitor.sources import ReadingSource
from tests.clock import Clock

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

#: 2026-01-01 10:00 UTC, a whole minute of the epoch.
T0 = 1767261600.0
DAY = dt.date(2026, 1, 1)
PARAMS = RuleParams(ward_tz="UTC")
NAME = "=HYPERLINK(evil)"
#: Skin temperatures of the first minute: with the +0.5 °C site offset, 36.5 to 37.0 °C.
MINUTE0_SKIN = [36.0, 36.1, 36.2, 36.3, 36.4, 36.5]

pytestmark = pytest.mark.timeout(60)


def day_readings() -> list[Reading]:
    """30 min of readings every 10 s from T0 (k = 0..179), plus one before the admission.

    - minute 0 (k 0-5): skin 36.0-36.5 (+0.5 offset): median 36.75, min 36.5, max 37.0;
    - minute 1 (k 6-11): skin 36.2, except k 8 at 50.0 (implausible: no temperature, still counted);
    - minute 3 (k 18-23): contact 1.0 for k 18-20, then 0.3 for k 21-23 (fraction 0.5): contact off
      for the 30 s from T0+210 to T0+240 (a break the session bridges);
    - T0-1800: a reading of the wrap on the bed before the baby was admitted (offset 0, 35.0 °C).
    """
    out = [Reading(T0 - 1800, "W1", 35.0, 25.0, 0.0, 90.0)]
    for k in range(180):
        skin = 36.2
        if k < 6:
            skin = MINUTE0_SKIN[k]
        elif k == 8:
            skin = 50.0
        contact = 0.3 if 21 <= k <= 23 else 1.0
        out.append(Reading(T0 + 10 * k, "W1", skin, 25.0, contact, 90.0))
    return out


@pytest.fixture
def ward(tmp_path: Path) -> Iterator[Ward]:
    with Store(tmp_path / "ward.sqlite3") as store:
        w = Ward(store, base_url="http://localhost:8000")
        w.add_bed("1", "Bed 1", position=1, now=T0 - 86400)
        store.add_wrap("W1", "54:48:E6:8F:80:A5", None, now=T0 - 86400)
        w.assign_wrap("W1", "1", now=T0 - 7200, who="nurse")
        details = AdmissionDetails(NAME, 1650, GestationalAge(32, 4), daily_goal_s=7200, site_offset_c=0.5)
        w.admit("1", details, now=T0 - 60, who="nurse")
        store.append_readings(day_readings())
        yield w


def cold_alarm_board() -> AlarmBoard:
    """A cold-stress alarm raised at T0+200 s, acknowledged by '-nurse' at T0+260 s, ended at T0+400 s."""
    board = AlarmBoard()
    key = ("W1", "cold_stress", round((T0 + 200) * US))
    board.condition_started(key, AlarmKind.COLD_STRESS, "1", "W1", round((T0 + 200) * US), extreme_c=35.9)
    (alarm,) = board.visible(round((T0 + 200) * US))
    board.acknowledge(alarm.alarm_id, "-nurse", round((T0 + 260) * US))
    board.condition_ended(key, round((T0 + 400) * US))
    return board


def report_of(ward: Ward, board: AlarmBoard | None = None, save: bool = True) -> dict[str, Any]:
    live = cold_alarm_board() if board is None else board
    if save:
        ward.store.save_alarm_board(live.snapshot(), live.drain_audit(), now=T0 + 1800)
    now = T0 + 1800
    inputs = load_report_inputs(ward, PARAMS, "1", DAY, now=now)
    return build_report(
        inputs, alarm_entries(inputs, None, round(now * US)), PARAMS, generated_us=round(now * US)
    )


# JSON ------------------------------------------------------------------------------------------
def test_minute_bins_by_hand(ward: Ward) -> None:
    report = report_of(ward)
    bins = {b["start_us"]: b for b in report["readings"]}
    minute = 60 * US
    t0 = round(T0 * US)
    assert len(bins) == 31  # 30 minutes from T0, plus the one before the admission
    assert bins[t0] == {
        "start_us": t0,
        "count": 6,
        "temp_median_c": 36.75,
        "temp_min_c": 36.5,
        "temp_max_c": 37.0,
        "contact_fraction": 1.0,
        "unjudged_fraction": 0.0,
    }
    assert bins[t0 + minute]["count"] == 6  # the implausible reading is counted ...
    assert bins[t0 + minute]["temp_max_c"] == 36.7  # ... but its 50.0 °C is not a temperature
    assert bins[t0 + 3 * minute]["contact_fraction"] == 0.5
    before = bins[t0 - 30 * minute]
    # A wrap just switched on at 35.0 °C is settling (clinical-rules.md): not the baby's temperature
    # yet, so the minute is drawn as a gap, not as 35.0 °C.
    assert (before["count"], before["temp_median_c"], before["contact_fraction"]) == (1, None, 0.0)
    assert before["unjudged_fraction"] == 1.0


def test_minute_bins_leave_a_detached_sensor_out_of_the_temperatures() -> None:
    """A sensor off the baby reads the air: those minutes are hatched gaps on the report's chart and
    blank temperatures in its CSV, never 26 °C drawn through the severe band."""
    from kmc_monitor.devices.simulation.synthetic import TraceBuilder

    b = TraceBuilder("W1", T0, seed=2, ambient_sensor=True).contact(600).detached(600).reattach(600)
    readings = b.rows().readings()
    bins = {round((b["start_us"] - round(T0 * US)) / (60 * US)): b for b in minute_bins(readings, [], PARAMS)}
    assert bins[3]["unjudged_fraction"] == 0.0 and bins[3]["temp_min_c"] > 36.0
    for minute in range(12, 20):  # well inside the detached stretch
        assert bins[minute]["unjudged_fraction"] == 1.0, minute
        assert bins[minute]["temp_median_c"] is None, minute
    low = [b["temp_min_c"] for b in bins.values() if b["temp_min_c"] is not None]
    assert min(low) > 32.0  # nothing of the air's temperature is drawn as the baby's


def test_totals_sessions_and_day_by_hand(ward: Ward) -> None:
    report = report_of(ward)
    assert report["bed"] == {"bed_id": "1", "label": "Bed 1"}
    assert report["day"] == "2026-01-01"
    assert (report["day_start_us"], report["day_end_us"]) == (1767225600 * US, 1767312000 * US)
    assert report["complete"] is False
    assert [a["display_name"] for a in report["admissions"]] == [NAME]
    # Observed 1790 s (first to last reading of the stay), in contact all but the 30 s break.
    (total,) = report["totals"]
    assert total["contact_s"] == pytest.approx(1760.0)
    assert total["observed_s"] == pytest.approx(1790.0)
    assert total["goal_s"] == 7200.0
    assert total["percent_of_goal"] == 24.4  # 1760 / 7200
    assert total["goal_met"] is False
    assert total["ongoing"] is True  # the report is made at T0+30 min: the day is not over
    # One session: the 30 s break is bridged; 1790 s long, so short (< 60 min).
    (session,) = report["sessions"]
    assert (session["start_us"], session["end_us"]) == (round(T0 * US), round((T0 + 1790) * US))
    assert session["duration_s"] == pytest.approx(1790.0)
    assert session["contact_s"] == pytest.approx(1760.0)
    assert session["short"] is True


def test_stored_alarm_with_its_acknowledgement(ward: Ward) -> None:
    (alarm,) = report_of(ward)["alarms"]
    assert alarm["kind"] == "cold_stress"
    assert (alarm["priority"], alarm["category"]) == ("low", "physiological")
    assert alarm["raised_us"] == round((T0 + 200) * US)
    assert alarm["acknowledged_us"] == round((T0 + 260) * US)
    assert alarm["acknowledged_by"] == "-nurse"
    assert alarm["ended_us"] == round((T0 + 400) * US)
    assert alarm["extreme_c"] == 35.9
    assert [(r["action"], r["who"]) for r in alarm["audit"]][:2] == [
        ("raised", "system"),
        ("acknowledged", "-nurse"),
    ]


def test_live_board_alarms_and_unsaved_audit_are_included(ward: Ward) -> None:
    """An alarm raised since the last save, and its audit lines, come from the live board."""
    board = AlarmBoard()
    t = round((T0 + 600) * US)
    board.condition_started(("W1", "severe", t), AlarmKind.HYPOTHERMIA_SEVERE, "1", "W1", t, extreme_c=31.4)
    inputs = load_report_inputs(ward, PARAMS, "1", DAY, now=T0 + 1800)
    assert inputs.stored_alarms == []
    (alarm,) = alarm_entries(inputs, board, t + US)
    assert (alarm["kind"], alarm["priority"], alarm["state"]) == ("hypothermia_severe", "high", "active")
    assert [r["action"] for r in alarm["audit"]] == ["raised"]


def test_a_day_without_anything(ward: Ward) -> None:
    inputs: ReportInputs = load_report_inputs(ward, PARAMS, "1", DAY - dt.timedelta(days=3), now=T0)
    report = build_report(inputs, alarm_entries(inputs, None, 0), PARAMS, generated_us=round(T0 * US))
    assert (report["readings"], report["sessions"], report["totals"], report["alarms"]) == ([], [], [], [])
    assert report["complete"] is True


def test_minute_bins_without_levels() -> None:
    assert minute_bins([Reading(T0, "W1")], [], PARAMS) == [
        {
            "start_us": round(T0 * US),
            "count": 1,
            "temp_median_c": None,
            "temp_min_c": None,
            "temp_max_c": None,
            "contact_fraction": None,
            "unjudged_fraction": 0.0,
        }
    ]


# CSV -------------------------------------------------------------------------------------------
def blocks(text: str) -> dict[str, list[dict[str, str]]]:
    """The CSV's blocks by name, each as a list of rows keyed by the block's header."""
    out: dict[str, list[dict[str, str]]] = {}
    header: list[str] = []
    for row in csv.reader(io.StringIO(text)):
        if not row:
            header = []
        elif row[0] == "block":
            header = row
        else:
            out.setdefault(row[0], []).append(dict(zip(header, row, strict=True)))
    return out


def test_csv_layout_and_values(ward: Ward) -> None:
    report = report_of(ward)
    text = report_csv(report)
    assert text.splitlines()[0] == "block,key,value"
    b = blocks(text)
    facts = {r["key"]: r["value"] for r in b["report"]}
    assert facts["day"] == "2026-01-01" and facts["ward_tz"] == "UTC"
    assert facts["day_start"] == "2026-01-01T00:00:00+00:00"
    (total,) = b["total"]
    assert (total["contact_s"], total["goal_s"], total["percent_of_goal"], total["goal_met"]) == (
        "1760",
        "7200",
        "24.4",
        "no",
    )
    (session,) = b["session"]
    assert (session["start"], session["end"], session["short"]) == (
        "2026-01-01T10:00:00+00:00",
        "2026-01-01T10:29:50+00:00",
        "yes",
    )
    (alarm,) = b["alarm"]
    assert (alarm["kind"], alarm["acknowledged"]) == ("cold_stress", "2026-01-01T10:04:20+00:00")
    assert len(b["minute"]) == len(report["readings"]) == 31
    first = b["minute"][1]
    assert (first["minute"], first["readings"], first["temp_median_c"], first["temp_min_c"]) == (
        "2026-01-01T10:00:00+00:00",
        "6",
        "36.75",
        "36.50",
    )


def test_csv_neutralises_formulas_in_typed_text(ward: Ward) -> None:
    b = blocks(report_csv(report_of(ward)))
    assert b["total"][0]["display_name"] == "'" + NAME
    assert b["alarm"][0]["acknowledged_by"] == "'-nurse"
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(text) == "'" + text
    assert neutralise("Baby Amani") == "Baby Amani"


def test_filename_is_safe() -> None:
    assert report_filename("B01", DAY) == "kmc-B01-2026-01-01.csv"
    assert report_filename('Bed "3"/x', DAY) == "kmc-Bed_3_x-2026-01-01.csv"


# Routes ----------------------------------------------------------------------------------------
TOKEN = "reports-test-staff-token-0123456789"


class OneWrap(ReadingSource):
    """One demo wrap, warm and in contact, every 2 s."""

    demo = True

    def __init__(self) -> None:
        self.next_t = T0

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [("W1", "54:48:E6:8F:80:A5", None)]

    def readings_until(self, t_s: float) -> list[Reading]:
        out = []
        while self.next_t <= t_s:
            out.append(Reading(self.next_t, "W1", 36.8, 30.0, 1.0, 80.0, -60.0))
            self.next_t += 2.0
        return out


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC")
    clock = Clock(T0)
    rt = WardRuntime(settings, source=OneWrap(), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt)) as c:
        assert c.portal is not None
        for _ in range(30):  # 5 min of ward time, one step per 10 s
            clock.t += 10
            c.portal.call(rt.step)
        yield c


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_routes_serve_json_and_csv(client: TestClient) -> None:
    r = client.get("/api/beds/B01/report", params={"day": "2026-01-01"}, headers=AUTH)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["bed"]["bed_id"] == "B01" and report["readings"]
    assert sum(b["count"] for b in report["readings"]) == report["totals"][0]["readings"]
    default_day = client.get("/api/beds/B01/report", headers=AUTH).json()
    assert default_day["day"] == "2026-01-01"  # today in the ward's clock
    r = client.get("/api/beds/B01/report.csv", params={"day": "2026-01-01"}, headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="kmc-B01-2026-01-01.csv"'
    assert len(blocks(r.text)["minute"]) == len(report["readings"])


@pytest.mark.parametrize("path", ["/api/beds/B01/report", "/api/beds/B01/report.csv"])
def test_routes_refuse_without_a_staff_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize("path", ["/api/beds/B99/report", "/api/beds/B99/report.csv"])
def test_unknown_bed_is_404(client: TestClient, path: str) -> None:
    assert client.get(path, headers=AUTH).status_code == 404


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "2026-02-30"])
def test_bad_day_is_422(client: TestClient, day: str) -> None:
    assert client.get("/api/beds/B01/report", params={"day": day}, headers=AUTH).status_code == 422
    assert client.get("/api/beds/B01/report.csv", params={"day": day}, headers=AUTH).status_code == 422
