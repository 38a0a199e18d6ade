"""A new ward's first day, from the screen (issue #14): Playwright driving Debian's Chromium against
a real ``kmc-monitor serve`` on loopback with a fresh data directory and no configured token.

- ``test_a_new_ward_from_first_run_to_discharge``: the staff credential printed at the first start
  signs the screen in; its admin is sent to the first-run page; then nurses, a wrap registered
  from its label's text, a PIN-confirmed admission with that wrap, a low-battery alarm (readings
  pushed for that wrap) acknowledged on the ward screen with a nurse's PIN and the audit naming
  her, the flat wrap replaced, a second baby, a swap and its undo, and a PIN-confirmed discharge.
- ``test_staff_and_family_links_of_a_first_run_survive_a_restart``: the link printed at the first
  start, a signed-in screen and a family link keep working after the service restarts.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect

from kmc_monitor.service import firstrun
from tests.dashboard.conftest import START_TIMEOUT_S
from tests.dashboard.test_accessibility import assert_aa
from tests.serving import stop

NURSE = ("Lan Nguyen", "LN", "4321")

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow(25)]


class FirstRun:
    """``kmc-monitor serve --simulate 2 --new-ward`` without any ``KMC_*`` setting: a ward's first
    start, whose own staff credential is printed once."""

    def __init__(self, data_dir: Path, port: int = 0, host: str = "127.0.0.1") -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KMC_")}
        cmd = [sys.executable, "-m", "kmc_monitor.cli", "serve", "--host", host, "--port", str(port)]
        self.proc = subprocess.Popen(
            [*cmd, "--data-dir", str(data_dir), "--simulate", "2", "--new-ward"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: dict[str, str] = {}
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            key, _, value = line.strip().partition(": ")
            if line.startswith("ward service listening on "):
                self.lines["listening"] = line.split()[-1]
            elif value:
                self.lines[key] = value
            if line.startswith("links and QR codes point to") and "listening" in self.lines:
                # The credential line comes right after on a first start; a restart prints none.
                time.sleep(0.3)
                break
        if "listening" not in self.lines:
            raise AssertionError(f"the service did not start: {self.lines} {self.stop()[-3000:]}")
        self.base = self.lines["listening"].replace("0.0.0.0", "127.0.0.1")

    def read_more(self, key: str, timeout_s: float = 5.0) -> str | None:
        """Read stdout until a line ``key: value`` (what a start prints after its address)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while key not in self.lines and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            k, _, v = line.strip().partition(": ")
            if v:
                self.lines[k] = v
        return self.lines.get(key)

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def stop(self) -> str:
        return stop(self.proc)


def call(server: FirstRun, token: str, path: str, method: str = "GET", body: Any = None) -> Any:
    req = urllib.request.Request(
        server.base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read() or b"null")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FirstRun, str]]:
    server = FirstRun(tmp_path_factory.mktemp("firstrun") / "data")
    try:
        link = server.read_more("ward screen")
        assert link is not None, f"no staff link printed on the first start: {server.lines}"
        yield server, link.rsplit("token=", 1)[1]
    finally:
        err = server.stop()
        assert "Traceback" not in err, err[-3000:]


class Confirms:
    """The browser's own confirmation dialogs: what each said, each accepted."""

    def __init__(self, page: Page) -> None:
        self.said: list[str] = []
        page.on("dialog", self._on)

    def _on(self, dialog: Dialog) -> None:
        self.said.append(dialog.message)
        dialog.accept()


def pin(page: Page, initials: str = NURSE[1], code: str = NURSE[2]) -> None:
    """Answer the nurse's confirmation: initials and PIN."""
    dialog = page.locator("#pin-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#pin-initials").fill(initials)
    dialog.locator("#pin-pin").fill(code)
    dialog.locator("#pin-ok").click()


def baby_row(page: Page, name: str) -> Any:
    return page.locator("#babies tbody tr", has_text=name)


