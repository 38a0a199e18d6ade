"""The bedside family view (``/family#<token>``) in a real browser against a real ward service.

Most tests share the module's ``ward_server`` (6 simulated beds; its printed link is bed 1's
admission). Tests that need another bed ask the staff API for a fresh link to it, never to bed 1,
so the shared link stays valid. A test that stops a server runs its own.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocket, WebSocketRoute, expect

from tests.dashboard.conftest import STAFF_TOKEN, PageErrors, Served
from tests.timing import ms

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow(40)]

CLOCK = re.compile(r"^\d+:\d\d:\d\d$")
INACTIVE_EN = "This link is no longer active. Please ask your nurse for a new one."


# Helpers -----------------------------------------------------------------------------------------
def staff(server: Served, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(
        server.base + path, method=method, headers={"Authorization": f"Bearer {STAFF_TOKEN}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def linked_bed(server: Served) -> dict[str, Any]:
    """The bed of the printed link: the demo ward admits bed by bed and prints the first link."""
    beds = [b for b in staff(server, "/api/beds") if b["admission_id"] is not None]
    return min(beds, key=lambda b: b["admission_id"])


def new_link(server: Served, bed: dict[str, Any]) -> str:
    """A fresh family link for ``bed`` (the staff "new card" action), on this server's address."""
    out = staff(server, f"/api/admissions/{bed['admission_id']}/family-link", "POST")
    return f"{server.base}/family#{out['family_url'].rsplit('#', 1)[1]}"


