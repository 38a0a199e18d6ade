"""End to end: a real ``kmc-monitor serve`` process, real HTTP and WebSocket clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import http.client as httpclient
import json
import os
import signal
import socket
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
from tests.serving import ServeProcess
from tests.timing import scaled

STAFF_TOKEN = "e2e-staff-token-0123456789abcdef"
TIMEOUT_S = scaled(20.0)

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow(70)]


class Server(ServeProcess):
    def __init__(self, args: list[str], data_dir: Path) -> None:
        super().__init__(data_dir, args, token=STAFF_TOKEN, timeout_s=TIMEOUT_S)


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
    async with connect(
        f"{sim_server.ws}/ws/ward?since={seqs[-1]}",
        additional_headers={"Authorization": f"Bearer {STAFF_TOKEN}"},
    ) as ws:
        msg = await recv_json(ws)
        assert msg["type"] != "snapshot" and msg["seq"] == seqs[-1] + 1


#: Every staff route that changes the ward, with a valid body: refused without the staff token.
STAFF_WRITES: list[tuple[str, str, Any]] = [
    ("POST", "/api/beds", {"bed_id": "B09"}),
    ("POST", "/api/beds/B01/wrap", {"wrap_id": "W1"}),
    ("DELETE", "/api/beds/B01/wrap", None),
    ("POST", "/api/beds/swap-wraps", {"bed_a": "B01", "bed_b": "B02"}),
    ("POST", "/api/wraps", {"wrap_id": "W9", "mac": "54:48:E6:8F:80:B9"}),
    ("POST", "/api/alarms/1/ack", None),
    ("POST", "/api/screens/desk/pause", None),
    ("POST", "/api/admissions/1/discharge", None),
]


@pytest.mark.asyncio
async def test_no_credential_is_refused(sim_server: Server) -> None:
    for path in (
        "/api/beds",
        "/api/alarms",
        "/api/admissions",
        "/api/beds/B01",
        "/api/beds/B01/trend",
        "/api/beds/B01/history",
        "/api/beds/B01/days",
        "/api/wraps",
        "/api/alarms/1/audit",
        "/api/screens/desk/audio",
        "/api/settings",
        "/api/admissions/1",
    ):
        assert (await asyncio.to_thread(http, "GET", sim_server.base + path, None))[0] == 401
        # A wrong token is refused; past a few failures from this address, with 429 at once.
        assert (await asyncio.to_thread(http, "GET", sim_server.base + path, sim_server.family_token))[0] in (
            401,
            429,
        )
    for method, path, body in STAFF_WRITES:
        for token in (None, sim_server.family_token):
            status, _ = await asyncio.to_thread(http, method, sim_server.base + path, token, body)
            # Refused; once this address has failed too often, before the token is even looked at.
            assert status in ((401,) if token is None else (401, 429)), (method, path)
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
    async with connect(f"{sim_server.ws}/ws/bed/{sim_server.family_token}") as ws:
        first = await recv_json(ws)
        second = await recv_json(ws)
    mine = [b for b in beds if b["label"] == first["label"]]
    assert len(mine) == 1
    # Nothing of any other bed: not its id, its wrap, its baby's name.
    others = {v for b in beds if b is not mine[0] for v in (b["bed_id"], b["wrap_id"], b["display_name"])}
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
                    assert msg["alarm"]["alarm_id"] == alarm_id and msg["who"].endswith(" [nurse-a]")
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
    saved = [a for a in board.alarms if a.id == alarm_id]
    assert saved and saved[0].acked_by is not None and saved[0].acked_by.endswith(" [nurse-a]")
    server = Server(["--replay", str(trace), "--speed", "100"], data)
    try:
        _, after = await asyncio.to_thread(http, "GET", server.base + "/api/admissions")
        assert [a["admission_id"] for a in after] == [a["admission_id"] for a in admissions]
        # The restarted engine re-derives the same condition: the alarm stays the acknowledged one,
        # it does not come back as a new, unacknowledged alarm (checked over a few replayed minutes).
        for _ in range(6):
            status, alarms = await asyncio.to_thread(http, "GET", server.base + "/api/alarms")
            assert status == 200
            cold = [a for a in alarms if a["kind"] == saved[0].kind.value]
            assert [a["alarm_id"] for a in cold] == [alarm_id], alarms
            assert cold[0]["acknowledged_by"].startswith("staff-")
            assert cold[0]["acknowledged_by"].endswith(" [nurse-a]")
            await asyncio.sleep(0.5)
    finally:
        server.stop()


@pytest.mark.asyncio
async def test_family_page_is_served_without_data_and_its_stream_needs_the_token(sim_server: Server) -> None:
    def fetch(url: str) -> tuple[int, str]:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()

    status, page = await asyncio.to_thread(fetch, sim_server.base + "/family")
    assert status == 200 and "/assets/js/family.js" in page
    _, script = await asyncio.to_thread(fetch, sim_server.base + "/assets/js/family.js")
    assert "/ws/bed/" in script and "location.hash" in script  # the token stays in the fragment
    assert "Baby" not in page  # the page holds no data: only the token-checked stream does
    async with connect(f"{sim_server.ws}/ws/bed/{sim_server.family_token}") as ws:
        msg = await recv_json(ws)
        assert msg["type"] == "bed" and {"session_s", "contact_today_s", "status"} <= set(msg)


@pytest.mark.asyncio
async def test_replayed_alarm_reaches_the_client_within_a_second_of_being_raised(tmp_path: Path) -> None:
    # ``sent_wall`` is the server's wall clock when the tick that raised the alarm began (before
    # the engine ran): receive time minus it covers the engine, the hub, the socket and the client.
    # Server and client share this machine's clock.
    trace = cold_trace(tmp_path / "cold.csv")
    server = Server(["--replay", str(trace), "--speed", "100"], tmp_path / "data")
    try:
        auth = {"Authorization": f"Bearer {STAFF_TOKEN}"}
        async with connect(f"{server.ws}/ws/ward", additional_headers=auth) as ws:
            while True:
                msg = await recv_json(ws)
                received = time.time()
                if msg["type"] == "alarm" and msg["action"] == "raised":
                    break
        delay = received - msg["sent_wall"]
        assert msg["alarm"]["raised_us"] <= msg["at_us"]
        assert 0.0 <= delay < scaled(1.0), delay
    finally:
        server.stop()


def stalled_client(server: Server) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (tiny receive buffer)."""
    host, port = server.base.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT_S)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/ward HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {STAFF_TOKEN}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # one byte at a time: nothing past the handshake is read
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def tcp_queues(local_port: int, remote_port: int) -> tuple[int, int]:
    """``(tx_queue, rx_queue)`` of the loopback TCP socket ``local_port`` -> ``remote_port`` (Linux)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, remote, _, queues = line.split()[1:5]
            if (
                int(local.rsplit(":", 1)[1], 16) == local_port
                and int(remote.rsplit(":", 1)[1], 16) == remote_port
            ):
                tx, rx = queues.split(":")
                return int(tx, 16), int(rx, 16)
    raise LookupError((local_port, remote_port))


# A latency claim needs the cores to itself: under make test's four workers and Chromium on two
# cores, a whole-process stall of a second came often enough to fail it (CI once, then a local run at
# 0.32 s against 0.3). It runs in the long tier, one test at a time, where the limits are unscaled.
@pytest.mark.long
@pytest.mark.asyncio
async def test_stalled_clients_do_not_delay_a_healthy_client(tmp_path: Path) -> None:
    # A ward of 100 beds (~30 kB of updates a second per client); 20 clients stop reading right
    # after the handshake, so the server's sends to them back up. A healthy client's updates must
    # still arrive within 100 ms of their tick's start (``sent_wall``; the interval includes the
    # engine's tick of 100 beds, the hub and the socket), over 5 s.
    server = Server(["--simulate", "100"], tmp_path / "data")
    stalled: list[socket.socket] = []
    try:
        auth = {"Authorization": f"Bearer {STAFF_TOKEN}"}
        async with connect(f"{server.ws}/ws/ward", additional_headers=auth, max_size=None) as ws:

            async def lateness(seconds: float) -> tuple[list[float], int]:
                late: list[float] = []
                nbytes = 0
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    raw = await asyncio.wait_for(ws.recv(), TIMEOUT_S)
                    received = time.time()
                    nbytes += len(raw)
                    msg = json.loads(raw)
                    if msg["type"] == "update":
                        late.append(received - msg["sent_wall"])
                return late, nbytes

            assert (await recv_json(ws))["type"] == "snapshot"
            baseline, _ = await lateness(3.0)
            stalled = [await asyncio.to_thread(stalled_client, server) for _ in range(20)]
            # The claim is about clients that are connected and not reading: the updates during
            # the 20 handshakes (and the snapshots they are sent) are not part of it.
            settling, _ = await lateness(1.5)
            loaded, healthy_bytes = await lateness(5.0)
        assert len(baseline) >= 2 and len(loaded) >= 4
        # Head-of-line blocking behind a stalled client holds every later update for as long as a
        # send to it blocks: once the stalled sockets' buffers fill, the healthy client would receive
        # nothing more (or each update seconds late, growing), so it would miss most of the window's
        # updates and its lateness would climb to the window's length. Scheduling noise on a shared
        # machine is different: one stall of the whole process makes a few updates late, then they
        # catch up. So: nine updates in ten within 100 ms, and no update a full second late. The
        # worst case on a quiet machine is a benchmark's figure (docs/benchmarks.md), not a test's.
        ordered = sorted(loaded)
        assert ordered[int(0.9 * (len(ordered) - 1))] < scaled(0.1), (loaded, baseline, settling)
        assert ordered[-1] < scaled(1.0), (loaded, baseline, settling)
        # The stall is real: each stalled client's kernel holds data it never read, and the server's
        # socket to it holds more it could not send.
        port = int(server.base.rsplit(":", 1)[1])
        queues = [
            (tcp_queues(s.getsockname()[1], port)[1], tcp_queues(port, s.getsockname()[1])[0])
            for s in stalled
        ]
        assert all(unread > 0 and unsent > 0 for unread, unsent in queues), (queues, healthy_bytes)
    finally:
        for s in stalled:
            s.close()
        server.stop()


async def closed_within(ws: Any, started: float) -> tuple[float, int | None]:
    """Read until the server closes; the time from ``started`` and the close code."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT_S)
    rcvd = info.value.rcvd
    return time.monotonic() - started, None if rcvd is None else rcvd.code


