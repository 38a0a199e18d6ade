"""Hand-checked cases for the reference oracle in ``tests/signal/reference.py``.

The oracle is the yardstick the fast core is measured against, so it needs its own checks. Every
expectation below is worked out by hand from docs/rules.md (the working is in the comments); none is
derived from the oracle. Unless a test says otherwise readings are 1 Hz, so the 30 s smoothing window
``(t - 30, t]`` holds the 30 readings ``k - 29 .. k`` and its lower median is the value at sorted
position 14: the smoothed T is below ``x`` exactly when at least 15 of the 30 values are.
"""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np

from kmc_monitor.signal.params import RuleParams
from kmc_monitor.signal.report import Alarm, AlarmKind, DayTotal, Session, WrapReport
from kmc_monitor.signal.series import FloatArray, build_series, empty_series
from tests.signal.reference import reference_report

US = 1_000_000
DAY0 = 1_699_920_000  # 2023-11-14 00:00:00 UTC (19675 * 86400)
T0 = DAY0 + 3600  # 01:00 UTC: every short trace below stays inside 2023-11-14
PARAMS = RuleParams()
NAN = float("nan")


def us(seconds_after_t0: float) -> int:
    """Absolute µs of a time given in seconds after T0."""
    return round((T0 + seconds_after_t0) * US)


def steps(*pieces: tuple[int, float]) -> list[float]:
    """A 1 Hz signal from ``(count, value)`` pieces: ``steps((100, 36.8), (200, 36.2))``."""
    out: list[float] = []
    for count, value in pieces:
        out += [value] * count
    return out


def one_day_report(skin: list[float], ambient: float = 26.0, site_offset_mc: int = 0) -> WrapReport:
    """Report of a 1 Hz trace starting at T0 with the given skin temperatures and a constant ambient."""
    n = len(skin)
    series = build_series("w", T0 + np.arange(n, dtype=np.float64), skin, [ambient] * n, None, None)
    return reference_report(series, PARAMS, site_offset_mc=site_offset_mc)


# --- contact and sessions ----------------------------------------------------------------------------


def test_empty_series_reports_nothing() -> None:
    report = reference_report(empty_series("w"), PARAMS, until_us=us(100))
    assert report == WrapReport("w", None, None, 0, 0, 0, 0, 0, (), (), ())


def test_ten_minute_session_at_1_hz() -> None:
    # Readings k = 0..600, all in contact, normal temperature: 600 known contact intervals of 1 s.
    # One run [T0, T0+600) -> one session of 600 s, short (< 3600 s). The first reading is normal, so
    # settling ends at once and nothing alarms. The day 2023-11-14 starts an hour before the first
    # reading, so it is not complete.
    n = 601
    series = build_series("w", T0 + np.arange(n), [36.8] * n, [26.0] * n, [1.0] * n, [80.0] * n)
    report = reference_report(series, PARAMS)
    assert report == WrapReport(
        wrap_id="w",
        first_us=us(0),
        last_us=us(600),
        readings=601,
        invalid_readings=0,
        observed_us=600 * US,
        contact_us=600 * US,
        unknown_us=0,
        sessions=(Session(us(0), us(600), 600 * US, True),),
        alarms=(),
        days=(
            DayTotal(
                dt.date(2023, 11, 14),
                DAY0 * US,
                (DAY0 + 86400) * US,
                600 * US,
                600 * US,
                0,
                False,
            ),
        ),
    )


def contact_with_break(break_s: int) -> WrapReport:
    """Contact for 300 s, no contact for ``break_s``, contact for 300 s more (1 Hz, last reading on)."""
    contact = steps((300, 1.0), (break_s, 0.0), (301, 1.0))
    n = len(contact)
    return reference_report(build_series("w", T0 + np.arange(n), None, None, contact, None), PARAMS)


def test_break_of_100_s_is_bridged_into_one_session() -> None:
    # Runs [0, 300) and [400, 700); the gap 400 - 300 = 100 s <= 120 s joins them.
    report = contact_with_break(100)
    assert report.sessions == (Session(us(0), us(700), 600 * US, True),)
    assert report.contact_us == 600 * US


