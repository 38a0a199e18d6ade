"""``family_json``: what a family's bedside page is sent, above all its temperature status.

A false ``well`` ("warm and well" on the parent's phone) is the worst answer this stream can give,
so every judging state, every band and every alarm kind is tried against it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from kmc_monitor.service.alarms import AlarmState, BoardAlarmKind, WardAlarmKind
from kmc_monitor.service.engine import BedAlarm, BedView
from kmc_monitor.service.family_view import family_json
from kmc_monitor.signal.report import AlarmKind, Category

BANDS = ["normal", "cold_stress", "hypothermia_moderate", "hypothermia_severe", "hyperthermia"]
UNJUDGED = ["no wrap", "no data", "detached", "settling", "no temperature"]


def view(**kw: Any) -> BedView:
    base: dict[str, Any] = {
        "bed_id": "B01",
        "label": "Bed 1",
        "position": 1,
        "admission_id": 7,
        "display_name": "Amani",
        "wrap_id": "W1",
        "temperature_c": 36.8,
        "band": "normal",
        "judging": "judged",
        "contact": True,
        "session_state": "running",
        "session_s": 1800.0,
        "contact_today_s": 7200.0,
        "rolling_24h_s": 9000.0,
        "daily_goal_s": 20 * 3600.0,
        "battery_pct": 80.0,
        "rssi_dbm": -60.0,
        "last_heard_us": 1,
        "last_heard_s": 0.5,
        "alarms": (),
    }
    base.update(kw)
    return BedView(**base)


def alarm(kind: BoardAlarmKind, state: AlarmState = AlarmState.ACTIVE) -> BedAlarm:
    return BedAlarm(1, kind, kind.priority, state, 1_767_225_600_000_000)


def test_well_only_when_judged_normal_and_quiet() -> None:
    msg = family_json(view())
    assert msg["temperature_status"] == "well"
    assert msg["session_state"] == "running"
    assert msg["admitted"] is True
    assert msg["display_name"] == "Amani"
    assert msg["in_contact"] is True
    assert msg["type"] == "bed" and msg["label"] == "Bed 1"
    assert isinstance(msg["status"], str) and msg["status"]  # kept for older pages
    json.dumps(msg, allow_nan=False)  # the hub's encoding


@pytest.mark.parametrize("band", [b for b in BANDS if b != "normal"])
def test_any_band_outside_normal_calls_the_nurse(band: str) -> None:
    assert family_json(view(band=band))["temperature_status"] == "call_nurse"
    # Even before the alarm's condition delay has passed, and whatever the contact.
    assert (
        family_json(view(band=band, contact=False, session_state="none"))["temperature_status"]
        == "call_nurse"
    )


@pytest.mark.parametrize("judging", UNJUDGED)
def test_unjudged_temperature_is_unknown_never_well(judging: str) -> None:
    msg = family_json(view(judging=judging, band=None, temperature_c=None))
    assert msg["temperature_status"] == "unknown"


@pytest.mark.parametrize("kind", [*AlarmKind, *WardAlarmKind])
@pytest.mark.parametrize("state", [AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED, AlarmState.LATCHED])
def test_each_alarm_kind_over_a_normal_band(kind: BoardAlarmKind, state: AlarmState) -> None:
    got = family_json(view(alarms=(alarm(kind, state),)))["temperature_status"]
    if kind.category is Category.PHYSIOLOGICAL or kind is AlarmKind.COOLING_TREND:
        assert got == "call_nurse"
    elif kind in (AlarmKind.SENSOR_DETACHED, AlarmKind.NO_DATA):
        assert got == "unknown"  # the temperature is in doubt until the sensor alarm ends
    elif isinstance(kind, WardAlarmKind):
        # A ward-level alarm never sits on a bed; if one did, a kind the family view was not
        # written for is doubt ("unknown"), never "warm and well".
        assert got == "unknown"
    else:
        assert got == "well"  # low battery, low daily contact: the temperature itself is fine


@pytest.mark.parametrize("judging", UNJUDGED)
@pytest.mark.parametrize(
    "kind",
    [
        AlarmKind.HYPOTHERMIA_SEVERE,
        AlarmKind.HYPOTHERMIA_MODERATE,
        AlarmKind.COLD_STRESS,
        AlarmKind.HYPERTHERMIA,
    ],
)
def test_a_temperature_alarm_wins_over_a_sensor_gone_quiet(judging: str, kind: AlarmKind) -> None:
    """A latched hypothermia on a wrap that then stopped sending: still "call your nurse"."""
    v = view(judging=judging, band=None, temperature_c=None, alarms=(alarm(kind, AlarmState.LATCHED),))
    assert family_json(v)["temperature_status"] == "call_nurse"


def test_every_combination_is_well_only_in_the_one_safe_case() -> None:
    alarm_sets: list[tuple[BedAlarm, ...]] = [(), *[(alarm(k),) for k in AlarmKind]]
    for judging in ["judged", *UNJUDGED]:
        for band in [None, *BANDS]:
            for alarms in alarm_sets:
                got = family_json(view(judging=judging, band=band, alarms=alarms))["temperature_status"]
                kinds = {a.kind for a in alarms}
                safe = (
                    judging == "judged"
                    and band == "normal"
                    and kinds <= {AlarmKind.LOW_BATTERY, AlarmKind.LOW_DAILY_CONTACT}
                )
                assert (got == "well") == safe, (judging, band, kinds, got)
                assert got in ("well", "call_nurse", "unknown")


@pytest.mark.parametrize("state", ["running", "paused", "none"])
def test_session_state_passes_through(state: str) -> None:
    assert family_json(view(session_state=state))["session_state"] == state


def test_not_admitted_says_nothing_reassuring_and_no_name() -> None:
    v = view(admission_id=None, display_name=None, daily_goal_s=None, session_state="none")
    msg = family_json(v)
    assert msg["admitted"] is False
    assert msg["temperature_status"] == "unknown"
    assert msg["display_name"] is None
    assert msg["session_state"] == "none"
    # Even if a stale name or band reached the view, an empty bed is neither someone's nor "well".
    assert family_json(replace(v, display_name="Old"))["display_name"] is None


def test_no_clinical_detail_beyond_the_plain_fields() -> None:
    msg = family_json(view(alarms=(alarm(AlarmKind.HYPOTHERMIA_SEVERE),)))
    text = json.dumps(msg)
    for word in ("hypothermia", "36.8", "W1", "B01", "battery", "rssi", "alarm_id"):
        assert word not in text


def test_intermittent_progress_counts_only_long_sessions() -> None:
    """Intermittent KMC: the family's progress is what counts towards the goal (sessions of an hour
    or more), and a running session shorter than that does not move it as the timer runs."""
    continuous = family_json(view())
    assert continuous["contact_today_s"] == 7200.0 and continuous["today_counts_running"] is True
    msg = family_json(view(goal_contact_today_s=3600.0, goal_counts_running=False))
    assert msg["contact_today_s"] == 3600.0 and msg["today_counts_running"] is False