async def refused(url: str) -> int | None:
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT_S)
    return None if info.value.rcvd is None else info.value.rcvd.code


@pytest.mark.asyncio
async def test_revoked_or_discharged_family_link_closes_open_pages_at_once(sim_server: Server) -> None:
    _, admissions = await asyncio.to_thread(http, "GET", sim_server.base + "/api/admissions")
    first = next(a for a in admissions if a["bed_id"] == "B01")  # the printed bedside link's baby
    url = f"{sim_server.ws}/ws/bed/{sim_server.family_token}"
    async with connect(url) as a, connect(url) as b:  # two family members' phones
        assert (await recv_json(a))["type"] == "bed" and (await recv_json(b))["type"] == "bed"
        started = time.monotonic()
        revoke = asyncio.create_task(
            asyncio.to_thread(
                http, "POST", f"{sim_server.base}/api/admissions/{first['admission_id']}/family-link/revoke"
            )
        )
        (took_a, code_a), (took_b, code_b) = await asyncio.gather(
            closed_within(a, started), closed_within(b, started)
        )
        status, body = await revoke
    assert status == 200 and body["revoked"] is True
    assert code_a == code_b == 4401
    assert max(took_a, took_b) < scaled(0.5), (took_a, took_b)
    assert await refused(url) == 4401

    # Discharge closes the other babies' pages the same way (a fresh link, then discharge).
    second = next(a for a in admissions if a["bed_id"] == "B02")
    status, body = await asyncio.to_thread(
        http, "POST", f"{sim_server.base}/api/admissions/{second['admission_id']}/family-link"
    )
    assert status == 200
    url = f"{sim_server.ws}/ws/bed/{body['family_url'].rsplit('#', 1)[1]}"
    async with connect(url) as ws:
        assert (await recv_json(ws))["type"] == "bed"
        started = time.monotonic()
        discharge = asyncio.create_task(
            asyncio.to_thread(
                http, "POST", f"{sim_server.base}/api/admissions/{second['admission_id']}/discharge"
            )
        )
        took, code = await closed_within(ws, started)
        assert (await discharge)[0] == 200
    assert code == 4401 and took < scaled(0.5), (took, code)
    assert await refused(url) == 4401
    # Revoking needs a staff token; an unknown admission is 404.
    assert (
        await asyncio.to_thread(http, "POST", f"{sim_server.base}/api/admissions/1/family-link/revoke", None)
    )[0] == 401
    assert (
        await asyncio.to_thread(http, "POST", f"{sim_server.base}/api/admissions/9999/family-link/revoke")
    )[0] == 404


