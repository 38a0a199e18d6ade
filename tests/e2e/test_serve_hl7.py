"""``serve --hl7``: a real MLLP listener on loopback receives the ward's IHE PCD messages.

The listener is this test's own asyncio server (the hospital's interface engine): it reads MLLP
frames, checks each message with hl7apy against HL7 v2.6 and answers ``AA``, or stays silent, or is
gone. A replayed cold baby at 100x gives the service observations and alarms to send.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message

from tests.serving import ServeProcess
from tests.timing import scaled

TOKEN = "e2e-hl7-staff-token-0123456789abcdef"
TRACE = Path(__file__).resolve().parents[2] / "examples" / "severe_hypothermia.csv"
#: The example's baby is out of KMC from 08:10 and under cold stress from 08:25:35 (its header says
#: so). The outage test replays it from 08:20 (skin about 36.6 C, still normal, so no settling
#: time), five and a half minutes of trace before that alarm: at 100x it comes a few seconds into
#: the replay rather than fifteen.
FROM_S = 1767254400 + 20 * 60


def trace_from(path: Path, start_s: int) -> Path:
    """The example trace's comment and header lines, then its rows from ``start_s`` (epoch s) on."""
    lines = TRACE.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if not ln[:1].isdigit() or int(ln.split(",", 1)[0]) >= start_s]
    path.write_text("".join(kept))
    return path


pytestmark = [pytest.mark.timeout(150), pytest.mark.slow(20)]


class Engine:
    """A minimal HL7 interface engine: MLLP in, strict v2.6 validation, ``AA`` out (when answering)."""

    def __init__(self) -> None:
        self.answer = True
        self.received: list[Message] = []
        self.raw: list[str] = []
        self.invalid: list[str] = []
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._conns):
            w.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                data = await reader.readuntil(b"\x1c\x0d")
                assert data[:1] == b"\x0b", data[:20]
                text = data[1:-2].decode("utf-8")
                self.raw.append(text)
                try:
                    msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
                    msg.validate()
                except Exception as exc:  # a message the library refuses fails the test below
                    self.invalid.append(f"{exc}: {text!r}")
                    continue
                self.received.append(msg)
                if self.answer:
                    ack = (
                        f"MSH|^~\\&|ENGINE|HOSP|||{time.strftime('%Y%m%d%H%M%S')}||ACK^R01^ACK|"
                        f"A{len(self.raw)}|P|2.6\rMSA|AA|{msg.msh.msh_10.value}"
                    )
                    writer.write(b"\x0b" + ack.encode() + b"\x1c\x0d")
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()


def event(msg: Message) -> str:
    return str(msg.msh.msh_9.msh_9_2.value)


def obx_values(msg: Message) -> dict[str, str]:
    """OBX-3's MDC/local name -> OBX-5, over the whole message."""
    out: dict[str, str] = {}
    for seg in msg.to_er7().split("\r"):
        f = seg.split("|")
        if f[0] == "OBX":
            out[f[3].split("^")[1]] = f[5]
    return out


