"""Ward service under load (issue #4): ``kmc-monitor serve --simulate 200`` with 100 ward screens.

The service runs as its own process on 127.0.0.1 (a fresh data directory, a staff token given in
``KMC_STAFF_TOKEN``), pinned to one core when the machine has more than one; this process runs the
clients on the other cores. After ``/healthz`` answers, ``--clients`` WebSocket clients connect to
``/ws/ward`` with ``Authorization: Bearer <token>`` (default permessage-deflate offer, as a browser
makes), a short warm-up passes, and then for ``--duration`` seconds:

* **reading -> client** (the issue's figure): every tile carries ``last_heard_us``, the time of its
  wrap's newest reading (the simulator stamps a reading when the wrap sends it, on the wall clock:
  ``serve --simulate`` runs at real speed). When a client receives a tile whose ``last_heard_us``
  is newer than the last it saw for that bed, ``receipt - last_heard_us`` is how long that reading
  took to reach that screen: the wait for the next poll of the source, the engine, JSON, encoding
  once, the per-client send, loopback and the client's read. Every client, every new reading.
* **delivery**: receipt minus ``sent_wall``, the wall-clock time the service's step began (the
  service's own share, without the wait for the poll).
* **CPU** of the service process (``/proc/<pid>/stat`` utime+stime over the window / wall seconds,
  in cores) and **RSS** (``VmRSS`` sampled every second; the peak and the last; ``VmHWM`` too).

Targets (issue #4): reading -> client p99 <= 100 ms, CPU < 0.5 core, RSS <= 300 MB.
Run: ``python benchmarks/service.py [--duration 60 --wraps 200 --clients 100]``.
From ``benchmarks/run.py``: ``from benchmarks.service import bench_service; bench_service()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_P99_MS = 100.0
TARGET_CORES = 0.5
TARGET_RSS_MB = 300.0

_HEAD = re.compile(r'^\{"type":"(\w+)"')
_NOW = re.compile(r'"now_us":(\d+)')
_SENT = re.compile(r'"sent_wall":([0-9.e+]+)')
_TILE = re.compile(r'"bed_id":"([^"]+)".*?"last_heard_us":(\d+|null)')
_SEQ = re.compile(r'"seq":(\d+)\}$')
_CLK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (its threads included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK  # utime, stime (fields 14, 15)


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


class _Client:
    """One ward screen: records (receive time, type, seq, sent_wall) of every message, and each
    update's tiles as (bed_id, last_heard_us); keeps the text of updates when ``keep`` (sizes)."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.got: list[tuple[float, str, int, float | None]] = []
        self.tiles: list[tuple[float, list[tuple[str, str]]]] = []
        self.texts: list[tuple[float, str]] = []
        self.raw: list[tuple[float, str | bytes]] = []
        self.connected = asyncio.Event()
        self.error: str | None = None


async def _run_client(c: _Client, url: str, token: str, compression: bool, stop: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    try:
        async with connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"},
            max_size=None,
            compression="deflate" if compression else None,
            open_timeout=30,
            ping_interval=None,
        ) as ws:
            c.connected.set()
            # Receive only: stamp and keep the text, parse after the run. Work done here would
            # delay the next receipt and be counted as the service's latency.
            keep = c.keep
            got = c.raw
            async for text in ws:
                if keep:
                    got.append((time.time(), text))
                if stop.is_set():
                    break
    except Exception as e:  # reported, not raised: one failed client must not hide the others' figures
        c.error = f"{type(e).__name__}: {e}"
        c.connected.set()


def launch_service(
    cmd: list[str], env: dict[str, str], preexec: Any = None
) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start ``kmc-monitor serve ...`` and return it with its base URL (from the line it prints)
    and its output so far (a thread keeps reading it, so the pipe never fills)."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=preexec
    )
    lines: list[str] = []
    base: list[str] = []
    found = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            m = re.search(r"listening on (http://\S+)", line)
            if m and not base:
                base.append(m.group(1))
                found.set()
        found.set()

    threading.Thread(target=reader, daemon=True).start()
    if not found.wait(60) or not base:
        proc.kill()
        raise RuntimeError("the service did not start:\n" + "\n".join(lines[-20:]))
    return proc, base[0], lines


