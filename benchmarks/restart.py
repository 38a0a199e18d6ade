"""Restart after ``kill -9`` (issue #15): from process start to the ward API answering with every bed.

A demo ward of ``--wraps`` simulated wraps is set up by a first ``serve``, then given
``--hours`` of history per wrap (the simulator's 2 s measuring interval, written straight into its
readings table, the admissions moved back to before it). Two restarts are timed, each from
``Popen`` to ``GET /api/beds`` returning every bed:

1. **from readings**: no stream checkpoint in the database (what every restart did before
   issue #15): each wrap's stream is rebuilt from its last 26 h of readings;
2. **from checkpoints**: a ``serve`` that ran long enough to save its stream checkpoints is killed
   with SIGKILL and started again: each wrap resumes from its checkpoint and is fed only the
   readings after it.

Target: every bed within 2 s at 100 wraps x 26 h. Run alone: ``python benchmarks/restart.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.service import launch_service  # noqa: E402
from kmc_monitor.service.store import DB_FILENAME  # noqa: E402

TOKEN = "restart-bench-token-0123456789-abcdef"
TARGET_S = 2.0


def _env() -> dict[str, str]:
    env = {**os.environ, "KMC_STAFF_TOKEN": TOKEN}
    env.pop("KMC_STAFF_TOKENS", None)
    env.pop("KMC_CONFIG", None)
    return env


def _cmd(wraps: int, data: Path) -> list[str]:
    kmc = str(Path(sys.executable).with_name("kmc-monitor"))
    return [
        kmc,
        "serve",
        "--simulate",
        str(wraps),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--data-dir",
        str(data),
    ]


def _beds(base: str) -> list[object] | None:
    req = urllib.request.Request(base + "/api/beds", headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            value = json.load(r)
    except OSError:
        return None
    return value if isinstance(value, list) else None


def _start_and_time(wraps: int, data: Path) -> tuple[float, object]:
    """Seconds from process start until every bed is answered; and the process."""
    started = time.perf_counter()
    proc, base, _ = launch_service(_cmd(wraps, data), _env())
    while True:
        beds = _beds(base)
        if beds is not None and len(beds) == wraps:
            return time.perf_counter() - started, proc
        if time.perf_counter() - started > 600:
            raise RuntimeError("the ward never answered with every bed")
        time.sleep(0.01)


def _kill(proc: object) -> None:
    assert hasattr(proc, "send_signal") and hasattr(proc, "wait")
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _fill_history(db_path: Path, hours: float, measure_s: float = 2.0) -> int:
    """``hours`` of readings per assigned wrap, ending now, in contact at a normal temperature with
    small noise; the admissions moved back before them. Returns the rows written."""
    import numpy as np

    now = time.time()
    rng = np.random.default_rng(15)
    db = sqlite3.connect(db_path)
    try:
        wraps = [w for (w,) in db.execute("SELECT wrap_id FROM wrap_assignments WHERE end_t IS NULL")]
        db.execute("UPDATE admissions SET admitted_t = ?", (now - hours * 3600 - 3600,))
        t = np.arange(now - hours * 3600, now - 5.0, measure_s)
        total = 0
        for w in wraps:
            skin = np.round(36.8 + rng.normal(0, 0.05, t.size), 2)
            rows = zip(
                [w] * t.size,
                t.tolist(),
                skin.tolist(),
                [26.0] * t.size,
                [0.9] * t.size,
                [80.0] * t.size,
                [-60.0] * t.size,
                strict=True,
            )
            db.executemany(
                "INSERT OR IGNORE INTO readings(wrap_id, t, skin_temp_c, ambient_temp_c, contact, "
                "battery_pct, rssi_dbm) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            total += t.size
        db.execute("DELETE FROM stream_checkpoints")
        db.commit()
        return total
    finally:
        db.close()


def bench_restart(wraps: int = 100, hours: float = 26.0) -> dict[str, float]:
    print(f"restart after kill -9: {wraps} wraps x {hours:g} h of history", flush=True)
    with tempfile.TemporaryDirectory(prefix="kmc-restart-") as tmp:
        data = Path(tmp) / "data"
        _, proc = _start_and_time(wraps, data)  # the demo ward
        _kill(proc)
        t0 = time.perf_counter()
        rows = _fill_history(data / DB_FILENAME, hours)
        print(
            f"  history: {rows / 1e6:.2f} M readings written in {time.perf_counter() - t0:.0f} s", flush=True
        )
        replay_s, proc = _start_and_time(wraps, data)
        print(f"  from readings (no checkpoint): every bed after {replay_s:.2f} s", flush=True)
        # Let it save its stream checkpoints (every 30 s of ward time), then kill it.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with sqlite3.connect(f"file:{data / DB_FILENAME}?mode=ro", uri=True) as db:
                newest = db.execute("SELECT COUNT(*), MIN(saved_us) FROM stream_checkpoints").fetchone()
            if newest[0] == wraps and newest[1] / 1e6 > time.time() - 25:
                break
            time.sleep(0.5)
        _kill(proc)
        times = []
        for _ in range(3):
            fast_s, proc = _start_and_time(wraps, data)
            times.append(fast_s)
            time.sleep(1.0)
            _kill(proc)
        best, worst = min(times), max(times)
        met = "met" if worst <= TARGET_S else "NOT met"
        print(f"  from checkpoints: every bed after {best:.2f}-{worst:.2f} s (3 restarts)", flush=True)
        print(f"  target <= {TARGET_S:g} s: {met}", flush=True)
    return {"replay_s": replay_s, "checkpoint_best_s": best, "checkpoint_worst_s": worst}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wraps", type=int, default=100)
    ap.add_argument("--hours", type=float, default=26.0)
    args = ap.parse_args()
    bench_restart(args.wraps, args.hours)
    return 0


if __name__ == "__main__":
    sys.exit(main())
