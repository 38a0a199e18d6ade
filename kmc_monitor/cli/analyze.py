"""``kmc-monitor analyze``: the clinical rules applied to recorded traces."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from kmc_monitor.cli.common import (
    Subparsers,
    err,
    progress_bars,
)

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    if "numpy" not in sys.modules:
        # The rules do no linear algebra: OpenBLAS's worker threads, started when NumPy loads (one
        # per core, spinning a while before they sleep), would only take CPU from the parsing and
        # analysis threads. Only for this process, and only when it loads NumPy itself.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from kmc_monitor._memory import keep_freed_memory
    from kmc_monitor.analysis import analyze_all, render_table, report_json
    from kmc_monitor.devices.trace import read_traces
    from kmc_monitor.signal import RuleParams

    keep_freed_memory()
    try:
        params = RuleParams(ward_tz=args.tz)
    except ValueError as exc:
        err(f"error: {exc}")
        return 2
    progress, bar = progress_bars(args.traces, sys.stderr)
    # Clock faults are judged against this machine's clock (clinical-rules.md): read here, at the
    # edge, never inside the rules.
    latest_us = round((time.time() + params.max_clock_lead_s) * 1_000_000)
    try:
        traces = read_traces(args.traces, params, progress=progress, latest_us=latest_us)
    finally:
        if bar is not None:
            bar.close()
    for warning in traces.warnings:
        err(f"warning: {warning}")
    total_invalid = sum(s.invalid for s in traces.series) + traces.skipped_rows
    if total_invalid:
        shown = ", ".join(f"{name}:{line}" for name, line in traces.invalid_lines)
        where = f": {shown}" if shown else ""
        more = " and more" if total_invalid > len(traces.invalid_lines) else ""
        err(
            f"warning: {total_invalid} invalid reading(s) (not a number, out of range, a clock fault, "
            f"or no t/wrap_id); their bad values were treated as missing{where}{more}"
        )
    analysis_bar = None
    if bar is not None:
        from tqdm import tqdm

        analysis_bar = tqdm(
            total=traces.rows, unit=" readings", desc="analysing", file=sys.stderr, leave=False
        )
    try:
        reports = analyze_all(
            list(traces.series),
            params,
            until_us=traces.end_us,
            progress=analysis_bar.update if analysis_bar is not None else None,
        )
    finally:
        if analysis_bar is not None:
            analysis_bar.close()
    if args.json:
        json.dump(report_json(reports, params), sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_table(reports, params))
        sys.stdout.write("\n")
    return 0


def add_parser(sub: Subparsers) -> None:
    """The ``analyze`` command's arguments."""
    analyze = sub.add_parser(
        "analyze",
        help="apply the clinical rules to recorded traces",
        description="Apply the clinical rules to recorded trace files (CSV or .csv.gz) and report "
        "contact totals, sessions and alarms per wrap.",
    )
    analyze.add_argument("traces", nargs="+", metavar="TRACE", help="trace files (CSV, optionally gzip)")
    analyze.add_argument("--json", action="store_true", help="print the kmc-analysis/1 JSON document")
    analyze.add_argument(
        "--tz",
        default=os.environ.get("KMC_WARD_TZ", "UTC"),
        help="the ward's IANA time zone for calendar days (default: $KMC_WARD_TZ or UTC)",
    )
    analyze.set_defaults(func=run)