def test_break_of_200_s_splits_into_two_sessions() -> None:
    # Runs [0, 300) and [500, 800); the gap of 200 s > 120 s; each run is >= 60 s, so two sessions.
    report = contact_with_break(200)
    assert report.sessions == (
        Session(us(0), us(300), 300 * US, True),
        Session(us(500), us(800), 300 * US, True),
    )


def test_45_s_of_contact_is_not_a_session_but_counts() -> None:
    # Contact only at readings 100..144: the intervals [100, 145) are contact, 45 s < 60 s.
    contact = steps((100, 0.0), (45, 1.0), (156, 0.0))
    series = build_series("w", T0 + np.arange(len(contact)), None, None, contact, None)
    report = reference_report(series, PARAMS)
    assert report.sessions == ()
    assert report.contact_us == 45 * US
    assert report.unknown_us == 0
    assert report.observed_us == 300 * US


def test_contact_hysteresis() -> None:
    # 10 s spacing. 0.5 -> on (first decides with >= 0.5); 0.45 keeps on; 0.4 -> off; 0.55 keeps off;
    # 0.6 -> on; the last reading's value has no interval after it. Contact intervals: 0, 1, 4 = 30 s.
    series = build_series("w", T0 + 10.0 * np.arange(6), None, None, [0.5, 0.45, 0.4, 0.55, 0.6, 0.0], None)
    report = reference_report(series, PARAMS)
    assert report.contact_us == 30 * US
    assert report.unknown_us == 0


def test_40_s_data_gap_is_unknown_and_raises_no_data() -> None:
    # Readings 0..100 and 140..200, all in contact. The interval [100, 140) is 40 s > 30 s: unknown.
    # Contact = 100 + 60 = 160 s. The runs [0, 100) and [140, 200) are 40 s apart: one session.
    # no_data from 100 + 30 to the next reading at 140.
    t = np.concatenate([np.arange(0, 101), np.arange(140, 201)]) + T0
    n = len(t)
    series = build_series("w", t, [36.8] * n, [26.0] * n, [1.0] * n, None)
    report = reference_report(series, PARAMS)
    assert report.observed_us == 200 * US
    assert report.contact_us == 160 * US
    assert report.unknown_us == 40 * US
    assert report.sessions == (Session(us(0), us(200), 160 * US, True),)
    assert report.alarms == (Alarm(AlarmKind.NO_DATA, us(130), us(200), None),)
    assert report.days[0].unknown_us == 40 * US
    assert report.days[0].contact_us == 160 * US


# --- temperature conditions --------------------------------------------------------------------------


def test_steady_cold_stress_after_a_normal_start() -> None:
    # 36.8 for k < 100, then 36.2. The smoothed T is < 36.5 once 15 of the 30 window values are 36.2:
    # k - 99 >= 15, so onset k = 114. Delay 60 s: cold_stress starts at k = 174 and never recovers.
    # Extreme = lowest smoothed T from k = 174 on = 36.2 °C.
    report = one_day_report(steps((100, 36.8), (200, 36.2)))
    assert report.alarms == (Alarm(AlarmKind.COLD_STRESS, us(174), None, 36200.0),)


def test_site_offset_moves_t_back_into_the_normal_band() -> None:
    # Same trace with +0.5 °C: T is 37.3 then 36.7, always normal.
    report = one_day_report(steps((100, 36.8), (200, 36.2)), site_offset_mc=500)
    assert report.alarms == ()


def test_31_c_from_switch_on_raises_severe_after_settling() -> None:
    # 31.0 °C from the first reading (ambient 26, gap 5 °C: attached). Never normal, so settling lasts
    # until t - T0 >= 300 s: k = 300 is the first judged reading and the onset of every cold run.
    # Severe (delay 15 s) starts at k = 315; moderate and cold stress candidates at k = 360 are milder
    # than the active severe condition and are ignored.
    report = one_day_report([31.0] * 400)
    assert report.alarms == (Alarm(AlarmKind.HYPOTHERMIA_SEVERE, us(315), None, 31000.0),)


