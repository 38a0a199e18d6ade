"""Hospital scale (issue #6): 500 wraps at 1 Hz in 5 rooms, through Mosquitto, into one ward service
with 200 ward screens.

Processes, all on 127.0.0.1:

* **Mosquitto** from a configuration in a temporary directory (a free port, anonymous, no
  persistence, ``$SYS`` every second so the messages it forwarded can be counted);
* **5 room gateways**: ``kmc-monitor gateway --simulate 100 --wrap-prefix G<i>-`` with
  ``KMC_SIMULATE_MEASURE_S=1`` (every wrap measures once a second), each with its own outbox;
* **the ward service**: ``kmc-monitor serve --mqtt``, pinned to one core of its own when the
  machine has more than one (everything else shares the other cores); its 500 beds are set up and
  every wrap registered and put on a bed through the REST API before the rooms start, so each
  reading runs through a wrap's rules, its tile and the store;
* **200 WebSocket clients** on ``/ws/ward`` in this process (every 5th records what it receives and
  parses it after the run, as in ``benchmarks/service.py``).

Measured over ``--duration`` seconds once every bed shows data:

* **reading -> client**: for every new reading a recording client sees on a tile, receipt minus the
  reading's time (``last_heard_us``). The time is stamped by the *gateway* when its simulated wrap
  measures, so this is the whole way: the gateway's poll, its outbox commit, the publish, the
  broker, the service's poll of its source, the engine, the fan-out, loopback and the client's read;
* **messages/s through the broker**: ``$SYS/broker/publish/messages/received`` and ``.../sent`` over
  the window (readings in from the gateways and out to the service, plus presence messages);
* **CPU** (``/proc`` utime+stime over the window, in cores) of the service, the broker, the five
  gateways together and this client process; the service's **RSS** (sampled each second, and
  ``VmHWM``);
* **readings lost**: at the end the gateways are stopped (each sends what its outbox holds and says
  how many readings it produced), the service is given time to store the rest, and the readings in
  its database are counted against those the gateways produced.

Targets (issue #6): reading -> client p99 <= 250 ms, nothing lost.
Run: ``python benchmarks/mqtt.py [--duration 60 --rooms 5 --wraps 100 --clients 200]``.
From ``benchmarks/run.py``: ``from benchmarks.mqtt import bench_mqtt; bench_mqtt()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.service import (  # noqa: E402
    _Client,
    _cpu_s,
    _parse,
    _pct,
    _run_client,
    _status_kb,
    launch_service,
    ok,
    reading_latencies_ms,
    stop_process,
    stream_faults,
)
from kmc_monitor.mqtt.publisher import simulated_ward  # noqa: E402

TARGET_P99_MS = 250.0
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
_STOPPED = re.compile(r"stopped: (\d+) reading\(s\) produced, (\d+) published, (\d+) left on disk")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pinned(cores: set[int] | None) -> Any:
    return (lambda: os.sched_setaffinity(0, cores)) if cores else None


def _start_broker(directory: Path, cores: set[int] | None) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "max_queued_messages 1000000\n"
        "sys_interval 1\n"
        "log_dest stderr\nlog_type error\nlog_type warning\n"
        + (f"user {getpass.getuser()}\n" if os.geteuid() == 0 else "")
    )
    log = (directory / "mosquitto.log").open("wb")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log, preexec_fn=_pinned(cores))
    log.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("mosquitto did not start") from None
            time.sleep(0.05)


def _env(token: str) -> dict[str, str]:
    env = {**os.environ, "KMC_STAFF_TOKEN": token, "KMC_SIMULATE_MEASURE_S": "1", "KMC_BEDS": "200"}
    env["KMC_MQTT_GATEWAYS"] = ",".join(f"room-{i}" for i in range(1, 11))
    for key in ("KMC_STAFF_TOKENS", "KMC_CONFIG", "KMC_REORDER_S", "KMC_MQTT_URL"):
        env.pop(key, None)
    return env


def _kmc() -> str:
    return str(Path(sys.executable).with_name("kmc-monitor"))


def _start_service(
    port: int, data_dir: str, token: str, cores: set[int] | None
) -> tuple[subprocess.Popen[str], str, list[str]]:
    cmd = [_kmc(), "serve", "--mqtt", f"mqtt://127.0.0.1:{port}", "--host", "127.0.0.1", "--port", "0"]
    return launch_service(cmd + ["--data-dir", data_dir], _env(token), _pinned(cores))


def _http(method: str, url: str, token: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _set_up_ward(base: str, token: str, rooms: int, wraps: int) -> list[str]:
    """500 beds (200 from ``KMC_BEDS``, the rest added), each with its registered wrap."""
    have = {b["bed_id"] for b in _http("GET", f"{base}/api/beds", token)}
    width = max(2, len(str(wraps)))
    wrap_ids: list[str] = []
    n = 0
    for room in range(1, rooms + 1):
        # The room's simulated wraps with their keys: the ward verifies every sealed packet.
        room_wraps = simulated_ward(wraps, start_s=0, seed=room, prefix=f"G{room}-").wraps()
        keys = {w: (mac, key) for w, mac, key in room_wraps}
        for i in range(1, wraps + 1):
            n += 1
            bed_id = f"B{n:02d}"
            if bed_id not in have:
                _http("POST", f"{base}/api/beds", token, {"bed_id": bed_id, "position": n})
            wrap_id = f"G{room}-W{i:0{width}d}"
            mac, key = keys[wrap_id]
            body = {"wrap_id": wrap_id, "mac": mac, "key": None if key is None else key.hex()}
            _http("POST", f"{base}/api/wraps", token, body)
            _http("POST", f"{base}/api/beds/{bed_id}/wrap", token, {"wrap_id": wrap_id})
            wrap_ids.append(wrap_id)
    return wrap_ids


def _start_gateways(
    port: int, directory: Path, rooms: int, wraps: int, token: str, cores: set[int] | None
) -> list[tuple[subprocess.Popen[str], Path]]:
    out: list[tuple[subprocess.Popen[str], Path]] = []
    for room in range(1, rooms + 1):
        log = directory / f"gateway-{room}.log"
        with log.open("w") as f:
            proc = subprocess.Popen(
                [_kmc(), "gateway", "--mqtt", f"mqtt://127.0.0.1:{port}", "--gateway-id", f"room-{room}"]
                + ["--simulate", str(wraps), "--seed", str(room), "--wrap-prefix", f"G{room}-"]
                + ["--data-dir", str(directory / f"gateway-{room}")],
                stdout=f,
                stderr=subprocess.STDOUT,
                text=True,
                env=_env(token),
                preexec_fn=_pinned(cores),
            )
        out.append((proc, log))
    return out


class _Sys:
    """The broker's ``$SYS`` publish counters, read by a subscriber in this process."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.values: dict[str, int] = {}
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        import aiomqtt

        async with aiomqtt.Client("127.0.0.1", self.port, identifier="kmc-bench-sys") as client:
            await client.subscribe("$SYS/broker/publish/messages/+")
            async for m in client.messages:
                with contextlib.suppress(ValueError, TypeError):
                    self.values[m.topic.value.rsplit("/", 1)[1]] = int(bytes(m.payload).decode())  # type: ignore[arg-type]

    async def snapshot(self) -> dict[str, int]:
        """The counters after the broker's next ``$SYS`` update (they are sent every second)."""
        before = dict(self.values)
        deadline = time.monotonic() + 3
        while self.values == before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return {**self.values, "_t": int(time.time() * 1e6)}


