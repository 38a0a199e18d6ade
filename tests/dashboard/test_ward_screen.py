"""The ward screen (/ward) in a real browser against a real ``kmc-monitor serve``.

What a nurse relies on: every bed has a tile whose values are the API's; an alarm shows in its IEC
colour with its priority in words within 2 s of being raised, and can be acknowledged on the screen;
a lost stream is said so and heals by itself; the wall display and a laptop show every tile whole.
"""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from playwright.sync_api import Page, WebSocket, expect

from kmc_monitor.devices.trace import write_trace
from kmc_monitor.service.auth import SESSION_COOKIE
from kmc_monitor.signal.series import build_series
from tests.dashboard.conftest import STAFF_TOKEN, PageErrors, Served, duration_words, parse_duration_words
from tests.timing import ms, scaled

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow(45)]

T = TypeVar("T")

#: The words the screen must print for each band (written out here, not imported from the page).
BAND_WORDS = {
    "normal": "Normal",
    "cold_stress": "Cold stress",
    "hypothermia_moderate": "Moderate hypothermia",
    "hypothermia_severe": "Severe hypothermia",
    "hyperthermia": "Hyperthermia",
}
JUDGING_WORDS = {
    "no wrap": "No wrap",
    "no data": "No data",
    "detached": "Sensor detached",
    "settling": "Settling",
    "no temperature": "No temperature",
}


def api(server: Served, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(
        server.base + path, method=method, headers={"Authorization": f"Bearer {STAFF_TOKEN}"}
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read() or b"null")


def eventually(check: Callable[[], T | None], timeout_s: float, what: str, page: Page | None = None) -> T:
    """Retry ``check`` (which returns None while not yet true) until it holds: values that tick
    every second are compared as of one moment, and a tick in between is retried, not failed.
    With ``page``, waits on the page so that Playwright delivers its events (frames) meanwhile."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        result = check()
        if result is not None:
            return result
        if page is not None:
            page.wait_for_timeout(200)
        else:
            time.sleep(0.2)
    last = check()
    if last is None:
        raise AssertionError(f"timed out: {what}")
    return last


def iso_seconds(value: str | None) -> float:
    m = re.fullmatch(r"PT(\d+)S", value or "")
    assert m, f"not an ISO duration in seconds: {value!r}"
    return float(m.group(1))


def open_ward(page: Page, server: Served, beds: int) -> None:
    page.goto(server.ward_url)
    # The token became an HttpOnly cookie and left the address bar.
    assert "token" not in page.url
    expect(page.locator("article.tile[data-bed-id]")).to_have_count(beds)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def read_tiles(page: Page) -> dict[str, dict[str, Any]]:
    """Every tile's visible values, read in one go (one moment of the page)."""
    tiles: dict[str, dict[str, Any]] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('article.tile[data-bed-id]')].map(t => [
            t.dataset.bedId, {
              temp: t.querySelector('.temp').textContent.trim(),
              band: t.querySelector('.band-name').textContent.trim(),
              bandKey: t.dataset.band,
              bandColor: getComputedStyle(t.querySelector('.temp')).color,
              session: t.querySelector('.session-time').textContent.trim(),
              sessionIso: t.querySelector('.session-time').getAttribute('datetime'),
              today: t.querySelector('.today-time').textContent.trim(),
              todayIso: t.querySelector('.today-time').getAttribute('datetime'),
              label: t.querySelector('.bed-label').textContent.trim(),
              name: t.querySelector('.baby-name').textContent.trim(),
              href: t.querySelector('a.tile-link').getAttribute('href'),
            }]))"""
    )
    return tiles


def tile_mismatches(api_beds: list[dict[str, Any]], tiles: dict[str, dict[str, Any]]) -> list[str]:
    bad: list[str] = []
    for b in api_beds:
        t = tiles[b["bed_id"]]
        temp = b["temperature_c"]
        want_temp = "—" if temp is None or b["judging"] == "no wrap" else f"{temp:.1f}°C"
        if t["temp"].replace(" ", "") != want_temp:
            bad.append(f"{b['bed_id']} temperature {t['temp']!r} != {want_temp!r}")
        want_band = BAND_WORDS[b["band"]] if b["band"] else JUDGING_WORDS[b["judging"]]
        if t["band"] != want_band:
            bad.append(f"{b['bed_id']} band {t['band']!r} != {want_band!r}")
        if b["session_state"] != "none":
            # "45 s", "12 min", "2 h 21 min": the shown value is the time cut to its last unit.
            shown = parse_duration_words(t["session"])
            unit = 1.0 if t["session"].endswith(" s") else 60.0
            if shown is None or not shown - 2.5 <= b["session_s"] <= shown + unit + 2.5:
                bad.append(f"{b['bed_id']} session {t['session']!r} vs {b['session_s']:.1f} s")
        if abs(iso_seconds(t["todayIso"]) - b["contact_today_s"]) > 2.5:
            bad.append(f"{b['bed_id']} today {t['todayIso']} vs {b['contact_today_s']:.1f} s")
    return bad


# --- servers ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ward12(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A full ward (12 beds) for the layout: what the wall display must fit without scrolling."""
    server = Served(tmp_path_factory.mktemp("ward12") / "data", ["--simulate", "12"])
    try:
        yield server
    finally:
        server.stop()