@pytest.mark.asyncio
async def test_token_once_becomes_a_strict_httponly_cookie(sim_server: Server) -> None:
    def get(path: str, headers: dict[str, str]) -> tuple[int, str]:
        conn = httpclient.HTTPConnection(sim_server.base.split("//", 1)[1], timeout=10)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status, resp.getheader("Set-Cookie", "") or ""
        finally:
            conn.close()

    # The kiosk's sign-in link (a page): the token becomes a cookie and leaves the address bar.
    status, cookie = await asyncio.to_thread(get, f"/ward?token={STAFF_TOKEN}", {})
    assert status == 303
    # A token in an API address counts for nothing (finding 12): only the sign-in link takes one.
    assert (await asyncio.to_thread(get, f"/api/beds?token={STAFF_TOKEN}", {}))[0] == 401
    attrs = {p.strip().split("=", 1)[0].lower() for p in cookie.split(";")}
    assert {"httponly", "samesite"} <= attrs and "samesite=strict" in cookie.lower().replace(" ", "")
    session = cookie.split(";", 1)[0]
    assert STAFF_TOKEN not in session
    assert (await asyncio.to_thread(get, "/api/beds", {"Cookie": session}))[0] == 200
    assert (await asyncio.to_thread(get, "/api/beds", {"Cookie": "kmc_session=made-up"}))[0] == 401
    status, cookie = await asyncio.to_thread(get, "/ward?token=wrong", {})
    assert status == 401 and cookie == ""
    assert (await asyncio.to_thread(get, f"/api/beds?token={sim_server.family_token}", {}))[0] == 401
    # The cookie opens the ward stream too.
    async with connect(f"{sim_server.ws}/ws/ward", additional_headers={"Cookie": session}) as ws:
        assert (await recv_json(ws))["type"] == "snapshot"


