"""The ``kmc-monitor`` command line.

Bad input never shows a Python traceback: a trace that cannot be read ends the command with exit
status 2 and one plain sentence; invalid readings are counted and warned about on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from kmc_monitor import __version__
from kmc_monitor.errors import KmcError

__all__ = ["main"]

#: Inputs larger than this get a progress bar (when stderr is a terminal); KMC_PROGRESS_MIN_BYTES
#: overrides it (tests use it to see the bar on a small file).
_PROGRESS_MIN_BYTES = 20 * 1024 * 1024


def _err(msg: str) -> None:
    print(f"kmc-monitor: {msg}", file=sys.stderr)


def _progress_bars(paths: Sequence[str], stream: TextIO) -> tuple[Callable[[int, int], None] | None, Any]:
    """A byte progress bar for reading, if stderr is a terminal and the input is large."""
    try:
        total = sum(os.path.getsize(p) for p in paths)
    except OSError:
        return None, None
    threshold = int(os.environ.get("KMC_PROGRESS_MIN_BYTES", _PROGRESS_MIN_BYTES))
    if not stream.isatty() or total < threshold:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, desc="reading", file=stream, leave=False)

    def update(done: int, _total: int) -> None:
        bar.update(max(0, done - bar.n))

    return update, bar


def _cmd_analyze(args: argparse.Namespace) -> int:
    from kmc_monitor._memory import keep_freed_memory
    from kmc_monitor.analysis import analyze_all, render_table, report_json
    from kmc_monitor.devices.trace import read_traces
    from kmc_monitor.signal import RuleParams

    keep_freed_memory()
    try:
        params = RuleParams(ward_tz=args.tz)
    except ValueError as exc:
        _err(f"error: {exc}")
        return 2
    progress, bar = _progress_bars(args.traces, sys.stderr)
    try:
        traces = read_traces(args.traces, params, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if traces.invalid_lines:
        total_invalid = sum(s.invalid for s in traces.series) + traces.skipped_rows
        shown = ", ".join(f"{name}:{line}" for name, line in traces.invalid_lines)
        more = " and more" if total_invalid > len(traces.invalid_lines) else ""
        _err(
            f"warning: {total_invalid} invalid reading(s) (not a number, out of range, or no t/wrap_id); "
            f"their bad values were treated as missing: {shown}{more}"
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kmc-monitor",
        description="Skin-to-skin contact timing and hypothermia alarms for Kangaroo Mother Care wraps.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    analyze.set_defaults(func=_cmd_analyze)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
        return code
    except KmcError as exc:
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
