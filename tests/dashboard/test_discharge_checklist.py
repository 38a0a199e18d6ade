"""The discharge checklist (#19) in a real browser against a real ward service: ticked on the bed
page, recorded with the signed-in staff member, shown on the handover and discharge reports, closed
at discharge, and counted in the indicator "families taught before discharge"."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import STAFF_TOKEN, Served
from tests.dashboard.test_bed_and_report import AUTH, api, open_bed

pytestmark = pytest.mark.timeout(150)

ITEMS = ("positioning", "feeding", "danger_signs", "when_to_come_back", "who_to_call")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path / "d", ["--simulate", "2"])
    try:
        yield s
    finally:
        s.stop()


def put(server: Served, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    req = urllib.request.Request(
        server.base + path,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def indicator(page: Page, server: Served, key: str) -> float | None:
    values = api(page, f"{server.base}/api/indicators")["values"]
    return next(v["value"] for v in values if v["key"] == key)


def test_checklist_recorded_and_shown_in_the_reports(server: Served, page: Page, artifacts: Path) -> None:
    open_bed(page, server, "B01")
    (adm,) = [a for a in api(page, f"{server.base}/api/admissions") if a["bed_id"] == "B01"]
    aid = adm["admission_id"]
    card = page.locator("#checklist-card")
    expect(card).to_be_visible()
    expect(card.locator("[data-checklist-item]")).to_have_count(len(ITEMS))
    expect(page.locator("#checklist-status")).to_have_text("0 of 5 items taught.")
    before = indicator(page, server, "families_taught_before_discharge")

    # Four items ticked on the page: each recorded with who ticked it.
    for item in ITEMS[:4]:
        page.locator(f"#teach-{item}").check()
        expect(card.locator(f'[data-checklist-item="{item}"]')).to_have_attribute("data-done", "true")
    state = api(page, f"{server.base}/api/admissions/{aid}/discharge-checklist")
    by = {i["item"]: i for i in state["items"]}
    assert [by[i]["done"] for i in ITEMS] == [True, True, True, True, False]
    who = by["positioning"]["set_by"]
    assert who and all(by[i]["set_by"] == who for i in ITEMS[:4])
    expect(card.locator('[data-checklist-item="feeding"]')).to_contain_text(f"ticked by {who}")

    # The discharge report says loudly that it is not complete.
    report = page.context.new_page()
    report.goto(f"{server.base}/discharge/{aid}")
    expect(report.locator("#taught-summary")).to_have_text("NOT COMPLETE: 4 of 5 items taught.")
    expect(report.locator('#taught tr[data-checklist-item="who_to_call"] td').nth(1)).to_have_text("NO")

    # The last one ticked, then the handover report shows the stay as taught.
    page.locator("#teach-who_to_call").check()
    expect(page.locator("#checklist-status")).to_contain_text("All 5 items taught")
    handover = page.context.new_page()
    # Today's report (the page's default is a shift, which in the first two hours of a shift is the
    # previous one, from before this demo ward admitted its babies).
    today = api(page, f"{server.base}/api/beds/B01/report")["day"]
    handover.goto(f"{server.base}/report/B01?day={today}")
    expect(handover.locator(f'#taught li[data-admission-id="{aid}"]')).to_have_attribute(
        "data-complete", "true"
    )
    expect(handover.locator(f'#taught li[data-admission-id="{aid}"]')).to_contain_text(
        "discharge teaching complete"
    )

    # Discharged home on KMC from the bed page: the checklist is closed and the report keeps it.
    page.locator("#discharge-status").select_option(label="home on KMC")
    page.locator("#discharge").click()
    expect(page.locator("#confirm")).to_contain_text("cannot be undone")
    page.locator("#confirm-ok").click()
    expect(page.locator("#conn")).to_contain_text("discharged")
    expect(page.locator("#baby-name")).to_have_text("no baby admitted")
    expect(page.locator("#checklist-card")).to_be_hidden()
    report.reload()
    expect(report.locator("#taught-summary")).to_contain_text("All 5 items taught")
    expect(report.locator("#stay-dates")).to_contain_text("home on kmc")
    for item in ITEMS:
        row = report.locator(f'#taught tr[data-checklist-item="{item}"]')
        expect(row).to_have_attribute("data-done", "true")
        expect(row.locator("td").nth(2)).to_have_text(who)
    report.screenshot(path=str(artifacts / "discharge-report.png"), full_page=True)
    code, body = put(
        server, f"/api/admissions/{aid}/discharge-checklist", {"item": "feeding", "done": False}, AUTH
    )
    assert code == 409 and "discharged" in body["detail"]

    # Counted once, as a family taught before discharge.
    assert indicator(page, server, "families_taught_before_discharge") == (before or 0) + 1
    assert indicator(page, server, "families_taught_before_discharge.pct") == 100.0


def test_checklist_needs_staff_and_a_known_item(server: Served, page: Page) -> None:
    open_bed(page, server, "B02")
    (adm,) = [a for a in api(page, f"{server.base}/api/admissions") if a["bed_id"] == "B02"]
    path = f"/api/admissions/{adm['admission_id']}/discharge-checklist"
    code, _ = put(server, path, {"item": "feeding", "done": True}, {})
    assert code == 401
    code, _ = put(server, path, {"item": "feeding", "done": True}, {"Authorization": "Bearer wrong-token"})
    assert code == 401
    code, body = put(server, path, {"item": "juggling", "done": True}, AUTH)
    assert code == 422
    state = api(page, f"{server.base}{path}")
    assert not state["started"] and not any(i["done"] for i in state["items"])
    assert STAFF_TOKEN not in json.dumps(state)
