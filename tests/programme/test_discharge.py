"""The discharge checklist (#19): the append-only teaching trail in the store (schema 3), its
current state, the upgrade of a schema-2 ward database, the indicator "families taught before
discharge", and which guide card the family stream brings forward when."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kmc_monitor.programme.discharge import ChecklistItem, checklist_state
from kmc_monitor.programme.indicators import Period, compute_indicators
from kmc_monitor.service.alarms import AlarmState
from kmc_monitor.service.family_view import (
    LONG_BREAK_S,
    GuideCard,
    GuideMoment,
    Moment,
    family_json,
    guide_moment,
)
from kmc_monitor.service.store import SCHEMA_VERSION, Store, migrations
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import (
    AdmissionDetails,
    AlreadyDischargedError,
    DischargeStatus,
    GestationalAge,
    NotFoundError,
)
from kmc_monitor.signal.report import AlarmKind
from tests.programme.month import t
from tests.service.test_family_json import alarm, view

ALL = [i.value for i in ChecklistItem]


def new_ward(path: Path) -> Ward:
    store = Store.in_data_dir(path)
    ward = Ward(store, base_url="http://127.0.0.1")
    for bed in ("B1", "B2", "B3", "B4"):
        ward.add_bed(bed, now=t(1, 0))
    return ward


def admit(ward: Ward, bed: str, name: str, at: float) -> int:
    adm, _ = ward.admit(bed, AdmissionDetails(name, 1500, GestationalAge(33)), now=at, who="nurse-a")
    return adm.admission_id


def test_the_trail_is_append_only_and_the_state_is_its_last_word(tmp_path: Path) -> None:
    ward = new_ward(tmp_path / "d")
    store = ward.store
    with store:
        aid = admit(ward, "B1", "Lan", t(2, 0))
        assert not checklist_state(aid, store.teaching(aid)).started
        store.set_teaching(aid, "feeding", True, now=t(3, 9), who="nurse-a")
        store.set_teaching(aid, "feeding", True, now=t(3, 10), who="nurse-b")  # the same: not written
        store.set_teaching(aid, "feeding", False, now=t(3, 11), who="nurse-b")
        assert store.teaching(aid) == [
            ("feeding", True, t(3, 9), "nurse-a"),
            ("feeding", False, t(3, 11), "nurse-b"),
        ]
        state = checklist_state(aid, store.teaching(aid))
        feeding = next(i for i in state.items if i.item is ChecklistItem.FEEDING)
        assert state.started and not feeding.done and feeding.set_by == "nurse-b"
        for n, item in enumerate(ALL):
            store.set_teaching(aid, item, True, now=t(4, n), who="nurse-c")
        state = checklist_state(aid, store.teaching(aid))
        assert state.complete and state.completed_t == t(4, len(ALL) - 1)
        assert [i.item.value for i in state.items] == ALL  # the order a nurse goes through them
        with sqlite3.connect(store.path) as db:
            for sql in ("UPDATE discharge_teaching SET set_by = 'x'", "DELETE FROM discharge_teaching"):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    db.execute(sql)
        ward.discharge(aid, now=t(5, 0), who="nurse-a")
        with pytest.raises(AlreadyDischargedError, match="checklist is closed"):
            store.set_teaching(aid, "feeding", False, now=t(5, 1), who="nurse-a")
        with pytest.raises(NotFoundError):
            store.set_teaching(9999, "feeding", True, now=t(5, 1), who="nurse-a")


def test_an_item_written_by_a_newer_version_is_left_out() -> None:
    trail = [("juggling", True, 1.0, "n"), ("feeding", True, 2.0, "n")]
    state = checklist_state(3, trail)
    assert [i.item for i in state.items if i.done] == [ChecklistItem.FEEDING]
    assert not state.complete


def test_a_version_3_database_is_upgraded_with_an_empty_checklist(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        for step in migrations.STEPS[:3]:
            step(db)
        db.execute("PRAGMA user_version = 3")
        db.execute("INSERT INTO beds(bed_id, label, created_t) VALUES ('B1', 'Bed 1', 0)")
        db.execute(
            "INSERT INTO admissions(bed_id, display_name, birth_weight_g, gestational_age_days, "
            "daily_goal_s, site_offset_c, admitted_t, admitted_by) "
            "VALUES ('B1', 'Old baby', 1400, 224, 72000, 0, 100, 'n')"
        )
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 4  # later steps append
        (adm,) = store.current_admissions()
        assert adm.display_name == "Old baby" and store.teaching(adm.admission_id) == []
        store.set_teaching(adm.admission_id, "positioning", True, now=200, who="n")
        assert store.teaching(adm.admission_id) == [("positioning", True, 200.0, "n")]


def test_families_taught_before_discharge(tmp_path: Path) -> None:
    ward = new_ward(tmp_path / "d")
    store = ward.store
    with store:
        taught = admit(ward, "B1", "Taught", t(2, 0))
        for item in ALL:
            store.set_teaching(taught, item, True, now=t(9, 8), who="nurse-a")
        ward.discharge(taught, now=t(10, 0), who="nurse-a", status=DischargeStatus.HOME_ON_KMC)
        partly = admit(ward, "B2", "Partly", t(2, 0))
        store.set_teaching(partly, "feeding", True, now=t(9, 8), who="nurse-a")
        ward.discharge(partly, now=t(10, 0), who="nurse-a")  # status not recorded: still went home
        died = admit(ward, "B3", "Died", t(2, 0))
        ward.discharge(died, now=t(11, 0), who="nurse-a", status=DischargeStatus.DIED)
        staying = admit(ward, "B4", "Staying", t(2, 0))
        for item in ALL:
            store.set_teaching(
                staying, item, True, now=t(12, 8), who="nurse-a"
            )  # not discharged: not counted
        ind = compute_indicators(store, Period.month(2026, 12), ward_tz="UTC", now=t(20, 0))
    assert ind.get("families_taught_before_discharge") == 1
    assert ind.get("families_taught_before_discharge.pct") == pytest.approx(50.0)


def test_the_guide_card_the_moment_calls_for() -> None:
    cold = view(
        alarms=(alarm(AlarmKind.HYPOTHERMIA_MODERATE, AlarmState.ACKNOWLEDGED),), band="hypothermia_moderate"
    )
    assert guide_moment(cold, apart_s=None, going_home=True) == GuideMoment(
        moment=Moment("cold_alarm"), card=GuideCard("keeping_warm")
    )
    assert family_json(cold)["guide"] == {"moment": "cold_alarm", "card": "keeping_warm"}
    stress = view(alarms=(alarm(AlarmKind.COLD_STRESS),), band="cold_stress")
    assert guide_moment(stress, apart_s=None, going_home=False) == GuideMoment(
        moment=Moment.COLD_ALARM, card=GuideCard.KEEPING_WARM
    )
    hot = view(alarms=(alarm(AlarmKind.HYPERTHERMIA),), band="hyperthermia")
    assert guide_moment(hot, apart_s=None, going_home=False) is None  # not a cold card for a hot baby
    assert guide_moment(view(), apart_s=None, going_home=True) == GuideMoment(
        moment=Moment("before_discharge"), card=GuideCard("danger_signs")
    )
    never = view(session_state="none", contact=False, session_s=0.0, contact_today_s=0.0, rolling_24h_s=0.0)
    assert guide_moment(never, apart_s=None, going_home=False) == GuideMoment(
        moment=Moment("first_session"), card=GuideCard("positioning")
    )
    apart = view(session_state="none", contact=False, session_s=0.0)
    assert guide_moment(apart, apart_s=LONG_BREAK_S - 60, going_home=False) is None
    assert guide_moment(apart, apart_s=LONG_BREAK_S, going_home=False) == GuideMoment(
        moment=Moment("long_break"), card=GuideCard("positioning")
    )
    assert guide_moment(view(), apart_s=LONG_BREAK_S * 2, going_home=False) is None  # in contact now
    assert guide_moment(view(admission_id=None), apart_s=None, going_home=True) is None
