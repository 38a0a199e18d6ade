"""``kmc-monitor check``: scenario files run through the rules."""

from __future__ import annotations

import argparse
import json
import sys

from kmc_monitor.cli.common import Subparsers

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    from kmc_monitor.scenarios import load_file, render_result, render_summary, results_json, run_scenario

    loaded = [s for path in args.scenarios for s in load_file(path)]  # a bad file: exit 2 before any run
    results = []
    for s in loaded:
        result = run_scenario(s)
        results.append(result)
        if not args.json:
            sys.stdout.write(render_result(result) + "\n")
            sys.stdout.flush()
    if args.json:
        json.dump(results_json(results), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_summary(results) + "\n")
    return 0 if all(r.passed for r in results) else 1


def add_parser(sub: Subparsers) -> None:
    """The ``check`` command's arguments."""
    check = sub.add_parser(
        "check",
        help="run scenario files through the rules and check their expected events",
        description="Run each scenario (a YAML file naming a trace, or generating one, and the "
        "sessions, alarms and totals expected; see docs/scenarios.md) through the batch analysis "
        "and the live engine, and print every expectation with what happened. Exit status 0 if "
        "all hold, 1 if any fails, 2 for a file that is not a valid scenario.",
    )
    check.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files (.yaml)")
    check.add_argument("--json", action="store_true", help="print the kmc-scenarios/1 JSON document")
    check.set_defaults(func=run)