def alarms(base: str) -> list[dict[str, Any]]:
    req = urllib.request.Request(base + "/api/alarms", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        result: list[dict[str, Any]] = json.loads(resp.read())
    return result


async def until(what: str, check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = await asyncio.to_thread(check) if not asyncio.iscoroutinefunction(check) else await check()
        if got:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def queue_state(data_dir: Path) -> tuple[int, int]:
    """(messages waiting, highest number ever queued) in the service's HL7 queue file."""
    db = sqlite3.connect(f"file:{data_dir / 'hl7-outbox.sqlite3'}?mode=ro", uri=True)
    try:
        pending = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(pending), 0 if row is None else int(row[0])
    finally:
        db.close()


@pytest.mark.asyncio
async def test_pcd01_pcd04_watchdog_alarm_and_ordered_delivery_after_an_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine()
    await engine.start()
    monkeypatch.setenv("KMC_HL7_KEEPALIVE_S", "1")
    data = tmp_path / "data"
    trace = trace_from(tmp_path / "cooling.csv", FROM_S)
    args = ["--replay", str(trace), "--speed", "100", "--hl7", f"mllp://127.0.0.1:{engine.port}"]
    server = await asyncio.to_thread(ServeProcess, data, args, token=TOKEN, family_link=False)
    try:
        # 1. Observations and an alarm arrive, valid HL7 v2.6, acknowledged.
        def pcd04_start() -> Message | None:
            starts = (m for m in engine.received if obx_values(m).get("MDC_ATTR_EVENT_PHASE") == "start")
            return next((m for m in starts if event(m) == "R40" and "PID" in m.to_er7()), None)

        alarm_msg = await until("a PCD-04 alarm start", pcd04_start, 60)
        pcd01 = next(m for m in engine.received if event(m) == "R01")
        assert not engine.invalid, engine.invalid[:2]
        er7 = pcd01.to_er7()
        assert "ORU^R01^ORU_R01" in er7 and "|2.6|" in er7
        assert "150388^MDC_TEMP_SKIN^MDC" in er7 and "268192^MDC_DIM_DEGC^MDC" in er7
        pid = next(s for s in er7.split("\r") if s.startswith("PID|"))
        assert "^^^KMC_MONITOR^PI" in pid and "Baby 1" in pid
        values = obx_values(alarm_msg)
        assert alarm_msg.msh.msh_9.value == "ORU^R40^ORU_R01"
        assert values["MDC_ATTR_ALARM_STATE"] == "active"
        assert values["MDC_ATTR_ALARM_PRIORITY"] in ("PL", "PM", "PH")
        assert values["MDC_ATTR_ALERT_TYPE"] == "SP"
        assert values["MDC_ATTR_ALARM_INACTIVATION_STATE"] == "enabled"
        assert "MDC_TEMP_SKIN" in values  # the alarm's source: the temperature that caused it

        # 2. The engine goes silent: the missed acknowledgement (5 s) raises the ward alarm.
        engine.answer = False
        silent_at = time.monotonic()

        def link_alarm() -> list[dict[str, Any]]:
            shown = alarms(server.base)
            return [a for a in shown if a["kind"] == "hl7_link_failure" and a["ended_us"] is None]

        raised = await until("the hl7_link_failure alarm", link_alarm, 5 + scaled(15))
        took_s = time.monotonic() - silent_at
        assert 4.5 <= took_s <= 5 + scaled(10), took_s  # the watchdog's 5 s, then a margin
        assert raised[0]["category"] == "technical" and raised[0]["bed_id"] is None
        assert "acknowledge" in raised[0]["detail"]

        # 3. The engine is gone altogether: messages wait in the durable queue.
        await engine.stop()
        await until("messages waiting in the queue", lambda: queue_state(data)[0] >= 3, scaled(10))

        # 4. It is back (same port): every message arrives, in the order made, and the alarm ends.
        engine.answer = True
        await engine.start(engine.port)

        def drained() -> int:
            pending, last = queue_state(data)
            return last if pending == 0 and not link_alarm() else 0

        last = await until("the queue drained and the alarm ended", drained, 60)
    finally:
        await asyncio.to_thread(server.stop)
        await engine.stop()
    assert not engine.invalid, engine.invalid[:2]
    ids: list[int] = []
    for m in engine.received:
        cid = str(m.msh.msh_10.value)
        if cid.startswith("KMC") and int(cid[3:]) not in ids:
            ids.append(int(cid[3:]))
    # Each message once at least (a message unacknowledged when the link fell is sent again), the
    # first copies in the order they were queued, none missing.
    assert ids == list(range(1, len(ids) + 1)), ids
    assert len(ids) >= last


def test_a_bad_hl7_address_ends_serve_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kmc_monitor.cli", "serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
         "--simulate", "1", "--hl7", "http://engine:2575"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "KMC_STAFF_TOKEN": TOKEN},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "mllp://HOST:PORT" in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.asyncio
async def test_messages_queued_by_a_killed_service_are_sent_after_its_restart(tmp_path: Path) -> None:
    engine = Engine()
    await engine.start()
    port = engine.port
    await engine.stop()  # nobody listens: everything the service makes waits in its queue
    data = tmp_path / "data"
    args = ["--replay", str(TRACE), "--speed", "100", "--hl7", f"mllp://127.0.0.1:{port}"]
    server = await asyncio.to_thread(ServeProcess, data, args, token=TOKEN, family_link=False)
    try:

        def queued() -> int:
            pending, last = queue_state(data)
            return last if pending >= 5 else 0

        made = await until("messages queued", queued, 30)
    finally:
        await asyncio.to_thread(server.stop, signal.SIGKILL)
    await engine.start(port)
    server = await asyncio.to_thread(ServeProcess, data, args, token=TOKEN, family_link=False)
    try:

        def sent() -> bool:
            return queue_state(data)[0] == 0

        await until("the queue drained after the restart", sent, 60)
    finally:
        await asyncio.to_thread(server.stop)
        await engine.stop()
    assert not engine.invalid, engine.invalid[:2]
    ids = list(dict.fromkeys(int(str(m.msh.msh_10.value)[3:]) for m in engine.received
                             if str(m.msh.msh_10.value).startswith("KMC")))  # fmt: skip
    # Everything the killed process had queued went out first, in its order, then the new ones.
    assert ids[:made] == list(range(1, made + 1)), ids[:made]
    assert ids == sorted(ids)