def test_cold_stress_escalates_to_moderate_then_recovers() -> None:
    # 36.8 (k < 100), 36.2 (100..299), 35.5 (300..499), 36.8 (500..599). Falls are at most 0.7 °C.
    # - cold_stress: onset 114 (as above), starts 174.
    # - moderate: 15 values of 35.5 at k = 314 -> onset; starts at 374, cold_stress ends there.
    # - recovery: smoothed >= 36.6 once fewer than 15 values are < 36.6: 529 - k < 15 -> k = 515;
    #   60 s later, k = 575, moderate ends.
    # Extremes: smoothed T reaches 35.5 at k = 373 (window 344..373 all 35.5), inside both episodes.
    report = one_day_report(steps((100, 36.8), (200, 36.2), (200, 35.5), (100, 36.8)))
    assert report.alarms == (
        Alarm(AlarmKind.COLD_STRESS, us(174), us(374), 35500.0),
        Alarm(AlarmKind.HYPOTHERMIA_MODERATE, us(374), us(575), 35500.0),
    )


def test_38_c_raises_hyperthermia() -> None:
    # 36.8 for k < 100, then 38.0. The smoothed T is > 37.5 once fewer than 15 values are <= 37.5:
    # 129 - k < 15 -> onset k = 115 (at k = 114 the 15/15 split takes the colder middle value).
    # Delay 60 s: starts at k = 175. Extreme = highest smoothed T = 38.0 °C.
    report = one_day_report(steps((100, 36.8), (200, 38.0)))
    assert report.alarms == (Alarm(AlarmKind.HYPERTHERMIA, us(175), None, 38000.0),)


def test_cooling_trend_beside_cold_conditions() -> None:
    # Readings every 30 s (k = 0..120), skin 36.90 - 0.01 k °C (1.2 °C/h), no ambient. With 30 s
    # spacing the window (t - 30, t] holds only the reading itself, so smoothed T = T.
    # - cold_stress: T < 36.5 from k = 41 (t = 1230); starts at the first t >= 1290: k = 43.
    # - moderate: T < 36.0 from k = 91 (t = 2730); starts at k = 93 (t = 2790); cold_stress ends.
    # - cooling_trend: lag30(k) = k - 60, drop30 = -0.60 <= -0.5 from k = 60 (t = 1800) with T < 37;
    #   delay 60 s: starts at k = 62 (t = 1860).
    # - the fall over 60 s is 0.02 °C: never detached.
    # Extremes: cold_stress lowest at k = 92: 35.98; moderate lowest at k = 120: 35.70.
    k = np.arange(121)
    skin = (36900 - 10 * k) / 1000.0
    series = build_series("w", T0 + 30.0 * k, skin, None, None, None)
    report = reference_report(series, PARAMS)
    assert report.alarms == (
        Alarm(AlarmKind.COLD_STRESS, us(1290), us(2790), 35980.0),
        Alarm(AlarmKind.COOLING_TREND, us(1860), None, None),
        Alarm(AlarmKind.HYPOTHERMIA_MODERATE, us(2790), None, 35700.0),
    )


# --- sensor detached, battery ------------------------------------------------------------------------


def test_sensor_reading_air_is_detached_not_hypothermia() -> None:
    # Ambient 26.0 throughout. Skin 36.8 (k < 100), 27.0 (100..299: 1 °C above ambient), 36.8 (300..499).
    # - detach: gap median < 2 °C once 15 window gaps are 1.0: k = 114 (the fall median also turns
    #   < -1.5 °C there). Up to k = 113 the smoothed T is still 36.8, so no cold run ever starts.
    # - sensor_detached: run onset 114, delay 30 s -> starts at k = 144.
    # - re-attach: gap median >= 4 °C once fewer than 15 gaps are 1.0: 329 - k < 15 -> k = 315; the
    #   detach test fails there (gap median 10.8, falls >= 0). sensor_detached ends at k = 315.
    # - settling from k = 315 ends at once: smoothed T there is 36.8 (16 of 30 values).
    report = one_day_report(steps((100, 36.8), (200, 27.0), (200, 36.8)))
    assert report.alarms == (Alarm(AlarmKind.SENSOR_DETACHED, us(144), us(315), None),)


