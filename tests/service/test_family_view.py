"""``family_view``: the nurse's acknowledgement, the advice for the state, and no praise under an
alarm (#14). The temperature status itself is tried state by state in ``test_family_json.py``."""

from __future__ import annotations

import pytest

from kmc_monitor.service.alarms import AlarmState
from kmc_monitor.service.family_view import (
    Advice,
    FamilyView,
    NurseStatus,
    bed_number,
    family_json,
    family_view,
)
from kmc_monitor.signal.report import AlarmKind
from tests.service.test_family_json import alarm, view


def test_a_quiet_bed_asks_nothing_and_may_praise() -> None:
    got = family_view(view())
    assert (got.nurse, got.advice, got.praise) == (NurseStatus.NONE, None, True)


def test_an_unacknowledged_alarm_asks_the_family_to_call() -> None:
    got = family_view(view(alarms=(alarm(AlarmKind.HYPERTHERMIA),), band="hyperthermia"))
    assert got.nurse is NurseStatus.CALL
    assert "call your nurse" in got.status


def test_after_the_acknowledgement_the_nurse_is_coming() -> None:
    got = family_view(
        view(alarms=(alarm(AlarmKind.HYPERTHERMIA, AlarmState.ACKNOWLEDGED),), band="hyperthermia")
    )
    assert got.nurse is NurseStatus.COMING
    assert got.status == "The nurse knows and is coming."


def test_one_alarm_not_acknowledged_still_asks_to_call() -> None:
    alarms = (
        alarm(AlarmKind.COLD_STRESS, AlarmState.ACKNOWLEDGED),
        alarm(AlarmKind.SENSOR_DETACHED, AlarmState.LATCHED),
    )
    assert family_view(view(alarms=alarms)).nurse is NurseStatus.CALL


@pytest.mark.parametrize(
    ("band", "kinds", "want"),
    [
        ("hyperthermia", (AlarmKind.HYPERTHERMIA,), Advice.TOO_WARM),
        ("hyperthermia", (), Advice.TOO_WARM),
        ("cold_stress", (AlarmKind.COLD_STRESS,), Advice.COLD),
        ("hypothermia_severe", (), Advice.COLD),
        (None, (AlarmKind.HYPOTHERMIA_MODERATE,), Advice.COLD),
        ("normal", (AlarmKind.LOW_BATTERY,), None),
        (None, (AlarmKind.SENSOR_DETACHED,), None),
    ],
)
def test_advice_fits_the_state(band: str | None, kinds: tuple[AlarmKind, ...], want: Advice | None) -> None:
    v = view(band=band, judging="judged" if band else "detached", alarms=tuple(alarm(k) for k in kinds))
    assert family_view(v).advice is want


def test_no_advice_for_an_empty_bed() -> None:
    assert family_view(view(admission_id=None, band="hyperthermia")).advice is None


@pytest.mark.parametrize("state", list(AlarmState)[:3])
@pytest.mark.parametrize("kind", list(AlarmKind))
def test_never_praise_while_any_alarm_is_open(kind: AlarmKind, state: AlarmState) -> None:
    assert family_view(view(alarms=(alarm(kind, state),))).praise is False


@pytest.mark.parametrize(
    ("label", "number"),
    [("Bed 1", 1), ("bed 12", 12), ("BED3", 3), ("4", 4), ("Cot A", None), ("Bed 1b", None), ("", None)],
)
def test_bed_number_from_the_label(label: str, number: int | None) -> None:
    assert bed_number(label) == number


def test_the_wire_form_is_the_model() -> None:
    msg = family_json(view(alarms=(alarm(AlarmKind.COLD_STRESS, AlarmState.ACKNOWLEDGED),)))
    assert FamilyView.model_validate(msg).nurse is NurseStatus.COMING
    assert msg["nurse"] == "coming" and msg["advice"] == "cold" and msg["bed_number"] == 1
    assert msg["guide"] == {"moment": "cold_alarm", "card": "keeping_warm"}
