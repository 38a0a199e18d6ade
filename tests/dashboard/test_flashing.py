"""The ward screen's flashing rates, measured in Chromium on the shipped CSS and JavaScript.

IEC 60601-1-8 gives visual alarm signals a flashing frequency by priority: high 1.4–2.8 Hz, medium
0.4–0.8 Hz (the low priority is steady). The ward screen flashes a high alarm's frame and its tile's
frame at 2 Hz, pulses a medium alarm's frame at 0.5 Hz (both inside those ranges, and a measured
rate must be within about 10 % of its own, so a rate that drifts out of IEC's range fails here), and
flashes the monitoring-lost and sound-off banners' fill at 1 Hz (``dashboard/assets/css/ward.css``,
"Flashing", driven by ``dashboard/assets/js/ward/flash.js``).

The end-to-end tests see the high alarm and the monitoring-lost banner flash on a live ward; a
medium alarm and the sound-off banner are hard to catch there (a replayed medium alarm escalates to
high within seconds, and the sound-off banner needs a browser without the kiosk flag). Here one
page holds every flashing element at once, built from the ward screen's own classes, loaded with
the real ``base.css``, ``ward.css`` and ``flash.js`` (served from the repository by Playwright's
request routing, no server), and the page samples each element's painted colour every 20 ms for a
few seconds: every element shows two colours by turns, at its own rate, and nothing flashes under
``prefers-reduced-motion``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import TypedDict

import pytest
from playwright.sync_api import Page, Route

from tests.timing import scaled

pytestmark = pytest.mark.timeout(60)

ASSETS = Path(__file__).resolve().parents[2] / "dashboard" / "assets"
ORIGIN = "http://flash.test"

#: Each flashing element: (selector, CSS property, rate in Hz).
FLASHING = {
    "high alarm frame": ("#high", "borderTopColor", 2.0),
    "high alarm's tile frame": ("#tile", "borderTopColor", 2.0),
    "medium alarm frame": ("#medium", "borderTopColor", 0.5),
    "monitoring-lost banner": ("#monitoring-lost", "backgroundColor", 1.0),
    "sound-off banner": ("#sound-off", "backgroundColor", 1.0),
}


class Sampled(TypedDict):
    """One element's samples: when its colour changed (ms since the start) and the colours seen."""

    changes: list[float]
    values: list[str]


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<link rel="stylesheet" href="/assets/css/base.css">
<link rel="stylesheet" href="/assets/css/ward.css">
<script type="module">import { startFlashing } from "/assets/js/ward/flash.js"; startFlashing();</script>
</head><body class="ward">
<section id="monitoring-lost" class="monitoring-lost" role="alert">MONITORING LOST</section>
<button id="sound-off" type="button" class="sound-off">SOUND IS OFF</button>
<article id="tile" class="tile" data-alarm-audible="high">
  <div id="high" class="alarm prio-high state-active">HIGH</div>
  <div id="medium" class="alarm prio-medium state-active">MEDIUM</div>
  <div id="low" class="alarm prio-low state-active">LOW</div>
</article>
</body></html>"""

#: Runs in the page: for each selector, when its property changed value (ms since the start) and
#: the values it took, sampled every 20 ms for ``ms``.
_SAMPLE_JS = """async ([targets, ms]) => {
  const out = {};
  for (const [name, [sel, prop]] of Object.entries(targets)) out[name] = { changes: [], values: [] };
  const t0 = performance.now();
  const last = {};
  while (performance.now() - t0 < ms) {
    const t = performance.now() - t0;
    for (const [name, [sel, prop]] of Object.entries(targets)) {
      const v = getComputedStyle(document.querySelector(sel))[prop];
      if (!out[name].values.includes(v)) out[name].values.push(v);
      if (name in last && last[name] !== v) out[name].changes.push(t);
      last[name] = v;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return out;
}"""


def _serve_assets(route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN)
    if path == "/flash.html":
        route.fulfill(body=PAGE, content_type="text/html")
        return
    file = (ASSETS / path.removeprefix("/assets/")).resolve()
    if not path.startswith("/assets/") or ASSETS not in file.parents or not file.is_file():
        route.fulfill(status=404, body="not found")
        return
    kind = {".css": "text/css", ".js": "text/javascript"}.get(file.suffix, "application/octet-stream")
    route.fulfill(body=file.read_bytes(), content_type=kind)


def _open(new_page: Callable[..., Page], reduced_motion: str) -> Page:
    page = new_page(800, 600, reduced_motion=reduced_motion)
    page.route(f"{ORIGIN}/**", _serve_assets)
    page.goto(f"{ORIGIN}/flash.html")
    page.wait_for_function("document.body.hasAttribute('data-flash-2hz')")
    return page


def _sample(page: Page, seconds: float) -> dict[str, Sampled]:
    targets = {name: [sel, prop] for name, (sel, prop, _) in FLASHING.items()}
    targets["low alarm frame"] = ["#low", "borderTopColor"]
    result: dict[str, Sampled] = page.evaluate(_SAMPLE_JS, [targets, seconds * 1000])
    return result


def test_each_element_flashes_at_its_priority_s_rate(new_page: Callable[..., Page]) -> None:
    page = _open(new_page, "no-preference")
    # Four and a half seconds: at least three changes of the slowest (0.5 Hz: one a second).
    seen = _sample(page, 4.5)
    for name, (_, _, rate_hz) in FLASHING.items():
        values, changes = seen[name]["values"], seen[name]["changes"]
        assert len(values) == 2, f"the {name} does not flash: {values}"
        halves = [b - a for a, b in pairwise(changes)]
        assert len(halves) >= 2, f"the {name} changed colour only {len(changes)} times in 4.5 s"
        # The median half-period: one late timer (a busy machine) stretches one half, not the median.
        half_s = statistics.median(halves) / 1000
        want_s = 0.5 / rate_hz
        assert abs(half_s - want_s) <= 0.1 * want_s + 0.03, (
            f"the {name} flashes with half-periods of {half_s:.3f} s (median of {halves}), not {want_s:.3f} s"
        )
    assert len(seen["low alarm frame"]["values"]) == 1, "a low-priority alarm's frame is steady"


def test_nothing_flashes_for_those_who_asked_for_less_motion(new_page: Callable[..., Page]) -> None:
    page = _open(new_page, "reduce")
    seen = _sample(page, scaled(1.2))  # two and a half halves of the banners' 1 Hz
    steady = {name: s["values"] for name, s in seen.items()}
    assert all(len(v) == 1 for v in steady.values()), f"flashing under prefers-reduced-motion: {steady}"
