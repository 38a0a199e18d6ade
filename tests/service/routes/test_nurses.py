"""Nurses as people: PINs kept hashed, confirmations on a shared screen, wrong PINs slowed and counted."""

from __future__ import annotations

import sqlite3

import pytest

from tests.service.routes.conftest import STAFF_ID, Ward

pytestmark = pytest.mark.timeout(60)


def add_lan(ward: Ward) -> dict[str, object]:
    out: dict[str, object] = ward.ok(
        "POST", "/api/nurses", {"name": "Lan Nguyen", "initials": "ln", "pin": "4321"}, 201
    )
    return out


def first_alarm(ward: Ward) -> int:
    # W2's battery is flat (the source says so): its low-battery alarm.
    alarms = [a for a in ward.ok("GET", "/api/alarms") if a["kind"] == "low_battery"]
    assert alarms, "the test needs an alarm to acknowledge"
    return int(alarms[0]["alarm_id"])


def test_pins_are_kept_hashed_with_a_salt_of_their_own(ward: Ward) -> None:
    lan = add_lan(ward)
    assert lan["signature"] == "Lan Nguyen (LN)" and "pin" not in lan
    ward.ok("POST", "/api/nurses", {"name": "Minh Tran", "initials": "MT", "pin": "4321"}, 201)
    listed = ward.ok("GET", "/api/nurses")
    assert [n["initials"] for n in listed] == ["LN", "MT"] and all("pin" not in n for n in listed)
    with sqlite3.connect(ward.rt.store.path) as db:
        rows = db.execute("SELECT pin_salt, pin_hash FROM nurses").fetchall()
    assert len({bytes(r[0]) for r in rows}) == 2 and len({bytes(r[1]) for r in rows}) == 2
    assert all(b"4321" not in bytes(r[1]) for r in rows)
    # Initials are what a nurse types: two nurses of the ward cannot share them.
    r = ward.client.post("/api/nurses", json={"name": "Lien Ngo", "initials": "LN", "pin": "1111"})
    assert r.status_code == 409 and "Lan Nguyen" in r.json()["detail"]
    r = ward.client.post("/api/nurses", json={"name": "X", "initials": "XY", "pin": "12"})
    assert r.status_code == 422 and "12" not in r.text  # the PIN is never echoed


def test_a_shared_screen_confirms_with_initials_and_pin_and_the_audit_names_the_nurse(ward: Ward) -> None:
    alarm_id = first_alarm(ward)
    add_lan(ward)
    screen = ward.screen()
    r = ward.client.post(f"/api/alarms/{alarm_id}/ack", json={}, headers=screen)
    assert r.status_code == 403 and "initials and PIN" in r.json()["detail"]
    r = ward.client.post(
        f"/api/alarms/{alarm_id}/ack", json={"nurse": {"initials": "LN", "pin": "0000"}}, headers=screen
    )
    assert r.status_code == 422 and "do not match" in r.json()["detail"]
    ok = ward.client.post(
        f"/api/alarms/{alarm_id}/ack", json={"nurse": {"initials": "ln", "pin": "4321"}}, headers=screen
    )
    assert ok.status_code == 200, ok.text
    audit = ward.ok("GET", f"/api/alarms/{alarm_id}/audit")
    who = [a["who"] for a in audit if a["action"] == "acknowledged"]
    assert who == [f"Lan Nguyen (LN) via {STAFF_ID}"]
    # Discharge from the screen is confirmed too; a bearer client (an integration) is its own identity.
    adm = next(a for a in ward.ok("GET", "/api/admissions") if a["bed_id"] == "B01")
    r = ward.client.post(f"/api/admissions/{adm['admission_id']}/discharge", json={}, headers=screen)
    assert r.status_code == 403
    out = ward.ok("POST", f"/api/admissions/{adm['admission_id']}/discharge", {})
    assert out["discharged_by"] == STAFF_ID


