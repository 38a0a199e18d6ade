"""The health station page in Chromium against a real ``kmc-monitor serve``: a nurse discharges a baby
home on KMC with the mother's consent and sees the pairing QR once; the home gateway (played here
with the pairing code the page received) syncs a sealed reading and a cold day; the station list
shows the baby with the day and puts it on the attention list; a visit is recorded and exported."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from kmc_monitor.station.wire import PairingCode
from tests.dashboard.conftest import STAFF_TOKEN, Served
from tests.mqtt.sealing import SealedWrap

TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture(scope="module")
def station_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("station") / "data", ["--simulate", "2"])
    try:
        yield server
    finally:
        err = server.stop()
        assert STAFF_TOKEN not in err


def _post(url: str, token: str, body: object) -> dict[str, object]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        out: dict[str, object] = json.loads(r.read())
        return out


def test_discharge_home_pairs_by_qr_and_the_station_lists_the_baby(
    station_server: Served, new_page: Callable[..., Page], artifacts: Path
) -> None:
    # The station's screen is 18 hours behind the home (UTC-11 against UTC+7): for most of the day
    # its own calendar is a day before the home's, so a visit form that took the screen's date would
    # offer a day before the discharge.
    page = new_page(timezone_id="Pacific/Pago_Pago")
    page.goto(f"{station_server.base}/station?token={STAFF_TOKEN}")
    expect(page.locator("#no-homes")).to_be_visible()
    form = page.locator("#home-form")
    expect(form.locator("select[name=admission_id] option")).to_have_count(2)
    form.locator("select[name=admission_id]").select_option(label="Baby 1 (bed B01)")
    form.locator("input[name=consent_name]").fill("H'Me Nie")
    form.locator("select[name=relation]").select_option("mother")
    form.locator("input[name=language]").fill("vi")
    form.locator("input[name=tz]").fill(TZ)
    form.locator("input[name=who]").fill("Nurse Hoa")
    with page.expect_response(
        lambda r: r.url.endswith("/api/station/homes") and r.request.method == "POST"
    ) as got:
        form.locator("button[type=submit]").click()
    answer = got.value.json()
    assert got.value.status == 201
    # The QR is shown, and it is an image of the pairing code the answer carries.
    qr = page.locator("#pairing-qr")
    expect(qr).to_be_visible()
    assert page.evaluate("document.getElementById('pairing-qr').naturalWidth") > 100
    assert qr.get_attribute("src").startswith("data:image/svg+xml")  # type: ignore[union-attr]
    code = PairingCode.model_validate(answer["pairing"])
    assert answer["qr_payload"] == base64.urlsafe_b64encode(code.model_dump_json().encode()).decode().rstrip(
        "="
    )
    expect(page.locator("#pairing-home")).to_have_text(code.home_id)
    # The baby left the ward: one admission left to choose from.
    expect(form.locator("select[name=admission_id] option")).to_have_count(1)
    page.screenshot(path=str(artifacts / "station-pairing.png"), full_page=True)

    # The home gateway syncs: one sealed reading and today's (running) day with a cold episode.
    grant = code.wraps[0]
    assert grant.key is not None
    wrap = SealedWrap(grant.wrap_id, grant.mac, bytes.fromhex(grant.key))
    now = time.time()
    reading = wrap.reading(now - 60, 35.9)
    assert reading.sealed is not None
    today = dt.datetime.fromtimestamp(now, ZoneInfo(TZ)).date()
    batch = {
        "home_id": code.home_id,
        "readings": [{"seq": 1, "wrap_id": grant.wrap_id, "t": now - 60, "sealed": reading.sealed.hex()}],
        "days": [
            {
                "seq": 2,
                "wrap_id": grant.wrap_id,
                "day": today.isoformat(),
                "contact_s": 3 * 3600,
                "goal_s": code.baby.daily_goal_s,
                "measured_s": 4 * 3600,
                "cold_episodes": 1,
                "coldest_c": 35.9,
                "battery_pct": 81,
                "complete": False,
            }
        ],
        "status": {"sent_t": now, "pending": 0, "battery_pct": 81, "power_cuts": 1},
    }
    ack = _post(f"{code.station_url}/api/station/homes/{code.home_id}/sync", code.token, batch)
    assert ack == {"accepted_through": 2, "refused": 0}

    page.reload()
    row = page.locator(f"#homes tbody tr[data-home='{code.home_id}']")
    expect(row).to_contain_text("Baby 1")
    expect(row.locator("td.week .day")).to_have_count(1)
    expect(row.locator("td.week")).to_contain_text("3.0/")
    expect(row).to_contain_text("81 %")
    expect(row).to_contain_text("day 1")
    attention = page.locator(f"#attention li[data-home='{code.home_id}']")
    expect(attention).to_contain_text("Hypothermia since the last visit")

    # A visit, recorded by name, then exported.
    row.get_by_role("button", name="Record a visit").click()
    visit = page.locator("#visit-form")
    expect(visit.locator("input[name=day]")).to_have_value(today.isoformat())
    expect(visit.locator("input[name=day]")).to_have_attribute("max", today.isoformat())
    visit.locator("input[name=weight_g]").fill("1920")
    visit.locator("textarea[name=notes]").fill("Warm, feeding well")
    visit.locator("input[name=who]").fill("Nurse Hoa")
    visit.locator("button[type=submit]").click()
    expect(page.locator("#status")).to_contain_text("Visit to Baby 1 saved")
    page.screenshot(path=str(artifacts / "station-list.png"), full_page=True)
    exported = page.request.get(f"{station_server.base}/api/station/visits.csv")
    assert exported.status == 200
    rows = list(csv.reader(io.StringIO(exported.text())))
    assert rows[1][0] == code.home_id and rows[1][4] == "1920" and rows[1][5] == "Warm, feeding well"
    assert "Nurse Hoa" in rows[1][7]

    # A lost card: a new pairing code from the list; the old token stops at once.
    page.once("dialog", lambda d: d.accept())
    with page.expect_response(lambda r: r.url.endswith(f"/homes/{code.home_id}/pairing")) as again:
        row.get_by_role("button", name="New pairing code").click()
    new = PairingCode.model_validate(again.value.json()["pairing"])
    assert new.token != code.token
    expect(page.locator("#pairing")).to_be_visible()
    empty = {**batch, "readings": [], "days": []}
    with pytest.raises(urllib.error.HTTPError) as refused:
        _post(f"{code.station_url}/api/station/homes/{code.home_id}/sync", code.token, empty)
    assert refused.value.code == 401
    refused.value.close()
    assert (
        _post(f"{code.station_url}/api/station/homes/{code.home_id}/sync", new.token, empty)[
            "accepted_through"
        ]
        == 2
    )
