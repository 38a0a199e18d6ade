"""The programme routes in process (a stepped runtime behind TestClient, as test_api.py): caregivers
from the family page and by a nurse, KMC mode and birth time at admission, discharge status,
indicators as JSON, CSV, the printable page, DHIS2 data values and their push to a stand-in."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kmc_monitor.service.app import create_app
from kmc_monitor.service.config import Settings
from kmc_monitor.service.runtime import WardRuntime
from tests.programme.dhis2_standin import PASSWORD, USER, serve_dhis2
from tests.service.test_api import T0, TOKEN, Clock, FakeSource, Ward

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.timeout(120)
MIN = 60.0


@pytest.fixture
def ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ward]:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    for name in ("URL", "USER", "PASSWORD", "MAPPING"):
        monkeypatch.delenv(f"KMC_DHIS2_{name}", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC", ward_name="Test ward")
    clock = Clock(T0)
    rt = WardRuntime(settings, source=FakeSource(), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield Ward(c, rt, clock)


def _family(w: Ward, admission_id: int) -> dict[str, str]:
    return {"X-Family-Token": w.rt.family_links[admission_id].token, "Authorization": ""}


def _b01_admission(w: Ward) -> int:
    beds: list[dict[str, Any]] = w.get("/api/beds")
    return int(next(b for b in beds if b["bed_id"] == "B01")["admission_id"])


def test_family_says_who_is_holding_and_a_nurse_corrects_it(ward: Ward) -> None:
    adm = _b01_admission(ward)  # W1: in contact from T0 on
    mother = ward.client.post(f"/api/admissions/{adm}/caregivers", json={"role": "mother"}).json()
    father = ward.client.post(f"/api/admissions/{adm}/caregivers", json={"role": "father"}).json()
    gran = ward.client.post(f"/api/admissions/{adm}/caregivers", json={"role": "family"})
    assert gran.status_code == 422  # a family member needs a name
    fam = _family(ward, adm)
    ward.advance(10 * MIN)
    r = ward.client.put("/api/family/holding", json={"caregiver_id": mother["caregiver_id"]}, headers=fam)
    assert r.status_code == 200, r.text
    assert r.json()["holding_now"] == mother["caregiver_id"]
    assert "holding" not in r.json()  # the family sees today, not the record
    ward.advance(10 * MIN)
    ward.client.put("/api/family/holding", json={"caregiver_id": father["caregiver_id"]}, headers=fam)
    ward.advance(30 * MIN)
    # One session from T0 to now (50 min): unknown 10, mother 10, father 30 - the father's.
    body = ward.get(f"/api/admissions/{adm}/caregivers")
    assert [c["label"] for c in body["caregivers"]] == ["mother", "father"]
    today = body["days"][-1]
    assert set(today["by_caregiver_s"]) == {"father"}
    assert body["stay"]["first_session_t"] == pytest.approx(T0, abs=5)  # W1 in contact from T0
    assert body["stay"]["days_with_contact"] == 1 and body["kmc_mode"] == "continuous"
    assert today["by_caregiver_s"]["father"] == pytest.approx(50 * MIN, abs=2 * MIN)
    assert today["mother_kmc_s"] == 0 and today["others_s"] == today["total_s"]
    # The nurse: it was the mother all along.
    r = ward.client.put(
        f"/api/admissions/{adm}/holding",
        json={"caregiver_id": mother["caregiver_id"], "from_t": T0, "until_t": T0 + 40 * MIN},
    )
    assert r.status_code == 200, r.text
    today = r.json()["days"][-1]
    assert set(today["by_caregiver_s"]) == {"mother"} and today["mother_kmc_s"] == today["total_s"]
    assert r.json()["holding_now"] == father["caregiver_id"]  # after the corrected span: as before
    fam_view = ward.client.get("/api/family/caregivers", headers=fam).json()
    assert fam_view["days"][-1]["by_caregiver_s"] == today["by_caregiver_s"]
    report = ward.get("/api/beds/B01/report")  # the handover report has them too
    stay = next(c for c in report["caregivers"] if c["admission_id"] == adm)
    assert stay["by_caregiver_s"] == today["by_caregiver_s"] and stay["mother_kmc_s"] == today["mother_kmc_s"]


def test_family_routes_refuse_a_missing_or_wrong_token(ward: Ward) -> None:
    for headers in ({"Authorization": ""}, {"X-Family-Token": "x" * 43, "Authorization": ""}):
        assert ward.client.get("/api/family/caregivers", headers=headers).json() == {"active": False}
        # a write without a valid family link is refused before its body is read (the request guard)
        assert ward.client.put("/api/family/holding", json={}, headers=headers).status_code == 401
    adm = _b01_admission(ward)
    other = ward.client.put("/api/family/holding", json={"caregiver_id": 999}, headers=_family(ward, adm))
    assert other.status_code == 404  # not one of this baby's caregivers


def test_admission_with_mode_birth_and_family_then_discharge_status(ward: Ward) -> None:
    ward.client.post("/api/beds", json={"bed_id": "B09"})
    base = {"bed_id": "B09", "display_name": "Baby Lan", "birth_weight_g": 1600, "gestational_age_weeks": 33}
    r = ward.client.post("/api/admissions", json={**base, "kmc_mode": "intermittent"})
    assert r.status_code == 422 and "goal" in r.text
    r = ward.client.post(
        "/api/admissions",
        json={
            **base,
            "kmc_mode": "intermittent",
            "daily_goal_s": 4 * 3600,
            "birth_t": T0 - 6 * 3600,
            "family": [{"role": "mother"}, {"role": "family", "name": "grandfather"}],
        },
    )
    assert r.status_code == 201, r.text
    adm = r.json()
    assert adm["kmc_mode"] == "intermittent" and adm["birth_t"] == T0 - 6 * 3600
    labels = [c["label"] for c in ward.get(f"/api/admissions/{adm['admission_id']}/caregivers")["caregivers"]]
    assert labels == ["mother", "grandfather"]
    r = ward.client.post(f"/api/admissions/{adm['admission_id']}/discharge", json={"status": "transferred"})
    assert r.status_code == 200 and r.json()["discharge_status"] == "transferred"
    r = ward.client.put(f"/api/admissions/{adm['admission_id']}/discharge-status", json={"status": "died"})
    assert r.status_code == 200 and r.json()["discharge_status"] == "died"
    assert ward.client.post(f"/api/admissions/{_b01_admission(ward)}/discharge").status_code == 200


def test_indicators_json_csv_page_and_dhis2(
    ward: Ward, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ward.advance(30 * MIN)
    doc = ward.get("/api/indicators", params={"period": "2026-01"})
    admitted = len(ward.get("/api/admissions"))
    values = {v["key"]: v["value"] for v in doc["values"]}
    assert values["admissions"] == admitted and values["initiations"] >= 1
    r = ward.client.get("/api/indicators", params={"period": "2026-01", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f"2026-01,admissions,{admitted},count," in r.text
    page = ward.client.get("/indicators", params={"period": "2026-01"})
    assert page.status_code == 200 and page.text.count("<svg") == 4 and "Test ward" in page.text
    assert "http://" not in page.text.split("<svg", 1)[0]  # no CDN, nothing fetched from elsewhere
    assert ward.client.get("/api/indicators", params={"period": "January"}).status_code == 422
    assert ward.client.get("/api/indicators", params={"format": "dhis2"}).status_code == 409
    assert ward.client.post("/api/indicators/dhis2").status_code == 409
    assert ward.client.get("/indicators", headers={"Authorization": ""}).status_code == 401
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("orgUnit: OrgUnit0001\ndataElements:\n  admissions: {dataElement: KmcAdmissn1}\n")
    monkeypatch.setenv("KMC_DHIS2_MAPPING", str(mapping))
    payload = ward.get("/api/indicators", params={"period": "2026-01", "format": "dhis2"})
    assert payload["dataValues"] == [
        {"dataElement": "KmcAdmissn1", "period": "202601", "orgUnit": "OrgUnit0001", "value": str(admitted)}
    ]
    with serve_dhis2() as (url, state):
        monkeypatch.setenv("KMC_DHIS2_URL", url)
        monkeypatch.setenv("KMC_DHIS2_USER", USER)
        monkeypatch.setenv("KMC_DHIS2_PASSWORD", "wrong")
        r = ward.client.post("/api/indicators/dhis2", params={"period": "2026-01"})
        assert r.status_code == 502 and "401" in r.text
        monkeypatch.setenv("KMC_DHIS2_PASSWORD", PASSWORD)
        r = ward.client.post("/api/indicators/dhis2", params={"period": "2026-01"})
        assert r.status_code == 200, r.text
        assert r.json()["importCount"] == {"imported": 1, "updated": 0, "ignored": 0, "deleted": 0}
        assert len(state.stored) == 1


PROGRAMME_STAFF_ROUTES = [
    ("GET", "/api/admissions/1/caregivers", None),
    ("POST", "/api/admissions/1/caregivers", {"role": "mother"}),
    ("PUT", "/api/admissions/1/holding", {"caregiver_id": None}),
    ("PUT", "/api/admissions/1/discharge-status", {"status": "died"}),
    ("GET", "/api/indicators", None),
    ("POST", "/api/indicators/dhis2", None),
    ("GET", "/indicators", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROGRAMME_STAFF_ROUTES)
def test_every_programme_staff_route_needs_the_staff_token(
    ward: Ward, method: str, path: str, body: Any
) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer not-the-token"}):
        r = ward.client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (method, path, r.text)


def test_the_same_choice_again_writes_nothing(ward: Ward) -> None:
    adm = _b01_admission(ward)
    mother = ward.client.post(f"/api/admissions/{adm}/caregivers", json={"role": "mother"}).json()
    for _ in range(20):
        ward.clock.t += 1
        r = ward.client.put(
            "/api/family/holding", json={"caregiver_id": mother["caregiver_id"]}, headers=_family(ward, adm)
        )
        assert r.status_code == 200
    assert len(ward.get(f"/api/admissions/{adm}/caregivers")["holding"]) == 1
    big = ward.client.put(f"/api/admissions/{2**70}/holding", json={})
    assert big.status_code == 422
