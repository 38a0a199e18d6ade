"""``kmc-monitor replay``: recorded traces into a real ``serve`` over HTTP, and into a real Mosquitto
as a room gateway publishes them, with a subscriber checking what arrived. Loopback only."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import pytest

from kmc_monitor.devices.trace import write_trace
from kmc_monitor.mqtt.payload import decode_reading, decode_status
from kmc_monitor.mqtt.topics import ReadingTopic, StatusTopic, parse_topic, reading_filter, status_topic
from kmc_monitor.service.store import DB_FILENAME, Store
from kmc_monitor.signal.series import build_series
from tests.mqtt.conftest import Mosquitto, free_port
from tests.serving import ServeProcess
from tests.timing import wait_until

KMC = shutil.which("kmc-monitor", path=str(Path(sys.executable).parent)) or "kmc-monitor"
TOKEN = "replay-test-staff-token-0123456789"
T0 = 1_767_254_400.0

pytestmark = pytest.mark.timeout(120)


def trace(path: Path, n: int = 120, wraps: tuple[str, ...] = ("RW1", "RW2"), t0: float = T0) -> Path:
    """``n`` readings a second per wrap, interleaved; skin temperature says which reading it is."""
    series = []
    for k, wrap in enumerate(wraps):
        t = t0 + np.arange(n) + 0.25 * k
        skin = 36.0 + np.arange(n) / 1000.0
        series.append(build_series(wrap, t, skin, np.full(n, 26.0), np.full(n, 0.9), np.full(n, 80.0)))
    write_trace(path, series)
    return path


def replay(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KMC_STAFF_TOKEN"}
    return subprocess.run([KMC, "replay", *args], capture_output=True, text=True, timeout=timeout, env=env)


def one_line(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("kmc-monitor: error")]
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


class Serve(ServeProcess):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, ["--simulate", "1"], token=TOKEN, family_link=False)

    def get(self, path: str) -> Any:
        req = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path / "data")
    try:
        yield s
    finally:
        s.stop()


def test_replay_to_a_running_ward(serve: Serve, tmp_path: Path) -> None:
    # Recent readings: a ward forgets a wrap on no bed once it has not been heard for 10 minutes of
    # its own clock (the list of unregistered wraps is bounded), so a trace from months ago would
    # be listed only until the next prune, a second later.
    t0 = float(int(time.time()) - 300)
    path = trace(tmp_path / "t.csv", t0=t0)
    proc = replay(str(path), "--to", serve.base, "--speed", "100", "--token", TOKEN)
    assert proc.returncode == 0, proc.stderr
    assert "replaying 240 reading(s) of 2 wrap(s)" in proc.stderr
    assert "replayed 240 reading(s), 240 accepted" in proc.stderr
    assert serve.get("/api/readings/stats")["accepted"] == 240
    heard: dict[str, Any] = {}

    def both_heard() -> bool:
        heard.update({w["wrap_id"]: w for w in serve.get("/api/wraps")["unregistered"]})
        return len(heard) >= 2

    wait_until("both replayed wraps heard", both_heard, 10, every_s=0.2)
    assert set(heard) == {"RW1", "RW2"}
    assert heard["RW1"]["last_heard_us"] == round((t0 + 119) * 1e6)
    # Readings are committed at least every second: all of them, while the ward still runs.
    db = serve_dir(serve) / DB_FILENAME
    wait_until("the replayed readings committed", lambda: stored_count(db) == 240, 5, every_s=0.2)
    serve.stop()
    with Store.in_data_dir(serve_dir(serve)) as store:
        stored = store.readings("RW2", t0 - 1, t0 + 1000)
    assert len(stored) == 120
    assert [r.skin_temp_c for r in stored[:3]] == [36.0, 36.001, 36.002]


def stored_count(db: Path) -> int:
    """Readings of the replayed wraps in the ward's database, read as another program would."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        sql = "SELECT count(*) FROM readings WHERE wrap_id IN ('RW1', 'RW2')"
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def serve_dir(serve: Serve) -> Path:
    args = serve.proc.args
    assert isinstance(args, list)
    return Path(args[args.index("--data-dir") + 1])


