"""The HL7 link against an interface engine on loopback: order, refusals, the watchdog, outages."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kmc_monitor.service.hl7 import Identity, build_ack, parse
from kmc_monitor.service.hl7_link import Hl7Link
from kmc_monitor.service.hl7_outbox import Hl7Outbox
from kmc_monitor.service.mllp import MllpUrl, frame, read_frame

pytestmark = pytest.mark.timeout(60)
IDENT = Identity()


class Engine:
    """An interface engine: answers each message with ``reply(control_id)`` (None: silence)."""

    def __init__(self, reply: Callable[[str], str | None] = lambda _cid: "AA") -> None:
        self.reply = reply
        self.got: list[str] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                text = await read_frame(reader)
                msg = parse(text)
                cid = str(msg.msh.msh_10.value)
                self.got.append(cid)
                code = self.reply(cid)
                if code == "stale":  # an acknowledgement of some other message first
                    writer.write(frame(build_ack(text.replace(f"|{cid}|", "|OLD1|", 1), "AA")))
                    code = "AA"
                if code is not None:
                    writer.write(frame(build_ack(text, code, text="refused" if code != "AA" else "")))
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def message(cid: str) -> str:
    from kmc_monitor.service.hl7 import build_watchdog

    return build_watchdog(cid, IDENT, 1_767_268_800_000_000)


def queue(box: Hl7Outbox, ids: list[str]) -> None:
    box.append([(cid, "pcd04", 0, message(cid)) for cid in ids])


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def link_to(port: int, box: Hl7Outbox, **kw: float) -> Hl7Link:
    return Hl7Link(MllpUrl("127.0.0.1", port), box, IDENT, retry_s=0.1, **kw)


@pytest.mark.asyncio
async def test_in_order_refusals_kept_aside_and_watchdog_when_idle(tmp_path: Path) -> None:
    engine = Engine(lambda cid: "AE" if cid == "KMC2" else ("stale" if cid == "KMC3" else "AA"))
    await engine.start()
    box = Hl7Outbox.in_data_dir(tmp_path)
    queue(box, ["KMC1", "KMC2", "KMC3", "KMC4"])
    link = link_to(engine.port, box, keepalive_s=0.3)
    link.start()
    try:
        await until(lambda: box.pending() == 0 and link.watchdogs >= 2)
        assert link.up and not link.alarm_due()
    finally:
        await link.stop()
        await engine.stop()
    kmc = [c for c in engine.got if c.startswith("KMC")]
    assert kmc == ["KMC1", "KMC2", "KMC3", "KMC4"]
    assert (link.accepted, link.rejected, box.rejected()) == (3, 1, 1)
    assert any(c.startswith("W") for c in engine.got)


@pytest.mark.asyncio
async def test_a_silent_engine_raises_the_alarm_after_the_timeout_and_loses_nothing(tmp_path: Path) -> None:
    answering = True
    engine = Engine(lambda _cid: "AA" if answering else None)
    await engine.start()
    box = Hl7Outbox.in_data_dir(tmp_path)
    link = link_to(engine.port, box, keepalive_s=0.2, ack_timeout_s=0.5)
    link.start()
    try:
        await until(lambda: link.up and link.watchdogs >= 1)
        answering = False  # the engine still takes the bytes, but answers nothing
        silent_at = time.monotonic()
        await until(link.alarm_due)
        # Not before a whole acknowledgement timeout (the next keep-alive is due within 0.2 s).
        assert 0.45 <= time.monotonic() - silent_at <= 2.0
        assert "did not acknowledge within 0.5 s" in (link.down_reason or "")
        queue(box, ["KMC1", "KMC2"])
        link.wake()
        await asyncio.sleep(0.3)
        assert box.pending() == 2
        answering = True
        await until(lambda: box.pending() == 0 and link.up)
    finally:
        await link.stop()
        await engine.stop()
    first_copies = list(dict.fromkeys(c for c in engine.got if c.startswith("KMC")))
    assert first_copies == ["KMC1", "KMC2"]


@pytest.mark.asyncio
async def test_no_engine_at_all_is_down_then_back(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on (yet)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Hl7Outbox.in_data_dir(tmp_path)
    queue(box, ["KMC1"])
    link = link_to(port, box, keepalive_s=0.2, ack_timeout_s=0.4)
    link.start()
    engine = Engine()
    try:
        await until(link.alarm_due)
        assert "unreachable" in (link.down_reason or "")
        assert box.pending() == 1
        await engine.start(port)
        await until(lambda: link.up and box.pending() == 0)
        assert not link.alarm_due()
    finally:
        await link.stop()
        await engine.stop()
    assert engine.got[0] == "KMC1"
