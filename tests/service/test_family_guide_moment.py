"""The family stream's guide card through a running ward (#19): first session, a long break seen
while nobody watched, and the nurse starting the discharge checklist (the rule: guide_moment)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kmc_monitor.service.app import create_app
from kmc_monitor.service.config import Settings
from kmc_monitor.service.family_view import LONG_BREAK_S
from kmc_monitor.service.runtime import WardRuntime
from tests.service.test_ingest import T0, Clock, QuietSource, TestClient, readings

TOKEN = "guide-test-staff-token-0123456789abcdef"

Ward = tuple[TestClient, WardRuntime, Clock]


@pytest.fixture
def ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ward]:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC")
    clock = Clock(T0)
    rt = WardRuntime(settings, source=QuietSource(), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c, rt, clock


def step(client: TestClient, rt: WardRuntime, clock: Clock, until: float, by: float = 1.0) -> None:
    assert client.portal is not None
    while clock.t < until:
        clock.t = min(until, clock.t + by)
        client.portal.call(rt.step)


def guide(client: TestClient, rt: WardRuntime) -> object:
    assert client.portal is not None
    v = client.portal.call(_view, rt)
    return rt.family_message(v)["guide"]


async def _view(rt: WardRuntime) -> object:
    return rt.bed_view("B01")


def test_first_session_then_nothing_then_a_long_break_then_going_home(ward: Ward) -> None:
    client, rt, clock = ward
    step(client, rt, clock, T0 + 2)
    assert guide(client, rt) == {"moment": "first_session", "card": "positioning"}

    # Ten minutes warm and in contact: nothing to bring forward.
    assert client.post("/api/readings", json={"readings": readings(600)}).status_code == 200
    step(client, rt, clock, T0 + 600)
    assert guide(client, rt) is None

    # Apart from then on (nobody watching the family page): after three hours, positioning again.
    apart = readings(200, start=T0 + 600, contact=0.0)
    assert client.post("/api/readings", json={"readings": apart}).status_code == 200
    step(client, rt, clock, T0 + 900, by=5.0)
    assert guide(client, rt) is None
    step(client, rt, clock, T0 + 600 + LONG_BREAK_S + 60, by=60.0)
    assert guide(client, rt) == {"moment": "long_break", "card": "positioning"}

    # The nurse starts the discharge checklist: the danger signs card, before going home.
    (adm,) = client.get("/api/admissions").json()
    r = client.put(
        f"/api/admissions/{adm['admission_id']}/discharge-checklist",
        json={"item": "danger_signs", "done": True},
    )
    assert r.status_code == 200, r.text
    assert guide(client, rt) == {"moment": "before_discharge", "card": "danger_signs"}