def poll(page: Page, check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait for a Python-side condition, letting the page's events (frames) arrive meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        page.wait_for_timeout(100)


def record_frames(page: Page) -> list[str]:
    frames: list[str] = []

    def on_ws(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: frames.append(payload if isinstance(payload, str) else ""))

    page.on("websocket", on_ws)
    return frames


def wait_for_data(page: Page) -> None:
    """The first message has been drawn: the timer reads H:MM:SS and the temperature is set."""
    expect(page.locator("#timer")).to_have_text(CLOCK)
    expect(page.locator("#temp")).to_have_attribute("data-status", re.compile(r"^(well|call_nurse|unknown)$"))


# The real service ------------------------------------------------------------------------------
def test_shows_only_its_own_bed(ward_server: Served, new_page: Callable[..., Page]) -> None:
    page = new_page(width=390, height=844)
    frames = record_frames(page)
    page.goto(ward_server.family_url)
    bed = linked_bed(ward_server)
    expect(page.locator("#baby-name")).to_have_text(bed["display_name"])
    expect(page.locator("#bed-label")).to_have_text(bed["label"])
    wait_for_data(page)
    poll(page, lambda: len(frames) > 2)  # a few live updates, not just the snapshot

    others = [b for b in staff(ward_server, "/api/beds") if b["bed_id"] != bed["bed_id"]]
    assert len(others) == 5
    text = page.locator("body").inner_text()
    received = "\n".join(frames)
    for other in others:
        for word in (other["label"], other["display_name"]):
            pattern = re.compile(rf"\b{re.escape(word)}\b")
            assert not pattern.search(text), f"{word!r} shown on {bed['label']}'s family page"
            assert not pattern.search(received), f"{word!r} sent to {bed['label']}'s family page"
    for frame in frames:
        msg = json.loads(frame)
        assert msg["type"] == "bed" and msg["label"] == bed["label"]
        assert msg["display_name"] == bed["display_name"]


def test_timer_ticks_while_in_contact(ward_server: Served, new_page: Callable[..., Page]) -> None:
    first = linked_bed(ward_server)["bed_id"]

    def running() -> list[dict[str, Any]]:
        beds = staff(ward_server, "/api/beds")
        return [b for b in beds if b["bed_id"] != first and b["session_state"] == "running"]

    page = new_page(width=390, height=844)
    # The simulated ward is random: a bed can leave contact between the API's answer and the page's
    # first message. Then another running bed is tried (three at most), never a skip.
    for _attempt in range(3):
        poll(page, lambda: bool(running()), timeout_s=15)
        page.goto(new_link(ward_server, running()[0]))
        wait_for_data(page)
        if page.locator("body").get_attribute("data-session") == "running":
            break
    else:
        raise AssertionError("three running beds in a row left skin-to-skin contact before their page drew")
    timer = page.locator("#timer")
    expect(page.locator("#state-text")).to_have_text("Skin to skin now")
    before = timer.inner_text()
    expect(timer).not_to_have_text(before, timeout=ms(2.5))
    # And again: it keeps ticking between the service's messages, never stuck.
    after = timer.inner_text()
    expect(timer).not_to_have_text(after, timeout=ms(2.5))
    assert CLOCK.match(after)


def test_renders_in_vietnamese_and_english_and_switches(
    ward_server: Served, new_page: Callable[..., Page]
) -> None:
    vi = new_page(width=390, height=844, locale="vi-VN")
    vi.goto(ward_server.family_url)
    expect(vi.locator("html")).to_have_attribute("lang", "vi")
    wait_for_data(vi)
    expect(vi.locator(".timer-caption")).to_have_text("Lần này")
    expect(vi.locator("#today-title")).to_have_text("Da kề da hôm nay")
    expect(vi.locator("#lang")).to_have_value("vi")
    assert vi.title() == "Thời gian da kề da"
    assert "phút" in vi.locator("#ring-today").inner_text() or "giờ" in vi.locator("#ring-today").inner_text()

    en = new_page(width=390, height=844, locale="en-GB")
    en.goto(ward_server.family_url)
    expect(en.locator("html")).to_have_attribute("lang", "en")
    wait_for_data(en)
    expect(en.locator(".timer-caption")).to_have_text("This session")
    expect(en.locator("#today-title")).to_have_text("Skin to skin today")

    # Switch from the menu: every language is named in itself; the choice is remembered.
    names = en.locator("#lang option").all_inner_texts()
    assert names == ["Tiếng Việt", "English", "Français", "Español", "Português", "Kiswahili"]
    en.select_option("#lang", "sw")
    expect(en.locator("html")).to_have_attribute("lang", "sw")
    expect(en.locator(".timer-caption")).to_have_text("Kipindi hiki")
    expect(en.locator("#temp-title")).not_to_have_text(re.compile("Warm|Temperature|Please"))
    en.select_option("#lang", "fr")
    expect(en.locator(".timer-caption")).to_have_text("Cette séance")
    en.reload()
    expect(en.locator("html")).to_have_attribute("lang", "fr")
    expect(en.locator(".timer-caption")).to_have_text("Cette séance")


def test_invalid_or_revoked_link_says_so_and_stops(
    ward_server: Served, new_page: Callable[..., Page]
) -> None:
    page = new_page(width=390, height=844)
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(ws.url))
    page.goto(f"{ward_server.base}/family#not-a-real-token")
    expect(page.locator("#ended-text")).to_have_text(INACTIVE_EN)
    expect(page.locator("#view")).to_be_hidden()
    expect(page.locator("#conn")).to_be_hidden()
    # No retrying a dead link: the first back-off would have come within 1.25 s.
    page.wait_for_timeout(1600)
    assert len(opened) == 1

    # A link revoked while its page is open ends at once, in the page's language.
    bed = next(b for b in staff(ward_server, "/api/beds") if b["bed_id"] == "B06")
    vi = new_page(width=390, height=844, locale="vi-VN")
    vi.goto(new_link(ward_server, bed))
    wait_for_data(vi)
    staff(ward_server, f"/api/admissions/{bed['admission_id']}/family-link/revoke", "POST")
    expect(vi.locator("#ended-text")).to_have_text(
        "Đường liên kết này không còn hiệu lực. Vui lòng xin điều dưỡng một đường liên kết mới."
    )
    expect(vi.locator("#view")).to_be_hidden()


def test_missing_token_asks_for_the_nurses_link(ward_server: Served, new_page: Callable[..., Page]) -> None:
    page = new_page(width=390, height=844)
    page.goto(f"{ward_server.base}/family")
    expect(page.locator("#ended-text")).to_contain_text("link your nurse gave you")


def test_connection_lost_keeps_the_last_state(
    tmp_path: Path, new_page: Callable[..., Page], page_errors: PageErrors, artifacts: Path
) -> None:
    # The browser logs each refused reconnection attempt itself: expected here, not a page fault.
    page_errors.expected_fragments = ("WebSocket connection to",)
    server = Served(tmp_path / "data", ["--simulate", "2"])
    try:
        page = new_page(width=390, height=844)
        page.goto(server.family_url)
        wait_for_data(page)
        name = page.locator("#baby-name").inner_text()
        assert name == "Baby 1"
    finally:
        server.stop()
    conn = page.locator("#conn")
    expect(conn).to_be_visible()
    expect(conn).to_contain_text("Reconnecting…")
    expect(conn).to_contain_text("Last updated less than a minute ago.")
    expect(page.locator("body")).to_have_class(re.compile(r"\boffline\b"))
    # The last values stay, frozen at the moment the stream was lost.
    expect(page.locator("#baby-name")).to_have_text("Baby 1")
    frozen = page.locator("#timer").inner_text()
    assert CLOCK.match(frozen)
    expect(page.locator("#ring-today")).not_to_be_empty()
    # A "warm and well" from before the drop is not repeated as if it were live.
    expect(page.locator("#temp-title")).not_to_have_text("Warm and well")
    # Still retrying (a second attempt after the first back-off), and the timer has not moved.
    expect(conn).to_contain_text("Reconnecting…", timeout=ms(3))
    expect(page.locator("#timer")).to_have_text(frozen)
    page.screenshot(path=str(artifacts / "family-phone-en-lost.png"), full_page=True)


