"""Hostile WebSocket clients on a real uvicorn: oversized frames, binary garbage, text that is not
UTF-8, and a client talking on a stream that only sends.

Each hostile connection must be closed with the proper code (1009 too big, 1007 not UTF-8, 1003
anything a client sends), counted in ``Hub.refused_clients`` by reason, and a healthy client on the
same stream must go on receiving updates throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.clock import Clock
from tests.reliability.helpers import TOKEN, ThreadServer, thread_server

pytestmark = pytest.mark.timeout(120)

AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: uvicorn's default ``ws_max_size`` (what ``kmc-monitor serve`` runs with): 16 MiB.
SERVER_MAX = 16 * 1024 * 1024


@pytest.fixture(scope="module")
def ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, Clock]]:
    with thread_server(tmp_path_factory.mktemp("ws") / "data", minutes=2) as (srv, clock):
        yield srv, clock


async def closed_with(ws: ClientConnection) -> int | None:
    """Wait for the server to close; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as exc:
        return None if exc.rcvd is None else exc.rcvd.code


async def an_update(ws: ClientConnection, srv: ThreadServer, clock: Clock) -> dict[str, Any]:
    """Step the ward (its loop is the test's) until the healthy client gets an update."""
    for _ in range(20):
        clock.t += 1.0
        await asyncio.to_thread(srv.call, srv.runtime.step)
        try:
            while True:
                msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                if msg["type"] == "update":
                    return msg
        except TimeoutError:
            continue
    raise AssertionError("the healthy client got no update")


async def hostile(url: str, send: Any) -> int | None:
    """Connect, send the hostile frame, and say how the server closed the connection."""
    ws = await connect(url, additional_headers=AUTH, max_size=None, close_timeout=5)
    try:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["type"] in ("snapshot", "bed")
        try:
            await send(ws)
        except ConnectionClosed as exc:  # closed while the frame was still going out (too big)
            return None if exc.rcvd is None else exc.rcvd.code
        return await closed_with(ws)
    finally:
        with contextlib.suppress(Exception):
            await ws.close()


async def send_huge(ws: ClientConnection) -> None:
    await ws.send("x" * (SERVER_MAX + 1024))


async def send_binary(ws: ClientConnection) -> None:
    await ws.send(bytes(range(256)) * 4)


async def send_bad_utf8(ws: ClientConnection) -> None:
    await ws.send(b"\xff\xfe\xfd not utf-8", text=True)


async def send_text(ws: ClientConnection) -> None:
    await ws.send('{"type": "ack", "alarm_id": 1}')


CASES = [
    ("too_big", send_huge, 1009),
    ("binary", send_binary, 1003),
    ("invalid_utf8", send_bad_utf8, 1007),
    ("text", send_text, 1003),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("reason", "send", "code"), CASES, ids=[c[0] for c in CASES])
async def test_a_hostile_ward_client_is_closed_and_counted_while_others_stream(
    ward: tuple[ThreadServer, Clock], reason: str, send: Any, code: int
) -> None:
    srv, clock = ward
    before = srv.runtime.hub.refused_clients[reason]
    async with connect(f"{srv.ws}/ws/ward", additional_headers=AUTH) as healthy:
        assert json.loads(await asyncio.wait_for(healthy.recv(), 10))["type"] == "snapshot"
        got = await hostile(f"{srv.ws}/ws/ward", send)
        assert got == code, (reason, got)
        await an_update(healthy, srv, clock)  # the other screen never noticed
    for _ in range(50):  # the count is made on the server's loop as the connection ends
        if srv.runtime.hub.refused_clients[reason] > before:
            break
        await asyncio.sleep(0.05)
    assert srv.runtime.hub.refused_clients[reason] == before + 1


@pytest.mark.asyncio
@pytest.mark.parametrize(("reason", "send", "code"), CASES[1:], ids=[c[0] for c in CASES[1:]])
async def test_a_hostile_family_client_is_closed_too(
    ward: tuple[ThreadServer, Clock], reason: str, send: Any, code: int
) -> None:
    srv, _clock = ward
    link = next(iter(srv.runtime.family_links.values()))
    token = link.url.rsplit("#", 1)[-1]
    before = srv.runtime.hub.refused_clients[reason]
    assert await hostile(f"{srv.ws}/ws/bed/{token}", send) == code
    for _ in range(50):
        if srv.runtime.hub.refused_clients[reason] > before:
            break
        await asyncio.sleep(0.05)
    assert srv.runtime.hub.refused_clients[reason] == before + 1
