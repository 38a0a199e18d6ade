"""Who held the baby: the attribution rule, the holding record and its corrections, the admission's
new facts, and the schema upgrade of a ward database made before them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kmc_monitor.programme.caregivers import attribute, caregiver_days, clipped_contact_s, stay_summary
from kmc_monitor.service.store import SCHEMA_VERSION, Store, migrations
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import (
    AdmissionDetails,
    CaregiverRole,
    DischargeStatus,
    FamilyMember,
    GestationalAge,
    InvalidAdmissionError,
    KmcMode,
    NotFoundError,
    WardConflictError,
    WardError,
)
from tests.programme.month import NOW, build_month, t


def test_a_session_goes_to_whoever_held_most_of_it() -> None:
    steps = [(100.0, 1), (200.0, 2), (260.0, None)]
    assert attribute(0, 50, steps) is None  # before anyone was recorded
    assert attribute(90, 190, steps) == 1  # 10 s unknown, 90 s by 1
    assert attribute(150, 250, steps) == 1  # 50 s by 1, 50 s by 2: a tie goes to who held first
    assert attribute(150, 251, steps) == 2  # 50 s by 1, 51 s by 2
    assert attribute(150, 300, steps) == 2  # 50, 60, 40
    assert attribute(300, 400, steps) is None  # "unknown" recorded
    assert attribute(150, 150, steps) == 1  # an instant: who held then
    assert attribute(0, 10, []) is None
    assert attribute(150, 250, [(200.0, 2), (100.0, 1)]) == 1  # steps in any order


def test_contact_is_shared_out_over_a_boundary_in_proportion() -> None:
    assert clipped_contact_s(0, 100, 80, 50, 200) == pytest.approx(40)
    assert clipped_contact_s(0, 100, 80, 100, 200) == 0
    assert clipped_contact_s(5, 5, 0, 0, 10) == 0


def test_the_month_per_caregiver_days(tmp_path: Path) -> None:
    m = build_month(tmp_path / "d")
    with m.store:
        a = m.ward.admission(m.ids["A"])
        import datetime as dt

        days = caregiver_days(m.store, a, dt.date(2026, 12, 2), dt.date(2026, 12, 3), "UTC")
        assert [d.day.day for d in days] == [2, 3]
        for d in days:
            assert d.by_caregiver_s == {"mother": 10 * 3600.0, "father": 3 * 3600.0}
            assert d.mother_s == 10 * 3600 and d.others_s == 3 * 3600 and d.total_s == 13 * 3600


def test_holding_corrections_and_their_checks(tmp_path: Path) -> None:
    with Store.in_data_dir(tmp_path / "d") as store:
        ward = Ward(store, base_url="http://x")
        ward.add_bed("B1", now=t(1, 0))
        adm, _ = ward.admit(
            "B1",
            AdmissionDetails("X", 1500, GestationalAge(32), family=(FamilyMember(CaregiverRole.MOTHER),)),
            now=t(1, 0),
            who="n",
        )
        (mother,) = ward.caregivers(adm.admission_id)
        father = ward.add_caregiver(
            adm.admission_id, FamilyMember(CaregiverRole.FATHER), now=t(1, 1), who="n"
        )
        with pytest.raises(WardConflictError, match="father"):
            ward.add_caregiver(adm.admission_id, FamilyMember(CaregiverRole.FATHER), now=t(1, 1), who="n")
        ward.set_holder(
            adm.admission_id, mother.caregiver_id, from_t=t(1, 2), now=t(1, 2), who="f", source="family"
        )
        ward.set_holder(
            adm.admission_id, father.caregiver_id, from_t=t(1, 6), now=t(1, 6), who="f", source="family"
        )
        # A nurse: 3-5 it was the father; the mother again from 5 (she held before 5).
        ward.set_holder(
            adm.admission_id,
            father.caregiver_id,
            from_t=t(1, 3),
            until_t=t(1, 5),
            now=t(1, 7),
            who="n",
            source="staff",
        )
        assert store.holding(adm.admission_id) == [
            (t(1, 2), mother.caregiver_id),
            (t(1, 3), father.caregiver_id),
            (t(1, 5), mother.caregiver_id),
            (t(1, 6), father.caregiver_id),
        ]
        with pytest.raises(NotFoundError):
            ward.set_holder(adm.admission_id, 999, from_t=t(1, 7), now=t(1, 7), who="n", source="staff")
        with pytest.raises(WardError, match="future"):
            ward.set_holder(adm.admission_id, None, from_t=t(1, 9), now=t(1, 7), who="n", source="staff")
        with pytest.raises(WardError, match="during the stay"):
            ward.set_holder(adm.admission_id, None, from_t=t(1, -9), now=t(1, 7), who="n", source="staff")
        with pytest.raises(WardError, match="before its end"):
            ward.set_holder(
                adm.admission_id, None, from_t=t(1, 4), until_t=t(1, 3), now=t(1, 7), who="n", source="staff"
            )


def test_admission_facts_and_their_checks() -> None:
    with pytest.raises(InvalidAdmissionError, match="intermittent"):
        AdmissionDetails("X", 1500, GestationalAge(32), kmc_mode=KmcMode.INTERMITTENT)
    with pytest.raises(InvalidAdmissionError, match="mother once"):
        AdmissionDetails("X", 1500, GestationalAge(32), family=(FamilyMember(CaregiverRole.MOTHER),) * 2)
    with pytest.raises(InvalidAdmissionError, match="name the family member"):
        FamilyMember(CaregiverRole.FAMILY)
    with pytest.raises(InvalidAdmissionError):
        FamilyMember(CaregiverRole.UNKNOWN)


def test_low_daily_contact_threshold_follows_the_mode(tmp_path: Path) -> None:
    m = build_month(tmp_path / "d")
    with m.store:
        a, b = m.ward.admission(m.ids["A"]), m.ward.admission(m.ids["B"])
        assert a.kmc_mode is KmcMode.CONTINUOUS and a.low_contact_s(8 * 3600) == 8 * 3600
        assert b.kmc_mode is KmcMode.INTERMITTENT and b.low_contact_s(8 * 3600) == 4 * 3600
        assert a.discharge_status is DischargeStatus.HOME_ON_KMC and a.birth_t == t(30, 6, month=11)
        # a status is recorded only for a discharged stay
        with pytest.raises(WardConflictError, match="not discharged"):
            m.ward.set_discharge_status(m.ids["C"], DischargeStatus.DIED, who="n")
    assert NOW > t(31, 0)


def test_a_version_1_database_is_upgraded_and_keeps_its_stays(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        migrations.v1_ward(db)
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO beds(bed_id, label, created_t) VALUES ('B1', 'Bed 1', 0)")
        db.execute(
            "INSERT INTO admissions(bed_id, display_name, birth_weight_g, gestational_age_days, "
            "daily_goal_s, site_offset_c, admitted_t, admitted_by) "
            "VALUES ('B1', 'Old baby', 1400, 224, 72000, 0, 100, 'n')"
        )
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 4  # later steps append
        (adm,) = store.current_admissions()
        assert adm.display_name == "Old baby"
        assert adm.kmc_mode is KmcMode.CONTINUOUS and adm.birth_t is None and adm.discharge_status is None
        assert store.caregivers(adm.admission_id) == [] and store.holding(adm.admission_id) == []
        ward = Ward(store, base_url="http://x")
        done = ward.discharge(adm.admission_id, now=200, who="n", status=DischargeStatus.LEFT_AGAINST_ADVICE)
        assert done.discharge_status is DischargeStatus.LEFT_AGAINST_ADVICE


def test_initiation_and_days_in_kmc_of_a_stay(tmp_path: Path) -> None:
    m = build_month(tmp_path / "d")
    with m.store:
        a = m.ward.admission(m.ids["A"])
        s = stay_summary(m.store, a, "UTC", now=NOW)
        # first session Nov 30 14:00; born 06:00, admitted 12:00; discharged Dec 10 12:00
        assert s.first_session_t == t(30, 14, month=11)
        assert s.from_birth_h == pytest.approx(8) and s.from_admission_h == pytest.approx(2)
        assert s.days_in_kmc == pytest.approx(9 + 22 / 24)
        assert s.days_with_contact == 10  # Nov 30 and Dec 1-9
        d = m.ward.admission(m.ids["C"])
        s = stay_summary(m.store, d, "UTC", now=t(20, 3))  # admitted at midnight, first session at 04:00
        assert s.first_session_t is None and s.days_with_contact == 0 and s.days_in_kmc is None