def test_ctrl_c_stops_with_a_summary(serve: Serve, tmp_path: Path) -> None:
    path = trace(tmp_path / "t.csv", n=600)
    env = {k: v for k, v in os.environ.items() if k != "KMC_STAFF_TOKEN"}
    proc = subprocess.Popen(
        [KMC, "replay", str(path), "--to", serve.base, "--token", TOKEN, "--speed", "10"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # Stopped mid-way (600 s of readings at 10x): once the ward has taken some of them.
    wait_until("some readings received", lambda: serve.get("/api/readings/stats")["received"] >= 20, 10)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    summary = err.strip().splitlines()[-1]
    assert summary.startswith("kmc-monitor: replay stopped: sent "), err
    sent = int(summary.split("sent ")[1].split(" ")[0])
    assert 0 < sent < 1200
    assert serve.get("/api/readings/stats")["received"] == sent


def test_bad_input_is_one_line(serve: Serve, tmp_path: Path) -> None:
    path = trace(tmp_path / "t.csv", n=5)
    one_line(replay(str(path), "--to", serve.base, "--token", "wrong"), 2, "refused the staff token")
    one_line(replay(str(path), "--to", serve.base), 2, "needs a staff token")
    one_line(replay(str(path), "--to", "ftp://x", "--token", TOKEN), 2, "--to needs the ward service's URL")
    one_line(replay(str(path), "--mqtt", "http://broker"), 2, "mqtt or mqtts")
    not_a_trace = tmp_path / "x.csv"
    not_a_trace.write_text("hello,world\n1,2\n")
    one_line(replay(str(not_a_trace), "--to", serve.base, "--token", TOKEN), 2, "x.csv")
    nobody = f"http://127.0.0.1:{free_port()}"
    one_line(replay(str(path), "--to", nobody, "--token", TOKEN), 1, "cannot reach the ward service")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.asyncio
async def test_replay_as_a_gateway_over_mqtt(mosquitto: Mosquitto, tmp_path: Path) -> None:
    path = trace(tmp_path / "t.csv", n=150)
    got: list[Any] = []
    statuses: list[str] = []
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="replay-test-sub") as sub:
        await sub.subscribe(reading_filter("ward"), qos=1)
        await sub.subscribe(status_topic("ward", "room-9"), qos=1)
        proc = await asyncio.create_subprocess_exec(
            KMC,
            "replay",
            str(path),
            "--mqtt",
            mosquitto.url,
            "--gateway-id",
            "room-9",
            "--speed",
            "200",
            stderr=asyncio.subprocess.PIPE,
        )

        async def collect() -> None:
            async for msg in sub.messages:
                topic = parse_topic(str(msg.topic), site="ward")
                payload = bytes(msg.payload)
                if isinstance(topic, ReadingTopic):
                    got.append(decode_reading(payload, topic))
                elif isinstance(topic, StatusTopic):
                    statuses.append(decode_status(payload, topic).state)
                if len(got) == 300 and statuses[-1:] == ["offline"]:
                    return

        await asyncio.wait_for(collect(), 60)
        _, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert statuses[0] == "online" and statuses[-1] == "offline"
    assert {m.gateway for m in got} == {"room-9"}
    assert [m.seq for m in got] == list(range(1, 301))  # in time order, nothing lost
    rw1 = [m.reading for m in got if m.reading.wrap_id == "RW1"]
    assert [r.t for r in rw1] == [T0 + i for i in range(150)]
    assert rw1[7].skin_temp_c == pytest.approx(36.007)
    assert rw1[7].contact == pytest.approx(0.9) and rw1[7].battery_pct == pytest.approx(80.0)
