"""Ward administration routes: beds, corrections, wrap actions with undo, the first run."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmc_monitor.service.routes.ward_admin import UNDO_S
from tests.service.routes.conftest import STAFF_ID, Ward, make_ward

pytestmark = pytest.mark.timeout(60)


def wraps_of(ward: Ward) -> dict[str, str | None]:
    return {b["bed_id"]: b["wrap_id"] for b in ward.ok("GET", "/api/beds")}


def test_beds_are_renamed_reordered_and_removed_only_when_empty(ward: Ward) -> None:
    out = ward.ok("PATCH", "/api/beds/B02", {"label": "Window"})
    assert out["label"] == "Window"
    assert next(b for b in ward.ok("GET", "/api/beds") if b["bed_id"] == "B02")["label"] == "Window"
    ward.ok("POST", "/api/beds", {"bed_id": "B03"}, 201)
    ward.ok("PUT", "/api/beds/order", {"order": ["B03", "B01", "B02"]})
    assert [b["bed_id"] for b in ward.ok("GET", "/api/beds")] == ["B03", "B01", "B02"]
    r = ward.client.put("/api/beds/order", json={"order": ["B03", "B01", "B09"]})
    assert r.status_code == 422 and "missing: B02" in r.text and "not on this ward: B09" in r.text
    r = ward.client.delete("/api/beds/B01")
    assert r.status_code == 409 and "discharge" in r.json()["detail"]
    ward.ok("DELETE", "/api/beds/B03")
    assert [b["bed_id"] for b in ward.ok("GET", "/api/beds")] == ["B01", "B02"]
    log = ward.ok("GET", "/api/ward-admin/audit")
    assert [x["action"] for x in log[:4]] == ["bed_removed", "beds_reordered", "bed_added", "bed_renamed"]
    assert all(x["who"] == STAFF_ID for x in log[:4])
    # Only an admin changes the ward's beds.
    assert (
        ward.client.patch("/api/beds/B02", json={"label": "x"}, headers={"Authorization": ""}).status_code
        == 401
    )


def test_an_admission_is_corrected_and_the_audit_keeps_what_changed(ward: Ward) -> None:
    adm = next(a for a in ward.ok("GET", "/api/admissions") if a["bed_id"] == "B01")
    path = f"/api/admissions/{adm['admission_id']}"
    out = ward.ok(
        "PATCH",
        path,
        {
            "display_name": "Baby Mai",
            "daily_goal_s": 16 * 3600,
            "hospital_number": "H-1",
            "gestational_age_weeks": 32,
        },
    )
    assert out["display_name"] == "Baby Mai" and out["daily_goal_s"] == 16 * 3600
    assert out["hospital_number"] == "H-1" and out["gestational_age"] == "32+0"
    line = ward.ok("GET", "/api/ward-admin/audit")[0]
    assert (
        line["action"] == "admission_edited"
        and f"display_name: {adm['display_name']} -> Baby Mai" in line["detail"]
    )
    other = next(a for a in ward.ok("GET", "/api/admissions") if a["bed_id"] == "B02")
    r = ward.client.patch(f"/api/admissions/{other['admission_id']}", json={"hospital_number": "H-1"})
    assert r.status_code == 409 and "B01" in r.json()["detail"]
    assert ward.client.patch(path, json={}).status_code == 422
    assert ward.client.patch(path, json={"display_name": None}).status_code == 422  # nothing to change
    ward.ok("POST", f"{path}/discharge", {})
    assert ward.client.patch(path, json={"display_name": "X"}).status_code == 409


def test_a_swap_names_the_babies_and_can_be_undone_for_a_minute(ward: Ward) -> None:
    out = ward.ok("POST", "/api/beds/swap-wraps", {"bed_a": "B01", "bed_b": "B02"})
    assert wraps_of(ward) == {"B01": "W2", "B02": "W1"}
    names = {a["bed_id"]: a["display_name"] for a in ward.ok("GET", "/api/admissions")}
    assert names["B01"] in out["done"] and names["B02"] in out["done"]
    undo = out["undo"]
    ward.ok("POST", f"/api/ward-admin/undo/{undo['undo_id']}")
    assert wraps_of(ward) == {"B01": "W1", "B02": "W2"}
    assert ward.client.post(f"/api/ward-admin/undo/{undo['undo_id']}").status_code == 410  # once only

    # A swap changed again since cannot be undone; nor can one older than a minute.
    out = ward.ok("POST", "/api/beds/swap-wraps", {"bed_a": "B01", "bed_b": "B02"})
    ward.ok("DELETE", "/api/beds/B01/wrap")
    r = ward.client.post(f"/api/ward-admin/undo/{out['undo']['undo_id']}")
    assert r.status_code == 409 and "changed since" in r.json()["detail"]
    out = ward.ok("DELETE", "/api/beds/B02/wrap")
    assert out["removed_wrap_id"] == "W1" and names["B02"] in out["done"]
    ward.advance(UNDO_S + 5)
    assert ward.client.post(f"/api/ward-admin/undo/{out['undo']['undo_id']}").status_code == 410


def test_a_wrap_taken_off_goes_back_on_undo_and_a_flat_one_is_replaced(ward: Ward) -> None:
    out = ward.ok("DELETE", "/api/beds/B02/wrap")
    ward.ok("POST", f"/api/ward-admin/undo/{out['undo']['undo_id']}")
    assert wraps_of(ward)["B02"] == "W2"
    ward.ok("POST", "/api/wraps", {"wrap_id": "W3", "mac": "54:48:E6:8F:80:A7"}, 201)
    out = ward.ok("POST", "/api/beds/B02/wrap", {"wrap_id": "W3", "replace": True})
    assert out["done"].startswith("wrap W3 replaces W2 on ")
    assert wraps_of(ward)["B02"] == "W3"
    actions = [x["action"] for x in ward.ok("GET", "/api/ward-admin/audit")]
    assert actions[:4] == ["wrap_assigned", "wrap_registered", "undone", "wrap_unassigned"]


def test_a_demo_ward_needs_no_first_run(ward: Ward) -> None:
    status = ward.ok("GET", "/api/ward-admin/status")
    assert status["setup_needed"] is False and status["role"] == "admin"
    assert status["network"]["loopback_only"] is True and "0.0.0.0" in status["network"]["warning"]


def test_the_first_run_sets_up_a_new_ward(new_ward: Ward) -> None:
    status = new_ward.ok("GET", "/api/ward-admin/status")
    assert status["setup_needed"] is True and status["beds"] == 3 and status["nurses_required"] is False
    body = {
        "ward_name": "KMC room",
        "ward_tz": "Asia/Ho_Chi_Minh",
        "clock_format": "12h",
        "languages": ["en", "vi"],
        "beds": 5,
        "daily_goal_h": 18,
    }
    r = new_ward.client.post("/api/ward-admin/setup", json={**body, "ward_tz": "Mars/Olympus"})
    assert r.status_code == 422 and "time zone" in r.text
    status = new_ward.ok("POST", "/api/ward-admin/setup", body)
    assert status["setup_needed"] is False and status["ward_name"] == "KMC room" and status["beds"] == 5
    settings = new_ward.ok("GET", "/api/settings")
    assert (settings["ward_name"], settings["ward_tz"], settings["clock_format"]) == (
        "KMC room",
        "Asia/Ho_Chi_Minh",
        "12h",
    )
    assert settings["default_daily_goal_s"] == 18 * 3600
    adm = new_ward.ok(
        "POST",
        "/api/admissions",
        {"bed_id": "B05", "display_name": "A", "birth_weight_g": 1500, "gestational_age_weeks": 32},
        201,
    )
    assert adm["daily_goal_s"] == 18 * 3600
    # Fewer beds later: empty ones go, a bed with a baby stays.
    status = new_ward.ok("POST", "/api/ward-admin/setup", {**body, "beds": 1})
    assert status["beds"] == 1 and [b["bed_id"] for b in new_ward.ok("GET", "/api/beds")] == ["B05"]
    assert (
        new_ward.client.post("/api/ward-admin/setup", json=body, headers={"Authorization": ""}).status_code
        == 401
    )


def test_a_damaged_link_key_does_not_stop_the_ward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "data").mkdir(mode=0o700)
    (tmp_path / "data" / "family-links.key").write_bytes(b"short")
    for ward in make_ward(tmp_path, monkeypatch):
        ward.ok("POST", "/api/beds", {"bed_id": "B03"}, 201)
        adm = ward.ok(
            "POST",
            "/api/admissions",
            {"bed_id": "B03", "display_name": "C", "birth_weight_g": 1500, "gestational_age_weeks": 32},
            201,
        )
        assert "/family#" in adm["family_url"]  # the link works; only its card is not kept
    assert "family links not kept" in caplog.text or "not restored" in caplog.text
