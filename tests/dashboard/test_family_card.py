"""The printed family card and the family page it leads to, in a real browser against a real
``serve`` (#14): the card in Vietnamese with the bed number and a link that opens the family page in
Vietnamese; on that page an overheating baby's "call your nurse" with the right advice and no praise,
"the nurse knows and is coming" once a nurse acknowledges, and the page back soon after a restart.

The ward is a replay of :mod:`tests.dashboard.ward_traces` (bed 7's wrap reads 38.1 °C: hyperthermia),
at 50 times real time so its alarm comes within seconds.
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
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import STAFF_TOKEN, PageErrors, Served
from tests.dashboard.ward_traces import ward_trace
from tests.timing import ms, scaled, wait_until

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow(25)]

ROOT = Path(__file__).resolve().parents[2]


def strings(lang: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((ROOT / "dashboard/assets/i18n" / f"{lang}.json").read_text("utf-8"))
    return loaded


def staff(server: Served, path: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        server.base + path,
        method=method,
        data=data,
        headers={"Authorization": f"Bearer {STAFF_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def test_card_in_vietnamese_leads_to_the_family_page_through_an_alarm_and_a_restart(
    tmp_path: Path, new_page: Callable[..., Page], page_errors: PageErrors, artifacts: Path
) -> None:
    # The browser logs each refused reconnection while the service is down: expected here.
    page_errors.expected_fragments = ("WebSocket connection to", "Failed to load resource")
    vi = strings("vi")
    args = ["--replay", str(ward_trace(tmp_path / "ward.csv", 7)), "--speed", "50"]
    server = Served(tmp_path / "data", args)
    try:
        (bed,) = [b for b in staff(server, "/api/beds") if b["wrap_id"] == "W07"]
        assert bed["label"] == "Bed 7"
        aid = bed["admission_id"]
        staff(server, f"/api/admissions/{aid}/family-link", "POST")  # the nurse's "new card"

        # The card, printed from the bed page's link, in the family's language.
        card = new_page(width=900, height=1100)
        card.goto(f"{server.base}/bed/{bed['bed_id']}?token={STAFF_TOKEN}")
        link = card.locator("#family-card-link")
        expect(link).to_be_visible()
        assert link.get_attribute("href") == f"/family-card/{aid}"
        card.goto(f"{server.base}/family-card/{aid}?lang=vi")
        expect(card.locator("body")).to_have_attribute("data-ready", "1")
        expect(card.locator("html")).to_have_attribute("lang", "vi")
        expect(card.locator("#bed")).to_have_text("Giường 7")
        expect(card.locator("#card-title")).to_have_text(vi["card_title"])
        expect(card.locator("#step-wifi")).to_have_text(vi["card_step_wifi"])
        expect(card.locator("#step-scan")).to_have_text(vi["card_step_scan"])
        href = card.locator("#link").get_attribute("href") or ""
        assert href.startswith(f"{server.base}/family?lang=vi#") and len(href.rsplit("#", 1)[1]) >= 20
        expect(card.locator("#link")).to_have_text(href)
        # The QR code image is the same link (decoded size > 0: it loaded under the page's CSP).
        wait_until("the QR code loaded", lambda: card.locator("#qr").evaluate("i => i.naturalWidth") > 0, 10)
        # Printed on A6 by default; the print stylesheet hides the staff toolbar.
        assert card.locator("#sheet-size").get_attribute("href") == "/assets/css/card-a6.css"
        card.emulate_media(media="print")
        expect(card.locator("nav.toolbar")).to_be_hidden()
        card.screenshot(path=str(artifacts / "family-card-vi-a6.png"), full_page=True)
        card.emulate_media(media="screen")
        card.locator("#size").select_option("a4")
        assert card.locator("#sheet-size").get_attribute("href") == "/assets/css/card-a4.css"

        # Follow the card's link, as a phone would: the family page, in Vietnamese.
        card.locator("#link").click()
        family = card
        expect(family.locator("html")).to_have_attribute("lang", "vi")
        expect(family.locator("#bed-label")).to_have_text("Giường 7")
        expect(family.locator("#baby-name")).to_have_text("Baby 7")

        # The hyperthermia alarm: call the nurse, the advice for a baby too warm, and no praise.
        temp_title = family.locator("#temp-title")
        expect(temp_title).to_have_text(vi["temp_call"], timeout=ms(30))
        expect(family.locator("#temp-detail")).to_have_text(vi["advice_too_warm"])
        expect(family.locator("#message")).to_have_text(vi["msg_alarm"])
        body = family.locator("body").inner_text()
        assert "Bạn đang làm rất tốt" not in body and vi["msg_running"] not in body
        expect(family.locator("#goal-reached")).to_be_hidden()

        # A nurse acknowledges it: the family is told the nurse is coming, not to call.
        (alarm,) = [a for a in staff(server, "/api/alarms") if a["bed_id"] == bed["bed_id"]]
        assert alarm["kind"] == "hyperthermia"
        staff(server, f"/api/alarms/{alarm['alarm_id']}/ack", "POST", {"who": "nurse-lan"})
        expect(temp_title).to_have_text(vi["temp_coming"])
        expect(family.locator("#temp-detail")).to_have_text(vi["advice_too_warm"])
        expect(family.locator("#message")).to_have_text(vi["msg_alarm"])
        assert vi["temp_call"] not in family.locator("body").inner_text()
        family.screenshot(path=str(artifacts / "family-phone-vi-nurse-coming.png"), full_page=True)

        # The service stops: "reconnecting", visibly; it starts again on the same port and data.
        server.stop()
        conn = family.locator("#conn")
        expect(conn).to_be_visible(timeout=ms(20))
        expect(family.locator("#conn-text")).to_have_text(vi["conn_reconnecting"])
        server = Served(tmp_path / "data", args, port=server.port)
        back_at = time.monotonic()
        # Back within 3 s of the service announcing itself (the back-off is capped at 2 s).
        expect(conn).to_be_hidden(timeout=scaled(3.0) * 1000)
        took = time.monotonic() - back_at
        assert took < scaled(3.0), f"the family page took {took:.1f} s to come back"
        expect(temp_title).to_have_text(vi["temp_coming"])
    finally:
        server.stop()


def test_a_card_survives_a_restart_and_asks_for_a_new_link_when_it_cannot_be_read(
    tmp_path: Path, new_page: Callable[..., Page], page_errors: PageErrors
) -> None:
    """Family links are kept sealed in the data directory (issue #14): after a restart the card of
    a stay is still printable. If the sealing key is lost, the service cannot know the old token:
    the card page says to make a new link rather than print a dead one."""
    page_errors.expected_fragments = ("status of 409",)  # the browser logs the refused request itself
    data = tmp_path / "data"
    server = Served(data, ["--simulate", "2"])
    try:
        beds = staff(server, "/api/beds")
        aid = max(b["admission_id"] for b in beds if b["admission_id"] is not None)
        card = staff(server, f"/api/admissions/{aid}/family-card?lang=sw")
        assert card["bed_number"] == 2  # bed 2's link was made by this process (demo setup)
    finally:
        server.stop()
    server = Served(data, ["--simulate", "2"], port=server.port)
    try:
        again = staff(server, f"/api/admissions/{aid}/family-card?lang=sw")
        assert again["bed_number"] == 2
        assert again["family_url"] == card["family_url"]  # the same link: the printed card still works
    finally:
        server.stop()
    (data / "family-links.key").unlink()  # the key lost: the kept tokens cannot be opened
    server = Served(data, ["--simulate", "2"], port=server.port)
    try:
        page = new_page()
        page.goto(f"{server.base}/bed/B02?token={STAFF_TOKEN}")  # signs the kiosk in
        page.goto(f"{server.base}/family-card/{aid}?lang=sw")
        expect(page.locator("#status")).to_contain_text("make a new link")
        expect(page.locator("#card")).to_be_hidden()
    finally:
        server.stop()


LANGS = ("vi", "en", "fr", "es", "pt", "sw")
#: Keys only some languages need (plural forms: Vietnamese has one, English two).
PLURAL = re.compile(r"_(zero|one|two|few|many)$")


def test_every_family_string_is_in_all_six_languages() -> None:
    """Every word the family page and the card use, in every language: the keys the pages name
    (``data-i18n`` attributes, ``t("…")`` calls) exist, non-empty, in all six files."""
    used: set[str] = set()
    for page in ("family.html", "family-card.html"):
        used |= set(re.findall(r'data-i18n="([a-z0-9_]+)"', (ROOT / "dashboard" / page).read_text("utf-8")))
    for script in ("family.js", "family-card.js"):
        used |= set(
            re.findall(r'\bt\("([a-z0-9_]+)"', (ROOT / "dashboard/assets/js" / script).read_text("utf-8"))
        )
    # Keys built at run time: the states, the moments (with their "nurse is coming" forms).
    used |= {f"state_{s}" for s in ("running", "paused", "none")}
    used |= {f"temp_{k}" for k in ("well", "call", "coming", "unknown", "offline")}
    used |= {f"temp_{k}_detail" for k in ("well", "call", "coming", "unknown", "offline")}
    used |= {f"guide_moment_{m}" for m in ("cold_alarm", "first_session", "long_break", "before_discharge")}
    used |= {"guide_moment_cold_alarm_coming", "advice_cold_coming", "msg_goal", "msg_alarm", "msg_running"}
    en = strings("en")
    assert used <= set(en), sorted(used - set(en))
    for lang in LANGS:
        s = strings(lang)
        wanted = {k for k in en if not k.startswith("_") and not PLURAL.search(k)}
        missing = sorted(k for k in wanted if not s.get(k))
        assert not missing, f"{lang}: {missing}"
        if lang != "en":
            assert "machine-drafted" in s["_family_translation"]
            for key in (
                "bed_n",
                "temp_coming",
                "advice_too_warm",
                "advice_cold",
                "msg_alarm",
                "card_step_wifi",
            ):
                assert s[key] != en[key], f"{lang}: {key} is still English"
