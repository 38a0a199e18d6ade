"""Calendar days of the ward's time zone as microsecond edges.

Daily contact totals follow the ward's clock, not UTC, and a day can be 23 or 25 hours long around a
daylight-saving change: edges come from the IANA zone database, one local midnight per day.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from kmc_monitor.signal.params import US
from kmc_monitor.signal.series import IntArray

__all__ = ["DayCalendar"]


class DayCalendar:
    """Local-midnight edges for a time zone, computed once per day and cached."""

    __slots__ = ("_cache", "tz")

    def __init__(self, tz_name: str) -> None:
        self.tz = ZoneInfo(tz_name)
        self._cache: dict[dt.date, int] = {}

    def day_of(self, t_us: int) -> dt.date:
        """The local calendar date of an instant."""
        return dt.datetime.fromtimestamp(t_us / US, tz=self.tz).date()

    def midnight_us(self, day: dt.date) -> int:
        """The instant the local day begins (the first instant whose local date is ``day``)."""
        hit = self._cache.get(day)
        if hit is None:
            local = dt.datetime(day.year, day.month, day.day, tzinfo=self.tz)
            hit = round(local.timestamp() * US)
            # A zone that skips midnight (rare, e.g. some DST rules) starts the day at the first
            # existing instant; timestamp() already resolves the gap forward with fold=0.
            self._cache[day] = hit
        return hit

    def days_between(self, a_us: int, b_us: int) -> tuple[list[dt.date], IntArray]:
        """Dates overlapping ``[a_us, b_us]`` and their ``len + 1`` edges (start of each, end of last)."""
        first = self.day_of(a_us)
        last = self.day_of(b_us)
        days = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
        bounds = [*days, last + dt.timedelta(days=1)]
        edges = np.array([self.midnight_us(d) for d in bounds], dtype=np.int64)
        return days, edges
