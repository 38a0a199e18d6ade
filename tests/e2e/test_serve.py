"""End to end: a real ``kmc-monitor serve`` process, real HTTP and WebSocket clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from kmc_monitor.devices.trace import write_trace
from kmc_monitor.service.store import Store
from kmc_monitor.signal.series import build_series

STAFF_TOKEN = "e2e-staff-token-0123456789abcdef"
TIMEOUT_S = 20.0

pytestmark = pytest.mark.timeout(120)


class Server:
    def __init__(self, args: list[str], data_dir: Path) -> None:
        env = {**os.environ, "KMC_STAFF_TOKEN": STAFF_TOKEN}
        env.pop("KMC_CONFIG", None)
        cmd = [sys.executable, "-m", "kmc_monitor.cli", "serve", "--port", "0", "--data-dir", str(data_dir)]
        self.proc = subprocess.Popen(
            [*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.base = ""
        self.family_token = ""
        self.stdout: list[str] = []
        deadline = time.monotonic() + TIMEOUT_S
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.stdout.append(line)
            if line.startswith("ward service listening on "):
                self.base = line.split()[-1]
            if line.startswith("bedside link: "):
                self.family_token = line.strip().rsplit("#", 1)[1]
                break
        assert self.base and self.family_token, self.stdout
        self.ws = self.base.replace("http://", "ws://")

    def stop(self, sig: int = signal.SIGTERM) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def http(method: str, url: str, token: str | None = STAFF_TOKEN, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def sim_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(["--simulate", "4"], tmp_path / "data")
    try:
        yield server
    finally:
        err = server.stop()
        assert STAFF_TOKEN not in err and server.family_token not in err


def cold_trace(path: Path) -> Path:
    t0 = 1_700_000_000.0
    t = t0 + np.arange(0, 3600, 2.0)
    n = t.size
    series = build_series("CW1", t, np.full(n, 35.0), np.full(n, 30.0), np.ones(n), np.full(n, 90.0))
    write_trace(path, [series])
    return path


async def recv_json(ws: Any) -> dict[str, Any]:
    msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
    return msg


@pytest.mark.asyncio
async def test_snapshot_then_updates_with_increasing_seq(sim_server: Server) -> None:
    async with connect(
        f"{sim_server.ws}/ws/ward", additional_headers={"Authorization": f"Bearer {STAFF_TOKEN}"}
    ) as ws:
        snap = await recv_json(ws)
        assert snap["type"] == "snapshot"
        assert len(snap["beds"]) == 4
        bed = snap["beds"][0]
        for key in ("bed_id", "wrap_id", "temperature_c", "band", "contact", "session_s", "contact_today_s"):
            assert key in bed
        seqs = [snap["seq"]]
        updates = 0
        while updates < 2:
            msg = await recv_json(ws)
            assert msg["seq"] > seqs[-1]
            seqs.append(msg["seq"])
            updates += msg["type"] == "update"
    # Resume after the last seq seen: no snapshot, the next message follows on.
    async with connect(f"{sim_server.ws}/ws/ward?since={seqs[-1]}&token={STAFF_TOKEN}") as ws:
        msg = await recv_json(ws)
        assert msg["type"] != "snapshot" and msg["seq"] == seqs[-1] + 1


@pytest.mark.asyncio
async def test_no_credential_is_refused(sim_server: Server) -> None:
    for path in ("/api/beds", "/api/alarms", "/api/admissions"):
        assert (await asyncio.to_thread(http, "GET", sim_server.base + path, None))[0] == 401
        assert (await asyncio.to_thread(http, "GET", sim_server.base + path, sim_server.family_token))[
            0
        ] == 401
    assert (await asyncio.to_thread(http, "GET", sim_server.base + "/healthz", None))[0] == 200
    async with connect(f"{sim_server.ws}/ws/ward") as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT_S)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4401
    async with connect(f"{sim_server.ws}/ws/ward?token={sim_server.family_token}") as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT_S)


@pytest.mark.asyncio
async def test_family_token_sees_only_its_bed(sim_server: Server) -> None:
    status, beds = await asyncio.to_thread(http, "GET", sim_server.base + "/api/beds")
    assert status == 200
    others = {b["bed_id"] for b in beds} | {b["wrap_id"] for b in beds} | {b["display_name"] for b in beds}
    async with connect(f"{sim_server.ws}/ws/bed/{sim_server.family_token}") as ws:
        first = await recv_json(ws)
        second = await recv_json(ws)
    for msg in (first, second):
        assert msg["type"] == "bed"
        assert {"session_s", "contact_today_s", "daily_goal_s", "status"} <= msg.keys()
        text = json.dumps(msg)
        assert not any(f'"{o}"' in text for o in others)
    async with connect(f"{sim_server.ws}/ws/bed/{'x' * 43}") as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT_S)


@pytest.mark.asyncio
async def test_replayed_alarm_ack_and_restart(tmp_path: Path) -> None:
    trace = cold_trace(tmp_path / "cold.csv")
    data = tmp_path / "data"
    server = Server(["--replay", str(trace), "--speed", "100"], data)
    try:
        auth = {"Authorization": f"Bearer {STAFF_TOKEN}"}
        async with connect(f"{server.ws}/ws/ward", additional_headers=auth) as ws:
            alarm_id = None
            while alarm_id is None:
                msg = await recv_json(ws)
                if msg["type"] == "alarm" and msg["action"] == "raised":
                    alarm_id = msg["alarm"]["alarm_id"]
            status, body = await asyncio.to_thread(
                http, "POST", f"{server.base}/api/alarms/{alarm_id}/ack", STAFF_TOKEN, {"who": "nurse-a"}
            )
            assert status == 200, body
            while True:
                msg = await recv_json(ws)
                if msg["type"] == "alarm" and msg["action"] == "acknowledged":
                    assert msg["alarm"]["alarm_id"] == alarm_id and msg["who"] == "nurse-a"
                    break
        _, admissions = await asyncio.to_thread(http, "GET", server.base + "/api/admissions")
    finally:
        server.stop(signal.SIGKILL)
    # The acknowledgement was saved before the kill (the board is checkpointed on every staff action).
    store = Store.in_data_dir(data)
    try:
        board = store.load_alarm_board()
    finally:
        store.close()
    assert board is not None
    saved = [a for a in board["alarms"] if a["id"] == alarm_id]
    assert saved and saved[0]["acked_by"] == "nurse-a"
    server = Server(["--replay", str(trace), "--speed", "100"], data)
    try:
        _, after = await asyncio.to_thread(http, "GET", server.base + "/api/admissions")
        assert [a["admission_id"] for a in after] == [a["admission_id"] for a in admissions]
        # The restarted engine re-derives the same condition: the alarm stays the acknowledged one,
        # it does not come back as a new, unacknowledged alarm (checked over a few replayed minutes).
        for _ in range(6):
            status, alarms = await asyncio.to_thread(http, "GET", server.base + "/api/alarms")
            assert status == 200
            cold = [a for a in alarms if a["kind"] == saved[0]["kind"]]
            assert [a["alarm_id"] for a in cold] == [alarm_id], alarms
            assert cold[0]["acknowledged_by"] == "nurse-a"
            await asyncio.sleep(0.5)
    finally:
        server.stop()


@pytest.mark.asyncio
async def test_overview_page_shows_every_bed_in_words(sim_server: Server) -> None:
    def fetch(url: str) -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, resp.headers.get("Set-Cookie", ""), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, "", exc.read().decode()

    status, _, _ = await asyncio.to_thread(fetch, sim_server.base + "/")
    assert status == 401
    status, cookie, page = await asyncio.to_thread(fetch, f"{sim_server.base}/?token={STAFF_TOKEN}")
    assert status == 200 and "HttpOnly" in cookie
    _, beds = await asyncio.to_thread(http, "GET", sim_server.base + "/api/beds")
    for bed in beds:
        assert f"<td>{bed['label']}</td>" in page
        if bed["band"] is not None:
            assert bed["band"].replace("_", " ") in page  # the band in words, not only a colour


@pytest.mark.asyncio
async def test_family_page_is_served_without_data_and_its_stream_needs_the_token(sim_server: Server) -> None:
    def fetch(url: str) -> tuple[int, str]:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()

    status, page = await asyncio.to_thread(fetch, sim_server.base + "/family")
    assert status == 200 and "/ws/bed/" in page and "location.hash" in page
    assert "Baby" not in page  # the page holds no data: only the token-checked stream does
    async with connect(f"{sim_server.ws}/ws/bed/{sim_server.family_token}") as ws:
        msg = await recv_json(ws)
        assert msg["type"] == "bed" and {"session_s", "contact_today_s", "status"} <= set(msg)
