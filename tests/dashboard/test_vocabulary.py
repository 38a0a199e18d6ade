"""The ward screen prints the service's words (``GET /api/vocabulary``), not a copy of its own: with
the API's labels changed on the way, the tiles show the changed labels; without an answer, the
screen still shows every bed and says on screen that the names are missing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, Route, expect

from tests.dashboard.conftest import PageErrors, Served
from tests.dashboard.test_ward_screen import api, eventually, open_ward
from tests.timing import scaled

MARK = "·api"


def band_lines_match(page: Page, server: Served, words: Callable[[str], str]) -> list[str] | None:
    """Every tile's band line, if each is ``words`` of its bed's band (or why it is not judged) as
    the API says now; None otherwise (a band that changed between the two reads is retried)."""
    shown: list[list[str]] = page.evaluate(
        """() => [...document.querySelectorAll('article.tile[data-bed-id]')].map(t => [
            t.dataset.bedId, t.querySelector('.band-name').textContent.trim()])"""
    )
    now = {b["bed_id"]: b for b in api(server, "/api/beds")}
    if any(text != words(now[bed_id]["band"] or now[bed_id]["judging"]) for bed_id, text in shown):
        return None
    return [text for _, text in shown]


def test_the_ward_screen_shows_the_labels_the_api_gives(ward_server: Served, page: Page) -> None:
    served: list[dict[str, Any]] = []

    def relabel(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        for entry in (*body["bands"], *body["judging"]):
            entry["label"] = f"{entry['label']} {MARK}"
        served.append(body)
        route.fulfill(response=response, body=json.dumps(body))

    page.route("**/api/vocabulary", relabel)
    beds = api(ward_server, "/api/beds")
    open_ward(page, ward_server, len(beds))
    assert served, "the ward screen did not ask for the vocabulary"
    words = {e["name"]: e["label"] for e in (*served[0]["bands"], *served[0]["judging"])}

    texts = eventually(
        lambda: band_lines_match(page, ward_server, lambda key: words[key]),
        scaled(10.0),
        "every tile's band line in the API's words",
        page,
    )
    assert all(t.endswith(MARK) for t in texts), texts
    expect(page.locator("#vocabulary-missing")).to_have_count(0)


def test_without_the_vocabulary_the_screen_works_and_says_so(
    ward_server: Served, page: Page, page_errors: PageErrors
) -> None:
    # The browser logs the refused request itself; that is the point of this test, not a fault.
    page_errors.expected_fragments = ("Failed to load resource",)
    page.route("**/api/vocabulary", lambda route: route.fulfill(status=503, json={"detail": "down"}))
    beds = api(ward_server, "/api/beds")
    open_ward(page, ward_server, len(beds))
    notice = page.locator("#vocabulary-missing")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("could not be loaded")
    # The tiles still say each band, as the API spells it.
    eventually(
        lambda: band_lines_match(page, ward_server, lambda key: key.replace("_", " ")),
        scaled(10.0),
        "every tile's band line as the API spells it",
        page,
    )