async def _drive(
    base: str,
    token: str,
    pids: dict[str, list[int]],
    broker_port: int,
    clients: int,
    duration: float,
    warmup: float,
    n_beds: int,
) -> dict[str, Any]:
    url = base.replace("http://", "ws://", 1) + "/ws/ward"
    stop = asyncio.Event()
    sys_counters = _Sys(broker_port)
    sys_task = asyncio.create_task(sys_counters.run())
    cs = [_Client(keep=i % 5 == 0) for i in range(clients)]
    t_connect = time.monotonic()
    tasks = [asyncio.create_task(_run_client(c, url, token, False, stop)) for c in cs]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in cs)), 60)
    connect_s = time.monotonic() - t_connect

    # Warm-up: every bed shows data, then a few seconds more.
    t_ready = time.monotonic()
    while True:
        beds = await asyncio.to_thread(_http, "GET", f"{base}/api/beds", token)
        judged = sum(1 for b in beds if b["wrap_id"] and b["judging"] != "no data")
        if judged >= n_beds or time.monotonic() - t_ready > 60:
            break
        await asyncio.sleep(1.0)
    ready_s = time.monotonic() - t_ready
    await asyncio.sleep(warmup)

    rss_kb: list[int] = []
    service = pids["service"][0]
    everyone = [p for group in pids.values() for p in group]
    s0 = await sys_counters.snapshot()
    w0 = time.time()
    c0 = {p: _cpu_s(p) for p in everyone}
    self0 = time.process_time()
    m0 = time.monotonic()
    while time.monotonic() - m0 < duration:
        rss_kb.append(_status_kb(service, "VmRSS"))
        await asyncio.sleep(min(1.0, max(0.0, duration - (time.monotonic() - m0))))
    w1 = time.time()
    c1 = {p: _cpu_s(p) for p in everyone}
    self1 = time.process_time()
    s1 = await sys_counters.snapshot()
    rss_kb.append(_status_kb(service, "VmRSS"))
    hwm_kb = _status_kb(service, "VmHWM")
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sys_task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await sys_task
    cpu = {name: sum(c1[p] - c0[p] for p in group) for name, group in pids.items()}
    cpu["clients"] = self1 - self0
    sys_s = (s1["_t"] - s0["_t"]) / 1e6
    return {
        "clients": cs,
        "window": (w0, w1),
        "cpu_s": cpu,
        "rss_kb": rss_kb,
        "hwm_kb": hwm_kb,
        "connect_s": connect_s,
        "ready_s": ready_s,
        "judged": judged,
        "broker_in_per_s": (s1.get("received", 0) - s0.get("received", 0)) / sys_s if sys_s > 0 else 0.0,
        "broker_out_per_s": (s1.get("sent", 0) - s0.get("sent", 0)) / sys_s if sys_s > 0 else 0.0,
    }


