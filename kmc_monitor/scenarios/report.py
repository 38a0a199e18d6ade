"""Scenario results as text (the ``check`` command, a failing pytest item) and as JSON.

Each expectation is one line, ✓ or ✗, saying what was expected; under a ✗ each path (``batch``: the
offline analysis, ``live``: the ward's engine and alarm board) says what actually happened, so a
failure reads as a diff without opening the trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kmc_monitor.scenarios.facts import ScenarioResult

__all__ = ["render_diff", "render_result", "render_summary", "results_json"]

PASS = "✓"
FAIL = "✗"


def render_result(result: ScenarioResult, *, verbose: bool = True) -> str:
    """Every expectation of one scenario (only the failed ones with ``verbose=False``)."""
    status = "passed" if result.passed else f"FAILED ({len(result.failed)} of {len(result.checks)})"
    lines = [f"{result.name} ({result.path}): {status}"]
    wraps = {c.wrap for c in result.checks}
    for c in result.checks:
        if not verbose and c.ok:
            continue
        who = f"[{c.wrap}] " if len(wraps) > 1 else ""
        lines.append(f"  {PASS if c.ok else FAIL} {who}{c.expected}")
        paths = {o.actual for o in c.outcomes}
        if c.ok and len(paths) == 1:
            lines.append(f"      got: {c.outcomes[0].actual}")
            continue
        for o in c.outcomes:
            mark = "" if c.ok else (f" {PASS}" if o.ok else f" {FAIL}")
            lines.append(f"      {o.path + ':':6}{mark} {o.actual}")
    return "\n".join(lines)


def render_diff(result: ScenarioResult) -> str:
    """A failing scenario for pytest: the failed expectations with expected against actual, then a
    one-line count of those that held."""
    lines = [f"scenario {result.name!r} ({result.path}) failed {len(result.failed)} expectation(s):"]
    for c in result.failed:
        lines.append(f"  {FAIL} wrap {c.wrap}")
        lines.append(f"      expected:   {c.expected}")
        for o in c.outcomes:
            lines.append(f"      {o.path + ' ' + ('ok:' if o.ok else 'got:'):11} {o.actual}")
    held = len(result.checks) - len(result.failed)
    lines.append(f"  ({held} other expectation(s) held)")
    return "\n".join(lines)


def render_summary(results: Sequence[ScenarioResult]) -> str:
    passed = sum(r.passed for r in results)
    return f"{len(results)} scenario(s): {passed} passed, {len(results) - passed} failed"


def results_json(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    """``kmc-scenarios/1``: per scenario, per expectation, each path's verdict and actual value."""
    return {
        "format": "kmc-scenarios/1",
        "passed": all(r.passed for r in results),
        "scenarios": [
            {
                "name": r.name,
                "file": str(r.path),
                "passed": r.passed,
                "t0": r.t0_s,
                "checks": [
                    {
                        "wrap": c.wrap,
                        "expected": c.expected,
                        "passed": c.ok,
                        "paths": {o.path: {"passed": o.ok, "actual": o.actual} for o in c.outcomes},
                    }
                    for c in r.checks
                ],
            }
            for r in results
        ],
    }
