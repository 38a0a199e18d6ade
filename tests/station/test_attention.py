"""The attention rules and the follow-up schedule, against cases computed by hand.

Each case states its facts and the answer worked out from the rules in station/attention.py's
docstring, not from running the code."""

from __future__ import annotations

import datetime as dt

import pytest

from kmc_monitor.station.attention import Attention, DayFacts, NextVisit, Reason, needs_attention, next_visit

H = 3600.0
#: Discharged 2026-03-01 09:00 UTC; the home's days are UTC days in these cases.
DISCHARGED_T = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC).timestamp()
D0 = dt.date(2026, 3, 1)
EIGHT_H = 8 * H
SCHEDULE = (1, 2, 3, 5, 7, 10, 14, 21, 28)


def d(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def facts(*rows: tuple[int, float, int, bool], wrap_id: str = "W1") -> list[DayFacts]:
    return [DayFacts(wrap_id, d(n), h * H, cold, complete) for n, h, cold, complete in rows]


def reasons(**kw: object) -> list[Reason]:
    args: dict[str, object] = {
        "now_t": DISCHARGED_T + 3600,
        "discharged_t": DISCHARGED_T,
        "discharge_day": D0,
        "last_sync_t": DISCHARGED_T + 1800,
        "days": [],
        "last_visit_day": None,
        "min_daily_contact_s": EIGHT_H,
    }
    args.update(kw)
    return [a.reason for a in needs_attention(**args)]  # type: ignore[arg-type]


def test_a_home_that_syncs_with_good_days_needs_nothing() -> None:
    days = facts((1, 9, 0, True), (2, 12, 0, True), (3, 3, 0, False))  # day 3 is still running
    assert (
        reasons(now_t=DISCHARGED_T + 3 * 86400, last_sync_t=DISCHARGED_T + 3 * 86400 - 600, days=days) == []
    )


@pytest.mark.parametrize(
    ("silent_h", "never", "expected"),
    [
        (23.99, False, []),
        (24.0, False, [Reason.NO_SYNC]),  # exactly 24 h silent: on the list
        (30, True, [Reason.NO_SYNC]),  # never synced: counted from the discharge
        (23, True, []),
    ],
)
def test_no_sync_for_24_hours(silent_h: float, never: bool, expected: list[Reason]) -> None:
    base = DISCHARGED_T + 2 * 86400
    last = None if never else base
    now = (DISCHARGED_T if never else base) + silent_h * H
    assert reasons(now_t=now, last_sync_t=last) == expected


def test_no_sync_detail_says_how_long() -> None:
    (only,) = needs_attention(
        now_t=DISCHARGED_T + 50 * H,
        discharged_t=DISCHARGED_T,
        discharge_day=D0,
        last_sync_t=None,
        days=[],
        last_visit_day=None,
        min_daily_contact_s=EIGHT_H,
    )
    assert only == Attention(Reason.NO_SYNC, "never synced since the discharge for 50 h")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # Two complete days running under 8 h: on the list.
        (((1, 7.9, 0, True), (2, 6, 0, True)), [Reason.LOW_CONTACT]),
        # Under 8 h on two days that are not consecutive (day 2 is 8 h exactly, not under).
        (((1, 7, 0, True), (2, 8, 0, True), (3, 5, 0, True)), []),
        # A day missing between two short days: unknown, not under (and no run).
        (((1, 7, 0, True), (3, 5, 0, True)), []),
        # The second short day is still running: not judged yet.
        (((1, 7, 0, True), (2, 2, 0, False)), []),
        # The run is in the middle of the week.
        (((1, 10, 0, True), (2, 4, 0, True), (3, 3, 0, True), (4, 12, 0, True)), [Reason.LOW_CONTACT]),
    ],
)
def test_under_8_hours_two_days_running(
    rows: tuple[tuple[int, float, int, bool], ...], expected: list[Reason]
) -> None:
    assert reasons(days=facts(*rows)) == expected


