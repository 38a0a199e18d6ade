"""The offline analysis: traces in, the ``kmc-analysis/1`` report out (trace-format.md).

It runs the very same :class:`~kmc_monitor.signal.stream.WrapStream` as the live service, fed each
wrap's whole trace at once.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kmc_monitor.signal import DayCalendar, RuleParams, WrapReport, analyze_series
from kmc_monitor.signal.params import US
from kmc_monitor.signal.series import WrapSeries

__all__ = ["FORMAT", "analyze_all", "render_table", "report_json"]

FORMAT = "kmc-analysis/1"


def analyze_all(
    series: Sequence[WrapSeries],
    params: RuleParams,
    *,
    until_us: int | None,
    offsets_mc: dict[str, int] | None = None,
    progress: Callable[[int], object] | None = None,
) -> list[WrapReport]:
    """Analyse every wrap up to ``until_us``, vectorised within each wrap.

    Wraps are independent, and a wrap's analysis spends most of its time in NumPy kernels that
    release the GIL, so they run on a thread per core (results in input order). Each thread has its
    own day calendar: the calendar's cache is not shared across threads.
    """
    offsets = offsets_mc or {}
    local = threading.local()

    def one(s: WrapSeries) -> WrapReport:
        calendar = getattr(local, "calendar", None)
        if calendar is None:
            calendar = local.calendar = DayCalendar(params.ward_tz)
        report = analyze_series(
            s, params, until_us=until_us, site_offset_mc=offsets.get(s.wrap_id, 0), calendar=calendar
        )
        if progress is not None:
            progress(len(s))
        return report

    workers = min(len(series), _cores())
    if workers <= 1:
        return [one(s) for s in series]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyze") as pool:
        return list(pool.map(one, series))


def _cores() -> int:
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 8))
    except AttributeError:  # not on Linux
        return max(1, min(os.cpu_count() or 1, 8))


def _s(us: int | None) -> float | None:
    return None if us is None else us / US


def wrap_json(r: WrapReport, params: RuleParams) -> dict[str, Any]:
    """One wrap's entry of the report, with the keys trace-format.md names (plus ``days``)."""
    goal_s = params.daily_goal_s
    return {
        "wrap_id": r.wrap_id,
        "first_t": _s(r.first_us),
        "last_t": _s(r.last_us),
        "readings": r.readings,
        "invalid_readings": r.invalid_readings,
        "totals": {
            "observed_s": r.observed_us / US,
            "contact_s": r.contact_us / US,
            "unknown_s": r.unknown_us / US,
        },
        "sessions": [
            {
                "start_t": s.start_us / US,
                "end_t": s.end_us / US,
                "duration_s": s.duration_us / US,
                "contact_s": s.contact_us / US,
                "short": s.short,
            }
            for s in r.sessions
        ],
        "alarms": [
            {
                "kind": a.kind.value,
                "category": a.category.value,
                "priority": a.priority.value,
                "start_t": a.start_us / US,
                "end_t": _s(a.end_us),
                "extreme_c": a.extreme_c,
            }
            for a in r.alarms
        ],
        "days": [
            {
                "date": d.day.isoformat(),
                "observed_s": d.observed_us / US,
                "contact_s": d.contact_us / US,
                "unknown_s": d.unknown_us / US,
                "goal_s": goal_s,
                "complete": d.complete,
            }
            for d in r.days
        ],
    }


def report_json(reports: Sequence[WrapReport], params: RuleParams) -> dict[str, Any]:
    """The whole ``kmc-analysis/1`` document."""
    return {"format": FORMAT, "wraps": [wrap_json(r, params) for r in reports]}


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _when(us: int | None, tz: dt.tzinfo) -> str:
    if us is None:
        return "still active"
    return dt.datetime.fromtimestamp(us / US, tz=tz).strftime("%Y-%m-%d %H:%M:%S")


def render_table(reports: Sequence[WrapReport], params: RuleParams) -> str:
    """A readable report: one block per wrap with totals, sessions and alarms in ward time."""
    tz = DayCalendar(params.ward_tz).tz
    lines: list[str] = []
    for r in reports:
        lines.append(f"Wrap {r.wrap_id}")
        if r.first_us is None:
            lines.append("  no readings")
            lines.append("")
            continue
        obs = r.observed_us / US
        share = f" ({100 * r.contact_us / r.observed_us:.0f} % of observed)" if r.observed_us else ""
        lines.append(
            f"  {_when(r.first_us, tz)} to {_when(r.last_us, tz)} ({params.ward_tz}), "
            f"{r.readings} readings, {r.invalid_readings} invalid"
        )
        lines.append(
            f"  skin to skin {_hms(r.contact_us / US)}{share}; observed {_hms(obs)}; "
            f"unknown {_hms(r.unknown_us / US)}"
        )
        for d in r.days:
            flag = "" if d.complete else " (partial day)"
            lines.append(
                f"  day {d.day.isoformat()}: contact {_hms(d.contact_us / US)} of goal "
                f"{_hms(params.daily_goal_s)}{flag}"
            )
        if r.sessions:
            lines.append(f"  sessions ({len(r.sessions)}):")
            lines.append(f"    {'start':19}  {'end':19}  {'duration':>9}  {'contact':>9}")
            for s in r.sessions:
                short = "  short" if s.short else ""
                lines.append(
                    f"    {_when(s.start_us, tz)}  {_when(s.end_us, tz)}  {_hms(s.duration_us / US):>9}  "
                    f"{_hms(s.contact_us / US):>9}{short}"
                )
        else:
            lines.append("  sessions: none")
        if r.alarms:
            lines.append(f"  alarms ({len(r.alarms)}):")
            lines.append(f"    {'kind':21} {'priority':8} {'start':19}  {'end':19}  extreme")
            for a in r.alarms:
                ext = f"{a.extreme_c:.2f} °C" if a.extreme_c is not None else ""
                lines.append(
                    f"    {a.kind.value:21} {a.priority.value:8} {_when(a.start_us, tz)}  "
                    f"{_when(a.end_us, tz):19}  {ext}"
                )
        else:
            lines.append("  alarms: none")
        lines.append("")
    return "\n".join(lines)
