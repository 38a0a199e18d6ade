"""The ward's calendar in seconds: a ward-local day as a ``[start_t, end_t)`` span.

Pure (no clock, no I/O): the store, the reports, the export and the web layer all cut days the same
way, on the signal core's :class:`~kmc_monitor.signal.calendar.DayCalendar`, so a history's days are
the daily totals' days.
"""

from __future__ import annotations

import datetime as dt

from kmc_monitor.signal.calendar import DayCalendar
from kmc_monitor.signal.params import US

__all__ = ["day_bounds"]


def day_bounds(day: dt.date, ward_tz: str) -> tuple[float, float]:
    """The ward-local calendar day as ``[start_t, end_t)`` (23 or 25 h across a DST change).

    Uses the signal core's :class:`DayCalendar`, so the history's days are the daily totals' days.
    """
    cal = DayCalendar(ward_tz)
    return cal.midnight_us(day) / US, cal.midnight_us(day + dt.timedelta(days=1)) / US
