"""Health station catch-up (issue #17): 500 homes each sync three days at once, beside a live ward.

Set-up (not timed): a fresh data directory with ``--homes`` homes enrolled in the station (one wrap
each, a pairing token each), then ``kmc-monitor serve --simulate 24`` on it (a live ward, a reading a
second from every wrap) with ``--screens`` ward screens on ``/ws/ward``. Each home then has three
days of readings to send as the contract says (``station/wire.py``, ``docs/home-sync.md``): one
sealed reading a minute (4,320) and three day summaries, in batches of at most 2,000 readings,
oldest first, the next batch only after the previous one's acknowledgement.

Measured:

* **catch-up**: from the first batch posted to the last home's last acknowledgement, with
  ``--clients`` concurrent HTTP clients on loopback (a separate process, so the screens' timing in
  this one is not disturbed), each working through homes one after another; every acknowledgement
  is checked (``accepted_through`` the last sequence sent, nothing refused).
* **the ward's stream meanwhile**: reading -> screen latency (``benchmarks/service.py``'s measure:
  a tile's ``last_heard_us`` against its receipt) for readings taken during the catch-up, p50/p99.
* the service's CPU (its worker processes included) and peak RSS.

One simplification: every home's wrap has the same key and MAC, so the client seals the 4,320
packets once and only the home id differs between homes' bodies. The station's work per packet is
the same as with 500 keys (one verifier and one counter per home; the decoder's cipher cache holds
4,096 keys), and the client spends its CPU on sending rather than on AES.

Targets (issue #17): catch-up <= 60 s; the ward's stream p99 <= 100 ms meanwhile.
Run: ``python benchmarks/bench_station.py [--homes 500 --days 3 --clients 16 --screens 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import queue
import secrets
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
)

TARGET_CATCH_UP_S = 60.0
TARGET_P99_MS = 100.0
KEY = bytes.fromhex("5a17b0c1d2e3f405162738495a6b7c8d")
MAC = "54:48:E6:17:B0:01"
PER_MINUTE = 1440
DAY_S = 86400.0


def _enrol(data_dir: str, homes: int, start_t: float) -> list[tuple[str, str]]:
    """Enrol ``homes`` homes straight into the station's tables (the discharge route needs an
    admission per home; its cost is not what this measures). Returns (home_id, token) pairs."""
    from kmc_monitor.devices.protocol.verify import WrapEntry
    from kmc_monitor.service.store import Store
    from kmc_monitor.station.service import Station
    from kmc_monitor.station.store import HomeRecord

    Store.in_data_dir(data_dir).close()  # created and migrated
    station = Station(Path(data_dir) / "kmc-monitor.sqlite3", visit_days=(1, 2, 3), workers=0)
    out: list[tuple[str, str]] = []
    try:
        for i in range(homes):
            home = HomeRecord(
                home_id=f"home-{i:04d}",
                admission_id=None,
                display_name=f"Baby {i}",
                daily_goal_s=20 * 3600.0,
                language="vi",
                tz="Asia/Ho_Chi_Minh",
                discharged_t=start_t,
                enrolled_t=start_t,
                enrolled_by="bench",
                consent_by="mother: bench",
                consent_t=start_t,
                accepted_through=0,
                last_sync_t=None,
                status=None,
                refused=0,
                token_t=start_t,
            )
            issued = station.enrol(
                home, [WrapEntry("HW1", MAC, KEY)], station_url="http://x", now=start_t, who="bench"
            )
            out.append((home.home_id, issued.code.token))
    finally:
        station.close()
    return out


def _batches(days: int, start_t: float) -> list[str]:
    """The batches every home sends, as JSON text with ``@HOME@`` for its id: sealed readings a
    minute apart, then the day summaries, in sequence order, at most 2,000 readings a batch."""
    import datetime as dt

    from kmc_monitor.devices.protocol.bthome import encode_service_data, wrap_objects

    readings: list[dict[str, Any]] = []
    for n in range(days * PER_MINUTE):
        t = start_t + 60.0 * n
        objects = wrap_objects(
            packet_id=n & 0xFF,
            battery_pct=80,
            skin_temp_c=36.4 + (n % 7) / 10,
            ambient_temp_c=27.0,
            contact_level=90,
            contact=True,
        )
        sealed = encode_service_data(objects, key=KEY, mac=MAC, counter=10_000 + n)
        readings.append({"seq": n + 1, "wrap_id": "HW1", "t": t, "sealed": sealed.hex(), "rssi_dbm": -70.0})
    first_day = dt.datetime.fromtimestamp(start_t, dt.UTC).date()
    summaries = [
        {
            "seq": len(readings) + d + 1,
            "wrap_id": "HW1",
            "day": (first_day + dt.timedelta(days=d)).isoformat(),
            "contact_s": 9 * 3600.0,
            "goal_s": 20 * 3600.0,
            "measured_s": DAY_S,
            "cold_episodes": d % 2,
            "battery_pct": 80.0 - d,
            "complete": True,
        }
        for d in range(days)
    ]
    out: list[str] = []
    chunks = [readings[i : i + 2000] for i in range(0, len(readings), 2000)]
    for k, chunk in enumerate(chunks):
        last = k == len(chunks) - 1
        pending = len(readings) - sum(len(c) for c in chunks[: k + 1]) + (0 if last else len(summaries))
        body = {
            "home_id": "@HOME@",
            "readings": chunk,
            "days": summaries if last else [],
            "status": {
                "sent_t": start_t + days * DAY_S,
                "pending": pending,
                "battery_pct": 78.0,
                "power_cuts": 2,
            },
        }
        out.append(json.dumps(body, separators=(",", ":")))
    return out


def _send_all(
    base: str, homes: list[tuple[str, str]], batches: list[str], clients: int, go: Any, result: Any
) -> None:
    """The homes' side, in a process of its own: ``clients`` threads, each a keep-alive connection
    working through homes; reports (first post, last ack, errors, per-home seconds)."""
    # The homes are other machines: their clients here yield the CPU to the station and the ward.
    with contextlib.suppress(OSError):
        os.nice(10)
    parts = urlsplit(base)
    work: queue.Queue[tuple[str, str]] = queue.Queue()
    for h in homes:
        work.put(h)
    last_seq = 0
    for text in batches:
        last_seq += text.count('"seq":')
    errors: list[str] = []
    per_home: list[float] = []
    lock = threading.Lock()
    go.wait()
    t_start = time.time()

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        while True:
            try:
                home_id, token = work.get_nowait()
            except queue.Empty:
                break
            t0 = time.time()
            through = 0
            for text in batches:
                body = text.replace("@HOME@", home_id).encode()
                for attempt in range(5):
                    try:
                        conn.request(
                            "POST",
                            f"/api/station/homes/{home_id}/sync",
                            body,
                            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                        )
                        r = conn.getresponse()
                        data = r.read()
                    except (OSError, http.client.HTTPException) as exc:
                        conn.close()
                        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
                        if attempt == 4:
                            with lock:
                                errors.append(f"{home_id}: {exc}")
                        continue
                    if r.status == 200:
                        ack = json.loads(data)
                        through = ack["accepted_through"]
                        if ack["refused"]:
                            with lock:
                                errors.append(f"{home_id}: {ack['refused']} refused")
                        break
                    if r.status != 503 or attempt == 4:  # 503: the database was busy; retry
                        with lock:
                            errors.append(f"{home_id}: HTTP {r.status} {data[:200]!r}")
                        break
                    time.sleep(0.2 * (attempt + 1))
            if through != last_seq:
                with lock:
                    errors.append(f"{home_id}: acknowledged through {through}, not {last_seq}")
            with lock:
                per_home.append(time.time() - t0)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.put(
        {"start": t_start, "end": time.time(), "errors": errors, "per_home": per_home, "last_seq": last_seq}
    )


async def _screens_during(
    url: str, token: str, screens: int, sender: Any, go: Any, pid: int
) -> dict[str, Any]:
    stop = asyncio.Event()
    cs = [_Client(keep=True) for _ in range(screens)]
    tasks = [asyncio.create_task(_run_client(c, url, token, True, stop)) for c in cs]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in cs)), 60)
    await asyncio.sleep(3.0)  # warm-up
    cpu0 = _cpu_tree(pid)
    go.set()
    rss: list[int] = []
    rss_main: list[int] = []
    while sender.is_alive():
        rss.append(_tree_kb(pid))
        with contextlib.suppress(OSError, ValueError):
            rss_main.append(_status_kb(pid, "VmRSS"))
        await asyncio.sleep(0.5)
    cpu1 = _cpu_tree(pid)
    await asyncio.sleep(1.0)  # the last readings of the window reach the screens
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"clients": cs, "cpu_s": cpu1 - cpu0, "rss_kb": rss, "rss_main_kb": rss_main}


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (children of any of its threads: the verify pool's forkserver
    is started from a worker thread)."""
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(x) for x in f.read().split()]
    out = list(kids)
    for k in kids:
        out += _children(k)
    return out