def test_a_new_ward_from_first_run_to_discharge(
    first_run: tuple[FirstRun, str], new_page: Callable[..., Page], artifacts: Path, page_errors: Any
) -> None:
    # The browser logs the answer to the wrong PIN typed on purpose below.
    page_errors.expected_fragments = ("status of 422",)
    server, token = first_run
    page = new_page(1366, 900)
    confirms = Confirms(page)

    # The printed link signs the screen in; a ward not set up sends its admin to the first run.
    page.goto(f"{server.base}/ward?token={token}")
    page.wait_for_url(re.compile(r"/setup$"))
    expect(page.locator("#net-warning")).to_contain_text("127.0.0.1 only")
    expect(page.locator("body[data-ready='1']")).to_have_count(1)
    assert_aa(page, "the first-run page")
    page.locator("#ward-name").fill("KMC room, Hanoi")
    page.locator("#ward-tz").fill("Asia/Ho_Chi_Minh")
    page.locator("input[name=lang][value=vi]").check()
    page.locator("#beds").fill("3")
    page.locator("#goal").fill("18")
    page.locator("#save").click()
    page.wait_for_url(re.compile(r"/admin$"))
    expect(page.locator("body[data-ready='1']")).to_have_count(1)
    expect(page.locator("#ward-name")).to_have_text("KMC room, Hanoi")
    expect(page.locator("#beds tbody tr")).to_have_count(3)
    assert_aa(page, "the ward admin page")
    settings = call(server, token, "/api/settings")
    assert settings["ward_name"] == "KMC room, Hanoi" and settings["ward_tz"] == "Asia/Ho_Chi_Minh"
    assert settings["default_daily_goal_s"] == 18 * 3600

    # Beds: rename and reorder.
    row = page.locator("#beds tbody tr[data-bed-id=B03]")
    row.locator("input").fill("Window bed")
    row.locator("button.rename").click()
    expect(page.locator("#status")).to_contain_text("Window bed")
    page.locator("#beds tbody tr[data-bed-id=B03] button.up").click()
    expect(page.locator("#beds tbody tr").nth(1)).to_have_attribute("data-bed-id", "B03")
    assert [b["bed_id"] for b in call(server, token, "/api/beds")] == ["B01", "B03", "B02"]

    # A nurse, then a wrap registered from its label's text (what the camera would read).
    page.locator("#nurse-name").fill(NURSE[0])
    page.locator("#nurse-initials").fill(NURSE[1])
    page.locator("#nurse-pin").fill(NURSE[2])
    page.locator("#add-nurse").click()
    expect(page.locator("#nurses tbody tr")).to_have_count(1)
    # A headless browser has no camera (nor, on Linux, a BarcodeDetector): it says to type instead.
    page.locator("#scan").click()
    expect(page.locator("#scan-note")).to_contain_text("type or paste")
    page.locator("#label-text").fill("KMCWRAP1;ID=W-T1;MAC=A4C1388D18B9;KEY=;")
    expect(page.locator("#wrap-mac")).to_have_value("A4:C1:38:8D:18:B9")
    page.locator("#register").click()
    expect(page.locator("#wraps tbody tr[data-wrap-id=W-T1]")).to_have_count(1)

    # Admit a baby with that wrap: the nurse confirms with her PIN (a wrong one first).
    page.locator("#admit-bed").select_option("B01")
    page.locator("#admit-name").fill("Baby Mai")
    page.locator("#admit-number").fill("H-1001")
    page.locator("#admit-birth-date").fill("2026-12-01")
    page.locator("#admit-birth-time").fill("06:30")
    page.locator("#admit-ga-weeks").fill("33")
    page.locator("#admit-ga-days").fill("2")
    page.locator("#admit-weight").fill("1650")
    page.locator("#admit-wrap").select_option("W-T1")
    page.locator("#admit").click()
    pin(page, code="9999")
    expect(page.locator("#pin-dialog .pin-error")).to_contain_text("do not match")
    page.locator("#pin-pin").fill(NURSE[2])
    page.locator("#pin-ok").click()
    expect(baby_row(page, "Baby Mai").locator(".wrap")).to_have_text("W-T1")
    mai = next(a for a in call(server, token, "/api/admissions") if a["display_name"] == "Baby Mai")
    assert mai["admitted_by"].startswith("Lan Nguyen (LN) via staff-"), mai["admitted_by"]
    assert mai["daily_goal_s"] == 18 * 3600 and mai["gestational_age"] == "33+2"
    # 06:30 on the ward's clock (UTC+7), whatever the browser's zone.
    assert mai["birth_t"] == calendar.timegm((2026, 11, 30, 23, 30, 0))

    # The wrap's battery is flat: its low-battery alarm, acknowledged on the ward screen by PIN.
    now = time.time()
    readings = [
        {"t": now - 10 + 2 * i, "wrap_id": "W-T1", "skin_temp_c": 36.8, "contact": 1.0, "battery_pct": 4.0}
        for i in range(6)
    ]
    call(server, token, "/api/readings", "POST", {"readings": readings})
    deadline = time.monotonic() + 15
    alarm: dict[str, Any] | None = None
    while alarm is None and time.monotonic() < deadline:
        shown = call(server, token, "/api/alarms?bed_id=B01")
        alarm = next((a for a in shown if a["kind"] == "low_battery"), None)
        time.sleep(0.2)
    assert alarm is not None, "no low-battery alarm for the flat wrap"
    ward = new_page(1366, 900)
    ward.goto(f"{server.base}/ward?token={token}")
    ack = ward.locator(f'.alarm[data-alarm-id="{alarm["alarm_id"]}"] button.ack').first
    ack.click()
    expect(ward.locator("#pin-dialog .pin-what")).to_contain_text("Baby Mai")
    pin(ward)
    expect(ward.locator("#pin-dialog")).to_have_count(0)
    expect(ward.locator(f'.alarm[data-alarm-id="{alarm["alarm_id"]}"] button.ack')).to_have_count(0)
    audit = call(server, token, f"/api/alarms/{alarm['alarm_id']}/audit")
    acks = [x for x in audit if x["action"] == "acknowledged"]
    assert acks and acks[0]["who"].startswith("Lan Nguyen (LN) via staff-"), audit
    # The bed's page shows who acknowledged, by name; so does its day report (the handover's).
    ward.goto(f"{server.base}/bed/B01")
    row = ward.locator(f'tr.alarm-row[data-alarm-id="{alarm["alarm_id"]}"]')
    expect(row).to_contain_text("by Lan Nguyen (LN) via staff-")
    req = urllib.request.Request(
        f"{server.base}/api/beds/B01/report.csv", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        assert "Lan Nguyen (LN) via staff-" in res.read().decode()
    ward.screenshot(path=str(artifacts / "ward-admin-acknowledged.png"))

    # Replace the flat wrap with a spare one heard on the ward.
    row = page.locator("#wraps tbody tr[data-wrap-id=W-T1]")
    row.locator("select.spare").select_option("W01")
    row.locator("button.replace").click()
    expect(baby_row(page, "Baby Mai").locator(".wrap")).to_have_text("W01")
    assert "Baby Mai" in confirms.said[-1] and "W-T1" in confirms.said[-1]

    # A second baby, then swap the two beds' wraps, undo it, and swap again.
    page.locator("#admit-bed").select_option("B02")
    page.locator("#admit-name").fill("Baby Hoa")
    page.locator("#admit-ga-weeks").fill("34")
    page.locator("#admit-weight").fill("1900")
    page.locator("#admit-wrap").select_option("W02")
    page.locator("#admit").click()
    pin(page)
    expect(baby_row(page, "Baby Hoa").locator(".wrap")).to_have_text("W02")
    page.locator("#swap-a").select_option("B01")
    page.locator("#swap-b").select_option("B02")
    page.locator("#swap").click()
    expect(baby_row(page, "Baby Mai").locator(".wrap")).to_have_text("W02")
    expect(baby_row(page, "Baby Hoa").locator(".wrap")).to_have_text("W01")
    assert "Baby Mai" in confirms.said[-1] and "Baby Hoa" in confirms.said[-1]
    expect(page.locator("#status")).to_contain_text("Baby Mai")
    page.locator("#undo").click()
    expect(baby_row(page, "Baby Mai").locator(".wrap")).to_have_text("W01")
    expect(page.locator("#undo-bar")).to_be_hidden()

    # Correct a name, then discharge with the nurse's PIN.
    baby_row(page, "Baby Hoa").locator("button.edit").click()
    page.locator("#edit-name").fill("Baby Hoa Tran")
    page.locator("#edit-save").click()
    expect(baby_row(page, "Baby Hoa Tran")).to_have_count(1)
    baby_row(page, "Baby Mai").locator("button.discharge").click()
    pin(page)
    expect(baby_row(page, "Baby Mai")).to_have_count(0)
    assert "Baby Mai" in confirms.said[-1]
    done = call(server, token, f"/api/admissions/{mai['admission_id']}")
    assert done["discharged_by"].startswith("Lan Nguyen (LN) via staff-")
    log = call(server, token, "/api/ward-admin/audit")
    actions = {x["action"] for x in log}
    assert {"ward_set_up", "bed_renamed", "beds_reordered", "nurse_added", "wrap_registered"} <= actions
    assert {"wrap_assigned", "wraps_swapped", "undone", "admission_edited"} <= actions
    page.screenshot(path=str(artifacts / "ward-admin.png"))


def test_staff_and_family_links_of_a_first_run_survive_a_restart(
    tmp_path: Path, new_page: Callable[..., Page], page_errors: Any
) -> None:
    # The browser logs the family page's refused reconnections while the service is away.
    page_errors.expected_fragments = ("WebSocket connection to", "Failed to load resource")
    data = tmp_path / "data"
    server = FirstRun(data)
    try:
        link = server.read_more("ward screen")
        assert link is not None
        token = link.rsplit("token=", 1)[1]
        setup = {"ward_name": "KMC", "ward_tz": "UTC", "beds": 2}
        call(server, token, "/api/ward-admin/setup", "POST", setup)
        admitted = call(
            server,
            token,
            "/api/admissions",
            "POST",
            {"bed_id": "B01", "display_name": "Baby An", "birth_weight_g": 1700, "gestational_age_weeks": 33},
        )
        family_url = admitted["family_url"]
        screen = new_page(1366, 800)
        screen.goto(link)
        expect(screen.locator("#ward-name")).to_have_text("KMC")
        family = new_page(390, 844)
        family.goto(family_url)
        expect(family.locator("#baby-name")).to_have_text("Baby An")

        port = server.port
        server.stop()
        server = FirstRun(data, port=port)
        assert "ward screen" not in server.lines, "the credential must be shown only once"
        printed = server.read_more("bedside link")
        assert printed is not None and printed.rsplit("#", 1)[1] == family_url.rsplit("#", 1)[1]

        # The screen signed in before the restart is still in; the printed link still signs in.
        screen.reload()
        expect(screen.locator("#ward-name")).to_have_text("KMC")
        again = new_page(1366, 800)
        again.goto(link)
        expect(again.locator("#ward-name")).to_have_text("KMC")
        assert call(server, token, "/api/beds/B01")["family_qr_available"] is True
        # The family's page, open across the restart and opened afresh, shows the baby again.
        fresh = new_page(390, 844)
        fresh.goto(family_url)
        expect(fresh.locator("#baby-name")).to_have_text("Baby An")
        expect(fresh.locator("#ended-text")).to_be_hidden()
        expect(family.locator("#ended-text")).to_be_hidden()
    finally:
        err = server.stop()
        assert "Traceback" not in err, err[-3000:]


def test_on_every_interface_links_point_to_the_lan_address(tmp_path: Path) -> None:
    lan = firstrun.lan_address()
    server = FirstRun(tmp_path / "data", host="0.0.0.0")
    try:
        link = server.read_more("ward screen")
        assert link is not None
        token = link.rsplit("token=", 1)[1]
        status = call(server, token, "/api/ward-admin/status")
        assert status["network"]["loopback_only"] is False and status["network"]["warning"] is None
        setup = {"ward_name": "KMC", "ward_tz": "UTC", "beds": 1}
        call(server, token, "/api/ward-admin/setup", "POST", setup)
        admitted = call(
            server,
            token,
            "/api/admissions",
            "POST",
            {"bed_id": "B01", "display_name": "Baby An", "birth_weight_g": 1700, "gestational_age_weeks": 33},
        )
        # The machine's address on its default route (this test machine may have none: loopback).
        want = f"http://{lan or '127.0.0.1'}:{server.port}/family#"
        assert admitted["family_url"].startswith(want) and link.startswith(f"http://{lan or '127.0.0.1'}:")
    finally:
        server.stop()
