"""``kmc-monitor analyze`` against the CSV readers a data engineer would reach for, as whole processes.

Input: a clean multi-wrap trace, 40 wraps x 24 h at 1 Hz (3.46 million rows) written by
``write_trace`` with no comment line, so that every reader parses the file as it is (pandas does
not skip ``#`` lines by default: a comment line once made it mis-parse the file, read every column
as text and look 3.6x slower than it is).

Before anything is timed, the three readers' results are compared: the same rows, the same rows per
wrap, the same times and temperatures. A baseline that parses different data measures nothing.

Then, in one run, each command is a whole process (interpreter start, imports, reading, and for
``analyze`` the full rule set and the JSON report to ``/dev/null``), run ``repeat`` times in
interleaved rounds (analyze, pandas, pyarrow, analyze, ...) so that a neighbour's load on this shared
machine falls on all three alike:

- ``kmc-monitor analyze --json TRACE``
- ``python -c "import pandas; pandas.read_csv(TRACE)"`` (its default C parser, one thread)
- ``python -c "import pyarrow.csv; pyarrow.csv.read_csv(TRACE)"`` (multi-threaded)

Targets (issue #15): analyze <= 1.0x pandas.read_csv and <= 1.3x pyarrow.csv.read_csv.
``python benchmarks/analyze.py [--wraps N] [--hours H] [--repeat R]`` runs this part alone.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kmc_monitor.devices.simulation.synthetic import fleet  # noqa: E402
from kmc_monitor.devices.trace import read_traces, write_trace  # noqa: E402

__all__ = ["bench_analyze", "clean_trace", "same_data"]

DATA = ROOT / "bench-data"

#: analyze ÷ reader, at most (issue #15).
TARGETS = {"pandas.read_csv": 1.0, "pyarrow.csv.read_csv": 1.3}


def clean_trace(n_wraps: int, hours: float) -> Path:
    """The benchmark's trace (written once, then reused): no comment line, header first."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"fleet{n_wraps}x{hours:g}h-clean.csv"
    if not path.exists():
        print(f"writing {path.name} ...", flush=True)
        t0 = time.perf_counter()
        rows = write_trace(path, fleet(n_wraps, hours=hours, rate_hz=1.0, seed=7))
        size_mb = path.stat().st_size / 1e6
        print(f"  {rows / 1e6:.2f} M rows, {size_mb:.0f} MB in {time.perf_counter() - t0:.1f} s", flush=True)
    with path.open("rb") as f:
        if f.read(1) == b"#":
            raise SystemExit(f"{path} starts with a comment line: delete it and run again")
    return path


def same_data(path: Path) -> int:
    """Check that pandas, pyarrow and kmc-monitor's reader parse ``path`` to the same data; return
    the rows. Raises ``SystemExit`` with what differs, so no figure is printed for a wrong baseline."""
    import pandas as pd
    import pyarrow.csv as pacsv

    ours = read_traces(path)
    df = pd.read_csv(path)
    table = pacsv.read_csv(path)
    problems: list[str] = []
    if not (ours.rows == len(df) == table.num_rows):
        problems.append(f"rows: analyze {ours.rows}, pandas {len(df)}, pyarrow {table.num_rows}")
    if ours.invalid_readings:
        problems.append(f"analyze found {ours.invalid_readings} invalid readings in a clean trace")
    for column in ("t", "skin_temp_c", "ambient_temp_c", "contact", "battery_pct"):
        if not pd.api.types.is_numeric_dtype(df[column]):  # e.g. text, as a comment line made it
            problems.append(f"pandas read {column} as {df[column].dtype}, not numbers")
    arrow_t = table.column("t").to_numpy()
    if not np.array_equal(arrow_t, df["t"].to_numpy()):
        problems.append("pyarrow and pandas read different times")
    counts = df["wrap_id"].value_counts()
    for s in ours.series:
        mine = df[df["wrap_id"] == s.wrap_id]
        if counts.get(s.wrap_id, 0) != len(s):
            problems.append(f"{s.wrap_id}: analyze {len(s)} rows, pandas {counts.get(s.wrap_id, 0)}")
            continue
        t_us = np.sort(np.round(mine["t"].to_numpy() * 1e6).astype(np.int64))
        if not np.array_equal(t_us, s.t_us):
            problems.append(f"{s.wrap_id}: different times")
        order = np.argsort(mine["t"].to_numpy(), kind="stable")
        skin_mc = np.round(mine["skin_temp_c"].to_numpy()[order] * 1000)
        if not np.array_equal(skin_mc, s.skin_mc, equal_nan=True):
            problems.append(f"{s.wrap_id}: different skin temperatures")
    if len(ours.series) != len(counts):
        problems.append(f"wraps: analyze {len(ours.series)}, pandas {len(counts)}")
    if problems:
        raise SystemExit("the readers disagree on " + path.name + ": " + "; ".join(problems[:5]))
    print(
        f"  checked: analyze's reader, pandas and pyarrow all read {ours.rows:,} rows of {len(ours.series)} "
        "wraps, the same times and skin temperatures"
    )
    return ours.rows


def _run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench_analyze(n_wraps: int = 40, hours: float = 24.0, repeat: int = 5) -> dict[str, list[float]]:
    """Time the three whole processes ``repeat`` times each, interleaved; print and return the times."""
    path = clean_trace(n_wraps, hours)
    same_data(path)
    py = sys.executable
    kmc = str(Path(py).with_name("kmc-monitor"))
    commands = {
        "kmc-monitor analyze --json": [kmc, "analyze", "--json", str(path)],
        "pandas.read_csv": [py, "-c", f"import pandas; pandas.read_csv({str(path)!r})"],
        "pyarrow.csv.read_csv": [py, "-c", f"import pyarrow.csv; pyarrow.csv.read_csv({str(path)!r})"],
    }
    for cmd in commands.values():  # warm the page cache and the imports' .pyc files
        _run(cmd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            times[name].append(_run(cmd))
    print(f"whole processes on {path.name}, {repeat} interleaved rounds (best / median / worst):")
    for name, ts in times.items():
        print(f"  {name:28s} {min(ts):.2f} / {statistics.median(ts):.2f} / {max(ts):.2f} s")
    ours = times["kmc-monitor analyze --json"]
    for name, target in TARGETS.items():
        best = min(ours) / min(times[name])
        median = statistics.median(ours) / statistics.median(times[name])
        verdict = "met" if median <= target else "NOT met"
        print(f"  analyze / {name}: {best:.2f} best, {median:.2f} median (target <= {target}: {verdict})")
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wraps", type=int, default=40)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    bench_analyze(args.wraps, args.hours, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
