"""What a scenario run found and what it reports: the facts each path (batch, live) observed, and
each expectation's verdict on every path.

Plain values apart from :mod:`kmc_monitor.scenarios.run` (which produces and judges them), so the
runner stays about running; the report (:mod:`kmc_monitor.scenarios.report`) reads these. A wrap's
report becomes facts here (:func:`facts_of_report`), the same way on both paths.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import AlarmKind, Priority, WrapReport

__all__ = [
    "BATCH",
    "LIVE",
    "AlarmFact",
    "Check",
    "DayFact",
    "Facts",
    "Outcome",
    "ScenarioResult",
    "SessionFact",
    "facts_of_report",
]

BATCH = "batch"
LIVE = "live"


# What happened --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AlarmFact:
    kind: AlarmKind
    priority: Priority
    start_s: float
    end_s: float | None
    extreme_c: float | None


@dataclass(frozen=True, slots=True)
class SessionFact:
    start_s: float
    end_s: float
    contact_s: float
    short: bool


@dataclass(frozen=True, slots=True)
class DayFact:
    date: dt.date
    contact_s: float
    observed_s: float
    unknown_s: float
    complete: bool


@dataclass(frozen=True, slots=True)
class Facts:
    """One wrap's outcome on one path, in seconds and °C."""

    path: str
    #: How late this path's alarm times may be (one tick on the live path).
    lag_s: float
    readings: int
    invalid_readings: int
    observed_s: float
    contact_s: float
    unknown_s: float
    sessions: tuple[SessionFact, ...]
    alarms: tuple[AlarmFact, ...]
    days: tuple[DayFact, ...]
    #: Live path only: kinds that were the alarm sounding on a ward screen at some tick, and kinds
    #: that ever showed as high priority or latched.
    sounded: frozenset[AlarmKind] = frozenset()
    shown_high: frozenset[AlarmKind] = frozenset()
    #: Contact seconds per caregiver (sessions attributed to who held for most of each). The live
    #: path attributes the sessions the engine handed out to be saved, by the store's own rule
    #: (engine → in-memory ward → ``programme.caregivers.attribute_stay``).
    caregiver_s: tuple[tuple[str, float], ...] = ()


def facts_of_report(
    report: WrapReport, path: str, lag_s: float, alarms: Sequence[AlarmFact] | None = None
) -> Facts:
    """One path's facts from a wrap's report, in seconds; ``alarms`` replaces the report's own (the
    live path reports what the ward's board did, not the rules)."""
    if alarms is None:
        alarms = [
            AlarmFact(
                a.kind, a.priority, a.start_us / US, None if a.end_us is None else a.end_us / US, a.extreme_c
            )
            for a in report.alarms
        ]
    return Facts(
        path,
        lag_s,
        report.readings,
        report.invalid_readings,
        report.observed_us / US,
        report.contact_us / US,
        report.unknown_us / US,
        tuple(
            SessionFact(s.start_us / US, s.end_us / US, s.contact_us / US, s.short) for s in report.sessions
        ),
        tuple(alarms),
        tuple(
            DayFact(d.day, d.contact_us / US, d.observed_us / US, d.unknown_us / US, d.complete)
            for d in report.days
        ),
    )


# What is reported ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outcome:
    """One path's verdict on one expectation, with what actually happened."""

    path: str
    ok: bool
    actual: str


@dataclass(frozen=True, slots=True)
class Check:
    """One expectation and its outcome on every path."""

    wrap: str
    expected: str
    outcomes: tuple[Outcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    name: str
    path: Path
    checks: tuple[Check, ...]
    #: The trace's start (seconds since the epoch) and the ward's zone, to show times as written.
    t0_s: float = 0.0
    tz: str = "UTC"
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]
