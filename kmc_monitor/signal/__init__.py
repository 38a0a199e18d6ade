"""The NumPy signal core: the clinical rules over arrays, batch and streaming alike.

Pure functions and small carried states, importing nothing above NumPy (and the standard library's
zoneinfo for the ward's calendar days).
"""

from kmc_monitor.signal.calendar import DayCalendar
from kmc_monitor.signal.params import US, RuleParams, celsius_to_mc, seconds_to_us
from kmc_monitor.signal.report import (
    Alarm,
    AlarmKind,
    Category,
    DayTotal,
    Priority,
    Session,
    WrapReport,
    round_c,
)
from kmc_monitor.signal.series import WrapSeries, build_series, empty_series
from kmc_monitor.signal.stream import SessionTimer, WrapStatus, WrapStream, analyze_series

__all__ = [
    "US",
    "Alarm",
    "AlarmKind",
    "Category",
    "DayCalendar",
    "DayTotal",
    "Priority",
    "RuleParams",
    "Session",
    "SessionTimer",
    "WrapReport",
    "WrapSeries",
    "WrapStatus",
    "WrapStream",
    "analyze_series",
    "build_series",
    "celsius_to_mc",
    "empty_series",
    "round_c",
    "seconds_to_us",
]
