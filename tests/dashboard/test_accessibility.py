"""WCAG AA contrast of every piece of text on every page, measured in the browser.

For each visible element that holds text, the test takes its computed colour and the background it
is painted on (its own or its ancestors', semi-transparent layers blended down to the page), and
computes the WCAG 2.x contrast ratio: at least 4.5:1, or 3:1 for large text (24 px, or 18.66 px
bold). Text over an image or a gradient is not judged (no single background colour to compare).
The pages are measured as they really are: a live ward with data, an alarm-free and an alarmed
state come from the other tests' screenshots; here every page is checked in its normal state.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import PageErrors, Served

pytestmark = pytest.mark.timeout(120)

#: Runs in the page: returns the text elements whose contrast is below AA.
_CONTRAST_JS = r"""
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const blend = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  // The colour an element's text is painted on; null when an image or gradient is in the way.
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.backgroundImage && s.backgroundImage !== "none") return null;
      const c = parse(s.backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let base = { r: 255, g: 255, b: 255, a: 1 };
    for (let i = layers.length - 1; i >= 0; i--) base = blend(layers[i], base);
    return base;
  };
  const bad = [];
  let checked = 0;
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const s = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (s.visibility === "hidden" || s.display === "none" || box.width === 0 || box.height === 0) continue;
    if (Number(s.opacity) === 0) continue;
    const fg = parse(s.color);
    const bg = background(el);
    if (!fg || !bg) continue;
    const ink = fg.a < 1 ? blend(fg, bg) : fg;
    const [hi, lo] = [lum(ink), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    checked += 1;
    if (ratio < (large ? 3 : 4.5)) {
      bad.push({ text: el.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100,
                 color: s.color, size, large });
    }
  }
  return { checked, bad };
}
"""


def contrast(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(_CONTRAST_JS)
    return result


def assert_aa(page: Page, what: str) -> None:
    r = contrast(page)
    assert r["checked"] >= 5, f"{what}: almost no text was measured ({r['checked']})"
    assert not r["bad"], f"{what}: text below WCAG AA contrast: {r['bad']}"


def test_ward_screen_text_meets_aa(ward_server: Served, page: Page) -> None:
    page.emulate_media(reduced_motion="reduce")  # no flashing frame mid-measurement
    page.goto(ward_server.ward_url)
    expect(page.locator("[data-bed-id]")).to_have_count(6)
    expect(page.locator("[data-bed-id] >> text=/°C|NO DATA/").first).to_be_visible()
    assert_aa(page, "ward screen")


def test_bed_detail_and_report_text_meets_aa(ward_server: Served, page: Page) -> None:
    page.goto(ward_server.ward_url)
    page.goto(f"{ward_server.base}/bed/B01")
    expect(page.locator("body[data-ready='1']")).to_have_count(1)
    assert_aa(page, "bed detail")
    page.goto(f"{ward_server.base}/report/B01")
    expect(page.locator("svg").first).to_be_visible()
    assert_aa(page, "handover report")


@pytest.mark.parametrize("locale", ["en-GB", "vi-VN"])
def test_family_view_text_meets_aa(ward_server: Served, new_page: Any, locale: str) -> None:
    page = new_page(width=390, height=844, locale=locale)
    page.goto(ward_server.family_url)
    expect(page.locator("html")).to_have_attribute("lang", locale[:2])
    # A timer on screen (h:mm:ss). Not wait_for_function: its polling evaluates a string in the
    # page, which the page's Content-Security-Policy (no 'unsafe-eval') rightly refuses.
    expect(page.locator("body")).to_contain_text(re.compile(r"\d:\d\d:\d\d"), use_inner_text=True)
    assert_aa(page, f"family view ({locale})")


def test_sign_in_page_text_meets_aa(ward_server: Served, page: Page, page_errors: PageErrors) -> None:
    # The page comes with status 401 (the request had no credential), which Chromium logs.
    page_errors.expected_fragments = ("status of 401",)
    page.goto(f"{ward_server.base}/ward")
    expect(page.locator("form[action='/signin']")).to_be_visible()
    assert_aa(page, "sign-in page")


def test_the_measurement_catches_low_contrast(
    ward_server: Served, page: Page, page_errors: PageErrors
) -> None:
    """The check itself can fail: grey on grey, and pale text on a translucent layer, are caught;
    large text gets the 3:1 allowance."""
    page_errors.expected_fragments = ("status of 401",)
    page.goto(f"{ward_server.base}/ward")
    page.evaluate(
        """() => {
          const add = (text, color, bg, size) => {
            const p = document.createElement("p");
            p.textContent = text;
            p.style.color = color; p.style.background = bg; p.style.fontSize = size;
            document.body.append(p);
          };
          add("grey on grey", "#777777", "#888888", "16px");
          add("pale on veil", "#bbbbbb", "rgba(255,255,255,0.5)", "16px");
          add("large 3.5 to 1", "#808080", "#ffffff", "30px");
        }"""
    )
    bad = {b["text"] for b in contrast(page)["bad"]}
    assert {"grey on grey", "pale on veil"} <= bad
    assert "large 3.5 to 1" not in bad  # 3.95:1 is enough for large text
