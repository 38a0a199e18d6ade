"""End to end: ``kmc-monitor serve --station``, a health station with no live ward of its own."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.serving import ServeProcess
from tests.timing import scaled

TOKEN = "e2e-station-token-0123456789abcdef"

pytestmark = pytest.mark.timeout(120)


def _get(url: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def test_serve_station_runs_the_station_without_a_ward(tmp_path: Path) -> None:
    server = ServeProcess(
        tmp_path / "data", ["--station"], token=TOKEN, family_link=False, timeout_s=scaled(30)
    )
    try:
        status, body = _get(f"{server.base}/api/station")
        assert status == 200
        view = json.loads(body)
        assert view["homes"] == [] and view["visit_days"] == [1, 2, 3, 5, 7, 10, 14, 21, 28]
        status, _ = _get(f"{server.base}/station")
        assert status == 200
        # No live ward: no simulated baby was admitted, no wrap is streaming.
        assert json.loads(_get(f"{server.base}/api/admissions")[1]) == []
        assert json.loads(_get(f"{server.base}/api/wraps")[1])["registered"] == []
    finally:
        err = server.stop()
    assert "Traceback" not in err
    assert "running a health station with no live ward" in err
