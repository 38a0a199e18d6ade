"""The ward's shifts: which shift a moment falls in, in ward time, for the handover report (#14).

Shifts are given by their start times of day (``Settings.shift_starts``, default 07:00 and 19:00);
each runs to the next start, the last past midnight to the first of the next day. Starts are wall
times on the ward's clock, so across a daylight-saving change a shift is an hour shorter or longer
(a 19:00-07:00 night is 11 h or 13 h long), as the nurses working it see it. A start that falls in
the hour skipped by a change (02:30 on a spring-forward night) begins when the clock reads a time
past it (zoneinfo's rule for a time that does not exist: the offset from before the change); a start
in the hour repeated in autumn begins at its first occurrence.

Pure: no clock reads; callers pass the moment (seconds since the epoch) and the ward's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "HANDOVER_GRACE_S",
    "MAX_SHIFTS",
    "Shift",
    "default_shift",
    "parse_shift_starts",
    "shift_at",
    "shift_starting",
]

#: A shift that started less than this long ago is too young to hand over: the report then defaults
#: to the shift before it (the one the outgoing nurses just finished). Two hours covers a late
#: handover round; after that the running shift is what a nurse asking for "the report" wants.
HANDOVER_GRACE_S: Final = 2 * 3600.0
#: At most this many shifts a day (three eight-hour shifts is the most seen; six leaves room).
MAX_SHIFTS: Final = 6


@dataclass(frozen=True, slots=True)
class Shift:
    """One shift on one day: ``[start_t, end_t)`` in seconds since the epoch, and its local ends."""

    start_t: float
    end_t: float
    start_local: dt.datetime
    end_local: dt.datetime

    @property
    def key(self) -> str:
        """The shift as the report's ``shift=`` parameter names it: its local start, to the minute."""
        return self.start_local.strftime("%Y-%m-%dT%H:%M")

    @property
    def length_s(self) -> float:
        return self.end_t - self.start_t


def parse_shift_starts(values: Iterable[str]) -> tuple[dt.time, ...]:
    """``["19:00", "07:00"]`` → (07:00, 19:00): sorted, each ``HH:MM``; :class:`ValueError` saying
    what to write otherwise."""
    out: set[dt.time] = set()
    for raw in values:
        text = str(raw).strip()
        try:
            t = dt.time.fromisoformat(text)
        except ValueError:
            raise ValueError(f"shift start {text!r}: write a time of day as HH:MM, e.g. 07:00") from None
        if t.second or t.microsecond or t.tzinfo is not None or len(text) != 5:
            raise ValueError(f"shift start {text!r}: write a time of day as HH:MM, e.g. 07:00")
        out.add(t)
    if not 1 <= len(out) <= MAX_SHIFTS:
        raise ValueError(
            f"shift starts: give 1 to {MAX_SHIFTS} different times of day (e.g. 07:00,19:00); got {len(out)}"
        )
    return tuple(sorted(out))


def _starts_around(day: dt.date, starts: tuple[dt.time, ...], zone: ZoneInfo) -> list[float]:
    """Every shift start from the day before ``day`` to the day after, as epoch seconds, sorted
    (two starts the clock change makes one are one)."""
    out = {
        dt.datetime.combine(day + dt.timedelta(days=k), s, tzinfo=zone).timestamp()
        for k in (-1, 0, 1, 2)
        for s in starts
    }
    return sorted(out)


def _shift(start_t: float, end_t: float, zone: ZoneInfo) -> Shift:
    return Shift(
        start_t,
        end_t,
        dt.datetime.fromtimestamp(start_t, zone),
        dt.datetime.fromtimestamp(end_t, zone),
    )


def shift_at(t: float, starts: tuple[dt.time, ...], ward_tz: str) -> Shift:
    """The shift the moment ``t`` falls in."""
    zone = ZoneInfo(ward_tz)
    day = dt.datetime.fromtimestamp(t, zone).date()
    edges = _starts_around(day, starts, zone)
    i = max(k for k, e in enumerate(edges) if e <= t)
    return _shift(edges[i], edges[i + 1], zone)


def shift_starting(local_start: dt.datetime, starts: tuple[dt.time, ...], ward_tz: str) -> Shift:
    """The shift starting at ``local_start`` (naive, ward time), e.g. from ``?shift=2026-03-01T19:00``.

    :class:`ValueError` when no shift starts then (the message lists the ward's starts).
    """
    if local_start.second or local_start.microsecond or local_start.time() not in starts:
        known = ", ".join(s.strftime("%H:%M") for s in starts)
        raise ValueError(f"no shift starts at {local_start:%H:%M} on this ward (shifts start at {known})")
    zone = ZoneInfo(ward_tz)
    t = local_start.replace(tzinfo=zone).timestamp()
    return shift_at(t, starts, ward_tz)


def default_shift(now_t: float, starts: tuple[dt.time, ...], ward_tz: str) -> Shift:
    """The shift a handover report shows when none is asked for: the running one, unless it began
    less than :data:`HANDOVER_GRACE_S` ago, then the one just ended."""
    running = shift_at(now_t, starts, ward_tz)
    if now_t - running.start_t < HANDOVER_GRACE_S:
        return shift_at(running.start_t - 1.0, starts, ward_tz)
    return running
