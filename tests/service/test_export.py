"""The export routes: staff only, 404 for an unknown bed, 422 for a bad range, and what they return
matches the readings the store holds (the FHIR bundle validating as in ``test_fhir.py``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.app import create_app
from kmc_monitor.service.config import Settings
from kmc_monitor.service.persistence import checkpoint
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.signal.params import US
from kmc_monitor.sources import ReadingSource
from tests.clock import Clock
from tests.service.test_fhir import check_bundle

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

#: 2026-01-01 10:00 UTC.
T0 = 1767261600.0
TOKEN = "export-test-staff-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RANGE = {"start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:05:00Z"}
FHIR = "/api/beds/B01/export.fhir.json"
CSV = "/api/beds/B01/export.csv"

pytestmark = pytest.mark.timeout(60)


class OneWrap(ReadingSource):
    """One demo wrap in contact every 2 s, its skin warming 0.01 °C per reading from 36.50 °C."""

    demo = True

    def __init__(self) -> None:
        self.next_t = T0
        self.k = 0

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [("W1", "54:48:E6:8F:80:A5", None)]

    def readings_until(self, t_s: float) -> list[Reading]:
        out = []
        while self.next_t <= t_s:
            out.append(Reading(self.next_t, "W1", 36.5 + 0.01 * self.k, 28.0, 1.0, 80.0, -60.0))
            self.next_t += 2.0
            self.k += 1
        return out


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, WardRuntime]]:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC")
    clock = Clock(T0)
    rt = WardRuntime(settings, source=OneWrap(), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt)) as c:
        assert c.portal is not None
        for _ in range(30):  # 5 min of ward time, one step per 10 s
            clock.t += 10
            c.portal.call(rt.step)
        # every reading on disk
        c.portal.call(lambda: checkpoint(rt.engine, rt.store, rt.now_us(), writer=rt.writer))
        yield c, rt


def stored_minutes(rt: WardRuntime) -> dict[str, float]:
    """Median skin temperature per minute (ward time, UTC here) of the readings in the store."""
    by_minute: dict[str, list[float]] = {}
    for r in rt.store.readings_for_bed("B01", T0, T0 + 300):
        assert r.skin_temp_c is not None
        minute = int(r.t // 60 * 60)
        by_minute.setdefault(f"{minute}", []).append(r.skin_temp_c)
    return {k: round(statistics.median(v), 2) for k, v in by_minute.items()}


def test_fhir_export_matches_the_store(setup: tuple[TestClient, WardRuntime]) -> None:
    client, rt = setup
    r = client.get(FHIR, params=RANGE, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert (
        r.headers["content-disposition"]
        == 'attachment; filename="kmc-B01-2026-01-01_to_2026-01-01.fhir.json"'
    )
    bundle = r.json()
    check_bundle(bundle)
    temps = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "61008-9"
    ]
    expected = stored_minutes(rt)
    assert len(expected) == 5
    got = {}
    for o in temps:
        start = o["effectivePeriod"]["start"]
        minute = int(dt.datetime.fromisoformat(start).timestamp())
        got[f"{minute}"] = o["valueQuantity"]["value"]
    assert got == expected
    kinds = sorted({e["resource"]["resourceType"] for e in bundle["entry"]})
    assert kinds == ["Device", "DeviceMetric", "Flag", "Observation", "Patient"]
    # The skin warms past 37.5 °C: the board's hyperthermia alarm is the one Flag, still active.
    (alarm,) = client.get("/api/alarms", headers=AUTH).json()
    (flag,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Flag"]
    assert flag["identifier"][0]["value"] == str(alarm["alarm_id"])
    assert (
        (flag["code"]["coding"][0]["code"], flag["status"])
        == (alarm["kind"], "active")
        == ("hyperthermia", "active")
    )


def test_csv_export_matches_the_store(setup: tuple[TestClient, WardRuntime]) -> None:
    client, rt = setup
    r = client.get(CSV, params=RANGE, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    minutes = {row[1]: row for row in rows if row and row[0] == "minute"}
    expected = stored_minutes(rt)
    assert len(minutes) == len(expected) == 5
    readings = rt.store.readings_for_bed("B01", T0, T0 + 300)
    assert sum(int(row[2]) for row in minutes.values()) == len(readings)
    first = minutes["2026-01-01T10:00:00+00:00"]
    assert float(first[3]) == expected[str(int(T0))]
    facts = {row[1]: row[2] for row in rows if row and row[0] == "export"}
    assert (facts["bed_id"], facts["start"], facts["end"]) == (
        "B01",
        "2026-01-01T10:00:00+00:00",
        "2026-01-01T10:05:00+00:00",
    )
    (admission,) = [row for row in rows if row and row[0] == "admission"]
    assert admission[2] == "Baby 1"
    (day,) = [row for row in rows if row and row[0] == "day"]
    assert day[1] == "2026-01-01" and day[-1] == "yes"  # the day is still running


def test_csv_neutralises_typed_text(setup: tuple[TestClient, WardRuntime]) -> None:
    client, _ = setup
    r = client.post(
        "/api/beds", json={"bed_id": "B99", "label": "=HYPERLINK(evil)", "position": 99}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    text = client.get("/api/beds/B99/export.csv", params=RANGE, headers=AUTH).text
    assert "export,bed_label,'=HYPERLINK(evil)" in text.splitlines()


def test_end_defaults_to_now(setup: tuple[TestClient, WardRuntime]) -> None:
    client, rt = setup
    bundle = client.get(FHIR, params={"start": "2026-01-01"}, headers=AUTH).json()
    assert bundle["timestamp"] == "2026-01-01T10:05:00+00:00"
    assert bundle["identifier"]["value"].endswith(f"/{rt.now_us()}")


@pytest.mark.parametrize("path", [FHIR, CSV])
def test_refused_without_a_staff_token(setup: tuple[TestClient, WardRuntime], path: str) -> None:
    client, _ = setup
    assert client.get(path, params=RANGE).status_code == 401
    assert client.get(path, params=RANGE, headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize("path", ["/api/beds/B77/export.fhir.json", "/api/beds/B77/export.csv"])
def test_unknown_bed_is_404(setup: tuple[TestClient, WardRuntime], path: str) -> None:
    client, _ = setup
    assert client.get(path, params=RANGE, headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {},  # no start
        {"start": "yesterday"},
        {"start": "2026-02-30"},
        {"start": "2026-01-01", "end": "soon"},
        {"start": "2026-01-02", "end": "2026-01-01T12:00:00Z"},  # end before start
        {"start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:00:00Z"},  # empty
        {"start": "2026-01-01", "end": "2026-02-01"},  # 32 ward days
    ],
)
@pytest.mark.parametrize("path", [FHIR, CSV])
def test_bad_range_is_422(setup: tuple[TestClient, WardRuntime], path: str, params: dict[str, str]) -> None:
    client, _ = setup
    r = client.get(path, params=params, headers=AUTH)
    assert r.status_code == 422, r.text
    for value in params.values():
        assert value not in r.text or value.startswith("2026")  # the detail never echoes free text


def test_a_month_is_allowed(setup: tuple[TestClient, WardRuntime]) -> None:
    client, _ = setup
    r = client.get(FHIR, params={"start": "2026-01-01", "end": "2026-01-31"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert (
        r.json()["identifier"]["value"]
        == f"B01/{round(T0 - 36000) * US}/{round(T0 - 36000 + 31 * 86400) * US}"
    )
