"""Browser tests of the dashboard: Playwright driving Debian's Chromium against a real service.

- ``ward_server``: one ``kmc-monitor serve --simulate 6`` subprocess on a free loopback port for the
  whole module (starting a ward takes a second or two; tests that stop or restart a server make
  their own with :class:`Served`).
- ``browser``: one headless Chromium for the session, ``/usr/bin/chromium`` (Playwright cannot
  download browsers here), with the flags that keep it off the network.
- ``page`` / ``new_page``: fresh browser contexts (no shared cookies) whose JavaScript errors and
  console errors are collected; a test fails at teardown if any page logged one.
- ``artifacts``: where screenshots go (``artifacts/screenshots`` or ``$KMC_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect, sync_playwright

from tests.serving import ServeProcess
from tests.timing import ms, scaled

CHROMIUM = "/usr/bin/chromium"
STAFF_TOKEN = "dashboard-staff-token-0123456789abcdef"
START_TIMEOUT_S = scaled(30.0)
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)


def duration_words(seconds: float) -> str:
    """A duration as every page prints it ("45 s", "12 min", "2 h 21 min", "20 h"), written out
    here independently of the pages' code."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    h, m = divmod(s // 60, 60)
    if not h:
        return f"{m} min"
    return f"{h} h {m} min" if m else f"{h} h"


def parse_duration_words(text: str) -> float | None:
    """'2 h 21 min' / '12 min' / '45 s' → seconds (to the unit shown); anything else → None."""
    m = re.fullmatch(r"(?:(\d+) h)?\s*(?:(\d+) min)?\s*(?:(\d+) s)?", text.strip())
    if not text.strip() or not m or not any(m.groups()):
        return None
    h, mi, sec = (int(g) if g else 0 for g in m.groups())
    return float(h * 3600 + mi * 60 + sec)


class Served(ServeProcess):
    """A real ``kmc-monitor serve`` process on 127.0.0.1 (a free port, or ``port`` to restart one)."""

    def __init__(self, data_dir: Path, args: list[str], port: int = 0) -> None:
        super().__init__(data_dir, args, token=STAFF_TOKEN, port=port, timeout_s=START_TIMEOUT_S)

    @property
    def ward_url(self) -> str:
        return f"{self.base}/ward?token={STAFF_TOKEN}"

    @property
    def family_url(self) -> str:
        return f"{self.base}/family#{self.family_token}"


@pytest.fixture(scope="module")
def ward_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("ward") / "data", ["--simulate", "6"])
    try:
        yield server
    finally:
        err = server.stop()
        assert STAFF_TOKEN not in err


#: Playwright's own default for ``expect`` (5 s) is a wall-clock margin like any other: scaled.
expect.set_options(timeout=ms(5))


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread while it
# is alive, and pytest-asyncio's tests elsewhere in the suite cannot start theirs beside it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package (as root)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )
    try:
        yield b
    finally:
        b.close()


@dataclass
class PageErrors:
    """JavaScript errors and console errors of every page a test opened."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: uncaught {exc}"))

        def console(msg: ConsoleMessage) -> None:
            if msg.type == "error" and not self._expected(msg.text):
                self.errors.append(f"{page.url}: console.error {msg.text}")

        page.on("console", console)
        return page

    #: Console errors a browser logs by itself when a test cuts the connection on purpose
    #: (a stopped server): not the page's faults.
    expected_fragments: tuple[str, ...] = ()

    def _expected(self, text: str) -> bool:
        return any(f in text for f in self.expected_fragments)


@pytest.fixture
def page_errors() -> Iterator[PageErrors]:
    errs = PageErrors()
    yield errs
    assert not errs.errors, "JavaScript errors:\n" + "\n".join(errs.errors)


@pytest.fixture
def new_page(browser: Browser, page_errors: PageErrors) -> Iterator[Callable[..., Page]]:
    """Open pages in fresh contexts: ``new_page(width=..., height=..., locale=...)``."""
    contexts: list[Any] = []

    def make(width: int = 1920, height: int = 1080, locale: str = "en-GB", **kw: Any) -> Page:
        ctx = browser.new_context(viewport={"width": width, "height": height}, locale=locale, **kw)
        ctx.set_default_timeout(ms(10))  # navigation and actions; expect() below
        contexts.append(ctx)
        return page_errors.watch(ctx.new_page())

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    base = Path(os.environ.get("KMC_TEST_ARTIFACTS", ROOT / "artifacts")) / "screenshots"
    base.mkdir(parents=True, exist_ok=True)
    return base