def test_wrong_pins_wait_and_are_counted(ward: Ward) -> None:
    alarm_id = first_alarm(ward)
    add_lan(ward)
    screen = ward.screen()
    wrong = {"nurse": {"initials": "LN", "pin": "9999"}}
    codes = [
        ward.client.post(f"/api/alarms/{alarm_id}/ack", json=wrong, headers=screen).status_code
        for _ in range(7)
    ]
    assert codes == [422] * 6 + [429]
    # Even the right PIN waits now: the back-off is answered before any PIN is checked.
    right = {"nurse": {"initials": "LN", "pin": "4321"}}
    r = ward.client.post(f"/api/alarms/{alarm_id}/ack", json=right, headers=screen)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert ward.ok("GET", "/api/nurses/attempts") == {"confirmed": 0, "wrong": 6, "refused_waiting": 2}
    # Other initials on the same screen are not held up by them.
    ward.ok("POST", "/api/nurses", {"name": "Minh Tran", "initials": "MT", "pin": "2468"}, 201)
    r = ward.client.post(
        f"/api/alarms/{alarm_id}/ack", json={"nurse": {"initials": "MT", "pin": "2468"}}, headers=screen
    )
    assert r.status_code == 200, r.text


def test_a_nurse_who_left_confirms_nothing_and_a_new_pin_replaces_the_old(ward: Ward) -> None:
    alarm_id = first_alarm(ward)
    lan = add_lan(ward)
    screen = ward.screen()
    ward.ok("PATCH", f"/api/nurses/{lan['nurse_id']}", {"pin": "864200"})
    old = {"nurse": {"initials": "LN", "pin": "4321"}}
    assert ward.client.post(f"/api/alarms/{alarm_id}/ack", json=old, headers=screen).status_code == 422
    ward.ok("DELETE", f"/api/nurses/{lan['nurse_id']}")
    new = {"nurse": {"initials": "LN", "pin": "864200"}}
    assert ward.client.post(f"/api/alarms/{alarm_id}/ack", json=new, headers=screen).status_code == 422
    # Without nurses the screen acknowledges as itself, as before.
    r = ward.client.post(f"/api/alarms/{alarm_id}/ack", json={}, headers=screen)
    assert r.status_code == 200, r.text
    log = {x["action"] for x in ward.ok("GET", "/api/ward-admin/audit")}
    assert {"nurse_added", "nurse_changed", "nurse_removed"} <= log


def test_only_an_admin_manages_nurses(ward: Ward) -> None:
    r = ward.client.get("/api/nurses", headers={"Authorization": ""})
    assert r.status_code == 401
    r = ward.client.patch("/api/nurses/99999999999999999999999", json={"pin": "1234"})
    assert r.status_code == 422
    assert ward.client.delete("/api/nurses/77").status_code == 404


def test_discharge_home_on_kmc_from_a_shared_screen_is_confirmed_by_the_nurse(ward: Ward) -> None:
    """Sending a baby home to the station's care is a discharge: on a ward with nurses, the screen
    confirms it with initials and PIN like any other, and the ward's audit names the nurse."""
    ward.ok("POST", "/api/wraps/W1/key", {"key": "0123456789abcdef0123456789abcdef"})
    add_lan(ward)
    screen = ward.screen()
    adm = next(a for a in ward.ok("GET", "/api/admissions") if a["bed_id"] == "B01")
    body = {
        "admission_id": adm["admission_id"],
        "consent": {"name": "H'Me Nie", "relation": "mother"},
        "language": "vi",
        "tz": "Asia/Ho_Chi_Minh",
    }
    r = ward.client.post("/api/station/homes", json=body, headers=screen)
    assert r.status_code == 403 and "initials and PIN" in r.json()["detail"]
    assert ward.ok("GET", f"/api/admissions/{adm['admission_id']}")["discharged_t"] is None  # nothing done
    r = ward.client.post(
        "/api/station/homes", json={**body, "nurse": {"initials": "LN", "pin": "0000"}}, headers=screen
    )
    assert r.status_code == 422 and "do not match" in r.json()["detail"]
    r = ward.client.post(
        "/api/station/homes", json={**body, "nurse": {"initials": "LN", "pin": "4321"}}, headers=screen
    )
    assert r.status_code == 201, r.text
    stay = ward.ok("GET", f"/api/admissions/{adm['admission_id']}")
    assert stay["discharge_status"] == "home_on_kmc"
    assert stay["discharged_by"] == f"Lan Nguyen (LN) via {STAFF_ID}"
