"""Who may open which dashboard page, and how pages are served (headers, sign-in, sessions)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kmc_monitor.service.app import create_app
from kmc_monitor.service.auth import SESSION_COOKIE
from kmc_monitor.service.config import Settings
from kmc_monitor.service.pages import SECURITY_HEADERS
from kmc_monitor.service.runtime import WardRuntime
from tests.clock import Clock
from tests.service.test_api import T0, FakeSource

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "pages-test-staff-token-0123456789"

pytestmark = pytest.mark.timeout(60)


def client(data_dir: Path) -> TestClient:
    settings = Settings(data_dir=data_dir, staff_token=TOKEN)
    rt = WardRuntime(settings, source=FakeSource(), clock=Clock(T0), tick_s=None)
    return TestClient(create_app(settings, runtime=rt), follow_redirects=False)


@pytest.fixture
def app_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    with client(tmp_path / "data") as c:
        yield c


def assert_hardened(headers: dict[str, str] | object) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value  # type: ignore[index]


@pytest.mark.parametrize("path", ["/ward", "/bed/B01", "/report/B01"])
def test_staff_pages_without_a_credential_answer_401_with_the_sign_in_page(
    app_client: TestClient, path: str
) -> None:
    r = app_client.get(path)
    assert r.status_code == 401
    assert "staff token" in r.text and 'action="/signin"' in r.text
    assert_hardened(r.headers)
    assert r.headers["cache-control"] == "no-store"
    assert app_client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_kiosk_link_becomes_a_cookie_and_leaves_the_address_bar(app_client: TestClient) -> None:
    r = app_client.get(f"/ward?token={TOKEN}")
    assert r.status_code == 303 and r.headers["location"] == "/ward"  # the token is gone from the URL
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert TOKEN not in cookie
    page = app_client.get("/ward")  # the client keeps the cookie
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text == (Path(__file__).parents[2] / "dashboard" / "ward.html").read_text()
    assert_hardened(page.headers)


def test_a_session_survives_a_restart_on_the_same_data_dir_but_not_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    with client(tmp_path / "a") as first:
        first.get(f"/ward?token={TOKEN}")
        sid = first.cookies[SESSION_COOKIE]
    with client(tmp_path / "a") as again:
        again.cookies.set(SESSION_COOKIE, sid)
        assert again.get("/ward").status_code == 200
        assert again.get("/api/beds").status_code == 200
    with client(tmp_path / "b") as other:
        other.cookies.set(SESSION_COOKIE, sid)
        assert other.get("/ward").status_code == 401


def test_the_sign_in_form(app_client: TestClient) -> None:
    bad = app_client.post("/signin", data={"token": "wrong", "next": "/bed/B01"})
    assert bad.status_code == 303 and bad.headers["location"] == "/bed/B01?signin=failed"
    assert "set-cookie" not in bad.headers and "wrong" not in bad.headers["location"]
    good = app_client.post("/signin", data={"token": TOKEN, "next": "/bed/B01"})
    assert good.status_code == 303 and good.headers["location"] == "/bed/B01"
    assert SESSION_COOKIE in good.headers["set-cookie"]
    # No open redirect: only paths on this site.
    for nxt in ("//evil.example/", "https://evil.example/", "javascript:alert(1)"):
        r = app_client.post("/signin", data={"token": TOKEN, "next": nxt})
        assert r.headers["location"] == "/ward"


def test_public_pages_and_assets(app_client: TestClient) -> None:
    assert app_client.get("/").headers["location"] == "/ward"
    fam = app_client.get("/family")
    assert fam.status_code == 200 and "<html" in fam.text
    assert_hardened(fam.headers)
    js = app_client.get("/assets/js/signin.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert_hardened(js.headers)
    for path in ("/assets/../../pyproject.toml", "/assets/%2e%2e/%2e%2e/pyproject.toml", "/assets/nope.js"):
        assert app_client.get(path).status_code == 404
