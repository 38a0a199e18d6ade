"""The ward service's REST API in process: a runtime without a tick loop, stepped by the test on a
fake clock, behind FastAPI's TestClient. Values are checked against the engine, store and board."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.exceptions import StarletteDeprecationWarning

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.app import create_app
from kmc_monitor.service.auth import StaffAuth
from kmc_monitor.service.config import Settings
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.signal.params import US
from kmc_monitor.sources import ReadingSource
from tests.clock import Clock

with warnings.catch_warnings():
    # Starlette asks for its ``httpx2`` fork; the httpx this project installs works the same here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "api-test-staff-token-0123456789"
#: What the audit records for TOKEN: its fingerprint id, never the token.
STAFF_ID = StaffAuth([SecretStr(TOKEN)]).check_token(TOKEN)
KEY = "231d39c1d7cc1ab1aee224cd096db932"
#: 2026-01-01 10:00 UTC: the demo ward is admitted then; readings start then.
T0 = 1767261600.0
DAY = dt.date(2026, 1, 1)

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow(30)]


class FakeSource(ReadingSource):
    """Two demo wraps (W1 warm and in contact, W2 apart and cold) and a stray wrap nobody
    registered, each sending every 2 s."""

    demo = True

    def __init__(self) -> None:
        self.next_t = T0

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [("W1", "54:48:E6:8F:80:A5", None), ("W2", "54:48:E6:8F:80:A6", bytes.fromhex(KEY))]

    def readings_until(self, t_s: float) -> list[Reading]:
        out = []
        while self.next_t <= t_s:
            t = self.next_t
            out.append(Reading(t, "W1", 36.8, 30.0, 1.0, 80.0, -60.0))
            out.append(Reading(t, "W2", 35.4, 30.0, 0.0, 70.0, -70.0))
            out.append(Reading(t, "STRAY", 36.9, 30.0, 1.0, 50.0, -90.0))
            self.next_t += 2.0
        return out


@dataclass
class Ward:
    client: TestClient
    rt: WardRuntime
    clock: Clock

    def advance(self, seconds: float, step: float = 10.0) -> None:
        """Let ward time pass, one runtime step per ``step`` seconds (on the app's event loop)."""
        assert self.client.portal is not None
        end = self.clock.t + seconds
        while self.clock.t < end:
            self.clock.t = min(end, self.clock.t + step)
            self.client.portal.call(self.rt.step)

    def get(self, path: str, **kw: Any) -> Any:
        r = self.client.get(path, **kw)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ward]:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC", ward_name="Test ward")
    clock = Clock(T0)
    rt = WardRuntime(settings, source=FakeSource(), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        w = Ward(c, rt, clock)
        w.advance(20 * 60, step=60.0)  # 20 min: W1 has a session, W2 a cold alarm (a step a minute)
        yield w


def tile(w: Ward, bed_id: str) -> dict[str, Any]:
    beds: list[dict[str, Any]] = w.get("/api/beds")
    return next(b for b in beds if b["bed_id"] == bed_id)


# Every route needs the staff credential ----------------------------------------------------------
STAFF_ROUTES = [
    ("GET", "/api/beds", None),
    ("POST", "/api/beds", {"bed_id": "B09"}),
    ("GET", "/api/beds/B01", None),
    ("GET", "/api/beds/B01/trend", None),
    ("GET", "/api/beds/B01/history", None),
    ("GET", "/api/beds/B01/days", None),
    ("POST", "/api/beds/B01/wrap", {"wrap_id": "W1"}),
    ("DELETE", "/api/beds/B01/wrap", None),
    ("POST", "/api/beds/swap-wraps", {"bed_a": "B01", "bed_b": "B02"}),
    ("GET", "/api/wraps", None),
    ("POST", "/api/wraps", {"wrap_id": "W9", "mac": "54:48:E6:8F:80:B9"}),
    ("GET", "/api/alarms", None),
    ("GET", "/api/alarms/1/audit", None),
    ("POST", "/api/alarms/1/ack", None),
    ("POST", "/api/screens/s1/pause", None),
    ("GET", "/api/screens/s1/audio", None),
    ("GET", "/api/settings", None),
    ("GET", "/api/admissions", None),
    ("GET", "/api/admissions/1", None),
    ("POST", "/api/admissions/1/discharge", None),
]


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ROUTES)
def test_every_staff_route_refuses_a_request_without_the_staff_token(
    ward: Ward, method: str, path: str, body: Any
) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer not-the-token"}):
        r = ward.client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (method, path, r.text)
    assert tile(ward, "B01")["wrap_id"] == "W1"  # nothing was changed by the refused calls