def _start_service(
    wraps: int, data_dir: str, token: str, core: int | None
) -> tuple[subprocess.Popen[str], str, list[str]]:
    kmc = str(Path(sys.executable).with_name("kmc-monitor"))
    # A reading a second from every wrap (the simulator's wraps measure every 2 s by default).
    env = {**os.environ, "KMC_STAFF_TOKEN": token, "KMC_SIMULATE_MEASURE_S": "1"}
    env.pop("KMC_STAFF_TOKENS", None)
    env.pop("KMC_CONFIG", None)
    cmd = [kmc, "serve", "--simulate", str(wraps), "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--data-dir", data_dir]
    pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    proc, base, lines = launch_service(cmd, env, pin)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if json.load(r).get("status") == "ok":
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("/healthz never answered:\n" + "\n".join(lines[-20:]))
        time.sleep(0.1)
    return proc, base, lines


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGINT, wait_s: float = 15.0) -> int | None:
    """Ask a process to stop (SIGINT: uvicorn shuts down and the runtime checkpoints), kill it if
    it does not within ``wait_s``; its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


async def _drive(
    pid: int, url: str, token: str, clients: int, duration: float, warmup: float, compression: bool
) -> dict[str, Any]:
    stop = asyncio.Event()
    # Every 5th client records what it receives (20 of 100): spread over the fan-out order, and
    # the client process stays light enough not to add its own delay.
    cs = [_Client(keep=i % 5 == 0) for i in range(clients)]
    t_connect = time.monotonic()
    tasks = [asyncio.create_task(_run_client(c, url, token, compression, stop)) for c in cs]
    try:
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in cs)), 60)
    except TimeoutError:
        pass
    connect_s = time.monotonic() - t_connect
    await asyncio.sleep(warmup)

    rss_kb: list[int] = []
    w0, c0 = time.time(), _cpu_s(pid)
    m0 = time.monotonic()
    while time.monotonic() - m0 < duration:
        rss_kb.append(_status_kb(pid, "VmRSS"))
        await asyncio.sleep(min(1.0, max(0.0, duration - (time.monotonic() - m0))))
    w1, c1 = time.time(), _cpu_s(pid)
    rss_kb.append(_status_kb(pid, "VmRSS"))
    hwm_kb = _status_kb(pid, "VmHWM")
    threads = _status_kb(pid, "Threads")
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "clients": cs,
        "window": (w0, w1),
        "cpu_s": c1 - c0,
        "rss_kb": rss_kb,
        "hwm_kb": hwm_kb,
        "threads": threads,
        "connect_s": connect_s,
    }


def _parse(c: _Client) -> None:
    """What a recording client received, parsed after the run."""
    for t, text in c.raw:
        assert isinstance(text, str)
        head = _HEAD.match(text)
        sent = _SENT.search(text, max(0, len(text) - 80))
        seq = _SEQ.search(text, len(text) - 40)
        kind = head.group(1) if head else "?"
        sent_s = float(sent.group(1)) if sent else None
        c.got.append((t, kind, int(seq.group(1)) if seq else -1, sent_s))
        if kind in ("update", "snapshot"):
            c.tiles.append((t, _TILE.findall(text)))
            if kind == "update":
                c.texts.append((t, text))
    c.raw = []


def stream_faults(c: _Client) -> tuple[int, int]:
    """(sequence gaps, resyncs) a recording client saw: both should be 0."""
    gaps = resyncs = 0
    last_seq = None
    for _t, kind, seq, _sent in c.got:
        if last_seq is not None and kind != "snapshot" and seq != last_seq + 1:
            gaps += 1
        if kind == "snapshot" and last_seq is not None:
            resyncs += 1
        last_seq = seq
    return gaps, resyncs


def reading_latencies_ms(c: _Client, w0: float, w1: float) -> list[float]:
    """Receipt minus reading time for every new reading (a tile whose ``last_heard_us`` moved on)
    a recording client saw, for readings taken inside the window ``[w0, w1]`` (wall seconds). The
    first sight of each bed is skipped: it came with the snapshot, not as a new reading."""
    out: list[float] = []
    seen: dict[str, int] = {}
    for t, tiles in c.tiles:
        for bed, heard in tiles:
            if heard == "null":
                continue
            h = int(heard)
            if h > seen.get(bed, 0):
                if seen.get(bed) is not None and w0 <= h / 1e6 <= w1:
                    out.append((t - h / 1e6) * 1e3)
                seen[bed] = h
    return out


def _analyse(run: dict[str, Any]) -> dict[str, Any]:
    every: list[_Client] = run["clients"]
    cs = [c for c in every if c.keep]
    for c in cs:
        _parse(c)
    w0, w1 = run["window"]
    wall = w1 - w0
    deliver_ms: list[float] = []
    updates = 0
    resyncs = gaps = 0
    e2e_ms: list[float] = []
    for c in cs:
        g, r = stream_faults(c)
        gaps, resyncs = gaps + g, resyncs + r
        for t, kind, _seq, sent in c.got:
            if kind == "update" and sent is not None and w0 <= sent <= w1:
                updates += 1
                deliver_ms.append((t - sent) * 1e3)
        e2e_ms += reading_latencies_ms(c, w0, w1)
    late_over_1s = sum(1 for x in e2e_ms if x > 1000)

    size_b = [len(text.encode()) for t, text in cs[0].texts if w0 <= t <= w1]
    per_s = updates / len(cs) / wall if wall > 0 and cs else float("nan")
    return {
        "wall_s": wall,
        "cores": run["cpu_s"] / wall if wall > 0 else float("nan"),
        "cpu_s": run["cpu_s"],
        "rss_peak_mb": max(run["rss_kb"]) / 1024 if run["rss_kb"] else float("nan"),
        "rss_end_mb": run["rss_kb"][-1] / 1024 if run["rss_kb"] else float("nan"),
        "hwm_mb": run["hwm_kb"] / 1024,
        "threads": run["threads"],
        "connect_s": run["connect_s"],
        "clients_ok": sum(1 for c in every if c.error is None),
        "client_errors": sorted({c.error for c in every if c.error}),
        "clients_recorded": len(cs),
        "updates": updates,
        "updates_per_s": per_s,
        "deliver_p50_ms": _pct(deliver_ms, 50),
        "deliver_p99_ms": _pct(deliver_ms, 99),
        "readings_seen": len(e2e_ms),
        "e2e_p50_ms": _pct(e2e_ms, 50),
        "e2e_p99_ms": _pct(e2e_ms, 99),
        "e2e_max_ms": max(e2e_ms) if e2e_ms else float("nan"),
        "e2e_over_1s": late_over_1s,
        "update_kb": (sum(size_b) / len(size_b) / 1024) if size_b else float("nan"),
        "resyncs": resyncs,
        "seq_gaps": gaps,
    }


def ok(met: bool) -> str:
    return "ok" if met else "MISSED"


def bench_service(
    wraps: int = 200,
    clients: int = 100,
    duration: float = 60.0,
    warmup: float = 3.0,
    compression: bool = True,
) -> dict[str, Any]:
    """Run the service under load, print a compact report and return the figures (see the module)."""
    token = secrets.token_urlsafe(24)
    # A caller may have pinned this process to one core (run.py's pin_one_core): widen to every core
    # the machine has, split it between the service and the clients, and restore it at the end.
    original = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
    affinity: list[int] = []
    if original:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        affinity = sorted(os.sched_getaffinity(0))
    service_core = affinity[0] if len(affinity) > 1 else None
    pin = f"service pinned to core {service_core}" if service_core is not None else "service not pinned"
    print(
        f"ward service: {wraps} simulated wraps at 1 Hz, {clients} WebSocket clients "
        f"(clients {'offer' if compression else 'do not offer'} permessage-deflate), {duration:g} s ({pin})",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="kmc-bench-") as data_dir:
        proc, base, log = _start_service(wraps, data_dir, token, service_core)
        try:
            if service_core is not None:  # the clients keep off the service's core
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(0, set(affinity) - {service_core})
            url = base.replace("http://", "ws://", 1) + "/ws/ward"
            run = asyncio.run(_drive(proc.pid, url, token, clients, duration, warmup, compression))
        finally:
            if original:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(0, original)
            code = stop_process(proc)
    r = _analyse(run)
    r["exit_code"] = code
    r["log_errors"] = [
        line for line in log if "Traceback" in line or "ERROR" in line or "tick failed" in line
    ]
    print(
        f"  {r['clients_ok']}/{clients} clients connected in {r['connect_s']:.1f} s; "
        f"{r['updates_per_s']:.1f} updates/s per client, {r['update_kb']:.1f} kB each; "
        f"resyncs {r['resyncs']}, seq gaps {r['seq_gaps']}"
    )
    print(
        f"  reading -> client ({r['readings_seen']} readings at {r['clients_recorded']} recording clients): "
        f"p50 {r['e2e_p50_ms']:.1f} ms, "
        f"p99 {r['e2e_p99_ms']:.1f} ms, max {r['e2e_max_ms']:.0f} ms, over 1 s: {r['e2e_over_1s']} "
        f"(target p99 <= {TARGET_P99_MS:g}: {ok(r['e2e_p99_ms'] <= TARGET_P99_MS)})"
    )
    print(
        f"    delivery (step start -> receipt): p50 {r['deliver_p50_ms']:.1f} ms, "
        f"p99 {r['deliver_p99_ms']:.1f} ms"
    )
    print(
        f"  service CPU {r['cpu_s']:.1f} s over {r['wall_s']:.1f} s = {r['cores']:.2f} cores "
        f"(target < {TARGET_CORES:g}: {ok(r['cores'] < TARGET_CORES)}); RSS peak {r['rss_peak_mb']:.0f} MB, "
        f"end {r['rss_end_mb']:.0f} MB, VmHWM {r['hwm_mb']:.0f} MB "
        f"(target <= {TARGET_RSS_MB:g}: {ok(r['hwm_mb'] <= TARGET_RSS_MB)}); exit {code}"
    )
    for e in r["client_errors"][:3]:
        print(f"  client error: {e}")
    for line in r["log_errors"][:5]:
        print(f"  service log: {line}")
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wraps", type=int, default=200)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds (after the warm-up)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--no-compression", action="store_true", help="clients offer no permessage-deflate")
    args = ap.parse_args()
    r = bench_service(args.wraps, args.clients, args.duration, args.warmup, not args.no_compression)
    return 0 if r["clients_ok"] == args.clients else 1


if __name__ == "__main__":
    sys.exit(main())