@pytest.mark.asyncio
async def test_sigkill_mid_stream_then_restart_continues_timers_and_sessions(tmp_path: Path) -> None:
    """A power cut mid-session: after the restart the running session's timer goes on from where it
    was, today's total does not go back, and the session is in the saved history (not re-derived).

    A replay at 100x makes the session long enough to be one (min_session 60 s) in a second.
    """
    trace = cold_trace(tmp_path / "cold.csv")  # one wrap in contact for an hour
    data = tmp_path / "data"
    args = ["--replay", str(trace), "--speed", "100"]
    server = Server(args, data)
    try:
        deadline = time.monotonic() + 30
        while True:
            _, beds = await asyncio.to_thread(http, "GET", server.base + "/api/beds")
            if beds[0]["session_s"] >= 300 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        before = beds[0]
        assert before["session_state"] == "running" and before["session_s"] >= 300, before
        _, hist = await asyncio.to_thread(http, "GET", f"{server.base}/api/beds/{before['bed_id']}/history")
        assert hist["sessions_source"] == "stored" and hist["sessions"], hist["sessions_source"]
        started = hist["sessions"][0]
        _, admissions = await asyncio.to_thread(http, "GET", server.base + "/api/admissions")
    finally:
        server.stop(signal.SIGKILL)
    server = Server(args, data)
    try:
        _, after_adm = await asyncio.to_thread(http, "GET", server.base + "/api/admissions")
        assert [a["admission_id"] for a in after_adm] == [a["admission_id"] for a in admissions]
        _, beds = await asyncio.to_thread(http, "GET", server.base + "/api/beds")
        after = beds[0]
        # Readings are committed at least every (replayed) second and polled every 50 ms (5 s at
        # 100x): at most that much of the session may be missing from disk after the kill.
        lost_s = 1.0 + 5.0 + 2.0
        assert after["session_state"] == "running"
        assert after["session_s"] >= before["session_s"] - lost_s, (before["session_s"], after["session_s"])
        assert after["contact_today_s"] >= before["contact_today_s"] - lost_s
        _, hist = await asyncio.to_thread(http, "GET", f"{server.base}/api/beds/{after['bed_id']}/history")
        assert hist["sessions"][0]["start_us"] == started["start_us"], (hist["sessions"], started)
    finally:
        server.stop()