def test_low_battery_with_hysteresis() -> None:
    # 50 % (k < 50), 15 % (50..69) -> starts at 50; 22 % (70..79) is not >= 25 %: still active;
    # no value (80..84) changes nothing; 30 % at k = 85 ends it. No contact values: all 99 s unknown.
    battery = steps((50, 50.0), (20, 15.0), (10, 22.0), (5, NAN), (15, 30.0))
    series = build_series("w", T0 + np.arange(len(battery)), None, None, None, battery)
    report = reference_report(series, PARAMS)
    assert report.alarms == (Alarm(AlarmKind.LOW_BATTERY, us(50), us(85), None),)
    assert report.unknown_us == 99 * US
    assert report.contact_us == 0


# --- days ----------------------------------------------------------------------------------------------


def two_day_series() -> tuple[FloatArray, list[float]]:
    """Readings every 30 s from 2023-11-14 00:00 UTC to +171000 s; contact for the first 4 h only."""
    t = np.asarray(DAY0 + 30.0 * np.arange(5701), dtype=np.float64)
    contact = steps((480, 1.0), (5701 - 480, 0.0))
    return t, contact


def test_complete_days_and_low_daily_contact_when_analysis_runs_on() -> None:
    # Day 1 [DAY0, DAY0+86400): contact 4 h < 8 h, complete (first reading at its start, analysis
    # past its end) -> low_daily_contact from DAY0+86400 to the next day's end DAY0+172800.
    # Day 2: observed 171000 - 86400 = 84600 s, no contact, complete because until = DAY0+172800 is
    # within 30 s of its end -> low_daily_contact from DAY0+172800, still active (until < its end).
    # The wrap fell silent 1800 s before until: no_data from last + 30 s, still active.
    t, contact = two_day_series()
    series = build_series("w", t, None, None, contact, None)
    report = reference_report(series, PARAMS, until_us=(DAY0 + 172800) * US)
    assert report.sessions == (Session(DAY0 * US, (DAY0 + 14400) * US, 14400 * US, False),)
    day1, day2 = report.days
    assert day1 == DayTotal(
        dt.date(2023, 11, 14), DAY0 * US, (DAY0 + 86400) * US, 86400 * US, 14400 * US, 0, True
    )
    assert day2 == DayTotal(
        dt.date(2023, 11, 15),
        (DAY0 + 86400) * US,
        (DAY0 + 172800) * US,
        84600 * US,
        0,
        0,
        True,
    )
    assert report.alarms == (
        Alarm(AlarmKind.LOW_DAILY_CONTACT, (DAY0 + 86400) * US, (DAY0 + 172800) * US, None),
        Alarm(AlarmKind.NO_DATA, (DAY0 + 171030) * US, None, None),
        Alarm(AlarmKind.LOW_DAILY_CONTACT, (DAY0 + 172800) * US, None, None),
    )


def test_partial_day_is_not_judged_when_analysis_stops_at_last_reading() -> None:
    # until = last reading = DAY0+171000: day 2 is 1800 s short of its end -> incomplete, not judged;
    # day 1's advisory has not reached its end (the end of day 2) -> still active. No trailing no_data.
    t, contact = two_day_series()
    report = reference_report(build_series("w", t, None, None, contact, None), PARAMS)
    assert [d.complete for d in report.days] == [True, False]
    assert report.alarms == (Alarm(AlarmKind.LOW_DAILY_CONTACT, (DAY0 + 86400) * US, None, None),)


def test_days_follow_the_ward_zone_across_daylight_saving() -> None:
    # Europe/Berlin springs forward on 2024-03-31: local midnight is 23:00 UTC the day before and the
    # next local midnight 22:00 UTC the same day, a 23 h day.
    noon = calendar.timegm((2024, 3, 31, 10, 0, 0))
    series = build_series("w", [noon, noon + 10], None, None, None, None)
    report = reference_report(series, RuleParams(ward_tz="Europe/Berlin"))
    (day,) = report.days
    assert day.day == dt.date(2024, 3, 31)
    assert day.start_us == calendar.timegm((2024, 3, 30, 23, 0, 0)) * US
    assert day.end_us == calendar.timegm((2024, 3, 31, 22, 0, 0)) * US
    assert day.end_us - day.start_us == 23 * 3600 * US
    assert day.observed_us == 10 * US