def _cpu_tree(pid: int) -> float:
    total = 0.0
    for p in [pid, *_children(pid)]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += _cpu_s(p)
    return total


def _tree_kb(pid: int) -> int:
    total = 0
    for p in [pid, *_children(pid)]:
        with contextlib.suppress(OSError, ValueError):
            total += _status_kb(p, "VmRSS")
    return total


def bench_station(
    homes: int = 500, days: int = 3, clients: int = 16, screens: int = 10, wraps: int = 24
) -> dict[str, Any]:
    token = secrets.token_urlsafe(24)
    start_t = time.time() - days * DAY_S
    print(
        f"health station: {homes} homes x {days} days "
        f"({days * PER_MINUTE} sealed readings + {days} days each), "
        f"{clients} HTTP clients; live ward of {wraps} wraps at 1 Hz with {screens} screens",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="kmc-bench-station-") as data_dir:
        t0 = time.perf_counter()
        enrolled = _enrol(data_dir, homes, start_t)
        batches = _batches(days, start_t)
        print(
            f"  set-up: {homes} homes enrolled, {len(batches)} batches a home "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        kmc = str(Path(sys.executable).with_name("kmc-monitor"))
        env = {**os.environ, "KMC_STAFF_TOKEN": token, "KMC_SIMULATE_MEASURE_S": "1"}
        for name in ("KMC_STAFF_TOKENS", "KMC_CONFIG"):
            env.pop(name, None)
        cmd = [
            kmc,
            "serve",
            "--simulate",
            str(wraps),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            data_dir,
        ]
        proc, base, log = launch_service(cmd, env)
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                        if json.load(r).get("status") == "ok":
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError("/healthz never answered")
                time.sleep(0.1)
            ctx = multiprocessing.get_context("spawn")
            go = ctx.Event()
            result = ctx.Queue()
            sender = ctx.Process(target=_send_all, args=(base, enrolled, batches, clients, go, result))
            sender.start()
            url = base.replace("http://", "ws://", 1) + "/ws/ward"
            run = asyncio.run(_screens_during(url, token, screens, sender, go, proc.pid))
            sent = result.get(timeout=30)
            sender.join(10)
            req = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=10) as r:
                metrics = r.read().decode()
        finally:
            code = stop_process(proc)
    cs: list[_Client] = run["clients"]
    for c in cs:
        _parse(c)
    w0, w1 = sent["start"], sent["end"]
    e2e: list[float] = []
    for c in cs:
        e2e += reading_latencies_ms(c, w0, w1)
    catch_up = w1 - w0
    stored = next(
        (
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith('kmc_station_items_total{kind="reading"}')
        ),
        float("nan"),
    )
    expected = homes * days * PER_MINUTE
    r = {
        "catch_up_s": catch_up,
        "items_per_s": homes * sent["last_seq"] / catch_up if catch_up > 0 else float("nan"),
        "readings_stored": stored,
        "readings_expected": expected,
        "errors": sent["errors"],
        "home_p50_s": _pct(sent["per_home"], 50),
        "home_max_s": max(sent["per_home"]) if sent["per_home"] else float("nan"),
        "e2e_n": len(e2e),
        "e2e_p50_ms": _pct(e2e, 50),
        "e2e_p99_ms": _pct(e2e, 99),
        "e2e_max_ms": max(e2e) if e2e else float("nan"),
        "cores": run["cpu_s"] / catch_up if catch_up > 0 else float("nan"),
        "rss_peak_mb": max(run["rss_kb"]) / 1024 if run["rss_kb"] else float("nan"),
        "rss_main_peak_mb": max(run["rss_main_kb"]) / 1024 if run["rss_main_kb"] else float("nan"),
        "exit_code": code,
        "log_errors": [line for line in log if "Traceback" in line or "ERROR" in line],
    }
    met = catch_up <= TARGET_CATCH_UP_S and not r["errors"] and stored == expected
    print(
        f"  catch-up: {catch_up:.1f} s for {homes} homes ({r['items_per_s']:,.0f} items/s; a home's "
        f"three batches p50 {r['home_p50_s']:.1f} s, slowest {r['home_max_s']:.1f} s); readings stored "
        f"{stored:,.0f} of {expected:,}; errors {len(r['errors'])} "
        f"(target <= {TARGET_CATCH_UP_S:g} s: {ok(met)})"
    )
    print(
        f"  ward stream meanwhile ({r['e2e_n']} readings at {screens} screens): "
        f"p50 {r['e2e_p50_ms']:.1f} ms, "
        f"p99 {r['e2e_p99_ms']:.1f} ms, max {r['e2e_max_ms']:.0f} ms "
        f"(target p99 <= {TARGET_P99_MS:g}: {ok(r['e2e_p99_ms'] <= TARGET_P99_MS)})"
    )
    print(
        f"  service CPU {r['cores']:.2f} cores (with its verify workers), "
        f"RSS peak {r['rss_peak_mb']:.0f} MB with them, {r['rss_main_peak_mb']:.0f} MB the service alone; "
        f"exit {code}"
    )
    for e in r["errors"][:5]:
        print(f"  error: {e}")
    for line in r["log_errors"][:5]:
        print(f"  service log: {line}")
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--homes", type=int, default=500)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients (homes syncing at once)")
    ap.add_argument("--screens", type=int, default=10)
    ap.add_argument("--wraps", type=int, default=24, help="the live ward's simulated wraps")
    args = ap.parse_args()
    r = bench_station(args.homes, args.days, args.clients, args.screens, args.wraps)
    return 0 if not r["errors"] and r["readings_stored"] == r["readings_expected"] else 1


if __name__ == "__main__":
    sys.exit(main())