def test_healthz_needs_no_token(ward: Ward) -> None:
    assert ward.client.get("/healthz", headers={"Authorization": ""}).status_code == 200


# Wraps -------------------------------------------------------------------------------------------
def test_wraps_lists_registered_wraps_without_keys_and_heard_strays(ward: Ward) -> None:
    body = ward.get("/api/wraps")
    reg = {w["wrap_id"]: w for w in body["registered"]}
    assert set(reg) == {"W1", "W2"}
    assert reg["W1"]["has_key"] is False and reg["W2"]["has_key"] is True
    assert KEY not in ward.client.get("/api/wraps").text
    b01 = tile(ward, "B01")
    assert reg["W1"]["bed_id"] == "B01" == b01["bed_id"]
    assert reg["W1"]["battery_pct"] == b01["battery_pct"] == 80.0
    assert reg["W1"]["rssi_dbm"] == -60.0
    assert reg["W1"]["last_heard_us"] == round(ward.clock.t * US)
    assert [u["wrap_id"] for u in body["unregistered"]] == ["STRAY"]
    assert body["unregistered"][0]["rssi_dbm"] == -90.0


def test_register_wrap_then_duplicates_and_bad_values_are_refused(ward: Ward) -> None:
    r = ward.client.post("/api/wraps", json={"wrap_id": "W3", "mac": "5448e68f80a7", "key": KEY.upper()})
    assert r.status_code == 201, r.text
    assert r.json()["mac"] == "54:48:E6:8F:80:A7" and r.json()["has_key"] is True
    assert KEY not in r.text.lower()
    assert {w.wrap_id: w.has_key for w in ward.rt.ward.wraps()}["W3"] is True
    dup_id = ward.client.post("/api/wraps", json={"wrap_id": "W3", "mac": "54:48:E6:8F:80:A8"})
    assert dup_id.status_code == 409 and "W3" in dup_id.json()["detail"]
    dup_mac = ward.client.post("/api/wraps", json={"wrap_id": "W4", "mac": "54:48:E6:8F:80:A5"})
    assert dup_mac.status_code == 409 and "W1" in dup_mac.json()["detail"]
    for bad in (
        {"wrap_id": "W5", "mac": "54:48:E6:8F:80"},
        {"wrap_id": "W5", "mac": "54:48:E6:8F:80:A9", "key": "abc"},
        {"wrap_id": "W5", "mac": "54:48:E6:8F:80:A9", "key": "g" * 32},
        {"wrap_id": "-bad", "mac": "54:48:E6:8F:80:A9"},
        {"wrap_id": "W5", "mac": "54:48:E6:8F:80:A9", "extra": 1},
    ):
        r = ward.client.post("/api/wraps", json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert "W5" not in {w.wrap_id for w in ward.rt.ward.wraps()}


def test_assign_unassign_and_swap_show_on_tiles_and_in_the_ward_stream(ward: Ward) -> None:
    ward.client.post("/api/wraps", json={"wrap_id": "W3", "mac": "54:48:E6:8F:80:A7"})
    with ward.client.websocket_connect("/ws/ward") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        # A bed with a wrap needs replace; a wrap on another bed must come off there first.
        r = ward.client.post("/api/beds/B01/wrap", json={"wrap_id": "W3"})
        assert r.status_code == 409 and "W1" in r.json()["detail"]
        r = ward.client.post("/api/beds/B02/wrap", json={"wrap_id": "W1", "replace": True})
        assert r.status_code == 409 and "B01" in r.json()["detail"]
        r = ward.client.post("/api/beds/B01/wrap", json={"wrap_id": "W3", "replace": True})
        assert r.status_code == 200, r.text
        assert r.json()["wrap"] == {"wrap_id": "W3", "mac": "54:48:E6:8F:80:A7", "has_key": False}
        assert ward.rt.store.current_assignments()["W3"] == "B01"
        assert "W1" not in ward.rt.store.current_assignments()
        assert tile(ward, "B01")["wrap_id"] == "W3"
        ward.advance(1, step=1)
        while True:
            msg = ws.receive_json()
            if msg["type"] == "update" and any(b["bed_id"] == "B01" for b in msg["beds"]):
                break
        assert next(b for b in msg["beds"] if b["bed_id"] == "B01")["wrap_id"] == "W3"
    # W1 is now unassigned but heard: it is listed with its last-heard time.
    wraps = {w["wrap_id"]: w for w in ward.get("/api/wraps")["registered"]}
    assert wraps["W1"]["bed_id"] is None and wraps["W1"]["last_heard_us"] is not None

    r = ward.client.delete("/api/beds/B01/wrap")
    assert r.status_code == 200 and r.json()["removed_wrap_id"] == "W3" and r.json()["wrap"] is None
    assert tile(ward, "B01")["wrap_id"] is None and tile(ward, "B01")["judging"] == "no wrap"
    r = ward.client.delete("/api/beds/B01/wrap")
    assert r.status_code == 409 and "no wrap" in r.json()["detail"]

    # Swap with one bed empty moves the wrap; then a real swap.
    r = ward.client.post("/api/beds/swap-wraps", json={"bed_a": "B02", "bed_b": "B01"})
    assert r.status_code == 200, r.text
    assert [b["wrap_id"] for b in r.json()["beds"]] == [None, "W2"]
    ward.client.post("/api/beds/B02/wrap", json={"wrap_id": "W1"})
    r = ward.client.post("/api/beds/swap-wraps", json={"bed_a": "B01", "bed_b": "B02"})
    assert [b["wrap_id"] for b in r.json()["beds"]] == ["W1", "W2"]
    assert ward.rt.store.current_assignments() == {"W1": "B01", "W2": "B02"}
    snap = ward.rt.ward_channel.snapshot_text()
    assert '"wrap_id":"W1"' in snap.replace(" ", "")

    assert ward.client.post("/api/beds/swap-wraps", json={"bed_a": "B01", "bed_b": "B01"}).status_code == 422
    assert ward.client.post("/api/beds/swap-wraps", json={"bed_a": "B01", "bed_b": "B77"}).status_code == 404
    assert ward.client.post("/api/beds/B77/wrap", json={"wrap_id": "W1"}).status_code == 404
    assert ward.client.post("/api/beds/B01/wrap", json={"wrap_id": "NOPE"}).status_code == 404
    assert ward.client.delete("/api/beds/B77/wrap").status_code == 404
    assert ward.client.post("/api/beds/B01/wrap", json={}).status_code == 422


# Beds --------------------------------------------------------------------------------------------
def test_add_bed_and_bed_detail(ward: Ward) -> None:
    r = ward.client.post("/api/beds", json={"bed_id": "B03", "label": "Bed 3 (window)", "position": 3})
    assert r.status_code == 201, r.text
    assert r.json()["admission"] is None and r.json()["wrap"] is None
    ward.advance(1, step=1)
    assert tile(ward, "B03")["label"] == "Bed 3 (window)"
    assert ward.client.post("/api/beds", json={"bed_id": "B03"}).status_code == 409
    for bad in ({"bed_id": ""}, {"bed_id": "B/4"}, {"bed_id": "B4", "position": -1}, {}):
        assert ward.client.post("/api/beds", json=bad).status_code == 422, bad

    detail = ward.get("/api/beds/B01")
    adm = ward.rt.ward.current_admissions()[0]
    assert detail["admission"]["admission_id"] == adm.admission_id == detail["admission_id"]
    assert detail["admission"]["gestational_age"] == str(adm.gestational_age)
    assert detail["wrap"]["wrap_id"] == "W1" and detail["contact"] is True
    assert ward.client.get("/api/beds/NOPE").status_code == 404


def test_trend_bins_come_from_the_engine(ward: Ward) -> None:
    body = ward.get("/api/beds/B01/trend")
    bins = ward.rt.engine.trend("W1")
    assert body["wrap_id"] == "W1" and len(body["bins"]) == len(bins) >= 20
    first = body["bins"][0]
    assert first["start_us"] == bins[0].start_us and first["temp_median_c"] == 36.8
    assert first["contact_fraction"] == 1.0 and first["count"] == bins[0].count
    ward.client.delete("/api/beds/B01/wrap")
    assert ward.get("/api/beds/B01/trend")["bins"] == []
    assert ward.client.get("/api/beds/NOPE/trend").status_code == 404


# History -----------------------------------------------------------------------------------------
def test_history_has_readings_sessions_totals_and_alarms_with_acknowledgements(ward: Ward) -> None:
    alarm = ward.get("/api/alarms", params={"bed_id": "B02"})[0]
    ack = ward.client.post(f"/api/alarms/{alarm['alarm_id']}/ack", json={"who": "nurse-a"})
    assert ack.status_code == 200, ack.text
    ward.advance(10)
    b01 = ward.get("/api/beds/B01/history", params={"day": DAY.isoformat()})
    assert len(b01["readings"]) == len(ward.rt.store.readings_for_bed_day("B01", DAY, "UTC")) > 500
    assert b01["sessions"] and b01["sessions"][0]["wrap_id"] == "W1"
    (total,) = b01["totals"]
    live = tile(ward, "B01")
    assert total["daily_goal_s"] == live["daily_goal_s"]
    assert total["contact_s"] == pytest.approx(live["contact_today_s"], abs=30)
    assert total["goal_met"] is False and total["ongoing"] is True
    assert b01["alarms"] == []

    b02 = ward.get("/api/beds/B02/history")  # today by default
    assert b02["day"] == DAY.isoformat() and b02["totals"][0]["contact_s"] == 0
    (cold,) = [a for a in b02["alarms"] if a["alarm_id"] == alarm["alarm_id"]]
    # The audit records the authenticated identity; the name given in the body only beside it.
    assert cold["acknowledged_by"] == f"{STAFF_ID} [nurse-a]"
    actions = [(line["action"], line["who"]) for line in cold["audit"]]
    assert ("acknowledged", f"{STAFF_ID} [nurse-a]") in actions and actions[0][0] == "raised"

    empty = ward.get("/api/beds/B01/history", params={"day": "2025-12-31"})
    assert empty["readings"] == [] and empty["totals"] == [] and empty["sessions"] == []
    assert ward.client.get("/api/beds/B01/history", params={"day": "31/12/2025"}).status_code == 422
    assert ward.client.get("/api/beds/NOPE/history").status_code == 404


def test_days_lists_todays_and_previous_days_totals(ward: Ward) -> None:
    ward.clock.t = T0 + 86_400.0  # the next day: readings keep coming
    ward.advance(60)
    body = ward.get("/api/beds/B01/days", params={"days": 3})
    assert [d["day"] for d in body["days"]] == ["2026-01-02", "2026-01-01"]
    today, yesterday = body["days"]
    assert yesterday["totals"][0]["ongoing"] is False and today["totals"][0]["ongoing"] is True
    assert yesterday["readings"] == len(ward.rt.store.readings_for_bed_day("B01", DAY, "UTC"))
    assert yesterday["totals"][0]["contact_s"] == pytest.approx(14 * 3600, abs=60)  # 10:00 to midnight
    assert ward.client.get("/api/beds/B01/days", params={"days": 0}).status_code == 422
    assert ward.client.get("/api/beds/B01/days", params={"days": 400}).status_code == 422
    assert ward.client.get("/api/beds/NOPE/days").status_code == 404


# Alarms ------------------------------------------------------------------------------------------
def test_alarms_filter_by_bed_and_audit(ward: Ward) -> None:
    every = ward.get("/api/alarms")
    b02 = ward.get("/api/alarms", params={"bed_id": "B02"})
    assert b02 and all(a["bed_id"] == "B02" for a in b02)
    assert b02 == [a for a in every if a["bed_id"] == "B02"]
    assert ward.get("/api/alarms", params={"bed_id": "B01"}) == []
    assert ward.client.get("/api/alarms", params={"bed_id": "NOPE"}).status_code == 404

    alarm_id = b02[0]["alarm_id"]
    ward.client.post(f"/api/alarms/{alarm_id}/ack", json={"who": "nurse-b"})
    audit = ward.get(f"/api/alarms/{alarm_id}/audit")
    assert [a["action"] for a in audit][:1] == ["raised"]
    assert audit[-1]["action"] == "acknowledged" and audit[-1]["who"] == f"{STAFF_ID} [nurse-b]"
    assert all(a["alarm_id"] == alarm_id for a in audit)
    assert ward.client.get("/api/alarms/99999/audit").status_code == 404
    assert ward.client.get("/api/alarms/x/audit").status_code == 422


def test_pause_returns_its_state_and_what_sounds_through(ward: Ward) -> None:
    before = ward.get("/api/screens/desk/audio")
    assert before["paused_until_us"] is None and before["remaining_s"] == 0
    assert before["sounding"] is not None and before["audible_alarm_ids"]
    r = ward.client.post("/api/screens/desk/pause", json={"who": "nurse-c"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["paused_until_us"] == ward.rt.engine.board.audio_paused_until("desk", ward.rt.now_us())
    assert body["remaining_s"] == ward.rt.engine.board.params.audio_pause_s
    assert body["sounding"] is None  # nothing new and higher since the pause began
    assert body["audible_alarm_ids"] == before["audible_alarm_ids"]
    ward.clock.t += 30
    assert ward.get("/api/screens/desk/audio")["remaining_s"] == pytest.approx(90)
    assert ward.client.post("/api/screens/desk/pause", json={"who": ""}).status_code == 422


# Settings and admissions -------------------------------------------------------------------------
def test_settings_show_what_is_in_effect_and_no_token(ward: Ward) -> None:
    r = ward.client.get("/api/settings")
    assert r.status_code == 200 and TOKEN not in r.text
    body = r.json()
    s = ward.rt.settings
    assert body["ward_name"] == "Test ward" and body["ward_tz"] == "UTC"
    assert body["clock_format"] == "24h"  # every page's clock, whatever the browser's locale
    assert body["retention_days"] == s.retention_days
    assert body["clinical"]["daily_goal_s"] == s.clinical.daily_goal_s == body["default_daily_goal_s"]
    assert body["clinical"]["severe_below_c"] == s.clinical.severe_below_c
    assert body["alarms"]["audio_pause_s"] == ward.rt.engine.board.params.audio_pause_s


def test_admission_by_id(ward: Ward) -> None:
    adm = ward.rt.ward.current_admissions()[0]
    body = ward.get(f"/api/admissions/{adm.admission_id}")
    assert body["display_name"] == adm.display_name and body["bed_id"] == adm.bed_id
    assert ward.client.get("/api/admissions/999").status_code == 404
    assert ward.client.get("/api/admissions/abc").status_code == 422


def test_a_refused_body_is_not_echoed_back(ward: Ward) -> None:
    """A 422 says where and what is wrong, never the value: it may be a key or a hospital number."""
    bad_key = "ab" * 15 + "zz"
    r = ward.client.post("/api/wraps", json={"wrap_id": "W9", "mac": "54:48:E6:8F:80:B9", "key": bad_key})
    assert r.status_code == 422
    assert bad_key not in r.text and "key" in r.text
    r = ward.client.post(
        "/api/admissions", json={"bed_id": "B01", "display_name": "", "hospital_number": "MRN-77"}
    )
    assert r.status_code in (409, 422) and "MRN-77" not in r.text


def test_the_audit_keeps_the_signed_in_identity_and_defuses_a_formula_name() -> None:
    from kmc_monitor.service.deps import audit_identity

    # Finding 9: the body's name replaced the authenticated identity ("System", or a formula).
    assert audit_identity("staff-1a2b3c4d", "System") == "staff-1a2b3c4d [System]"
    assert audit_identity("staff-1a2b3c4d", '=HYPERLINK("x")') == 'staff-1a2b3c4d [HYPERLINK("x")]'
    assert audit_identity("staff-1a2b3c4d", "+-@=") == "staff-1a2b3c4d"
    assert audit_identity("staff-1a2b3c4d", None) == "staff-1a2b3c4d"