def _latency(run: dict[str, Any]) -> dict[str, Any]:
    every: list[_Client] = run["clients"]
    cs = [c for c in every if c.keep]
    for c in cs:
        _parse(c)
    w0, w1 = run["window"]
    e2e_ms: list[float] = []
    resyncs = gaps = 0
    for c in cs:
        g, r = stream_faults(c)
        gaps, resyncs = gaps + g, resyncs + r
        e2e_ms += reading_latencies_ms(c, w0, w1)
    return {
        "clients_ok": sum(1 for c in every if c.error is None),
        "client_errors": sorted({c.error for c in every if c.error}),
        "clients_recorded": len(cs),
        "readings_seen": len(e2e_ms),
        "e2e_p50_ms": _pct(e2e_ms, 50),
        "e2e_p99_ms": _pct(e2e_ms, 99),
        "e2e_max_ms": max(e2e_ms) if e2e_ms else float("nan"),
        "e2e_over_1s": sum(1 for x in e2e_ms if x > 1000),
        "resyncs": resyncs,
        "seq_gaps": gaps,
    }


def _stored(db_path: Path) -> int:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return int(db.execute("SELECT count(*) FROM readings").fetchone()[0])
    finally:
        db.close()


def bench_mqtt(
    rooms: int = 5, wraps: int = 100, clients: int = 200, duration: float = 60.0, warmup: float = 3.0
) -> dict[str, Any]:
    """Run the hospital-scale benchmark, print a compact report and return the figures."""
    if not Path(MOSQUITTO).exists():
        print("MQTT benchmark skipped: mosquitto is not installed (apt-get install mosquitto)")
        return {}
    token = secrets.token_urlsafe(24)
    original = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
    affinity: list[int] = []
    if original:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        affinity = sorted(os.sched_getaffinity(0))
    service_cores = {affinity[0]} if len(affinity) > 1 else None
    other_cores = set(affinity[1:]) if len(affinity) > 1 else None
    placement = (
        f"service on core {affinity[0]}; broker, gateways and clients on core(s) "
        f"{','.join(map(str, sorted(other_cores)))}"
        if service_cores and other_cores
        else "no pinning (one core)"
    )
    n_beds = rooms * wraps
    print(
        f"hospital scale over MQTT: {rooms} gateways x {wraps} wraps at 1 Hz through Mosquitto into one "
        f"service, {clients} WebSocket clients, {duration:g} s ({placement})",
        flush=True,
    )
    r: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kmc-bench-mqtt-") as tmp:
        directory = Path(tmp)
        broker, port = _start_broker(directory, other_cores)
        service: subprocess.Popen[str] | None = None
        gateways: list[tuple[subprocess.Popen[str], Path]] = []
        log: list[str] = []
        try:
            data_dir = directory / "service"
            service, base, log = _start_service(port, str(data_dir), token, service_cores)
            if other_cores:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(0, other_cores)
            t0 = time.monotonic()
            _set_up_ward(base, token, rooms, wraps)
            setup_s = time.monotonic() - t0
            gateways = _start_gateways(port, directory, rooms, wraps, token, other_cores)
            pids = {
                "service": [service.pid],
                "broker": [broker.pid],
                "gateways": [g.pid for g, _ in gateways],
            }
            run = asyncio.run(_drive(base, token, pids, port, clients, duration, warmup, n_beds))
            # Readings lost: stop the rooms (each sends what its outbox holds, then says what it
            # produced), give the service time to store the rest, count.
            produced = published = left = 0
            for g, glog in gateways:
                stop_process(g, signal.SIGTERM, 30.0)
                m = _STOPPED.search(glog.read_text())
                if m is None:
                    raise RuntimeError(f"gateway did not report its counts:\n{glog.read_text()[-2000:]}")
                produced += int(m.group(1))
                published += int(m.group(2))
                left += int(m.group(3))
            db_path = data_dir / "kmc-monitor.sqlite3"
            deadline = time.monotonic() + 30
            while _stored(db_path) < produced and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(1.5)  # anything more (copies) would show too
            stored = _stored(db_path)
        finally:
            for g, _ in gateways:
                stop_process(g, signal.SIGKILL, 5)
            code = stop_process(service, signal.SIGINT, 30.0) if service is not None else None
            stop_process(broker, signal.SIGTERM, 30.0)
            if original:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(0, original)
    r.update(_latency(run))
    w0, w1 = run["window"]
    wall = w1 - w0
    cores = {k: v / wall for k, v in run["cpu_s"].items()}
    r.update(
        {
            "setup_s": setup_s,
            "ready_s": run["ready_s"],
            "judged": run["judged"],
            "wall_s": wall,
            "cores": cores,
            "rss_peak_mb": max(run["rss_kb"]) / 1024,
            "rss_end_mb": run["rss_kb"][-1] / 1024,
            "hwm_mb": run["hwm_kb"] / 1024,
            "broker_in_per_s": run["broker_in_per_s"],
            "broker_out_per_s": run["broker_out_per_s"],
            "produced": produced,
            "published": published,
            "left_on_disk": left,
            "stored": stored,
            "lost": produced - stored,
            "exit_code": code,
            "log_errors": [ln for ln in log if "Traceback" in ln or "ERROR" in ln or "tick failed" in ln],
        }
    )
    print(
        f"  ward set up in {r['setup_s']:.1f} s ({n_beds} beds, wraps registered and assigned); "
        f"{r['judged']}/{n_beds} beds showing data {r['ready_s']:.1f} s after the rooms started; "
        f"{r['clients_ok']}/{clients} clients; resyncs {r['resyncs']}, seq gaps {r['seq_gaps']}"
    )
    print(
        f"  reading -> client ({r['readings_seen']} readings at {r['clients_recorded']} recording clients): "
        f"p50 {r['e2e_p50_ms']:.1f} ms, p99 {r['e2e_p99_ms']:.1f} ms, max {r['e2e_max_ms']:.0f} ms, "
        f"over 1 s: {r['e2e_over_1s']} (target p99 <= {TARGET_P99_MS:g}: "
        f"{ok(r['e2e_p99_ms'] <= TARGET_P99_MS)})"
    )
    print(
        f"  broker: {r['broker_in_per_s']:.0f} messages/s in, {r['broker_out_per_s']:.0f} out; "
        "CPU (cores): "
        + ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
        + f"; service RSS peak {r['rss_peak_mb']:.0f} MB, VmHWM {r['hwm_mb']:.0f} MB"
    )
    print(
        f"  readings: {produced} produced, {published} published, {left} left on disk, {stored} stored -> "
        f"lost {r['lost']} (target 0: {ok(r['lost'] == 0)}); service exit {code}"
    )
    for e in r["client_errors"][:3]:
        print(f"  client error: {e}")
    for line in r["log_errors"][:5]:
        print(f"  service log: {line}")
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rooms", type=int, default=5)
    ap.add_argument("--wraps", type=int, default=100, help="wraps per room")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds (after the warm-up)")
    ap.add_argument("--warmup", type=float, default=3.0)
    args = ap.parse_args()
    r = bench_mqtt(args.rooms, args.wraps, args.clients, args.duration, args.warmup)
    return 0 if r and r["clients_ok"] == args.clients and r["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