def cold_ward_trace(path: Path) -> Path:
    """Three babies, one per alarm priority, steady from the first reading: severe hypothermia
    (high), moderate (medium), cold stress (low). Ambient 25 °C keeps the sensors attached; the
    alarms come once the 300 s settling has passed (6 s at the test's replay speed)."""
    t0 = 1_700_000_000.0
    t = t0 + np.arange(0, 3600, 2.0)
    n = t.size
    series = [
        build_series(wrap, t, np.full(n, temp), np.full(n, 25.0), np.ones(n), np.full(n, 90.0))
        for wrap, temp in (("CW1", 31.0), ("CW2", 35.0), ("CW3", 36.2))
    ]
    write_trace(path, series)
    return path


def rgb(css: str) -> tuple[int, int, int]:
    m = re.match(r"rgba?\((\d+),\s*(\d+),\s*(\d+)", css)
    assert m, css
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def iec_colour(css: str) -> str:
    """Which IEC 60601-1-8 alarm colour a CSS colour is: red, yellow, cyan, or other."""
    r, g, b = rgb(css)
    if r >= 180 and g <= 90 and b <= 90:
        return "red"
    if r >= 200 and g >= 170 and b <= 90:
        return "yellow"
    if r <= 90 and g >= 170 and b >= 190:
        return "cyan"
    return f"other {css}"


def painted_colours(
    page: Page, selector: str, seconds: float, enough: int = 0, prop: str = "borderTopColor"
) -> list[str]:
    """The colours the element at ``selector`` is painted in (its frame, or the computed style
    ``prop``) over ``seconds`` (or until ``enough`` colours were seen), sampled every 50 ms in the
    page with the element looked up anew each time (the screen redraws its alarm lines), in the
    order first seen: a flashing element shows two, a steady one one."""
    return list(
        page.evaluate(
            """async ([sel, ms, enough, prop]) => {
                 const seen = [];
                 for (const end = performance.now() + ms; performance.now() < end; ) {
                   const e = document.querySelector(sel);
                   const c = e ? getComputedStyle(e)[prop] : "";
                   if (c && !seen.includes(c)) seen.push(c);
                   if (enough && seen.length >= enough) break;
                   await new Promise((r) => setTimeout(r, 50));
                 }
                 return seen;
               }""",
            [selector, seconds * 1000, enough, prop],
        )
    )


def layout_problems(page: Page) -> list[str]:
    """What is wrong with the screen's layout: tiles off screen, cut off, or text spilling out."""
    problems: list[str] = page.evaluate(
        """() => {
          const out = [];
          const vw = innerWidth, vh = innerHeight;
          if (document.documentElement.scrollWidth > vw) out.push('page scrolls sideways');
          for (const t of document.querySelectorAll('article.tile')) {
            const r = t.getBoundingClientRect();
            if (r.left < 0 || r.top < 0 || r.right > vw + 0.5 || r.bottom > vh + 0.5)
              out.push(`${t.dataset.bedId} not fully on screen`);
            if (t.scrollHeight > t.clientHeight + 1) out.push(`${t.dataset.bedId} content cut off`);
            // Text must not spill out of the tile (e.g. a big temperature over its neighbour).
            for (const el of t.querySelectorAll('.temp, .contact, .session, .today, .tile-link')) {
              const e = el.getBoundingClientRect();
              if (e.width && (e.right > r.right + 0.5 || e.left < r.left - 0.5))
                out.push(`${t.dataset.bedId} ${el.className} spills out`);
            }
            // Nor be cut short ("Sev…", "6:…"): every value is read whole.
            const values = '.temp, .band, .contact, .session, .stale, .today, .alarm-text';
            for (const el of t.querySelectorAll(values)) {
              if (getComputedStyle(el).overflow === 'visible') continue;  // overflow shows, checked above
              if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)
                out.push(`${t.dataset.bedId} ${el.className} cut short: ${el.textContent.trim()}`);
            }
          }
          return out;
        }"""
    )
    return problems


