"""``serve --log-format json``: a real service on loopback, asked for pages with tokens in their URLs;
every line it writes on stderr is one JSON object, and no token appears in any of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx  # the test extra ships Starlette's httpx fork (httpx2), not httpx
import pytest

from kmc_monitor.service.jsonlog import JsonFormatter

pytestmark = pytest.mark.timeout(90)


def test_serve_writes_json_lines_without_tokens(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMC_")}
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kmc_monitor.cli", "serve", "--simulate", "2", "--host", "127.0.0.1"]
            + ["--port", "0", "--data-dir", str(tmp_path / "data"), "--log-format", "json"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            text=True,
        )
        try:
            assert proc.stdout is not None
            lines: dict[str, str] = {}
            deadline = time.monotonic() + 60
            while "bedside link" not in lines and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                key, _, rest = line.partition(": ")
                lines[key.strip()] = rest.strip()
            ward_url, family_url = lines["ward screen"], lines["bedside link"]
            staff_token = ward_url.rsplit("token=", 1)[1]
            family_token = family_url.rsplit("#", 1)[1]
            base = ward_url.split("/ward?", 1)[0]
            with httpx.Client(base_url=base, timeout=10) as client:
                assert client.get(f"/ward?token={staff_token}").status_code == 303  # the kiosk link
                assert (
                    client.get("/api/beds", headers={"Authorization": f"Bearer {staff_token}"}).status_code
                    == 200
                )
                client.cookies.clear()  # the first request's session cookie would let the next one in
                # A token in an API address counts for nothing (and never reaches the log).
                assert client.get(f"/api/beds?token={staff_token}").status_code == 401
                client.get(f"/ws/bed/{family_token}")  # not a WebSocket: refused, but logged
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
    text = stderr_path.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert len(records) >= 5
    for r in records:
        assert {"time", "level", "logger", "message"} <= r.keys()
        assert r["time"].endswith("Z")
    assert staff_token not in text and family_token not in text
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    statuses = sorted(r["status"] for r in access)
    assert 200 in statuses and 401 in statuses and 303 in statuses
    assert any(r["path"] == "/api/beds?token=***" for r in access)
    assert any(r["path"] == "/ward?token=***" for r in access)
    assert any(
        r["logger"] == "uvicorn.error" and "Application startup complete" in r["message"] for r in records
    )


def test_formatter_fields_and_redaction() -> None:
    import logging

    record = logging.LogRecord(
        "kmc_monitor.x", logging.WARNING, __file__, 1, "opened %s", ("/ward?token=s3cret",), None
    )
    record.bed_id = "B01"
    record.note = "see /family#abcdef"
    record.count = 3
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "opened /ward?token=***"
    assert (out["level"], out["logger"], out["bed_id"], out["count"]) == (
        "WARNING",
        "kmc_monitor.x",
        "B01",
        3,
    )
    assert out["note"] == "see /family#***"
    try:
        raise ValueError("token=leak")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert "token=leak" not in JsonFormatter().format(record)
