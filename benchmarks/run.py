"""``make bench``: the project's performance figures, measured on this machine in one run.

1. Signal-core throughput on in-memory arrays (1,000 wraps x 24 h at 1 Hz), on one core, with its
   ratio to the plain per-sample reference and to one NumPy pass over the same input (memory floor).
2. ``kmc-monitor analyze --json`` wall time on a clean 40-wrap x 24 h trace at 1 Hz (3.46 million rows),
   as a whole process, against whole processes that only run ``pandas.read_csv`` or
   ``pyarrow.csv.read_csv`` on the same file, after checking that all three read the same data
   (``benchmarks/analyze.py``).

Targets: >= 30 M samples/s and >= 300x the reference (issue #2); analyze <= 1.0x read_csv and
<= 1.3x pyarrow.csv.read_csv (issue #15).
Then advertisement decoding (``benchmarks/decode.py``), the peak memory of replaying a 72 MB trace
(``benchmarks/replay_memory.py``: whole-file against chunked, issue #15), the ward service under load
(``benchmarks/service.py``), the restart after ``kill -9`` at 100 wraps x 26 h of history
(``benchmarks/restart.py``, target: every bed within 2 s) and hospital scale over MQTT
(``benchmarks/mqtt.py``: 5 gateways x 100 wraps through Mosquitto, 200 screens) and the health
station's catch-up (``benchmarks/bench_station.py``: 500 homes syncing three days at once beside a
live ward).
Figures are recorded in docs/benchmarks.md. Sizes can be reduced for a quick look:
``python benchmarks/run.py --wraps 100 --trace-wraps 4``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.analyze import bench_analyze  # noqa: E402
from benchmarks.common import pin_one_core  # noqa: E402
from kmc_monitor._memory import keep_freed_memory  # noqa: E402
from kmc_monitor.devices.simulation.synthetic import fleet  # noqa: E402
from kmc_monitor.signal import DayCalendar, RuleParams, analyze_series  # noqa: E402
from tests.signal.reference import reference_report  # noqa: E402


def bench_core(n_wraps: int, hours: float) -> dict[str, float]:
    print(f"building {n_wraps} wraps x {hours:g} h at 1 Hz ...", flush=True)
    t0 = time.perf_counter()
    wraps = fleet(n_wraps, hours=hours, rate_hz=1.0, seed=2026)
    samples = sum(len(w) for w in wraps)
    print(f"  built {samples / 1e6:.1f} M samples in {time.perf_counter() - t0:.1f} s", flush=True)
    params = RuleParams()
    calendar = DayCalendar(params.ward_tz)
    pin = pin_one_core()

    # Memory floor: one NumPy pass reading every input array once.
    def floor_pass() -> float:
        acc = 0.0
        for w in wraps:
            acc += float(w.t_us.sum()) + float(np.nansum(w.skin_mc)) + float(np.nansum(w.ambient_mc))
            acc += float(np.nansum(w.contact)) + float(np.nansum(w.battery_pct))
        return acc

    floor_pass()
    t0 = time.perf_counter()
    floor_pass()
    floor_s = time.perf_counter() - t0

    analyze_series(wraps[0], params, calendar=calendar)  # warm caches and imports
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        alarms = 0
        for w in wraps:
            alarms += len(analyze_series(w, params, calendar=calendar).alarms)
        best = min(best, time.perf_counter() - t0)

    # The reference is slow: time it on the first two hours of a few wraps.
    ref_wraps = [w.slice(0, 7200) for w in wraps[:3]]
    ref_samples = sum(len(w) for w in ref_wraps)
    ref_s = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for w in ref_wraps:
            reference_report(w, params)
        ref_s = min(ref_s, time.perf_counter() - t0)
    core_rate = samples / best
    ref_rate = ref_samples / ref_s
    floor_rate = samples / floor_s
    print(f"signal core ({pin}): {core_rate / 1e6:.1f} M samples/s ({best:.2f} s, {alarms} alarms)")
    print(
        f"  reference (plain per-sample): {ref_rate / 1e3:.1f} k samples/s"
        f" -> core is {core_rate / ref_rate:.0f}x"
    )
    print(
        f"  one NumPy pass (memory floor): {floor_rate / 1e6:.0f} M samples/s -> core is "
        f"{floor_rate / core_rate:.1f}x slower than the floor"
    )
    return {"core": core_rate, "ref": ref_rate, "floor": floor_rate}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wraps", type=int, default=1000, help="wraps for the core benchmark")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--trace-wraps", type=int, default=40, help="wraps in the analyze trace")
    args = ap.parse_args()
    keep_freed_memory()  # as `kmc-monitor analyze` does
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}"
    )
    bench_analyze(args.trace_wraps, args.hours)
    bench_core(args.wraps, args.hours)
    from benchmarks.bench_station import bench_station
    from benchmarks.decode import bench_decode
    from benchmarks.mqtt import bench_mqtt
    from benchmarks.replay_memory import bench_replay_memory
    from benchmarks.restart import bench_restart
    from benchmarks.service import bench_service

    bench_decode()
    bench_replay_memory()
    bench_service()
    bench_restart()
    bench_mqtt()
    bench_station()
    return 0


if __name__ == "__main__":
    sys.exit(main())
