"""Bed detail and handover report pages in Chromium, against real services.

- ``fast_server``: ``--simulate 3 --speed 120`` (two ward hours a minute), so a few seconds in there
  are sessions to list and chart;
- ``ward_server`` (conftest's, 6 wraps in real time): its printed family link is renewed here;
- a separate ``--simulate 2`` service for discharge, which cannot be undone.

Pages are compared with the very API responses they rendered (captured with ``expect_response``),
so a ward that moves on between two requests cannot make a test flaky.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Response, expect

from tests.dashboard.conftest import STAFF_TOKEN, PageErrors, Served, duration_words
from tests.timing import ms

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow(35)]


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("fast") / "data", ["--simulate", "3", "--speed", "120"])
    try:
        yield server
    finally:
        server.stop()


def api(page: Page, url: str) -> Any:
    try:
        r = page.request.get(url, headers=AUTH)
    except PlaywrightError as exc:
        # Playwright's request client reuses a kept-alive connection without retrying when the
        # service closes it at that moment (uvicorn closes idle ones after 5 s; a test that waited
        # 5–12 s met it once). A browser retries such a GET by itself; so does this, once.
        if "ECONNRESET" not in str(exc):
            raise
        r = page.request.get(url, headers=AUTH)
    assert r.ok, r.text()
    return r.json()


def is_api(path: str) -> Callable[[Response], bool]:
    """Matches the response to GET ``path`` exactly (no other query string)."""
    return lambda r: (
        r.request.method == "GET" and r.url.split("://", 1)[1].split("/", 1)[1] == path.lstrip("/")
    )


def open_bed(page: Page, server: Served, bed_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Open the bed page; return the trend and today's report exactly as the page received them."""
    with (
        page.expect_response(is_api(f"/api/beds/{bed_id}/trend")) as trend,
        page.expect_response(is_api(f"/api/beds/{bed_id}/report")) as report,
    ):
        page.goto(f"{server.base}/bed/{bed_id}?token={STAFF_TOKEN}")
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    return trend.value.json(), report.value.json()


# Bed page --------------------------------------------------------------------------------------
def test_bed_page_shows_the_bed_its_charts_sessions_and_alarms(
    fast_server: Served, page: Page, artifacts: Path, page_errors: PageErrors
) -> None:
    # Let the fast ward run until B01 has a session (ward minutes pass at two per second).
    for _ in range(40):
        if api(page, f"{fast_server.base}/api/beds/B01/report")["sessions"]:
            break
        page.wait_for_timeout(250)
    trend, report = open_bed(page, fast_server, "B01")
    detail = api(page, f"{fast_server.base}/api/beds/B01")

    expect(page.locator("#bed-label")).to_have_text(detail["label"])
    expect(page.locator("#baby-name")).to_have_text(detail["admission"]["display_name"])
    expect(page.locator("#admission")).to_contain_text(detail["admission"]["gestational_age"])

    # The temperature chart: every WHO band shaded, with a pattern and its name.
    chart = page.locator("#temp-chart svg")
    expect(chart).to_have_count(1)
    bands = chart.locator("rect.band")
    assert bands.count() >= 4
    assert all((bands.nth(i).get_attribute("fill") or "").startswith("url(#") for i in range(bands.count()))
    for name in ("Hyperthermia", "Normal", "Cold stress", "Moderate hypothermia"):
        expect(chart.locator("text.band-name", has_text=name)).to_have_count(1)
    # One mark per trend bin that has a temperature, at the same bins.
    plotted = [b["start_us"] for b in trend["bins"] if b["temp_median_c"] is not None]
    assert plotted, "the trend has no bins yet"
    marks = chart.locator("rect.temp-bin")
    expect(marks).to_have_count(len(plotted))
    assert [int(m) for m in marks.evaluate_all("els => els.map(e => e.dataset.startUs)")] == plotted

    # Sessions: the list and the contact chart's bars are today's report's sessions.
    sessions = report["sessions"]
    assert sessions, "the fast ward should have had a session by now"
    rows = page.locator("#sessions tbody tr")
    expect(rows).to_have_count(len(sessions))
    starts = rows.evaluate_all("els => els.map(e => Number(e.dataset.startUs))")
    assert starts == [s["start_us"] for s in sessions]
    # The chart follows the live ward (the table is the report's): a session that began since the
    # report was read may be drawn after the report's own, never instead of one.
    bars = page.locator("#contact-chart rect.session[data-start-us]")
    expect(bars).not_to_have_count(0)
    drawn = sorted(int(v) for v in bars.evaluate_all("els => els.map(e => e.dataset.startUs)"))
    assert drawn[: len(sessions)] == sorted(starts), (drawn, starts)
    assert all(d > max(starts) for d in drawn[len(sessions) :]), (drawn, starts)

    # Alarm history: one row per alarm of the day (or the plain "none" line).
    alarms = report["alarms"]
    expect(page.locator("#alarm-history tbody tr")).to_have_count(len(alarms))
    expect(page.locator("#alarms-empty")).to_be_visible(visible=not alarms)

    # A row per day of the stay (the fast ward may cross midnight: it starts at the real time of
    # day), the report's own day among them, then the link to the handover report.
    day_rows = page.locator("#days tbody tr")
    expect(day_rows).not_to_have_count(0)
    shown = day_rows.evaluate_all("els => els.map(e => e.dataset.day)")
    stay = [d["day"] for d in api(page, f"{fast_server.base}/api/beds/B01/days?days=14")["days"]]
    assert report["day"] in shown and set(shown) <= set(stay), (shown, stay, report["day"])
    expect(page.locator("#report-link")).to_have_attribute("href", f"/report/B01?day={report['day']}")
    page.screenshot(path=artifacts / "bed-detail.png", full_page=True)


