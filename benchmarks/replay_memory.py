"""Peak resident memory of replaying a large trace, the whole-file way against the chunked way.

Input: a clean trace of 20 wraps x 24 h at 1 Hz (1.73 million rows, about 72 MB) written by
``write_trace`` into ``bench-data/``, the size of the trace issue #15 measured.

Each way runs in a fresh process (interpreter, imports, reading, and every reading handed to a sender
that discards it, at an unbounded speed), which prints its own peak resident set size
(``VmHWM`` of ``/proc/self/status``: the most it ever held, pages of a mapped file included):

- ``whole``: what ``kmc-monitor replay`` did before issue #15: ``read_traces``, ``trace_readings``
  (a list of every reading), ``replay`` over the list;
- ``chunked``: ``TraceReplay`` (a scanning pass, a counting pass for the summary, then the readings
  chunk by chunk) and ``replay`` over its iterator;
- ``serve --replay``: the ward's ``ReplaySource`` drained minute by minute of trace time, as the
  runtime polls it.

Target (issue #15): under 200 MB whatever the trace's size.
``python benchmarks/replay_memory.py [--wraps N] [--hours H]`` runs this part alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kmc_monitor.devices.simulation.synthetic import fleet  # noqa: E402
from kmc_monitor.devices.trace import write_trace  # noqa: E402

__all__ = ["bench_replay_memory"]

DATA = ROOT / "bench-data"
#: Peak resident memory of a chunked replay, at most (issue #15).
TARGET_MB = 200.0

_PRELUDE = """
import asyncio, sys, time
t0 = time.perf_counter()
path = sys.argv[1]
latest_us = round((time.time() + 86_400.0) * 1_000_000)

class Discard:
    batch = 500
    async def send(self, readings): pass
    async def close(self): pass
"""

#: The replay command before issue #15 (read_traces, then a list of every reading).
WHOLE = (
    _PRELUDE
    + """
from kmc_monitor.devices.trace import read_traces
from kmc_monitor.replay import replay, trace_readings
readings = trace_readings(read_traces([path], latest_us=latest_us))
n = asyncio.run(replay(readings, Discard(), 1e12, stop=asyncio.Event()))
"""
)

#: The replay command's chunked reading (TraceReplay).
CHUNKED = (
    _PRELUDE
    + """
from kmc_monitor.replay import TraceReplay, replay
source = TraceReplay([path], latest_us=latest_us)
summary = source.summary()
n = asyncio.run(replay(source.readings(), Discard(), 1e12, stop=asyncio.Event()))
assert n == summary.readings
"""
)

#: The ward's replay source, polled a minute of trace time at a time.
SERVE = (
    _PRELUDE
    + """
from kmc_monitor.sources.replay import ReplaySource
source = ReplaySource([path])
t, n = source.start_s, 0
while True:
    got = source.readings_until(t)
    n += len(got)
    if not got and t > source.start_s + 30 * 86_400:
        break
    t += 60.0
"""
)

# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child started by a
# large parent (this one, having built the trace) would report the parent's peak.
_REPORT = """
with open("/proc/self/status") as status:
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(f"{n} {hwm_kb / 1024:.1f} {time.perf_counter() - t0:.2f}")
"""


def big_trace(n_wraps: int, hours: float) -> Path:
    """The benchmark's trace (written once, then reused)."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"fleet{n_wraps}x{hours:g}h-replay.csv"
    if not path.exists():
        print(f"writing {path.name} ...", flush=True)
        t0 = time.perf_counter()
        rows = write_trace(path, fleet(n_wraps, hours=hours, rate_hz=1.0, seed=11))
        print(f"  {rows / 1e6:.2f} M rows in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def _measure(code: str, path: Path) -> tuple[int, float, float]:
    out = subprocess.run(
        [sys.executable, "-c", code + _REPORT, str(path)], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def bench_replay_memory(
    n_wraps: int = 20, hours: float = 24.0, *, whole: bool = True
) -> dict[str, tuple[int, float, float]]:
    """Peak RSS and wall time of each way of replaying; print and return (readings, MB, s).
    ``whole=False`` leaves out the whole-file way (for traces too large for it)."""
    path = big_trace(n_wraps, hours)
    size_mb = path.stat().st_size / 1e6
    ways = {"chunked (TraceReplay)": CHUNKED, "serve --replay (ReplaySource)": SERVE}
    if whole:
        ways = {"whole (before)": WHOLE, **ways}
    results = {name: _measure(code, path) for name, code in ways.items()}
    print(f"replaying {path.name} ({size_mb:.0f} MB), each in a fresh process (readings, peak RSS, wall):")
    for name, (n, mb, s) in results.items():
        print(f"  {name:32s} {n:>10,} readings  {mb:7.1f} MB  {s:6.2f} s")
    counts = {n for n, _, _ in results.values()}
    if len(counts) != 1:
        raise SystemExit(f"the ways replayed different numbers of readings: {counts}")
    worst = max(mb for name, (_, mb, _) in results.items() if not name.startswith("whole"))
    verdict = "met" if worst <= TARGET_MB else "NOT met"
    print(f"  target: chunked replay under {TARGET_MB:.0f} MB: {verdict} ({worst:.0f} MB)")
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wraps", type=int, default=20)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--no-whole", action="store_true", help="leave out the whole-file way (large traces)")
    args = ap.parse_args()
    bench_replay_memory(args.wraps, args.hours, whole=not args.no_whole)
    return 0


if __name__ == "__main__":
    sys.exit(main())
