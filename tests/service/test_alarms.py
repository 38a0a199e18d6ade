"""The live alarm lifecycle, rule by rule, plus a random-sequence test of its invariants.

Expected times are written from the rules (120 s pause, 5 min escalation), not read back from the
board.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kmc_monitor.errors import AlarmError, KmcError, UnknownAlarmError
from kmc_monitor.service import (
    SYSTEM,
    AlarmAction,
    AlarmBoard,
    AlarmEvent,
    AlarmParams,
    AlarmState,
    AlarmView,
    ConditionKey,
)
from kmc_monitor.service.alarms import BoardSnapshot
from kmc_monitor.signal import AlarmKind, Category, Priority

S = 1_000_000  # µs per second
T0 = 1_767_254_400 * S  # 2026-01-01 08:00 UTC
PAUSE = 120 * S
ESCALATE = 300 * S

SEVERE = AlarmKind.HYPOTHERMIA_SEVERE  # high
MODERATE = AlarmKind.HYPOTHERMIA_MODERATE  # medium
COLD = AlarmKind.COLD_STRESS  # low
DETACHED = AlarmKind.SENSOR_DETACHED  # technical, medium
BATTERY = AlarmKind.LOW_BATTERY  # technical, low


def key(kind: AlarmKind, wrap: str = "W1", start_us: int = T0) -> ConditionKey:
    return (wrap, kind.value, start_us)


def start(board: AlarmBoard, kind: AlarmKind, at: int, wrap: str = "W1", bed: str | None = "3") -> AlarmView:
    """Raise ``kind`` at ``at`` and return the new alarm."""
    events = board.condition_started(key(kind, wrap, at), kind, bed, wrap, at)
    raised = [e for e in events if e.action is AlarmAction.RAISED]
    assert len(raised) == 1
    assert raised[0].alarm is not None
    return raised[0].alarm


def actions(events: list[AlarmEvent]) -> list[AlarmAction]:
    return [e.action for e in events]


def ids(views: list[AlarmView]) -> list[int]:
    return [v.alarm_id for v in views]


# Raising --------------------------------------------------------------------------------------------
def test_a_condition_start_raises_an_alarm_with_catalogue_fields() -> None:
    board = AlarmBoard()
    events = board.condition_started(key(SEVERE), SEVERE, "3", "W1", T0, extreme_c=31.4)
    assert actions(events) == [AlarmAction.RAISED]
    view = events[0].alarm
    assert view is not None
    assert (view.kind, view.category, view.priority, view.base_priority) == (
        SEVERE,
        Category.PHYSIOLOGICAL,
        Priority.HIGH,
        Priority.HIGH,
    )
    assert (view.bed_id, view.wrap_id, view.raised_us, view.extreme_c) == ("3", "W1", T0, 31.4)
    assert view.state is AlarmState.ACTIVE and view.audible and view.condition_active
    assert events[0].who == SYSTEM and events[0].at_us == T0
    assert board.visible(T0) == [view]
    assert board.sounding("station", T0) == view


def test_alarm_ids_are_stable_and_increasing() -> None:
    board = AlarmBoard()
    a = start(board, COLD, T0)
    b = start(board, COLD, T0, wrap="W2")
    assert b.alarm_id == a.alarm_id + 1
    assert board.alarm(a.alarm_id, T0).key == key(COLD)


def test_a_wrap_without_bed_still_alarms() -> None:
    board = AlarmBoard()
    view = start(board, SEVERE, T0, bed=None)
    assert view.bed_id is None
    assert ids(board.visible(T0)) == [view.alarm_id]
    assert board.visible(T0, bed_id="3") == []


# Latching ------------------------------------------------------------------------------------------
def test_high_priority_latches_until_a_nurse_acknowledges() -> None:
    board = AlarmBoard()
    a = start(board, SEVERE, T0)
    events = board.condition_ended(key(SEVERE, start_us=T0), T0 + 40 * S, extreme_c=30.9)
    assert actions(events) == [AlarmAction.ENDED]
    latched = board.visible(T0 + 3600 * S)
    assert [(v.alarm_id, v.state, v.ended_us, v.extreme_c) for v in latched] == [
        (a.alarm_id, AlarmState.LATCHED, T0 + 40 * S, 30.9)
    ]
    # A latched alarm keeps sounding: nobody has seen it yet.
    sounding = board.sounding("station", T0 + 3600 * S)
    assert sounding is not None and sounding.alarm_id == a.alarm_id
    events = board.acknowledge(a.alarm_id, "nurse-amina", T0 + 3601 * S)
    assert actions(events) == [AlarmAction.ACKNOWLEDGED, AlarmAction.CLEARED]
    assert all(e.who == "nurse-amina" for e in events)
    assert board.visible(T0 + 3601 * S) == []
    assert board.sounding("station", T0 + 3601 * S) is None
    assert board.alarm(a.alarm_id, T0 + 3601 * S).state is AlarmState.CLEARED


@pytest.mark.parametrize("kind", [MODERATE, COLD, DETACHED, BATTERY])
def test_medium_and_low_do_not_latch(kind: AlarmKind) -> None:
    board = AlarmBoard()
    a = start(board, kind, T0)
    events = board.condition_ended(key(kind, start_us=T0), T0 + 60 * S)
    assert actions(events) == [AlarmAction.ENDED, AlarmAction.CLEARED]
    assert events[-1].alarm is not None and events[-1].alarm.state is AlarmState.CLEARED
    assert board.visible(T0 + 60 * S) == []
    assert board.sounding("station", T0 + 60 * S) is None
    assert board.alarm(a.alarm_id, T0 + 60 * S).state is AlarmState.CLEARED


def test_an_escalated_medium_latches_like_a_high() -> None:
    board = AlarmBoard()
    a = start(board, MODERATE, T0)
    board.tick(T0 + ESCALATE)
    events = board.condition_ended(key(MODERATE, start_us=T0), T0 + ESCALATE + 10 * S)
    assert actions(events) == [AlarmAction.ENDED]
    assert [(v.alarm_id, v.state, v.priority) for v in board.visible(T0 + ESCALATE + 10 * S)] == [
        (a.alarm_id, AlarmState.LATCHED, Priority.HIGH)
    ]


# Acknowledgement --------------------------------------------------------------------------------------
def test_acknowledging_silences_but_the_visual_stays_while_the_condition_lasts() -> None:
    board = AlarmBoard()
    a = start(board, SEVERE, T0)
    events = board.acknowledge(a.alarm_id, "nurse-amina", T0 + 5 * S)
    assert actions(events) == [AlarmAction.ACKNOWLEDGED]
    later = T0 + 2 * 3600 * S
    [view] = board.visible(later)
    assert (view.state, view.acknowledged_by, view.acknowledged_us) == (
        AlarmState.ACKNOWLEDGED,
        "nurse-amina",
        T0 + 5 * S,
    )
    assert not view.audible
    assert board.sounding("station", later) is None


@pytest.mark.parametrize("kind", [SEVERE, MODERATE, COLD])
def test_acknowledged_then_ended_clears(kind: AlarmKind) -> None:
    board = AlarmBoard()
    a = start(board, kind, T0)
    board.acknowledge(a.alarm_id, "nurse-amina", T0 + 5 * S)
    events = board.condition_ended(key(kind, start_us=T0), T0 + 90 * S)
    assert actions(events) == [AlarmAction.ENDED, AlarmAction.CLEARED]
    assert all(e.who == SYSTEM for e in events)
    assert board.visible(T0 + 90 * S) == []


def test_acknowledging_twice_or_unknown_or_cleared_is_refused_and_records_nothing() -> None:
    board = AlarmBoard()
    a = start(board, MODERATE, T0)
    board.acknowledge(a.alarm_id, "nurse-amina", T0 + S)
    before = board.audit
    with pytest.raises(AlarmError, match="already acknowledged by nurse-amina"):
        board.acknowledge(a.alarm_id, "nurse-ben", T0 + 2 * S)
    with pytest.raises(UnknownAlarmError, match="no alarm 99"):
        board.acknowledge(99, "nurse-ben", T0 + 2 * S)
    board.condition_ended(key(MODERATE, start_us=T0), T0 + 3 * S)
    after_end = board.audit
    with pytest.raises(AlarmError, match="already cleared"):
        board.acknowledge(a.alarm_id, "nurse-ben", T0 + 4 * S)
    assert board.audit == after_end
    assert len(after_end) == len(before) + 2  # ended + cleared, nothing from the refused calls
    assert issubclass(UnknownAlarmError, AlarmError) and issubclass(AlarmError, KmcError)


def test_a_refused_acknowledgement_does_not_process_deadlines() -> None:
    board = AlarmBoard()
    a = start(board, MODERATE, T0)
    board.acknowledge(a.alarm_id, "nurse-amina", T0 + S)
    start(board, DETACHED, T0 + 2 * S)
    with pytest.raises(AlarmError):
        board.acknowledge(a.alarm_id, "nurse-amina", T0 + 2 * S + ESCALATE)
    assert AlarmAction.REMINDED not in [r.action for r in board.audit]
    assert actions(board.tick(T0 + 2 * S + ESCALATE)) == [AlarmAction.REMINDED]


@pytest.mark.parametrize("who", ["", SYSTEM])
def test_actions_need_a_real_user(who: str) -> None:
    board = AlarmBoard()
    a = start(board, SEVERE, T0)
    with pytest.raises(AlarmError):
        board.acknowledge(a.alarm_id, who, T0)
    with pytest.raises(AlarmError):
        board.pause_audio("station", who, T0)
    assert len(board.audit) == 1


# Audio pause ------------------------------------------------------------------------------------------
def test_audio_pause_silences_exactly_120_s_on_that_screen_only() -> None:
    board = AlarmBoard()
    a = start(board, MODERATE, T0)
    paused_at = T0 + 10 * S
    events = board.pause_audio("station", "nurse-amina", paused_at)
    assert actions(events) == [AlarmAction.AUDIO_PAUSED]
    assert (events[0].screen_id, events[0].until_us, events[0].who) == (
        "station",
        paused_at + PAUSE,
        "nurse-amina",
    )
    for t in (paused_at, paused_at + PAUSE // 2, paused_at + PAUSE - 1):
        assert board.sounding("station", t) is None
        assert board.audio_paused_until("station", t) == paused_at + PAUSE
        other = board.sounding("bedside-3", t)
        assert other is not None and other.alarm_id == a.alarm_id
        assert ids(board.visible(t)) == [a.alarm_id]  # the pause hides no visual
    assert board.tick(paused_at + PAUSE - 1) == []
    back = board.sounding("station", paused_at + PAUSE)
    assert back is not None and back.alarm_id == a.alarm_id
    assert board.audio_paused_until("station", paused_at + PAUSE) is None
    # Recorded at the pause's end even when time is noticed later.
    events = board.tick(paused_at + PAUSE + 7 * S)
    assert [(e.action, e.at_us, e.screen_id, e.who) for e in events] == [
        (AlarmAction.AUDIO_RESUMED, paused_at + PAUSE, "station", SYSTEM)
    ]


@pytest.mark.parametrize(
    ("first", "new", "breaks"),
    [
        (MODERATE, SEVERE, True),
        (COLD, MODERATE, True),
        (COLD, SEVERE, True),
        (MODERATE, DETACHED, False),  # equal priority
        (MODERATE, COLD, False),  # lower
        (SEVERE, SEVERE, False),
        (SEVERE, MODERATE, False),
    ],
)
def test_only_a_new_alarm_of_higher_priority_breaks_through_a_pause(
    first: AlarmKind, new: AlarmKind, breaks: bool
) -> None:
    board = AlarmBoard()
    start(board, first, T0)
    board.pause_audio("station", "nurse-amina", T0 + S)
    b = start(board, new, T0 + 30 * S, wrap="W2")
    sounding = board.sounding("station", T0 + 31 * S)
    assert (sounding.alarm_id if sounding else None) == (b.alarm_id if breaks else None)


def test_the_baseline_is_the_highest_sounding_when_the_pause_began() -> None:
    board = AlarmBoard()
    a = start(board, MODERATE, T0)
    board.acknowledge(a.alarm_id, "nurse-amina", T0 + S)  # acknowledged: not sounding
    start(board, COLD, T0 + 2 * S)
    board.pause_audio("station", "nurse-amina", T0 + 3 * S)
    b = start(board, DETACHED, T0 + 4 * S, wrap="W2")  # medium > low baseline
    sounding = board.sounding("station", T0 + 5 * S)
    assert sounding is not None and sounding.alarm_id == b.alarm_id


def test_a_pause_with_nothing_sounding_lets_any_new_alarm_through() -> None:
    board = AlarmBoard()
    board.pause_audio("station", "nurse-amina", T0)
    b = start(board, BATTERY, T0 + S)
    sounding = board.sounding("station", T0 + 2 * S)
    assert sounding is not None and sounding.alarm_id == b.alarm_id


def test_pausing_again_restarts_the_pause_with_a_new_baseline() -> None:
    board = AlarmBoard()
    start(board, MODERATE, T0)
    board.pause_audio("station", "nurse-amina", T0)
    b = start(board, SEVERE, T0 + 10 * S, wrap="W2")
    assert board.sounding("station", T0 + 11 * S) == board.alarm(b.alarm_id, T0 + 11 * S)
    board.pause_audio("station", "nurse-ben", T0 + 20 * S)
    assert board.sounding("station", T0 + 20 * S) is None
    assert board.sounding("station", T0 + 20 * S + PAUSE - 1) is None
    assert board.sounding("station", T0 + 20 * S + PAUSE) == board.alarm(b.alarm_id, T0 + 20 * S + PAUSE)
    # The first pause's end passed while superseded: it is not reported as a resume.
    events = board.tick(T0 + 20 * S + PAUSE)
    assert [(e.action, e.at_us) for e in events] == [(AlarmAction.AUDIO_RESUMED, T0 + 20 * S + PAUSE)]


def test_an_escalated_medium_counts_as_high_in_the_pause_baseline() -> None:
    board = AlarmBoard()
    start(board, MODERATE, T0)
    board.pause_audio("station", "nurse-amina", T0 + ESCALATE)  # escalates at that very moment, first
    start(board, SEVERE, T0 + ESCALATE + S, wrap="W2")
    assert board.sounding("station", T0 + ESCALATE + 2 * S) is None


def test_an_escalation_during_a_pause_sounds_through_it() -> None:
    board = AlarmBoard()
    a = start(board, MODERATE, T0)
    board.pause_audio("station", "nurse-amina", T0 + ESCALATE - 30 * S)
    assert board.sounding("station", T0 + ESCALATE - 1) is None
    sounding = board.sounding("station", T0 + ESCALATE)
    assert sounding is not None and (sounding.alarm_id, sounding.priority) == (a.alarm_id, Priority.HIGH)


def test_a_new_medium_that_escalates_during_a_pause_sounds_through_it() -> None:
    board = AlarmBoard(AlarmParams(escalation_s=60.0))
    start(board, MODERATE, T0)
    board.tick(T0 + 60 * S)  # the first one is high now
    board.acknowledge(1, "nurse-amina", T0 + 61 * S)
    start(board, MODERATE, T0 + 62 * S, wrap="W2")
    board.pause_audio("station", "nurse-amina", T0 + 63 * S)  # baseline: the medium hypothermia
    b = start(board, AlarmKind.HYPERTHERMIA, T0 + 64 * S, wrap="W3")
    assert board.sounding("station", T0 + 64 * S) is None  # equal: medium
    # W2's alarm escalates first (62 s + 60 s) and W3's next; both are new and high. Oldest first.
    at = T0 + 124 * S
    sounding = board.sounding("station", at)
    assert sounding is not None and sounding.alarm_id == b.alarm_id - 1
    board.acknowledge(b.alarm_id - 1, "nurse-amina", at)
    sounding = board.sounding("station", at)
    assert sounding is not None and sounding.alarm_id == b.alarm_id


# Escalation -------------------------------------------------------------------------------------------
def test_an_unacknowledged_medium_escalates_at_exactly_five_minutes() -> None:
    board = AlarmBoard()
    a = start(board, MODERATE, T0)
    assert board.tick(T0 + ESCALATE - 1) == []
    [view] = board.visible(T0 + ESCALATE - 1)
    assert (view.priority, view.escalated, view.escalate_at_us) == (Priority.MEDIUM, False, T0 + ESCALATE)
    events = board.tick(T0 + ESCALATE)
    assert [(e.action, e.at_us, e.who) for e in events] == [(AlarmAction.ESCALATED, T0 + ESCALATE, SYSTEM)]
    [view] = board.visible(T0 + ESCALATE)
    assert (view.alarm_id, view.priority, view.base_priority, view.escalated_us, view.escalate_at_us) == (
        a.alarm_id,
        Priority.HIGH,
        Priority.MEDIUM,
        T0 + ESCALATE,
        None,
    )
    assert board.tick(T0 + 2 * ESCALATE) == []  # once
    assert "not acknowledged within 300 s" in board.audit[-1].detail


def test_escalation_is_dated_at_its_deadline_whichever_call_notices_it() -> None:
    board = AlarmBoard()
    start(board, MODERATE, T0)
    late = T0 + ESCALATE + 42 * S
    # The queries already show it before any call records it.
    assert board.visible(late)[0].priority is Priority.HIGH
    events = board.condition_started(key(COLD, "W2", late), COLD, "4", "W2", late)
    assert [(e.action, e.at_us) for e in events] == [
        (AlarmAction.ESCALATED, T0 + ESCALATE),
        (AlarmAction.RAISED, late),
    ]


def test_no_escalation_after_an_acknowledgement() -> None:
    board = AlarmBoard()
    a = start(board, MODERATE, T0)
    board.acknowledge(a.alarm_id, "nurse-amina", T0 + ESCALATE - 1)
    assert board.tick(T0 + 10 * ESCALATE) == []
    [view] = board.visible(T0 + 10 * ESCALATE)
    assert (view.priority, view.escalated, view.escalate_at_us) == (Priority.MEDIUM, False, None)


def test_an_acknowledgement_at_the_deadline_comes_too_late() -> None:
    board = AlarmBoard()
    a = start(board, MODERATE, T0)
    events = board.acknowledge(a.alarm_id, "nurse-amina", T0 + ESCALATE)
    assert actions(events) == [AlarmAction.ESCALATED, AlarmAction.ACKNOWLEDGED]
    [view] = board.visible(T0 + ESCALATE)
    assert (view.state, view.priority) == (AlarmState.ACKNOWLEDGED, Priority.HIGH)


@pytest.mark.parametrize("kind", [SEVERE, COLD, AlarmKind.COOLING_TREND])
def test_only_medium_patient_alarms_escalate(kind: AlarmKind) -> None:
    board = AlarmBoard()
    start(board, kind, T0)
    assert board.tick(T0 + 10 * ESCALATE) == []
    assert board.visible(T0 + 10 * ESCALATE)[0].priority is kind.priority


@pytest.mark.parametrize("kind", [DETACHED, AlarmKind.NO_DATA, BATTERY])
def test_a_technical_alarm_reminds_at_its_own_priority_and_never_latches(kind: AlarmKind) -> None:
    board = AlarmBoard()
    a = start(board, kind, T0)
    assert board.tick(T0 + ESCALATE - 1) == []
    events = board.tick(T0 + 3 * ESCALATE)  # reminded at 5 and 10 min, and again at 15
    assert actions(events) == [AlarmAction.REMINDED] * 3
    assert [e.at_us for e in events] == [T0 + ESCALATE, T0 + 2 * ESCALATE, T0 + 3 * ESCALATE]
    [view] = board.visible(T0 + 3 * ESCALATE)
    assert (view.priority, view.escalated, view.escalate_at_us, view.reminded_us) == (
        kind.priority,
        False,
        None,
        T0 + 3 * ESCALATE,
    )
    sounding = board.sounding("station", T0 + 3 * ESCALATE)
    assert sounding is not None and sounding.priority is kind.priority
    # it ends unacknowledged: it clears, it does not latch as an escalated medium would
    ended = board.condition_ended(key(kind, start_us=T0), T0 + 3 * ESCALATE + S)
    assert actions(ended) == [AlarmAction.ENDED, AlarmAction.CLEARED]
    assert board.visible(T0 + 3 * ESCALATE + S) == []
    assert a.alarm_id not in ids(board.visible(T0 + 4 * ESCALATE))


def test_a_reminder_sounds_through_a_pause_taken_on_a_milder_alarm() -> None:
    board = AlarmBoard(AlarmParams(escalation_s=60.0))
    start(board, BATTERY, T0, wrap="W1")  # low
    board.pause_audio("station", "nurse-amina", T0 + S)  # baseline: low
    start(board, DETACHED, T0 + 2 * S, wrap="W2")  # medium: new and higher, sounds through
    sounding = board.sounding("station", T0 + 2 * S)
    assert sounding is not None and sounding.kind is DETACHED
    board.pause_audio("station", "nurse-amina", T0 + 3 * S)  # baseline: medium
    # Reminders are new signals at their own priority: neither is above the medium baseline.
    assert board.sounding("station", T0 + 62 * S) is None
    assert actions(board.tick(T0 + 62 * S)) == [AlarmAction.REMINDED, AlarmAction.REMINDED]
    assert board.sounding("station", T0 + 123 * S) is not None  # the pause is over


def test_a_technical_alarm_saved_as_escalated_is_restored_as_reminded() -> None:
    board = AlarmBoard()
    start(board, DETACHED, T0)
    snap: Any = board.snapshot().to_json()
    snap["alarms"][0]["escalated_us"] = T0 + ESCALATE  # as boards before reminders saved it
    snap["alarms"][0]["ended_us"] = T0 + ESCALATE + S  # and latched for it
    del snap["alarms"][0]["reminded_us"]
    restored = AlarmBoard.restore(BoardSnapshot.from_json(snap))
    assert restored.visible(T0 + ESCALATE + 2 * S) == []
    assert restored.alarm(1, T0 + ESCALATE + 2 * S).reminded_us == T0 + ESCALATE


def test_a_medium_ended_before_the_deadline_never_escalates() -> None:
    board = AlarmBoard()
    start(board, DETACHED, T0)
    board.condition_ended(key(DETACHED, start_us=T0), T0 + ESCALATE - 1)
    assert board.tick(T0 + ESCALATE) == []


# Views ------------------------------------------------------------------------------------------------
def test_visible_orders_by_effective_priority_then_patient_first_then_oldest_and_filters() -> None:
    board = AlarmBoard()
    old_medium = start(board, MODERATE, T0, wrap="W1", bed="1")
    low = start(board, BATTERY, T0 + 10 * S, wrap="W2", bed="2")
    medium = start(board, DETACHED, T0 + 200 * S, wrap="W3", bed="3")
    high = start(board, SEVERE, T0 + 250 * S, wrap="W4", bed="1")
    cold = start(board, COLD, T0 + 260 * S, wrap="W5", bed="2")
    before = T0 + ESCALATE - 1
    # At equal priority the patient alarm leads: the low cold stress before the older low battery.
    assert ids(board.visible(before)) == [
        high.alarm_id,
        old_medium.alarm_id,
        medium.alarm_id,
        cold.alarm_id,
        low.alarm_id,
    ]
    after = T0 + ESCALATE  # the old medium is high now, and older than the severe alarm
    assert ids(board.visible(after)) == [
        old_medium.alarm_id,
        high.alarm_id,
        medium.alarm_id,
        cold.alarm_id,
        low.alarm_id,
    ]
    sounding = board.sounding("station", after)
    assert sounding is not None and sounding.alarm_id == old_medium.alarm_id
    assert ids(board.visible(after, bed_id="1")) == [old_medium.alarm_id, high.alarm_id]
    technical = board.visible(after, category=Category.TECHNICAL)
    assert ids(technical) == [medium.alarm_id, low.alarm_id]
    physiological = board.visible(after, category=Category.PHYSIOLOGICAL)
    assert ids(physiological) == [old_medium.alarm_id, high.alarm_id, cold.alarm_id]
    assert ids(board.visible(after, bed_id="2", category=Category.TECHNICAL)) == [low.alarm_id]


def test_queries_change_nothing() -> None:
    board = AlarmBoard()
    start(board, MODERATE, T0)
    board.pause_audio("station", "nurse-amina", T0 + S)
    snap = board.snapshot()
    audit = board.audit
    board.visible(T0 + 10 * ESCALATE)
    board.sounding("station", T0 + 10 * ESCALATE)
    board.audio_paused_until("station", T0 + 10 * ESCALATE)
    board.alarm(1, T0 + 10 * ESCALATE)
    assert board.snapshot() == snap
    assert board.audit == audit


# Idempotence -----------------------------------------------------------------------------------------
def test_duplicate_starts_and_ends_are_ignored() -> None:
    board = AlarmBoard()
    k = key(SEVERE)
    start(board, SEVERE, T0)
    assert board.condition_started(k, SEVERE, "3", "W1", T0 + S) == []
    assert actions(board.condition_ended(k, T0 + 10 * S)) == [AlarmAction.ENDED]
    assert board.condition_ended(k, T0 + 11 * S) == []
    assert board.condition_started(k, SEVERE, "3", "W1", T0 + 12 * S) == []
    board.acknowledge(1, "nurse-amina", T0 + 13 * S)
    # Cleared, but still remembered: a replayed start or end raises no phantom alarm.
    assert board.condition_started(k, SEVERE, "3", "W1", T0 + 14 * S) == []
    assert board.condition_ended(k, T0 + 15 * S) == []
    assert [r.action for r in board.audit] == [
        AlarmAction.RAISED,
        AlarmAction.ENDED,
        AlarmAction.ACKNOWLEDGED,
        AlarmAction.CLEARED,
    ]


def test_the_end_of_a_condition_never_started_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    board = AlarmBoard()
    with caplog.at_level(logging.WARNING, logger="kmc_monitor.service.alarms"):
        assert board.condition_ended(key(SEVERE), T0) == []
    assert "never started" in caplog.text
    assert board.audit == ()


def test_cleared_alarms_are_forgotten_after_forget_after_s() -> None:
    board = AlarmBoard(AlarmParams(forget_after_s=3600.0))
    k = key(COLD)
    start(board, COLD, T0)
    board.condition_ended(k, T0 + S)
    assert board.condition_started(k, COLD, "3", "W1", T0 + S + 3600 * S - 1) == []
    board.tick(T0 + S + 3600 * S)
    with pytest.raises(UnknownAlarmError):
        board.acknowledge(1, "nurse-amina", T0 + S + 3600 * S)
    assert board.snapshot().alarms == ()


# Audit ------------------------------------------------------------------------------------------------
def test_the_audit_log_records_every_action_once_with_who_and_when() -> None:
    board = AlarmBoard()
    seen: list[AlarmEvent] = []
    seen += board.condition_started(key(MODERATE), MODERATE, "3", "W1", T0)
    seen += board.condition_started(key(SEVERE, "W2"), SEVERE, "4", "W2", T0 + 10 * S)
    seen += board.pause_audio("station", "nurse-amina", T0 + 20 * S)
    seen += board.acknowledge(2, "nurse-ben", T0 + 30 * S)
    seen += board.tick(T0 + 200 * S)
    seen += board.condition_ended(key(SEVERE, "W2"), T0 + 250 * S)
    seen += board.tick(T0 + 400 * S)
    seen += board.condition_ended(key(MODERATE), T0 + 500 * S)
    seen += board.acknowledge(1, "nurse-amina", T0 + 600 * S)
    want = [
        (T0, SYSTEM, AlarmAction.RAISED, 1, None),
        (T0 + 10 * S, SYSTEM, AlarmAction.RAISED, 2, None),
        (T0 + 20 * S, "nurse-amina", AlarmAction.AUDIO_PAUSED, None, "station"),
        (T0 + 30 * S, "nurse-ben", AlarmAction.ACKNOWLEDGED, 2, None),
        (T0 + 140 * S, SYSTEM, AlarmAction.AUDIO_RESUMED, None, "station"),
        (T0 + 250 * S, SYSTEM, AlarmAction.ENDED, 2, None),
        (T0 + 250 * S, SYSTEM, AlarmAction.CLEARED, 2, None),
        (T0 + 300 * S, SYSTEM, AlarmAction.ESCALATED, 1, None),
        (T0 + 500 * S, SYSTEM, AlarmAction.ENDED, 1, None),  # latched: it escalated
        (T0 + 600 * S, "nurse-amina", AlarmAction.ACKNOWLEDGED, 1, None),
        (T0 + 600 * S, "nurse-amina", AlarmAction.CLEARED, 1, None),
    ]
    audit = board.audit
    assert [(r.at_us, r.who, r.action, r.alarm_id, r.screen_id) for r in audit] == want
    assert [r.seq for r in audit] == list(range(1, len(want) + 1))
    assert all(r.detail for r in audit)
    assert [(e.seq, e.at_us, e.who, e.action) for e in seen] == [
        (r.seq, r.at_us, r.who, r.action) for r in audit
    ]
    assert board.drain_audit() == list(audit)
    assert board.audit == ()


def test_time_never_runs_back_on_the_board(caplog: pytest.LogCaptureFixture) -> None:
    board = AlarmBoard()
    start(board, COLD, T0 + 10 * S)
    with caplog.at_level(logging.WARNING, logger="kmc_monitor.service.alarms"):
        events = board.condition_started(key(SEVERE), SEVERE, "3", "W1", T0)  # a late caller
    assert "time went back" in caplog.text
    assert [(e.action, e.at_us) for e in events] == [(AlarmAction.RAISED, T0 + 10 * S)]
    times = [r.at_us for r in board.audit]
    assert times == sorted(times)


def test_bad_arguments_are_refused_before_anything_happens() -> None:
    board = AlarmBoard()
    start(board, MODERATE, T0)
    snap = board.snapshot()
    bad_calls: list[Any] = [
        lambda: board.condition_started(["W", 1], SEVERE, "3", "W", T0 + ESCALATE),  # type: ignore[arg-type]
        lambda: board.condition_started(("W", 1.5), SEVERE, "3", "W", T0 + ESCALATE),  # type: ignore[arg-type]
        lambda: board.condition_started(("W",), "no_such_kind", "3", "W", T0 + ESCALATE),  # type: ignore[arg-type]
        lambda: board.condition_started(("W",), SEVERE, "3", "", T0 + ESCALATE),
        lambda: board.condition_started(("W",), SEVERE, "3", "W", float(T0 + ESCALATE)),  # type: ignore[arg-type]
        lambda: board.condition_started(("W",), SEVERE, "3", "W", T0 + ESCALATE, extreme_c=float("nan")),
        lambda: board.tick(True),
        lambda: board.pause_audio("", "nurse-amina", T0 + ESCALATE),
    ]
    for call in bad_calls:
        with pytest.raises(AlarmError):
            call()
    assert board.snapshot() == snap


def test_params_are_checked() -> None:
    assert (AlarmParams().audio_pause_us, AlarmParams().escalation_us) == (PAUSE, ESCALATE)
    for bad in ({"audio_pause_s": 0.0}, {"escalation_s": -1.0}, {"forget_after_s": float("nan")}):
        with pytest.raises(ValueError, match="positive"):
            AlarmParams(**bad)


# Snapshot and restore ------------------------------------------------------------------------------------
def _json_round_trip(board: AlarmBoard, params: AlarmParams | None = None) -> AlarmBoard:
    data = json.loads(json.dumps(board.snapshot().to_json()))
    restored = AlarmBoard.restore(BoardSnapshot.from_json(data), params)
    assert restored.snapshot() == board.snapshot()
    return restored


def test_snapshot_restore_mid_episode_keeps_every_state_and_deadline() -> None:
    board = AlarmBoard()
    medium = start(board, MODERATE, T0, wrap="W1")  # escalates at T0 + 300 s
    latched = start(board, SEVERE, T0 + 10 * S, wrap="W2")
    board.condition_ended(key(SEVERE, "W2", T0 + 10 * S), T0 + 40 * S)
    acked = start(board, DETACHED, T0 + 50 * S, wrap="W3")
    board.acknowledge(acked.alarm_id, "nurse-amina", T0 + 60 * S)
    cleared = start(board, COLD, T0 + 70 * S, wrap="W4")
    board.condition_ended(key(COLD, "W4", T0 + 70 * S), T0 + 80 * S)
    board.pause_audio("station", "nurse-ben", T0 + 100 * S)  # until T0 + 220 s, baseline high
    records = board.drain_audit()
    now = T0 + 150 * S

    # The hospital changed the numbers meanwhile: deadlines already set stay as they were.
    restored = _json_round_trip(board, AlarmParams(escalation_s=30.0, audio_pause_s=10.0))
    assert restored.visible(now) == board.visible(now)
    assert restored.sounding("station", now) is None
    assert restored.audio_paused_until("station", now) == T0 + 220 * S
    states = {v.alarm_id: v.state for v in restored.visible(now)}
    assert states == {
        medium.alarm_id: AlarmState.ACTIVE,
        latched.alarm_id: AlarmState.LATCHED,
        acked.alarm_id: AlarmState.ACKNOWLEDGED,
    }
    assert restored.alarm(cleared.alarm_id, now).state is AlarmState.CLEARED
    # Duplicates are still recognised, ids and audit numbers continue.
    assert restored.condition_started(key(COLD, "W4", T0 + 70 * S), COLD, "3", "W4", now) == []
    events = restored.tick(T0 + ESCALATE - 1)  # the pause ends; nothing escalates early
    assert [(e.seq, e.action, e.at_us) for e in events] == [
        (len(records) + 1, AlarmAction.AUDIO_RESUMED, T0 + 220 * S)
    ]
    events = restored.tick(T0 + ESCALATE)
    assert [(e.seq, e.action, e.at_us) for e in events] == [
        (len(records) + 2, AlarmAction.ESCALATED, T0 + ESCALATE)
    ]
    new = start(restored, BATTERY, T0 + ESCALATE, wrap="W5")
    assert new.alarm_id == cleared.alarm_id + 1
    assert [r.action for r in restored.audit] == [
        AlarmAction.AUDIO_RESUMED,
        AlarmAction.ESCALATED,
        AlarmAction.RAISED,
    ]
    assert restored.audit[0].at_us == T0 + 220 * S


def test_a_restored_board_behaves_exactly_like_the_original() -> None:
    board = AlarmBoard()
    start(board, MODERATE, T0)
    start(board, SEVERE, T0 + 5 * S, wrap="W2")
    board.pause_audio("station", "nurse-amina", T0 + 6 * S)
    twin = _json_round_trip(board)
    script: list[Callable[[AlarmBoard], list[AlarmEvent]]] = [
        lambda b: b.condition_started(key(SEVERE, "W3"), SEVERE, "5", "W3", T0 + 7 * S),
        lambda b: b.condition_ended(key(SEVERE, "W2", T0 + 5 * S), T0 + 100 * S),
        lambda b: b.tick(T0 + 400 * S),
        lambda b: b.acknowledge(1, "nurse-ben", T0 + 401 * S),
        lambda b: b.condition_ended(key(MODERATE), T0 + 402 * S),
    ]
    for step in script:
        assert step(board) == step(twin)
        t = T0 + 403 * S
        assert board.visible(t) == twin.visible(t)
        assert board.sounding("station", t) == twin.sounding("station", t)
    assert board.snapshot() == twin.snapshot()


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.update(format=99),
        lambda s: s.pop("alarms"),
        lambda s: s["alarms"][0].update(kind="nonsense"),
        lambda s: s["alarms"][0].update(raised_us="yesterday"),
        lambda s: s["alarms"][0].update(acked_us=5),  # without who
        lambda s: s["alarms"].append(dict(s["alarms"][0])),
        lambda s: s["alarms"][0].update(id=50),
        lambda s: s["pauses"][0].update(until_us=None),
        lambda s: s.update(alarms="none"),
    ],
)
def test_a_damaged_snapshot_is_refused_clearly(damage: Any) -> None:
    board = AlarmBoard()
    start(board, MODERATE, T0)
    board.pause_audio("station", "nurse-amina", T0)
    snap = json.loads(json.dumps(board.snapshot().to_json()))
    damage(snap)
    with pytest.raises(AlarmError, match="snapshot is damaged"):
        AlarmBoard.restore(BoardSnapshot.from_json(snap))


# Invariants over random sequences ------------------------------------------------------------------------
KINDS = [SEVERE, MODERATE, DETACHED, COLD, BATTERY]  # every priority and category
SCREENS = ("station", "bedside")
STEPS_US = (0, 1, S, 15 * S, 60 * S, PAUSE - 1, PAUSE, ESCALATE - 1, ESCALATE, 400 * S)


class BoardMachine(RuleBasedStateMachine):
    """Random starts, ends, acknowledgements, pauses, ticks and crash-restores."""

    def __init__(self) -> None:
        super().__init__()
        self.board = AlarmBoard()
        self.now = T0
        self.records: list[Any] = []  # every audit record, drained after each step
        self.started: dict[ConditionKey, AlarmKind] = {}
        self.ended: set[ConditionKey] = set()
        self.acked: set[int] = set()
        self.id_of: dict[ConditionKey, int] = {}
        self.pauses: dict[str, tuple[int, int, int]] = {}  # screen -> (until, baseline rank, pause seq)

    @initialize(escalation_s=st.sampled_from((300.0, 90.0, 30.0)))
    def choose_params(self, escalation_s: float) -> None:
        self.board = AlarmBoard(AlarmParams(escalation_s=escalation_s))

    def _after(self, events: list[AlarmEvent]) -> None:
        drained = self.board.drain_audit()
        assert [(r.seq, r.at_us, r.who, r.action) for r in drained] == [
            (e.seq, e.at_us, e.who, e.action) for e in events
        ]
        assert [r.alarm_id for r in drained] == [e.alarm.alarm_id if e.alarm else None for e in events]
        self.records += drained

    @rule(step=st.sampled_from(STEPS_US), kind=st.sampled_from(KINDS), wrap=st.sampled_from(("A", "B", "C")))
    def start(self, step: int, kind: AlarmKind, wrap: str) -> None:
        self.now += step
        k = (wrap, kind.value, self.now)
        events = self.board.condition_started(k, kind, "bed-" + wrap, wrap, self.now)
        raised = [e for e in events if e.action is AlarmAction.RAISED]
        if k in self.started:  # the same condition again: nothing new
            assert raised == []
            self._after(events)
            return
        assert len(raised) == 1 and raised[0].alarm is not None
        self.started[k] = kind
        self.id_of[k] = raised[0].alarm.alarm_id
        self._after(events)

    @precondition(lambda self: bool(self.started))
    @rule(step=st.sampled_from(STEPS_US), data=st.data())
    def end(self, step: int, data: st.DataObject) -> None:
        self.now += step
        k = data.draw(st.sampled_from(sorted(self.started, key=str)))
        events = self.board.condition_ended(k, self.now)
        if k in self.ended:
            assert events == [] or AlarmAction.ENDED not in actions(events)
        self.ended.add(k)
        self._after(events)

    @precondition(lambda self: bool(self.started))
    @rule(step=st.sampled_from(STEPS_US), data=st.data())
    def duplicate_start(self, step: int, data: st.DataObject) -> None:
        self.now += step
        k = data.draw(st.sampled_from(sorted(self.started, key=str)))
        events = self.board.condition_started(k, self.started[k], "bed-x", str(k[0]), self.now)
        assert AlarmAction.RAISED not in actions(events)
        self._after(events)

    @precondition(lambda self: bool(self.id_of))
    @rule(step=st.sampled_from(STEPS_US), data=st.data(), nurse=st.sampled_from(("amina", "ben")))
    def acknowledge(self, step: int, data: st.DataObject, nurse: str) -> None:
        self.now += step
        alarm_id = data.draw(st.sampled_from(sorted(self.id_of.values())))
        shown = {v.alarm_id for v in self.board.visible(self.now)}
        if alarm_id in self.acked or alarm_id not in shown:
            with pytest.raises(AlarmError):
                self.board.acknowledge(alarm_id, nurse, self.now)
            self._after([])
            return
        events = self.board.acknowledge(alarm_id, nurse, self.now)
        assert actions(events)[-1] in (AlarmAction.ACKNOWLEDGED, AlarmAction.CLEARED)
        self.acked.add(alarm_id)
        self._after(events)

    @rule(step=st.sampled_from(STEPS_US[:5]), screen=st.sampled_from(SCREENS))
    def pause(self, step: int, screen: str) -> None:
        self.now += step
        baseline = max((v.priority.rank for v in self.board.visible(self.now) if v.audible), default=0)
        events = self.board.pause_audio(screen, "nurse", self.now)
        seq = events[-1].seq
        self.pauses[screen] = (self.now + PAUSE, baseline, seq)
        self._after(events)

    @rule(step=st.sampled_from(STEPS_US))
    def tick(self, step: int) -> None:
        self.now += step
        before = (self.board.visible(self.now), [self.board.sounding(s, self.now) for s in SCREENS])
        events = self.board.tick(self.now)
        after = (self.board.visible(self.now), [self.board.sounding(s, self.now) for s in SCREENS])
        assert before == after  # queries see deadlines before they are recorded
        self._after(events)

    @rule()
    def peek_ahead(self) -> None:
        """Queries about a later time show what a board that processed its deadlines shows."""
        snapshot = self.board.snapshot()
        for step in (*STEPS_US, 30 * S, 90 * S, 200 * S):
            later = self.now + step
            twin = AlarmBoard.restore(snapshot, self.board.params)
            twin.tick(later)
            assert self.board.visible(later) == twin.visible(later)
            for screen in SCREENS:
                assert self.board.sounding(screen, later) == twin.sounding(screen, later)
                assert self.board.audio_paused_until(screen, later) == twin.audio_paused_until(screen, later)

    @rule()
    def crash_and_restore(self) -> None:
        self.board = _json_round_trip(self.board, self.board.params)

    # ----------------------------------------------------------------------------------------------
    @invariant()
    def audit_is_numbered_and_monotonic_in_time(self) -> None:
        assert [r.seq for r in self.records] == list(range(1, len(self.records) + 1))
        times = [r.at_us for r in self.records]
        assert times == sorted(times)
        assert all(t <= self.now for t in times)

    @invariant()
    def every_active_or_unacknowledged_high_alarm_is_shown(self) -> None:
        views = {v.alarm_id: v for v in self.board.visible(self.now)}
        for k, alarm_id in self.id_of.items():
            if k not in self.ended:
                assert alarm_id in views, "an alarm whose condition lasts is not shown"
                assert views[alarm_id].state in (AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED)
            view = views.get(alarm_id) or self.board.alarm(alarm_id, self.now)
            if view.priority is Priority.HIGH and alarm_id not in self.acked:
                assert alarm_id in views, "an unacknowledged high alarm is not shown"
            if view.state is AlarmState.LATCHED:
                assert view.priority is Priority.HIGH

    @invariant()
    def visible_is_ordered(self) -> None:
        views = self.board.visible(self.now)
        keys = [(-v.priority.rank, v.category is Category.TECHNICAL, v.raised_us, v.alarm_id) for v in views]
        assert keys == sorted(keys)

    @invariant()
    def sounding_is_the_highest_audible_alarm_not_held_back(self) -> None:
        last_signal: dict[int, int] = {}
        for r in self.records:
            signals = (AlarmAction.RAISED, AlarmAction.ESCALATED, AlarmAction.REMINDED)
            if r.action in signals and r.alarm_id is not None:
                last_signal[r.alarm_id] = r.seq
        views = self.board.visible(self.now)
        for screen in SCREENS:
            candidates = [v for v in views if v.audible]
            until, baseline, seq = self.pauses.get(screen, (0, 0, 0))
            if self.now < until:

                def new(v: AlarmView, seq: int = seq) -> bool:
                    escalation_pending = v.escalated and not any(
                        r.action is AlarmAction.ESCALATED and r.alarm_id == v.alarm_id for r in self.records
                    )
                    # A reminder the board has not recorded yet (queries see deadlines first).
                    reminded = [
                        r.at_us
                        for r in self.records
                        if r.action is AlarmAction.REMINDED and r.alarm_id == v.alarm_id
                    ]
                    if v.reminded_us is not None and (not reminded or v.reminded_us > reminded[-1]):
                        escalation_pending = True
                    return last_signal[v.alarm_id] > seq or escalation_pending

                candidates = [v for v in candidates if new(v) and v.priority.rank > baseline]
            want = candidates[0] if candidates else None
            assert self.board.sounding(screen, self.now) == want


_BOARD_SETTINGS = {
    "stateful_step_count": 40,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
# 100 runs of up to 40 steps in every make test, 1,500 in make test-long (was 300 in make test only).
BoardMachine.TestCase.settings = settings(max_examples=100, **_BOARD_SETTINGS)
test_board_invariants = BoardMachine.TestCase


@pytest.mark.long
class TestBoardInvariantsThoroughly(BoardMachine.TestCase):
    settings = settings(max_examples=1500, **_BOARD_SETTINGS)


@pytest.mark.parametrize(
    ("module", "heavy"),
    [
        ("kmc_monitor.service.alarms", ("pyarrow", "sqlite3", "fastapi", "segno", "pydantic_settings")),
        ("kmc_monitor.service.engine", ("sqlite3", "fastapi", "pydantic_settings")),
    ],
)
def test_importing_the_alarm_board_or_the_engine_loads_no_storage_web_or_settings(
    module: str, heavy: tuple[str, ...]
) -> None:
    """Issue #15: the board (and the sans-I/O engine above it) is usable, and testable, without the
    store, the web app or the settings: a fresh interpreter imports it and none of those is loaded."""
    code = f"import sys, {module}; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing {module} loaded {out.stdout.strip()}"
