"""The family view's KMC guide (#19) in a real browser against a real ward service: every card in
Vietnamese and English on a phone, and the cold-alarm card coming forward during a cold alarm
(a deterministic replayed trace: bed 2's wrap reads a severe hypothermia from the start)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import ROOT, Served
from tests.dashboard.test_family_view import new_link, staff, wait_for_data
from tests.dashboard.ward_traces import ward_trace
from tests.timing import ms

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow(25)]

CARDS = ("positioning", "wrap_and_hat", "feeding", "keeping_warm", "danger_signs")
PHONE = {"width": 390, "height": 844}
#: A few words per language written out here, not read from the page's data: a test that only
#: compared the page with its own JSON would pass with every card blank in both.
SPOT = {
    "vi": {"positioning": "Cách bế bé", "danger_signs": "Gọi điều dưỡng ngay nếu"},
    "en": {"positioning": "How to hold your baby", "danger_signs": "Call the nurse now if"},
}


def strings(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((ROOT / "dashboard/assets/i18n" / f"{lang}.json").read_text("utf-8"))
    return data


def open_family(new_page: Callable[..., Page], url: str, lang: str) -> Page:
    page = new_page(**PHONE, locale="vi-VN" if lang == "vi" else "en-GB")
    page.goto(url)
    wait_for_data(page)
    page.select_option("#lang", lang)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    return page


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_card_in_the_language_on_a_phone(
    ward_server: Served, new_page: Callable[..., Page], lang: str, artifacts: Path
) -> None:
    page = open_family(new_page, ward_server.family_url, lang)
    s = strings(lang)
    for card in CARDS:
        el = page.locator(f"[data-guide-card={card}]")
        expect(el).to_have_count(1)
        el.scroll_into_view_if_needed()
        expect(el).to_be_visible()
        title = el.locator("h3")
        expect(title).not_to_be_empty()
        if card in SPOT[lang]:
            expect(title).to_have_text(SPOT[lang][card])
        # Pictures first: every card has a drawing (the danger signs one small picture per sign).
        assert el.locator("svg").count() >= 1
        box = el.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5
    for key in ("danger_cold", "danger_breathing", "danger_blue_lips", "danger_not_feeding", "danger_sleepy"):
        expect(page.locator(f'[data-i18n="{key}"]')).to_have_text(s[key])
    expect(page.locator(".dangers li svg")).to_have_count(5)
    # Nothing wider than the phone: no sideways scrolling to read a card.
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts / f"family-guide-{lang}.png"), full_page=True)


def test_translations_are_marked_machine_drafted() -> None:
    for lang in ("vi", "fr", "es", "pt", "sw"):
        s = strings(lang)
        assert "machine-drafted" in s["_guide_translation"]
        assert s["guide_positioning_title"] != strings("en")["guide_positioning_title"]


@pytest.fixture(scope="module")
def cold_ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Three beds replayed at 50×: W01 warm, W02 severely cold from its first reading, W03 cold
    and then warm (its alarm latched; see ward_traces.STORIES)."""
    base = tmp_path_factory.mktemp("coldguide")
    trace = ward_trace(base / "ward.csv", 3, hours=2.0)
    server = Served(base / "data", ["--replay", str(trace), "--speed", "50"])
    try:
        yield server
    finally:
        server.stop()


def bed_of_wrap(server: Served, wrap: str) -> dict[str, object]:
    beds: list[dict[str, object]] = staff(server, "/api/beds")
    return next(b for b in beds if b.get("wrap_id") == wrap)


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_cold_alarm_brings_the_keep_warm_card_forward(
    cold_ward: Served, new_page: Callable[..., Page], lang: str, artifacts: Path
) -> None:
    page = open_family(new_page, new_link(cold_ward, bed_of_wrap(cold_ward, "W02")), lang)
    front = page.locator("#guide-front [data-guide-card]")
    # The alarm comes once the rules have judged the cold (settling included): seconds at 50×.
    expect(front).to_have_attribute("data-guide-card", "keeping_warm", timeout=ms(30))
    expect(front).to_have_attribute("data-moment", "cold_alarm")
    expect(front.locator("[data-moment-text]")).to_have_text(strings(lang)["guide_moment_cold_alarm"])
    if lang == "en":
        expect(front.locator("[data-moment-text]")).to_contain_text("skin to skin, cover the head")
    # It is above the timer: the first thing a parent sees.
    top = page.locator("#guide-front").bounding_box()
    timer = page.locator(".timer-card").bounding_box()
    assert top is not None and timer is not None and top["y"] < timer["y"]
    expect(page.locator("#temp")).to_have_attribute("data-status", "call_nurse")
    page.screenshot(path=str(artifacts / f"family-guide-cold-{lang}.png"))


def test_a_warm_baby_in_contact_gets_no_card_forward(
    cold_ward: Served, new_page: Callable[..., Page]
) -> None:
    page = open_family(new_page, new_link(cold_ward, bed_of_wrap(cold_ward, "W01")), "en")
    expect(page.locator("#timer")).not_to_have_text("0:00:00", timeout=ms(20))
    expect(page.locator("#temp")).to_have_attribute("data-status", "well", timeout=ms(20))
    expect(page.locator("#guide-front [data-guide-card]")).to_have_count(0)
    expect(page.locator("#guide [data-guide-card]")).to_have_count(len(CARDS))