def test_twins_are_judged_one_by_one() -> None:
    # W1 short on day 1, W2 short on day 2: neither baby has two short days running.
    days = facts((1, 5, 0, True), (2, 9, 0, True)) + facts((1, 9, 0, True), (2, 5, 0, True), wrap_id="W2")
    assert reasons(days=days) == []
    days += facts((3, 6, 0, True), wrap_id="W2")
    (low,) = needs_attention(
        now_t=DISCHARGED_T + 3600,
        discharged_t=DISCHARGED_T,
        discharge_day=D0,
        last_sync_t=DISCHARGED_T,
        days=days,
        last_visit_day=None,
        min_daily_contact_s=EIGHT_H,
    )
    assert low.reason is Reason.LOW_CONTACT
    assert low.detail == "under 8 h two days running (W2: 5.0 h on 2026-03-03 and 6.0 h on 2026-03-04)"


def test_a_visit_clears_a_low_contact_run_before_it() -> None:
    days = facts((1, 5, 0, True), (2, 6, 0, True), (3, 9, 0, True))
    assert reasons(days=days, last_visit_day=d(3)) == []
    # Only days from the visit on count: a run ending on the visit day began before it.
    assert reasons(days=facts((2, 5, 0, True), (3, 6, 0, True)), last_visit_day=d(3)) == []
    assert reasons(days=facts((3, 5, 0, True), (4, 6, 0, True)), last_visit_day=d(3)) == [Reason.LOW_CONTACT]


def test_any_hypothermia_since_the_last_visit() -> None:
    days = facts((1, 9, 1, True), (2, 10, 0, True), (3, 12, 0, False))
    assert reasons(days=days) == [Reason.HYPOTHERMIA]  # no visit yet: since the discharge
    assert reasons(days=days, last_visit_day=d(2)) == []  # the episode (day 1) was before the visit
    # An episode on the visit day itself still counts (the summary is per day).
    assert reasons(days=facts((2, 10, 2, True)), last_visit_day=d(2)) == [Reason.HYPOTHERMIA]


def test_all_three_reasons_in_order() -> None:
    days = facts((1, 5, 1, True), (2, 4, 0, True))
    got = needs_attention(
        now_t=DISCHARGED_T + 4 * 86400,
        discharged_t=DISCHARGED_T,
        discharge_day=D0,
        last_sync_t=DISCHARGED_T + 2 * 86400,
        days=days,
        last_visit_day=None,
        min_daily_contact_s=EIGHT_H,
    )
    assert [a.reason for a in got] == [Reason.NO_SYNC, Reason.LOW_CONTACT, Reason.HYPOTHERMIA]
    assert got[0].detail == "no sync for 48 h"
    assert got[2].detail == "1 cold episode(s) since the discharge"


@pytest.mark.parametrize(
    ("visits", "today", "expected"),
    [
        ((), d(0), NextVisit(1, d(1), 0)),  # discharge day: the first visit is tomorrow
        ((), d(4), NextVisit(1, d(1), 3)),  # nobody went: day 1 is 3 days overdue
        ((d(1), d(2)), d(2), NextVisit(3, d(3), 0)),
        ((d(3),), d(4), NextVisit(5, d(5), 0)),  # days 1 and 2 missed, day 3 made: next is day 5
        ((d(6),), d(9), NextVisit(7, d(7), 2)),  # a visit on day 6 is not the day-7 visit
        ((d(7),), d(9), NextVisit(10, d(10), 0)),
        ((d(28),), d(30), None),  # the schedule is done
    ],
)
def test_next_visit_on_the_schedule(
    visits: tuple[dt.date, ...], today: dt.date, expected: NextVisit | None
) -> None:
    assert next_visit(discharge_day=D0, visit_days=SCHEDULE, visits=visits, today=today) == expected


def test_next_visit_follows_a_configured_schedule() -> None:
    assert next_visit(discharge_day=D0, visit_days=(2, 9), visits=[d(2)], today=d(3)) == NextVisit(9, d(9), 0)