# States the simulator rarely shows, driven through a routed WebSocket -------------------------
def fake_bed(**kw: Any) -> str:
    msg = {
        "type": "bed",
        "label": "Bed 4",
        "admitted": True,
        "display_name": "Amani",
        "in_contact": True,
        "session_state": "running",
        "session_s": 3723.0,
        "contact_today_s": 6 * 3600.0 + 5 * 60,
        "daily_goal_s": 20 * 3600.0,
        "temperature_status": "well",
        "status": "(server English, never shown)",
        "seq": 1,
    }
    msg.update(kw)
    return json.dumps(msg)


def routed(new_page: Callable[..., Page], ward_server: Served, message: str, **kw: Any) -> Page:
    page = new_page(**kw)

    def handler(ws: WebSocketRoute) -> None:
        ws.send(message)

    page.route_web_socket(re.compile(r".*/ws/bed/.*"), handler)
    page.goto(f"{ward_server.base}/family#routed-token")
    wait_for_data(page)
    return page


@pytest.mark.parametrize(
    ("status", "title", "not_shown"),
    [
        ("well", "Warm and well", "Please call your nurse"),
        ("call_nurse", "Please call your nurse", "Warm and well"),
        ("unknown", "Temperature not available", "Warm and well"),
        ("something_new", "Temperature not available", "Warm and well"),  # never guess "well"
    ],
)
def test_temperature_status_in_plain_words(
    ward_server: Served, new_page: Callable[..., Page], status: str, title: str, not_shown: str
) -> None:
    page = routed(new_page, ward_server, fake_bed(temperature_status=status), width=390, height=844)
    expect(page.locator("#temp-title")).to_have_text(title)
    assert not_shown not in page.locator("body").inner_text()
    assert "server English" not in page.locator("body").inner_text()
    if status == "unknown":
        expect(page.locator("#temp-detail")).to_have_text(
            "The sensor is not reading right now; the nurses know."
        )


def test_paused_goal_and_messages(ward_server: Served, new_page: Callable[..., Page]) -> None:
    paused = routed(
        new_page, ward_server, fake_bed(session_state="paused", in_contact=False), width=390, height=844
    )
    expect(paused.locator("#state-text")).to_have_text("Paused: a short break")
    expect(paused.locator("#timer")).to_have_text("1:02:03")
    expect(paused.locator("#message")).to_contain_text("Take a moment for yourself")
    expect(paused.locator("#today-text")).to_have_text("6 h 5 min of today's 20 h goal (30%)")
    expect(paused.locator("#ring-today")).to_have_text("6 h 5 min")
    expect(paused.locator("#ring-goal")).to_have_text("of 20 h")

    done = routed(
        new_page,
        ward_server,
        fake_bed(session_state="none", in_contact=False, contact_today_s=21 * 3600.0),
        width=390,
        height=844,
        locale="sw-KE",
    )
    expect(done.locator("html")).to_have_attribute("lang", "sw")
    expect(done.locator("#goal-reached")).to_be_visible()
    expect(done.locator("#message")).to_contain_text("Umefikia lengo la leo")
    expect(done.locator("#ring-today")).to_have_text("saa 21")
    expect(done.locator("#state-text")).to_have_text("Hamko ngozi kwa ngozi kwa sasa")


# Screenshots -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "width", "height", "locale"),
    [
        ("family-phone-en", 390, 844, "en-GB"),
        ("family-phone-vi", 390, 844, "vi-VN"),
        ("family-tablet-en", 1280, 800, "en-GB"),
    ],
)
def test_screenshots(
    ward_server: Served,
    new_page: Callable[..., Page],
    artifacts: Path,
    name: str,
    width: int,
    height: int,
    locale: str,
) -> None:
    page = new_page(width=width, height=height, locale=locale)
    page.goto(ward_server.family_url)
    wait_for_data(page)
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    # On a phone the timer and the temperature are seen without scrolling.
    for sel in ("#timer", "#temp-title"):
        box = page.locator(sel).bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, sel


