"""``kmc-monitor validate``: the wraps' skin-to-skin time against direct observation."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from kmc_monitor.cli.common import Subparsers, err

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    from kmc_monitor.devices.trace import read_traces
    from kmc_monitor.programme.validation import (
        compare,
        plot_bland_altman,
        read_observations,
        sensor_episodes,
    )
    from kmc_monitor.signal import RuleParams

    try:
        params = RuleParams(ward_tz=args.tz)
    except ValueError as exc:
        err(f"error: {exc}")
        return 2
    observed, bad = read_observations(args.observations, args.tz)
    for line in bad[:10]:
        err(f"warning: {line} (row skipped)")
    if len(bad) > 10:
        err(f"warning: {len(bad) - 10} more bad row(s) skipped")
    latest_us = round((time.time() + params.max_clock_lead_s) * 1_000_000)
    traces = read_traces(args.traces, params, latest_us=latest_us)
    for warning in traces.warnings:
        err(f"warning: {warning}")
    known = {s.wrap_id for s in traces.series if len(s)}
    unknown = sorted({e.wrap_id for e in observed} - known)
    if unknown:
        err(
            f"warning: no readings for wrap(s) {', '.join(unknown[:5])} observed in {args.observations}: "
            "their observed time is compared with 0 h of sensor time"
        )
    report = compare(sensor_episodes(traces.series, params), observed, args.tz, bad)
    if args.plot is not None:
        plot_bland_altman(report, args.plot)
    if args.json:
        json.dump(report.to_json(), sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    else:
        e = report.to_json()["episodes"]
        assert isinstance(e, dict)
        lines = [f"{'wrap':<12} {'date':<10} {'sensor h':>9} {'observed h':>10}"]
        lines += [
            f"{d.wrap_id:<12} {d.date.isoformat():<10} {d.sensor_h:>9.2f} {d.observed_h:>10.2f}"
            for d in report.wrap_days
        ]
        if report.bias_h is not None and report.loa_h is not None:
            lines.append(
                f"bias (sensor - observed): {report.bias_h:+.2f} h per wrap-day, 95 % limits of agreement "
                f"{report.loa_h[0]:+.2f} to {report.loa_h[1]:+.2f} h"
            )
        lines.append(
            f"observed episodes matched: {e['observed_matched']} of {e['observed']}; "
            f"sensor sessions matched: {e['sensor_matched']} of {e['sensor']}"
        )
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def add_parser(sub: Subparsers) -> None:
    """The ``validate`` command's arguments."""
    validate = sub.add_parser(
        "validate",
        help="compare the wraps' skin-to-skin time with direct observation (validation study)",
        description="Compare the sessions found in trace files with an observer's log "
        "(OBS.csv: wrap_id,start,end[,observer]; times in epoch seconds or ISO 8601): hours per "
        "wrap-day with Bland-Altman bias and 95 %% limits of agreement, and how many episodes of "
        "each side the other matches. See docs/validation.md.",
    )
    validate.add_argument("traces", nargs="+", metavar="TRACE", help="trace files (CSV, optionally gzip)")
    validate.add_argument("--observations", required=True, metavar="OBS.csv", help="the observer's log")
    validate.add_argument("--json", action="store_true", help="print the kmc-validation/1 JSON document")
    validate.add_argument("--plot", metavar="FILE", help="write the Bland-Altman plot (.png or .svg)")
    validate.add_argument(
        "--tz",
        default=os.environ.get("KMC_WARD_TZ", "UTC"),
        help="the ward's IANA time zone for calendar days (default: $KMC_WARD_TZ or UTC)",
    )
    validate.set_defaults(func=run)
