"""The typed alarm board snapshot: a round trip through JSON, old snapshots still read, and the
subject of an alarm (ward or wrap) kept consistent with its kind and wrap id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kmc_monitor.errors import AlarmError
from kmc_monitor.service.alarm_snapshot import SNAPSHOT_FORMAT, AlarmRecord, BoardSnapshot, PauseRecord
from kmc_monitor.service.alarms import (
    AlarmBoard,
    AlarmSubject,
    WardAlarmKind,
    board_alarm_kind,
    subject_of,
    ward_condition_key,
)
from kmc_monitor.signal.report import AlarmKind, Category, Priority

S = 1_000_000
T0 = 1_767_254_400 * S


def _busy_board() -> AlarmBoard:
    """A ward alarm, a wrap alarm acknowledged, one latched and cleared, and an audio pause."""
    board = AlarmBoard()
    board.condition_started(
        ward_condition_key(WardAlarmKind.STORAGE_FAILURE, T0), WardAlarmKind.STORAGE_FAILURE, None, None, T0
    )
    board.condition_started(
        ("W1", "cold_stress", T0), AlarmKind.COLD_STRESS, "B1", "W1", T0 + S, extreme_c=35.9
    )
    board.condition_started(
        ("W2", "hypothermia_severe", T0), AlarmKind.HYPOTHERMIA_SEVERE, None, "W2", T0 + 2 * S, extreme_c=32.1
    )
    board.acknowledge(2, "nurse-amina", T0 + 3 * S)
    board.condition_ended(("W2", "hypothermia_severe", T0), T0 + 4 * S)
    board.acknowledge(3, "nurse-amina", T0 + 5 * S)
    board.pause_audio("station", "nurse-amina", T0 + 6 * S)
    return board


def test_the_snapshot_round_trips_through_json() -> None:
    board = _busy_board()
    snap = board.snapshot()
    assert isinstance(snap, BoardSnapshot)
    text = json.dumps(snap.to_json())
    again = BoardSnapshot.from_json(json.loads(text))
    assert again == snap
    assert again.to_json()["format"] == SNAPSHOT_FORMAT
    restored = AlarmBoard.restore(again)
    assert restored.snapshot() == snap
    later = T0 + 60 * S
    assert restored.visible(later) == board.visible(later)
    assert restored.sounding("station", later) == board.sounding("station", later)


def test_a_ward_alarm_is_about_the_ward_and_has_no_wrap() -> None:
    board = _busy_board()
    ward = board.alarm(1, T0 + 7 * S)
    assert (ward.subject, ward.wrap_id, ward.bed_id) == (AlarmSubject.WARD, None, None)
    assert (ward.category, ward.priority) == (Category.TECHNICAL, Priority.MEDIUM)
    assert board.alarm(2, T0 + 7 * S).subject is AlarmSubject.WRAP
    (record,) = [a for a in board.snapshot().alarms if a.id == 1]
    assert record.to_json()["subject"] == "ward" and record.to_json()["wrap_id"] is None


def test_a_format_1_snapshot_with_the_old_placeholder_still_loads() -> None:
    """Boards saved before subjects: a ward alarm under the wrap id "(ward)", no subject field."""
    current: Any = _busy_board().snapshot().to_json()
    old: Any = json.loads(json.dumps(current))
    old["format"] = 1
    for alarm in old["alarms"]:
        del alarm["subject"]
        if alarm["kind"] == "storage_failure":
            alarm["wrap_id"] = "(ward)"
    snap = BoardSnapshot.from_json(old)
    assert snap == BoardSnapshot.from_json(current)
    assert AlarmBoard.restore(snap).alarm(1, T0 + 7 * S).subject is AlarmSubject.WARD


@pytest.mark.parametrize(
    "damage",
    [
        lambda a: a.update(subject="wrap"),  # a storage failure is about the ward
        lambda a: a.update(wrap_id="W1"),  # a ward alarm has no wrap
        lambda a: a.update(subject="bed"),
        lambda a: a.update(kind="disk_on_fire"),
    ],
)
def test_a_subject_that_disagrees_is_refused(damage: Any) -> None:
    data: Any = _busy_board().snapshot().to_json()
    damage(data["alarms"][0])
    with pytest.raises(AlarmError, match="snapshot is damaged"):
        BoardSnapshot.from_json(data)


def test_the_board_refuses_a_subject_that_disagrees_with_the_kind() -> None:
    board = AlarmBoard()
    with pytest.raises(AlarmError, match="about the ward"):
        board.condition_started(("x",), WardAlarmKind.HL7_LINK_FAILURE, None, "W1", T0)
    with pytest.raises(AlarmError, match="wrap_id"):
        board.condition_started(("x",), AlarmKind.NO_DATA, None, None, T0)
    assert board.snapshot() == BoardSnapshot(clock_us=None, next_id=1, seq=0)


def test_the_ward_kinds_keep_their_names_and_catalogue() -> None:
    assert [k.value for k in WardAlarmKind] == ["storage_failure", "hl7_link_failure"]
    assert not {k.value for k in WardAlarmKind} & {k.value for k in AlarmKind}
    for kind in WardAlarmKind:
        assert board_alarm_kind(kind.value) is kind
        assert (kind.category, kind.priority, kind.has_extreme) == (
            Category.TECHNICAL,
            Priority.MEDIUM,
            False,
        )
        assert subject_of(kind) is AlarmSubject.WARD
    assert all(subject_of(k) is AlarmSubject.WRAP for k in AlarmKind)


def test_a_record_is_frozen() -> None:
    (record, *_) = _busy_board().snapshot().alarms
    assert isinstance(record, AlarmRecord)
    with pytest.raises(AttributeError):
        record.wrap_id = "W9"  # type: ignore[misc]


def test_the_boards_records_and_their_saved_forms_hold_the_same_fields() -> None:
    """Saving and restoring copy every field by name (alarms._copied): a field added to one side
    only would be lost on a restart, or fail every restore."""
    from dataclasses import fields

    from kmc_monitor.service.alarms import _Alarm, _Pause

    def names(cls: type) -> list[str]:
        return sorted(f.name for f in fields(cls))

    assert names(_Alarm) == names(AlarmRecord)
    assert names(_Pause) == names(PauseRecord)
