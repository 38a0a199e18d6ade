"""``POST /api/readings`` in process: staff only, validated, bounded, counted, and the readings reach
the engine exactly as a source's would (a reading for a bed's wrap moves its tile)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.app import create_app
from kmc_monitor.service.config import Settings
from kmc_monitor.service.ingest import MAX_BATCH
from kmc_monitor.service.persistence import checkpoint
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.signal.params import US
from kmc_monitor.sources import ReadingSource
from tests.clock import Clock

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "ingest-test-staff-token-0123456789"
T0 = 1767261600.0

pytestmark = pytest.mark.timeout(60)


class QuietSource(ReadingSource):
    """One demo wrap on bed B01 that sends nothing itself: every reading comes over HTTP."""

    demo = True

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [("W1", "54:48:E6:8F:80:A5", None)]

    def readings_until(self, t_s: float) -> list[Reading]:
        return []


@pytest.fixture
def ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, WardRuntime, Clock]]:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC")
    clock = Clock(T0)
    rt = WardRuntime(settings, source=QuietSource(), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c, rt, clock


def readings(n: int, wrap_id: str = "W1", start: float = T0, **values: Any) -> list[dict[str, Any]]:
    base = {"skin_temp_c": 36.8, "ambient_temp_c": 28.0, "contact": 0.9, "battery_pct": 80.0}
    return [{"t": start + i, "wrap_id": wrap_id, **base, **values} for i in range(n)]


def step(client: TestClient, rt: WardRuntime, clock: Clock, until: float) -> None:
    assert client.portal is not None
    while clock.t < until:
        clock.t = min(until, clock.t + 1.0)
        client.portal.call(rt.step)


def test_readings_reach_the_engine_and_the_tile(ward: tuple[TestClient, WardRuntime, Clock]) -> None:
    client, rt, clock = ward
    r = client.post("/api/readings", json={"readings": readings(60)})
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 60, "accepted": 60}
    step(client, rt, clock, T0 + 61)
    bed = next(b for b in client.get("/api/beds").json() if b["wrap_id"] == "W1")
    assert bed["last_heard_us"] == round((T0 + 59) * US)
    assert bed["temperature_c"] == pytest.approx(36.8)
    assert bed["contact"] is True
    # The same batch again: every reading is late now (already fed), none accepted, all counted.
    again = client.post("/api/readings", json={"readings": readings(60)})
    assert again.json() == {"received": 60, "accepted": 0}
    stats = client.get("/api/readings/stats").json()
    assert stats == {"batches": 2, "received": 120, "accepted": 60, "dropped": 60, "max_batch": MAX_BATCH}


def test_unknown_wraps_are_heard_and_stored(ward: tuple[TestClient, WardRuntime, Clock]) -> None:
    client, rt, clock = ward
    assert client.post("/api/readings", json={"readings": readings(5, "STRAY-1")}).status_code == 200
    step(client, rt, clock, T0 + 10)
    heard = client.get("/api/wraps").json()["unregistered"]
    assert [w["wrap_id"] for w in heard] == ["STRAY-1"]
    assert client.portal is not None
    client.portal.call(lambda: checkpoint(rt.engine, rt.store, round(clock.t * US), writer=rt.writer))
    assert len(rt.store.readings("STRAY-1", T0 - 1, T0 + 100)) == 5


@pytest.mark.parametrize(
    "body",
    [
        {"readings": []},
        {"readings": readings(MAX_BATCH + 1)},
        {"readings": readings(1, skin_temp_c=200.0)},
        {"readings": readings(1, contact=1.5)},
        {"readings": [{"t": 12.0, "wrap_id": "W1"}]},  # 1970: a broken clock
        {"readings": readings(1, "W1/../x")},
        {"readings": [{"t": T0, "wrap_id": "W1", "colour": "red"}]},
        {"readings": [{"wrap_id": "W1"}]},
        {"rows": readings(1)},
    ],
)
def test_bad_batches_are_refused_whole(ward: tuple[TestClient, WardRuntime, Clock], body: Any) -> None:
    client, _rt, _clock = ward
    r = client.post("/api/readings", json=body)
    assert r.status_code == 422, r.text
    assert client.get("/api/readings/stats").json()["received"] == 0


def test_needs_the_staff_token(ward: tuple[TestClient, WardRuntime, Clock]) -> None:
    client, _rt, _clock = ward
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer nope"}):
        assert (
            client.post("/api/readings", json={"readings": readings(1)}, headers=headers).status_code == 401
        )
        assert client.get("/api/readings/stats", headers=headers).status_code == 401
