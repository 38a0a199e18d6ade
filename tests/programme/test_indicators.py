"""Every indicator of the synthetic December (tests/programme/month.py), worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kmc_monitor.programme.indicators import (
    Indicators,
    Period,
    PeriodError,
    compute_indicators,
    indicators_csv,
)
from tests.programme.month import NOW, Month, build_month


@pytest.fixture
def month(tmp_path: Path) -> Iterator[Month]:
    m = build_month(tmp_path / "data")
    yield m
    m.store.close()


@pytest.fixture
def december(month: Month) -> Indicators:
    return compute_indicators(month.store, Period.parse("2026-12"), ward_tz="UTC", now=NOW)


# By hand (see month.py):
# stays in December: A Dec 1 00:00 - Dec 10 12:00 (9.5 d), B Dec 5 08:00 - Dec 15 08:00 (10 d),
# C Dec 20 00:00 - Jan 1 00:00 (12 d), D Dec 28 - Dec 29 (1 d), E Dec 29 12:00 - Dec 30 12:00 (1 d)
PATIENT_DAYS = 9.5 + 10 + 12 + 1 + 1
# whole days: A Dec 1-9 (9), B Dec 6-14 (9), C Dec 20-31 (12), D Dec 28 (1), E none
BABY_DAYS = 9 + 9 + 12 + 1
# hours a whole day: A 13 h on Dec 1-5, 10 h on Dec 6-9; B 5 h (4 h 10 min on Dec 10); C 6 h on Dec 20,
# 21 h on Dec 21-30, 22 h on Dec 31 (21 h + 1 h of the session into January); D 0 h.
GE_8 = 9 + 11
GE_12 = 5 + 11
GE_20 = 11


def test_admissions_and_initiation(december: Indicators) -> None:
    assert december.get("admissions") == 4  # B, C, D, E (A came in November)
    assert december.get("initiations") == 2  # B on Dec 5, C on Dec 20; A's first session was in November
    # from birth: B 10:00 - 02:00 = 8 h, C Dec 20 04:00 - Dec 19 18:00 = 10 h
    assert december.get("time_to_initiation_from_birth_median_h") == pytest.approx(9.0)
    # from admission: B 2 h, C 4 h
    assert december.get("time_to_initiation_from_admission_median_h") == pytest.approx(3.0)


def test_dose_shares_of_baby_days(december: Indicators) -> None:
    assert december.get("baby_days") == BABY_DAYS
    assert december.get("patient_days") == pytest.approx(PATIENT_DAYS)
    assert december.get("baby_days_ge_8h_pct") == pytest.approx(100 * GE_8 / BABY_DAYS, abs=1e-3)
    assert december.get("baby_days_ge_12h_pct") == pytest.approx(100 * GE_12 / BABY_DAYS, abs=1e-3)
    assert december.get("baby_days_ge_20h_pct") == pytest.approx(100 * GE_20 / BABY_DAYS, abs=1e-3)
    # B (intermittent, goal 4 h) met it on 8 of its 9 whole days: not on Dec 10, whose 4 h 10 min
    # has only 3 h 30 min in sessions of an hour or more
    assert december.get("intermittent_goal_met_pct") == pytest.approx(100 * 8 / 9, abs=1e-3)
    # B's sessions: Dec 5, one a day Dec 6-14, and the 40-minute one: 10 of 11 last an hour or more
    assert december.get("intermittent_sessions_ge_60min_pct") == pytest.approx(100 * 10 / 11, abs=1e-3)


def test_hours_by_caregiver(december: Indicators) -> None:
    # mother: A 10 h x 9 days (Dec 3's hand-over at 11:00 leaves that session hers) + B 2 h on Dec 5
    # + 5 h on Dec 7, 9, 11, 13 + Dec 12 (corrected by the nurse from grandmother to mother)
    mother = 90 + 2 + 4 * 5 + 5
    father = 3 * 5  # A, Dec 1-5
    family = 4 * 5 + 3.5 + 40 / 60 - 5  # grandmother: Dec 6, 8, 10 (3 h 30 + 40 min), 12 (corrected away), 14
    unknown = 6 + 10 * 21 + 21 + 1  # C: December part only
    assert december.get("contact_h.mother") == pytest.approx(mother, abs=1e-3)
    assert december.get("contact_h.father") == pytest.approx(father, abs=1e-3)
    assert december.get("contact_h.family") == pytest.approx(family, abs=1e-3)
    assert december.get("contact_h.unknown") == pytest.approx(unknown, abs=1e-3)
    assert december.get("kmc_mother_h") == pytest.approx(mother, abs=1e-3)
    assert december.get("skin_to_skin_others_h") == pytest.approx(father + family + unknown, abs=1e-3)
    assert december.get("skin_to_skin_all_h") == pytest.approx(mother + father + family + unknown, abs=1e-3)


def test_alarms(december: Indicators) -> None:
    # December's bed alarms: cold stress x2 (low), moderate (medium), severe (high), no data
    # (medium), low daily contact (low); the November one and the ward's storage failure are out.
    assert december.get("hypothermia_per_100_patient_days.cold_stress") == pytest.approx(
        200 / PATIENT_DAYS, abs=1e-3
    )
    assert december.get("hypothermia_per_100_patient_days.hypothermia_moderate") == pytest.approx(
        100 / PATIENT_DAYS, abs=1e-3
    )
    assert december.get("hypothermia_per_100_patient_days.hypothermia_severe") == pytest.approx(
        100 / PATIENT_DAYS, abs=1e-3
    )
    assert december.get("alarms_per_patient_day.cold_stress") == pytest.approx(2 / PATIENT_DAYS, abs=1e-4)
    assert december.get("alarms_per_patient_day.no_data") == pytest.approx(1 / PATIENT_DAYS, abs=1e-4)
    assert december.get("alarms_per_patient_day.hyperthermia") == 0
    assert december.get("alarms_per_patient_day.all") == pytest.approx(6 / PATIENT_DAYS, abs=1e-4)
    assert december.get("alarms_raised.low") == 3
    assert december.get("alarms_raised.medium") == 2
    assert december.get("alarms_raised.high") == 1
    assert december.get("alarms_acknowledged_pct.low") == pytest.approx(100 / 3, abs=1e-3)
    assert december.get("alarms_acknowledged_pct.medium") == 100
    assert december.get("alarms_acknowledged_pct.high") == 100
    assert december.get("time_to_acknowledge_median_s.low") == pytest.approx(60)
    assert december.get("time_to_acknowledge_median_s.medium") == pytest.approx((30 + 120) / 2)
    assert december.get("time_to_acknowledge_median_s.high") == pytest.approx(10)


def test_discharges(december: Indicators) -> None:
    assert december.get("discharges") == 4
    assert december.get("discharges.home_on_kmc") == 1
    assert december.get("discharges.transferred") == 1
    assert december.get("discharges.died") == 1  # recorded after the discharge
    assert december.get("discharges.left_against_advice") == 0
    assert december.get("discharges.not_recorded") == 1


def test_a_period_with_nothing_says_unknown_not_zero(month: Month) -> None:
    ind = compute_indicators(month.store, Period.parse("2026-10"), ward_tz="UTC", now=NOW)
    assert ind.get("admissions") == 0
    assert ind.get("baby_days_ge_8h_pct") is None
    assert ind.get("time_to_initiation_from_birth_median_h") is None
    assert ind.get("alarms_per_patient_day.all") is None
    line = next(x for x in indicators_csv(ind).splitlines() if ",baby_days_ge_8h_pct," in x)
    assert line.split(",")[2] == ""


def test_the_running_month_counts_only_finished_time(month: Month) -> None:
    # On Dec 8 at 12:00, A has had Dec 1-7 as whole days, B Dec 6-7.
    ind = compute_indicators(month.store, Period.parse("2026-12"), ward_tz="UTC", now=1796731200.0)
    assert ind.get("baby_days") == 7 + 2
    assert ind.get("discharges") == 0


def test_periods() -> None:
    assert Period.parse("2026-12").dhis2 == "202612"
    assert Period.parse("2026-02").last.day == 28
    assert Period.parse("2026-12-05").dhis2 == "20261205"
    span = Period.parse("2026-12-01..2026-12-15")
    assert len(span.days()) == 15
    with pytest.raises(PeriodError):
        _ = span.dhis2
    for bad in ("2026-13", "December", "2026-12-15..2026-12-01"):
        with pytest.raises(PeriodError, match="period|month"):
            Period.parse(bad)