# --- tests -----------------------------------------------------------------------------------------
def test_every_bed_has_a_tile_with_the_apis_values(ward_server: Served, page: Page) -> None:
    beds = api(ward_server, "/api/beds")
    assert beds, "the simulated ward has beds"
    open_ward(page, ward_server, len(beds))
    ids = page.eval_on_selector_all("article.tile[data-bed-id]", "els => els.map(e => e.dataset.bedId)")
    assert sorted(ids) == sorted(b["bed_id"] for b in beds)

    def compare() -> list[str] | None:
        tiles = read_tiles(page)
        bad = tile_mismatches(api(ward_server, "/api/beds"), tiles)
        return None if bad else []

    try:
        eventually(compare, 8.0, "tiles match the API")
    except AssertionError:
        pytest.fail("\n".join(tile_mismatches(api(ward_server, "/api/beds"), read_tiles(page))))

    tiles = read_tiles(page)
    for b in beds:
        t = tiles[b["bed_id"]]
        assert t["label"] == b["label"] and t["name"] == b["display_name"]
        assert t["href"] == f"/bed/{b['bed_id']}"
        # The visible contact total says what its machine-readable twin says (to the minute).
        today_s = iso_seconds(t["todayIso"])
        assert t["today"] == duration_words(today_s)
    # A judged band has its own colour; an unjudged one is neutral grey, never a band's colour.
    colours = {t["bandKey"]: t["bandColor"] for t in tiles.values()}
    if "unjudged" in colours and "normal" in colours:
        assert colours["unjudged"] != colours["normal"]


