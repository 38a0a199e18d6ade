"""Which babies at home need the health station's attention, and when the next visit is due.

Pure functions over what the station stored (no clock, no I/O: ``now_t`` and ``today`` are
passed in), so a nurse's question "why is this baby on the list?" has one documented answer, and
the tests check it against hand-computed cases.

The rules (issue #17; the thresholds are the ward's: ``docs/rules.md``):

1. **No sync for 24 h** (:attr:`Reason.NO_SYNC`): the home gateway has not reached the station for
   24 hours (counted from the discharge if it never has). The family may have no network, no power,
   or may have stopped; either way someone should call or go.
2. **Under 8 h a day, two days running** (:attr:`Reason.LOW_CONTACT`): two consecutive calendar days
   (the home's calendar), both complete and both under the daily minimum of skin-to-skin contact
   (8 h, the ward's ``low_daily_contact``), since the last visit (a visit is where that is talked
   through; before any visit, since the discharge). A day the station has no summary for is not
   judged "under": it is unknown, and rule 1 covers silence. A running day is not judged.
   With twins each wrap is judged on its own.
3. **Any hypothermia since the last visit** (:attr:`Reason.HYPOTHERMIA`): a day summary on or
   after the last visit's day (before any visit: since the discharge) counts a cold episode. The
   visit day itself counts, because summaries are per day and an episode that evening must not be
   hidden by a visit that morning; the flag therefore clears the day after a visit at the earliest.

The follow-up schedule (:func:`next_visit`): visits are due on the schedule's days after the
discharge (days 1, 2, 3, 5, 7, 10, 14, 21, 28 by default, ``Settings.station_visit_days``). The next
one due is the first scheduled day after the day of the last recorded visit (a missed visit is
not due for ever once a later one has been made); before any visit, the first scheduled day.
It is overdue when its day is before today.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "NO_SYNC_S",
    "Attention",
    "DayFacts",
    "NextVisit",
    "Reason",
    "needs_attention",
    "next_visit",
]

#: A home silent this long is on the list.
NO_SYNC_S: Final = 24 * 3600.0


class Reason(enum.StrEnum):
    NO_SYNC = "no_sync_24h"
    LOW_CONTACT = "low_contact_2_days"
    HYPOTHERMIA = "hypothermia_since_visit"


@dataclass(frozen=True, slots=True)
class DayFacts:
    """One day of one wrap at home, as its latest summary said."""

    wrap_id: str
    day: dt.date
    contact_s: float
    cold_episodes: int
    complete: bool


@dataclass(frozen=True, slots=True)
class Attention:
    """One reason a baby is on the list, with what a nurse reads beside it."""

    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class NextVisit:
    day_number: int  # days after the discharge
    day: dt.date
    overdue_days: int  # 0 when due today or later


def needs_attention(
    *,
    now_t: float,
    discharged_t: float,
    discharge_day: dt.date,
    last_sync_t: float | None,
    days: Iterable[DayFacts],
    last_visit_day: dt.date | None,
    min_daily_contact_s: float,
) -> list[Attention]:
    """The reasons (rules 1-3 of the module docstring, in that order) this baby needs attention;
    empty if none."""
    out: list[Attention] = []
    since_t = discharged_t if last_sync_t is None else last_sync_t
    silent_s = now_t - since_t
    if silent_s >= NO_SYNC_S:
        what = "never synced since the discharge" if last_sync_t is None else "no sync"
        out.append(Attention(Reason.NO_SYNC, f"{what} for {silent_s / 3600:.0f} h"))
    since_day = discharge_day if last_visit_day is None else last_visit_day
    recent = [d for d in days if d.day >= since_day]
    low_runs: list[str] = []
    by_wrap: dict[str, dict[dt.date, DayFacts]] = {}
    for d in recent:
        by_wrap.setdefault(d.wrap_id, {})[d.day] = d
    for wrap_id in sorted(by_wrap):
        wrap_days = by_wrap[wrap_id]
        for day in sorted(wrap_days):
            first = wrap_days[day]
            second = wrap_days.get(day + dt.timedelta(days=1))
            if second is None:
                continue
            if all(x.complete and x.contact_s < min_daily_contact_s for x in (first, second)):
                low_runs.append(
                    f"{wrap_id}: {first.contact_s / 3600:.1f} h on {first.day.isoformat()} and "
                    f"{second.contact_s / 3600:.1f} h on {second.day.isoformat()}"
                )
                break
    if low_runs:
        limit = min_daily_contact_s / 3600
        out.append(
            Attention(Reason.LOW_CONTACT, f"under {limit:g} h two days running ({'; '.join(low_runs)})")
        )
    cold = sum(d.cold_episodes for d in recent)
    if cold:
        since = "the last visit" if last_visit_day is not None else "the discharge"
        out.append(Attention(Reason.HYPOTHERMIA, f"{cold} cold episode(s) since {since}"))
    return out


def next_visit(
    *,
    discharge_day: dt.date,
    visit_days: Sequence[int],
    visits: Iterable[dt.date],
    today: dt.date,
) -> NextVisit | None:
    """The next follow-up visit due (see the module docstring); None once the schedule is done."""
    last = max(visits, default=None)
    for n in sorted(visit_days):
        due = discharge_day + dt.timedelta(days=n)
        if last is not None and due <= last:
            continue
        return NextVisit(n, due, max(0, (today - due).days))
    return None