def test_report_page_matches_the_api_and_its_csv(
    fast_server: Served,
    new_page: Callable[..., Page],
    artifacts: Path,
    page_errors: PageErrors,
    tmp_path: Path,
) -> None:
    page = new_page(width=794, height=1123)
    day = api(page, f"{fast_server.base}/api/beds/B02/report")["day"]
    path = f"/api/beds/B02/report?day={day}"
    with page.expect_response(is_api(path)) as got:
        page.goto(f"{fast_server.base}/report/B02?day={day}&token={STAFF_TOKEN}")
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    report = got.value.json()

    expect(page.locator("#bed-label")).to_have_text(report["bed"]["label"])
    (total,) = report["totals"]
    row = page.locator("#totals tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("th")).to_have_text(total["display_name"])
    expect(row.locator("td.contact")).to_contain_text(duration_words(total["contact_s"]))
    expect(row).to_contain_text(duration_words(total["goal_s"]))
    expect(row).to_contain_text(f"{total['percent_of_goal']:.1f} %")
    # #16: the stay's contact by who held the baby (nobody recorded on this ward: all unknown)
    (carers,) = report["caregivers"]
    line = page.locator(f"#by-caregiver li[data-admission-id='{total['admission_id']}']")
    expect(line).to_contain_text(f"{total['display_name']}: ")
    expect(line).to_contain_text("mother's KMC 0")
    assert set(carers["by_caregiver_s"]) <= {"unknown"}

    with_temp = [b for b in report["readings"] if b["temp_median_c"] is not None]
    expect(page.locator("#temp-chart rect.temp-bin")).to_have_count(len(with_temp))
    expect(page.locator("#temp-chart rect.band")).to_have_count(4)  # hyper, normal, cold stress, moderate
    expect(page.locator("#sessions tbody tr")).to_have_count(len(report["sessions"]))
    expect(page.locator("#contact-chart rect.session[data-start-us]")).to_have_count(len(report["sessions"]))
    expect(page.locator("#alarms tbody tr")).to_have_count(len(report["alarms"]))
    page.screenshot(path=artifacts / "report.png", full_page=True)
    try:
        page.pdf(path=str(artifacts / "report.pdf"), format="A4", print_background=True)
    except Exception as exc:  # only headless Chromium prints to PDF: say so rather than fail
        print(f"report.pdf not made: {exc}")  # noqa: T201
    # How the print stylesheet lays the sheet out (no toolbar, no screen margins), as a picture.
    page.emulate_media(media="print")
    expect(page.locator("nav.toolbar")).to_be_hidden()
    page.screenshot(path=artifacts / "report-print.png", full_page=True)
    page.emulate_media(media="screen")

    # The CSV link downloads the same data: blocks with the report's sessions and minutes.
    with page.expect_download() as dl:
        page.locator("#csv").click()
    assert dl.value.suggested_filename == f"kmc-B02-{day}.csv"
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    found: dict[str, list[dict[str, str]]] = {}
    header: list[str] = []
    for r in csv.reader(io.StringIO(text)):
        if not r:
            header = []
        elif r[0] == "block":
            header = r
        else:
            found.setdefault(r[0], []).append(dict(zip(header, r, strict=True)))
    facts = {r["key"]: r["value"] for r in found["report"]}
    assert (facts["bed_id"], facts["day"]) == ("B02", day)
    assert [r["admission_id"] for r in found["total"]] == [str(total["admission_id"])]
    # The ward runs on between the page's request and the download: what had happened by the first
    # is unchanged in the second (sessions keep their start; minutes well before then are closed).
    assert len(found.get("session", [])) >= len(report["sessions"])
    old = [b for b in report["readings"] if b["start_us"] < report["generated_us"] - 5 * 60_000_000]
    minutes = found["minute"][: len(old)]
    assert [(m["readings"], m["temp_median_c"], m["contact_fraction"]) for m in minutes] == [
        (str(b["count"]), f"{b['temp_median_c']:.2f}", f"{b['contact_fraction']:.3f}") for b in old
    ]


# Family link -----------------------------------------------------------------------------------
OPEN_FAMILY_WS = """
([url, wait]) => new Promise((resolve) => {
  const ws = new WebSocket(url);
  const out = {first: null, code: null};
  window.__familyClosed = new Promise((done) => {
    ws.onclose = (e) => { out.code = e.code; done(e.code); };
  });
  ws.onmessage = (e) => { if (!out.first) { out.first = JSON.parse(e.data); if (!wait) resolve(out); } };
  window.__familyClosed.then(() => resolve(out));
})
"""


def test_renewing_the_family_link_shows_a_qr_and_ends_the_old_link(
    ward_server: Served, new_page: Callable[..., Page], artifacts: Path, page_errors: PageErrors
) -> None:
    ws_url = ward_server.base.replace("http://", "ws://") + f"/ws/bed/{ward_server.family_token}"
    # A family's device: a page of the service's origin holding a stream on the printed link.
    family = new_page(width=400, height=800)
    family.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # a JSON page has none
    family.goto(f"{ward_server.base}/healthz")
    page = new_page()
    beds = {b["label"]: b["bed_id"] for b in api(page, f"{ward_server.base}/api/beds")}
    before = family.evaluate(OPEN_FAMILY_WS, [ws_url, False])  # the printed link works, stays open
    assert before["code"] is None and before["first"]["admitted"]
    bed_id = beds[before["first"]["label"]]

    open_bed(page, ward_server, bed_id)
    page.locator("#renew-link").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("revoked")
    expect(dialog).to_contain_text("stops working")
    page.locator("#confirm-ok").click()
    expect(dialog).to_be_hidden()
    qr = page.locator("#qr svg")
    expect(qr).to_be_visible()
    assert qr.locator("path").count() >= 1
    expect(page.locator("#qr-url")).to_contain_text("/family#")
    new_token = (page.locator("#qr-url").text_content() or "").rsplit("#", 1)[1]
    assert new_token and new_token != ward_server.family_token
    expect(page.locator("#print-card")).to_be_visible()

    # The stream that was open on the old link is closed, and the old link is refused from now on.
    assert family.evaluate("() => window.__familyClosed") == 4401
    after = family.evaluate(OPEN_FAMILY_WS, [ws_url, True])
    assert after["code"] == 4401 and after["first"] is None
    page.screenshot(path=artifacts / "bed-family-link.png", full_page=True)

    # Revoking: after its confirm, the new card's QR is gone too.
    page.locator("#revoke-link").click()
    expect(dialog).to_be_visible()
    page.locator("#confirm-ok").click()
    expect(page.locator("#qr-card")).to_be_hidden()
    expect(page.locator("#family-note")).to_contain_text("revoked")
    gone = family.evaluate(OPEN_FAMILY_WS, [ws_url.rsplit("/", 1)[0] + "/" + new_token, True])
    assert gone["code"] == 4401


# Discharge (a server of its own: it cannot be undone) -------------------------------------------
def test_discharge_from_the_bed_page_after_confirming(
    tmp_path: Path, page: Page, page_errors: PageErrors
) -> None:
    server = Served(tmp_path / "d", ["--simulate", "2"])
    try:
        open_bed(page, server, "B01")
        admissions = api(page, f"{server.base}/api/admissions")
        (adm,) = [a for a in admissions if a["bed_id"] == "B01"]

        # Cancel first: nothing happens.
        page.locator("#discharge").click()
        expect(page.locator("#confirm")).to_contain_text(f"Discharge {adm['display_name']}?")
        page.locator("#confirm-cancel").click()
        expect(page.locator("#confirm")).to_be_hidden()
        assert any(
            a["admission_id"] == adm["admission_id"] for a in api(page, f"{server.base}/api/admissions")
        )

        page.locator("#discharge-status").select_option(label="home on KMC")
        page.locator("#discharge").click()
        expect(page.locator("#confirm")).to_contain_text("cannot be undone")
        page.locator("#confirm-ok").click()
        expect(page.locator("#conn")).to_contain_text("discharged")
        expect(page.locator("#baby-name")).to_have_text("no baby admitted")
        expect(page.locator("#discharge-card")).to_be_hidden()
        # The page's next refresh (every 5 s) keeps what the nurse just did beside "Live".
        expect(page.locator("#conn")).to_contain_text(re.compile(r"discharged at .* · Live"), timeout=ms(12))
        current = api(page, f"{server.base}/api/admissions")
        assert all(a["admission_id"] != adm["admission_id"] for a in current)
        ended = api(page, f"{server.base}/api/admissions/{adm['admission_id']}")
        assert ended["discharged_t"] is not None
        assert ended["discharge_status"] == "home_on_kmc"  # #16: the status chosen on the page
    finally:
        page.close()  # first: a page left open would log its reconnection attempts as errors
        server.stop()


def test_report_pages_refuse_without_staff(fast_server: Served, page: Page) -> None:
    for path in ("/bed/B01", "/report/B01"):
        r = page.request.get(fast_server.base + path)
        assert r.status == 401
    r = page.request.get(fast_server.base + "/api/beds/B01/report.csv")
    assert r.status == 401
    assert json.loads(r.text())["detail"]


def test_bed_page_shows_and_sets_who_holds_the_baby(fast_server: Served, page: Page) -> None:
    """#16: the bed page's caregiver card lists the baby's caregivers and days; a nurse sets who
    holds now and the record has it."""
    bed = api(page, f"{fast_server.base}/api/beds/B02")
    adm = bed["admission"]["admission_id"]
    r = page.request.post(
        f"{fast_server.base}/api/admissions/{adm}/caregivers", headers=AUTH, data={"role": "father"}
    )
    assert r.ok, r.text()
    father = r.json()["caregiver_id"]
    open_bed(page, fast_server, "B02")
    card = page.locator("#caregivers-card")
    expect(card).to_be_visible()
    expect(card.locator("#holder-now option")).to_have_text(["unknown", "father"])
    expect(card.locator("#caregiver-days tbody tr").first).to_be_visible()
    expect(card.locator("#kmc-initiation")).to_contain_text("days in KMC")
    card.locator("#carer-role").select_option("family")
    card.locator("#carer-name").fill("Aunt Mai")
    card.locator("#add-caregiver button").click()
    expect(card.locator("#holder-now option")).to_have_text(["unknown", "father", "Aunt Mai"])
    card.locator("#holder-now").select_option(label="father")
    expect(card.locator("#holder-saved")).to_have_text("Saved")
    record = api(page, f"{fast_server.base}/api/admissions/{adm}/caregivers")
    assert record["holding_now"] == father