def test_alarms_show_in_iec_colours_within_2_s_and_are_acknowledged_on_screen(
    tmp_path: Path, new_page: Callable[..., Page], artifacts: Path
) -> None:
    trace = cold_ward_trace(tmp_path / "cold.csv")
    page = new_page(1920, 1080)
    server = Served(tmp_path / "d", ["--replay", str(trace), "--speed", "50"])
    try:
        # When each alarm first reaches the screen: its entry is in the DOM and the next frame is
        # being painted (performance.timeOrigin + now() is the wall clock the server's
        # `sent_wall` is on: same machine).
        page.add_init_script(
            """window.__alarmShown = {};
            new MutationObserver(() => {
              for (const el of document.querySelectorAll('.alarm[data-alarm-id]')) {
                const id = el.dataset.alarmId;
                if (id in window.__alarmShown) continue;
                window.__alarmShown[id] = null;
                requestAnimationFrame(() => {
                  window.__alarmShown[id] = (performance.timeOrigin + performance.now()) / 1000;
                });
              }
            }).observe(document, {subtree: true, childList: true});"""
        )
        raised: dict[int, dict[str, Any]] = {}

        def on_ws(ws: WebSocket) -> None:
            def frame(payload: str | bytes) -> None:
                msg = json.loads(payload)
                if msg.get("type") == "alarm" and msg.get("action") == "raised":
                    raised[msg["alarm"]["alarm_id"]] = msg

            ws.on("framereceived", frame)

        page.on("websocket", on_ws)
        open_ward(page, server, 3)
        # Each bed's alarm was raised while the page watched (not already in its snapshot); each
        # shows on its tile, the bar leads with the most urgent and its list holds them all.
        expect(page.locator("article.tile .alarm")).to_have_count(3, timeout=ms(20))
        page.locator("#alarm-all").click()
        expect(page.locator("#alarm-all-list .alarm")).to_have_count(3)
        assert len(raised) == 3, f"raise events seen by the page: {sorted(raised)}"
        shown = eventually(
            lambda: (
                (s := page.evaluate("window.__alarmShown"))
                and all(s.get(str(i)) for i in raised)
                and s
                or None
            ),
            3.0,
            "alarm entries painted",
        )
        for alarm_id, msg in raised.items():
            delay = shown[str(alarm_id)] - msg["sent_wall"]
            assert -0.05 < delay < scaled(2.0), f"alarm {alarm_id} shown {delay:.3f} s after it was raised"

        by_priority = {m["alarm"]["priority"]: m["alarm"] for m in raised.values()}
        assert set(by_priority) == {"high", "medium", "low"}
        for priority, colour, kind, mark in (
            ("high", "red", "Severe hypothermia", "!!!"),
            ("medium", "yellow", "Moderate hypothermia", "!!"),
            ("low", "cyan", "Cold stress", "!"),
        ):
            a = by_priority[priority]
            for where in ("#alarm-all-list", f'article.tile[data-bed-id="{a["bed_id"]}"] .tile-alarms'):
                item = page.locator(f'{where} .alarm[data-alarm-id="{a["alarm_id"]}"]')
                expect(item).to_be_visible()
                # The condition in words beside the colour, and the priority's mark; the list
                # also names the priority (a tile has room for the condition only).
                expect(item.locator(".alarm-text")).to_contain_text(kind)
                expect(item.locator(".alarm-mark")).to_have_text(mark)
                if where == "#alarm-all-list":
                    expect(item.locator(".alarm-text")).to_contain_text(f"{priority.upper()} · {kind}")
                bg = item.evaluate("e => getComputedStyle(e).backgroundColor")
                assert iec_colour(bg) == colour, f"{priority} alarm in {where} is {bg}"
        # The list is ordered by priority: high, medium, low.
        order = page.eval_on_selector_all("#alarm-all-list .alarm", "els => els.map(e => e.dataset.priority)")
        assert order == ["high", "medium", "low"]
        page.keyboard.press("Escape")
        expect(page.locator("#alarm-list .alarm")).to_have_attribute("data-priority", "high")
        high = page.locator(f'#alarm-list .alarm[data-alarm-id="{by_priority["high"]["alarm_id"]}"]')
        expect(high.locator(".alarm-mark")).to_have_text("!!!")
        # The server decides what this screen sounds: the high alarm.
        expect(page.locator("body")).to_have_attribute("data-sounding", "high")
        page.screenshot(path=str(artifacts / "ward-alarm-1920x1080.png"))
        assert layout_problems(page) == []

        # Flashing: the high alarm's frame white and red by turns (2 Hz), seen by sampling the
        # painted style of its line on the tile (the bar may lead with another alarm by then: the
        # replayed ward runs on, and the medium one escalates).
        on_tile = (
            f'article.tile[data-bed-id="{by_priority["high"]["bed_id"]}"] '
            f'.alarm[data-alarm-id="{by_priority["high"]["alarm_id"]}"]'
        )
        high_fill = page.locator(on_tile).evaluate("e => getComputedStyle(e).backgroundColor")
        flashing = painted_colours(page, on_tile, scaled(1.0), enough=2)
        assert set(flashing) == {"rgb(255, 255, 255)", high_fill}, "it flashes"
        # Its bed's tile flashes its frame too (the alarm's red, then the tile's own line colour).
        tile = f'article.tile[data-bed-id="{by_priority["high"]["bed_id"]}"]'
        assert len(painted_colours(page, tile, scaled(1.0), enough=2)) == 2, "the tile flashes"
        # prefers-reduced-motion: steady, with the !!! mark still beside the colour.
        page.emulate_media(reduced_motion="reduce")
        assert painted_colours(page, on_tile, 0.6) == ["rgb(255, 255, 255)"], "steady, not flashing"
        assert len(painted_colours(page, tile, 0.6)) == 1, "the tile's frame steady"
        expect(page.locator(on_tile).locator(".alarm-mark")).to_have_text("!!!")
        page.emulate_media(reduced_motion="no-preference")

        # Acknowledge the high alarm on its tile and the medium one in the list.
        tile_ack = page.locator(
            f'article.tile[data-bed-id="{by_priority["high"]["bed_id"]}"] '
            f'.alarm[data-alarm-id="{by_priority["high"]["alarm_id"]}"] button.ack'
        )
        tile_ack.click()
        medium_id = by_priority["medium"]["alarm_id"]
        page.locator("#alarm-all").click()
        page.locator(f'#alarm-all-list .alarm[data-alarm-id="{medium_id}"] button.ack').click()
        for priority in ("high", "medium"):
            item = page.locator(
                f'#alarm-all-list .alarm[data-alarm-id="{by_priority[priority]["alarm_id"]}"]'
            )
            expect(item).to_have_attribute("data-state", "acknowledged")
            expect(item.locator("button.ack")).to_have_count(0)
        alarms = {a["alarm_id"]: a for a in api(server, "/api/alarms")}
        for priority in ("high", "medium"):
            a = alarms[by_priority[priority]["alarm_id"]]
            assert a["state"] == "acknowledged" and a["acknowledged_by"], a
        assert alarms[by_priority["low"]["alarm_id"]]["state"] == "active"
        # Acknowledged alarms no longer sound; the low one does.
        expect(page.locator("body")).to_have_attribute("data-sounding", "low")

        # The audio pause: a countdown on the button, and the server knows this screen is paused.
        page.keyboard.press("Escape")
        expect(page.locator("#audio-pause-text")).to_have_text("Pause audio 2 min")  # from the settings
        page.locator("#audio-pause").click()
        expect(page.locator("#audio-pause-text")).to_have_text(
            re.compile(r"Audio paused · (1 min|2 min|\d+ s) left")
        )
        screen_id = page.evaluate("localStorage.getItem('kmc.ward.screen_id')")
        state = api(server, f"/api/screens/{screen_id}/audio")
        assert state["paused_until_us"] is not None and state["sounding"] is None
        expect(page.locator("body")).to_have_attribute("data-sounding", "none")
    finally:
        page.close()  # first: a page left open would log its reconnection attempts as errors
        server.stop()


