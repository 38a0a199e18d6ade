"""A ward service in process for the ward-admin and nurses routes: a real app, store and runtime on
a temporary data directory, a test clock, and two demo wraps (W1 on B01, W2 on B02)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.exceptions import StarletteDeprecationWarning

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.app import create_app
from kmc_monitor.service.auth import StaffAuth
from kmc_monitor.service.config import Settings
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.sources import ReadingSource
from tests.clock import Clock

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "ward-admin-test-token-0123456789abcdef"
STAFF_ID = StaffAuth([SecretStr(TOKEN)]).check_token(TOKEN)
T0 = 1767261600.0


class TwoWraps(ReadingSource):
    """Two wraps, each warm and in contact every 2 s, W2's battery flat (a low-battery alarm to
    acknowledge); ``demo`` as the test asks."""

    def __init__(self, demo: bool = True) -> None:
        self.demo = demo
        self.next_t = T0

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [("W1", "54:48:E6:8F:80:A5", None), ("W2", "54:48:E6:8F:80:A6", None)]

    def readings_until(self, t_s: float) -> list[Reading]:
        out = []
        while self.next_t <= t_s:
            for w, battery in (("W1", 80.0), ("W2", 5.0)):
                out.append(Reading(self.next_t, w, 36.8, 30.0, 1.0, battery, -60.0))
            self.next_t += 2.0
        return out


@dataclass
class Ward:
    client: TestClient
    rt: WardRuntime
    clock: Clock

    def advance(self, seconds: float) -> None:
        assert self.client.portal is not None
        end = self.clock.t + seconds
        while self.clock.t < end:
            self.clock.t = min(end, self.clock.t + 10.0)
            self.client.portal.call(self.rt.step)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200, **kw: Any) -> Any:
        r = self.client.request(method, path, json=body, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json()

    def screen(self) -> dict[str, str]:
        """Sign this client in as a browser would (the kiosk link's cookie) and return the headers a
        page's writes carry: no bearer token, the session's anti-forgery token."""
        r = self.client.get(f"/ward?token={TOKEN}", headers={"Authorization": ""}, follow_redirects=False)
        assert r.status_code in (200, 303), r.text
        csrf = self.client.get("/api/session", headers={"Authorization": ""}).json()["csrf"]
        return {"Authorization": "", "X-CSRF-Token": csrf}


def make_ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, demo: bool = True) -> Iterator[Ward]:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(
        data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC", ward_name="Test ward", beds=3
    )
    clock = Clock(T0)
    rt = WardRuntime(settings, source=TwoWraps(demo), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        w = Ward(c, rt, clock)
        w.advance(60)
        yield w


@pytest.fixture
def ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ward]:
    yield from make_ward(tmp_path, monkeypatch)


@pytest.fixture
def new_ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ward]:
    """A real ward's first start: empty beds, the wraps registered, nobody admitted."""
    yield from make_ward(tmp_path, monkeypatch, demo=False)
