"""The family page of the home gateway, in Chromium, from a real ``kmc-monitor home run`` process.

The home has no network beyond itself here: the station's address is a closed loopback port and
the browser refuses (and records) any request that is not to the home gateway. The page must then
show the baby's timer and today against the goal in the family's language, and the cold alarm.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from kmc_monitor.devices.simulation.simulator import WardSimulator
from tests.dashboard.conftest import PageErrors
from tests.home.station import pairing_for
from tests.serving import stop
from tests.timing import scaled, wait_until

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_600_000.0


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("home") / "data"
    code = pairing_for(WardSimulator(1, start_s=T0, seed=5), "http://127.0.0.1:9", goal_h=8)
    code_file = data.parent / "pairing.json"
    code_file.write_text(code.model_dump_json())
    cli = [sys.executable, "-m", "kmc_monitor.cli", "home"]
    paired = subprocess.run(
        [*cli, "pair", str(code_file), "--data-dir", str(data)], capture_output=True, text=True
    )
    assert paired.returncode == 0, paired.stderr
    args = ["run", "--data-dir", str(data), "--simulate", "--simulate-speed", "60", "--tick", "0.5"]
    args += ["--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen([*cli, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.match(r"home gateway listening on (http://127\.0\.0\.1:\d+)/", line)
        assert m, line + stop(proc)
        yield m.group(1)
    finally:
        err = stop(proc)
        assert "Traceback" not in err, err
        assert code.token not in err


def _offline(page: Page, base: str) -> list[str]:
    """Refuse every request that does not go to the home gateway; the list of those refused."""
    refused: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return refused


def test_the_home_page_works_with_no_network_beyond_the_home(
    home: str, new_page: Callable[..., Page]
) -> None:
    page = new_page(width=412, height=915, locale="vi-VN")
    refused = _offline(page, home)
    page.goto(home + "/")
    expect(page.locator("#baby-name")).to_have_text("H'Me", timeout=scaled(15_000))
    card = page.locator("#view .timer-card").first
    expect(card.locator(".today")).to_contain_text("mục tiêu là 8", timeout=scaled(15_000))
    expect(card.locator(".timer")).to_have_text(re.compile(r"^\d+:\d\d:\d\d$"))
    expect(page.locator(".home-advice p")).to_contain_text("Da của bạn giữ ấm cho bé")
    expect(page.locator("#sync")).to_contain_text("bản ghi đang chờ mạng", timeout=scaled(15_000))
    expect(page.locator("#alarm")).to_be_hidden()
    assert refused == []
    # Nothing the page is made of names another address.
    for name in ("home.html", "assets/home/home.js", "assets/home/home.css", "assets/css/family.css"):
        text = (ROOT / "dashboard" / name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), name


def test_the_cold_alarm_shows_and_sounds(home: str, new_page: Callable[..., Page]) -> None:
    page = new_page(width=412, height=915)
    _offline(page, home)
    page.add_init_script(
        "window.__beeps = 0; const O = window.AudioContext; window.AudioContext = class extends O {"
        " createOscillator() { window.__beeps += 1; return super.createOscillator(); } };"
    )

    def cold(route: Route) -> None:
        with urllib.request.urlopen(home + "/api/home/status", timeout=10) as r:
            body = json.loads(r.read())
        body["wraps"][0]["cold_alarm"] = "hypothermia_moderate"
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.goto(home + "/")
    expect(page.locator("#baby-name")).to_have_text("H'Me", timeout=scaled(15_000))
    page.locator("#sound").click()  # browsers play sound only after a tap
    page.route(home + "/api/home/status", cold)
    expect(page.locator("#alarm")).to_be_visible(timeout=scaled(10_000))
    expect(page.locator("#alarm-title")).to_have_text("Bé đang bị lạnh")  # the family's language
    # The page's CSP forbids eval (wait_for_function): poll from here instead.
    wait_until("the alarm beeps", lambda: page.evaluate("() => window.__beeps") >= 2, 10)


def test_pairing_from_the_page(
    tmp_path: Path, new_page: Callable[..., Page], page_errors: PageErrors
) -> None:
    data = tmp_path / "data"
    code = pairing_for(WardSimulator(1, start_s=T0, seed=6), "http://127.0.0.1:9", home_id="H042")
    qr_text = base64.urlsafe_b64encode(code.model_dump_json().encode()).decode().rstrip("=")
    cli = [sys.executable, "-m", "kmc_monitor.cli", "home", "run", "--data-dir", str(data), "--simulate"]
    cli += ["--simulate-speed", "60", "--tick", "0.5", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        m = re.match(r"home gateway listening on (http://127\.0\.0\.1:\d+)/", proc.stdout.readline())
        assert m, stop(proc)
        base = m.group(1)
        assert proc.stdout.readline().startswith("not paired yet")
        page = new_page(width=412, height=915)
        refused = _offline(page, base)
        page.goto(base + "/")
        expect(page.locator("#pairing")).to_be_visible(timeout=scaled(15_000))
        page_errors.expected_fragments = ("status of 400",)  # the refused code below, on purpose
        page.locator("#pair-code").fill("not a code")
        page.locator("#pair").click()
        expect(page.locator("#pair-result")).to_contain_text("Not connected: the pairing code is neither")
        page.locator("#pair-code").fill(qr_text)
        page.locator("#pair").click()
        expect(page.locator("#pair-result")).to_contain_text("Connected: this box now looks after H'Me")
        expect(page.locator("#pairing")).to_be_hidden(timeout=scaled(15_000))
        expect(page.locator("#view .timer-card .today").first).to_contain_text(
            "mục tiêu", timeout=scaled(15_000)
        )
        assert refused == []
        # Paired: the route no longer reads anything sent to it.
        req = urllib.request.Request(base + "/api/home/pair", data=qr_text.encode(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=10)
        assert exc.value.code == 409
        exc.value.close()
    finally:
        err = stop(proc)
    assert "Traceback" not in err and code.token not in err
    assert "pairing from the page refused (1 so far)" in err