def test_lost_stream_is_shown_and_heals_itself_also_across_a_restart(
    tmp_path: Path, new_page: Callable[..., Page], page_errors: PageErrors
) -> None:
    # The browser logs failed connection attempts while the server is down: expected here.
    page_errors.expected_fragments = (
        "WebSocket connection to",
        "ERR_CONNECTION_REFUSED",
        "closed before the connection is established",
        # REST calls made with the forged cookie below.
        "status of 401",
    )
    data = tmp_path / "d"
    args = ["--simulate", "3"]
    server = Served(data, args)
    try:
        page = new_page(1366, 768)
        frames: list[float] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda _: frames.append(time.monotonic())))
        open_ward(page, server, 3)
        connection = page.locator("#connection")

        # 1. The server stops answering (frozen, not gone): no heartbeat for 3 s → "lost".
        server.proc.send_signal(signal.SIGSTOP)
        try:
            expect(connection).to_have_attribute("data-state", "lost", timeout=ms(6))
            expect(connection).to_contain_text("Connection lost")
            expect(page.locator("body")).to_have_attribute("data-stream", "lost")
        finally:
            server.proc.send_signal(signal.SIGCONT)
        expect(connection).to_have_attribute("data-state", "live", timeout=ms(10))
        expect(connection).to_have_text(re.compile(r"\s*Live\s*"))
        since = time.monotonic()
        eventually(lambda: sum(t > since for t in frames) >= 2 or None, 5.0, "updates flow again", page)

        # 2. The server is stopped and started again on the same port and data directory. The kiosk
        # keeps its session cookie (signed with the ward's secret, so it outlives the process); to
        # see the signed-out state too, the cookie is swapped for a forged one while the server is
        # down, then put back, as signing in again from another tab of the kiosk would.
        server.stop()
        expect(connection).to_have_attribute("data-state", "lost", timeout=ms(6))
        context = page.context
        session = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
        assert session and session[0].get("httpOnly"), "the session is an HttpOnly cookie"
        assert page.evaluate("document.cookie") == "", "no credential readable by the page's JavaScript"
        context.clear_cookies()
        context.add_cookies([{**session[0], "value": "1700000000.deadbeef.forged"}])
        server = Served(data, args, port=server.port)
        # Refused (close code 4401): said plainly, values frozen and faded, retrying.
        expect(connection).to_have_attribute("data-state", "signed-out", timeout=ms(15))
        expect(page.locator("#signed-out")).to_be_visible()
        expect(page.locator("#signed-out")).to_contain_text("Signed out")
        expect(page.locator("body")).to_have_attribute("data-stream", "signed-out")
        context.clear_cookies()
        context.add_cookies(session)  # the cookie the first process issued
        expect(connection).to_have_attribute("data-state", "live", timeout=ms(10))
        expect(page.locator("#signed-out")).to_be_hidden()
        since = time.monotonic()
        eventually(lambda: sum(t > since for t in frames) >= 2 or None, 5.0, "updates flow again", page)
        expect(page.locator("article.tile[data-bed-id]")).to_have_count(3)
        expect(page.locator("body")).to_have_attribute("data-stream", "live")
    finally:
        server.stop()


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1366, 768)])
def test_twelve_beds_fit_the_screen_whole(
    ward12: Served, new_page: Callable[..., Page], artifacts: Path, width: int, height: int
) -> None:
    page = new_page(width, height)
    open_ward(page, ward12, 12)
    expect(page.locator("article.tile .session-time").first).not_to_have_text("")
    # Saved before the checks: when they fail, the picture shows why.
    name = "ward-1920x1080.png" if width == 1920 else f"ward-{width}x{height}.png"
    page.screenshot(path=str(artifacts / name))
    assert layout_problems(page) == []
    # Big numerals: the temperature is at least 40 px high on a 1080-line wall display.
    size = page.locator("article.tile .temp").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= (60 if height >= 1080 else 40)