def test_call_nurse_screenshot(ward_server: Served, new_page: Callable[..., Page], artifacts: Path) -> None:
    page = routed(
        new_page,
        ward_server,
        fake_bed(temperature_status="call_nurse"),
        width=390,
        height=844,
        locale="vi-VN",
    )
    expect(page.locator("#temp-title")).to_have_text("Vui lòng gọi điều dưỡng")
    # Needing the nurse comes first on the screen.
    temp = page.locator("#temp").bounding_box()
    timer = page.locator(".timer-card").bounding_box()
    assert temp is not None and timer is not None and temp["y"] < timer["y"]
    page.screenshot(path=str(artifacts / "family-phone-vi-call-nurse.png"), full_page=True)


def test_family_says_who_is_holding_the_baby(ward_server: Served, new_page: Callable[..., Page]) -> None:
    """#16: the family page lists the baby's caregivers; choosing one records who holds from now."""
    beds = [b for b in staff(ward_server, "/api/beds") if b["admission_id"] is not None]
    bed = sorted(beds, key=lambda b: b["admission_id"])[2]  # not the printed link's bed
    adm = bed["admission_id"]
    for body in ({"role": "mother"}, {"role": "family", "name": "Grandma Hoa"}):
        req = urllib.request.Request(
            f"{ward_server.base}/api/admissions/{adm}/caregivers",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {STAFF_TOKEN}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=10).close()
    page = new_page()
    page.goto(new_link(ward_server, bed))
    wait_for_data(page)
    holder = page.locator("#holder")
    expect(holder).to_be_visible()
    expect(holder.locator("option")).to_have_text(["Not said", "Mother", "Grandma Hoa"])
    holder.select_option(label="Grandma Hoa")
    expect(page.locator("#holding-saved")).to_have_text("Saved")
    record = staff(ward_server, f"/api/admissions/{adm}/caregivers")
    gran = next(c for c in record["caregivers"] if c["label"] == "Grandma Hoa")
    assert record["holding_now"] == gran["caregiver_id"]
    assert record["holding"][-1]["caregiver_id"] == gran["caregiver_id"]


# Under an alarm (#14) ------------------------------------------------------------------------------
def test_a_cold_baby_gets_the_cold_advice_then_the_nurse_is_coming(
    ward_server: Served, new_page: Callable[..., Page]
) -> None:
    cold = {
        "temperature_status": "call_nurse",
        "advice": "cold",
        "praise": False,
        "contact_today_s": 21 * 3600.0,  # goal reached: still no cheer under an alarm
        "guide": {"moment": "cold_alarm", "card": "keeping_warm"},
        "bed_number": 4,
    }
    page = routed(new_page, ward_server, fake_bed(nurse="call", **cold), width=390, height=844)
    expect(page.locator("#temp-title")).to_have_text("Please call your nurse")
    expect(page.locator("#temp-detail")).to_have_text(
        "Your baby is cold. Keep your baby skin to skin, cover the back, and call the nurse."
    )
    expect(page.locator("#message")).to_have_text(
        "Stay with your baby. The nurses are looking after your baby."
    )
    expect(page.locator("#goal-reached")).to_be_hidden()
    expect(page.locator("#bed-label")).to_have_text("Bed 4")
    body = page.locator("body").inner_text()
    assert "doing beautifully" not in body and "Thank you" not in body

    coming = routed(new_page, ward_server, fake_bed(nurse="coming", **cold), width=390, height=844)
    expect(coming.locator("#temp-title")).to_have_text("The nurse knows and is coming")
    expect(coming.locator("#temp-detail")).to_have_text(
        "Your baby is cold. Keep your baby skin to skin and cover the back; the nurse is coming."
    )
    expect(coming.locator("#guide-front [data-moment-text]")).to_have_text(
        "Your baby is cold. Keep your baby skin to skin and cover the head; the nurse is coming."
    )
    assert "Please call your nurse" not in coming.locator("body").inner_text()


def test_praise_comes_back_when_the_alarms_are_over(
    ward_server: Served, new_page: Callable[..., Page]
) -> None:
    page = routed(
        new_page, ward_server, fake_bed(nurse="none", praise=True, advice=None), width=390, height=844
    )
    expect(page.locator("#message")).to_contain_text("You are doing beautifully")
    expect(page.locator("#temp-detail")).to_have_text("Your baby's temperature is normal.")
