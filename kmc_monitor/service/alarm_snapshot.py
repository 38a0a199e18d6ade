"""The alarm board's saved state as typed values, and its JSON form (the ``alarm_board`` table).

The board (:mod:`kmc_monitor.service.alarms`) hands out a :class:`BoardSnapshot` and restores from
one; the store keeps its :meth:`BoardSnapshot.to_json` and reads it back with
:meth:`BoardSnapshot.from_json`. Typed, so that the store and the engine pass a checked value
rather than a ``dict`` whose keys every reader has to trust; the parsing lives here, once.

Formats: 2 carries each alarm's ``subject`` (ward or wrap) and no wrap id for a ward alarm; 1 (saved
before subjects) is still read — its ward alarms carried the placeholder wrap id ``"(ward)"``.
Checks about the board's *meaning* (ids unique, counters ahead, lifecycle consistent) stay with
:meth:`~kmc_monitor.service.alarms.AlarmBoard.restore`; this module checks shapes and types only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from kmc_monitor.errors import AlarmError
from kmc_monitor.service.alarm_model import (
    AlarmSubject,
    BoardAlarmKind,
    ConditionKey,
    board_alarm_kind,
    subject_of,
)

__all__ = [
    "LEGACY_WARD_WRAP_ID",
    "SNAPSHOT_FORMAT",
    "AlarmRecord",
    "BoardSnapshot",
    "JsonValue",
    "PauseRecord",
]

#: JSON as :func:`json.loads` returns it and :func:`json.dumps` takes it.
JsonValue: TypeAlias = "str | int | float | bool | None | list[JsonValue] | dict[str, JsonValue]"

#: Version of the snapshot's JSON form that :meth:`BoardSnapshot.to_json` writes.
SNAPSHOT_FORMAT: Final = 2

#: The wrap id format 1 (and schema 7 and before) gave a ward-level alarm; no real wrap has it.
LEGACY_WARD_WRAP_ID: Final = "(ward)"


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """One alarm of the board as saved: its identity, subject and the times of its lifecycle."""

    id: int
    key: ConditionKey
    kind: BoardAlarmKind
    bed_id: str | None
    #: None exactly when :attr:`subject` is the ward.
    wrap_id: str | None
    raised_us: int
    extreme_c: float | None
    escalate_at_us: int | None
    signal_seq: int
    ended_us: int | None
    acked_us: int | None
    acked_by: str | None
    escalated_us: int | None
    cleared_us: int | None
    reminded_us: int | None

    @property
    def subject(self) -> AlarmSubject:
        """What the alarm is about; it follows from the kind (saved too, for readers of the JSON)."""
        return subject_of(self.kind)

    def to_json(self) -> dict[str, JsonValue]:
        """The alarm as the ``alarms`` table's ``data`` and the snapshot hold it."""
        return {
            "id": self.id,
            "key": list(self.key),
            "kind": self.kind.value,
            "subject": self.subject.value,
            "bed_id": self.bed_id,
            "wrap_id": self.wrap_id,
            "raised_us": self.raised_us,
            "extreme_c": self.extreme_c,
            "escalate_at_us": self.escalate_at_us,
            "signal_seq": self.signal_seq,
            "ended_us": self.ended_us,
            "acked_us": self.acked_us,
            "acked_by": self.acked_by,
            "escalated_us": self.escalated_us,
            "cleared_us": self.cleared_us,
            "reminded_us": self.reminded_us,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> AlarmRecord:
        """Parse one saved alarm (format 1 or 2); ``KeyError``/``TypeError``/``ValueError`` if bad."""
        raw_key = d["key"]
        if not isinstance(raw_key, list | tuple):
            raise TypeError(f"key must be a list, got {raw_key!r}")
        key: list[str | int] = []
        for part in raw_key:
            if isinstance(part, bool) or not isinstance(part, str | int):
                raise TypeError(f"a condition key holds only str and int, got {raw_key!r}")
            key.append(part)
        if not key:
            raise ValueError("a condition key must not be empty")
        extreme = d["extreme_c"]
        if extreme is not None and (isinstance(extreme, bool) or not isinstance(extreme, int | float)):
            raise TypeError(f"extreme_c must be a number, got {extreme!r}")
        kind = board_alarm_kind(d["kind"])
        wrap_id = _opt_str(d, "wrap_id")
        if "subject" in d:
            subject = AlarmSubject(_str(d, "subject"))
        else:  # format 1: a ward alarm had the placeholder wrap id
            subject = subject_of(kind)
            if wrap_id == LEGACY_WARD_WRAP_ID:
                wrap_id = None
        if subject is not subject_of(kind):
            raise ValueError(f"a {kind.value} alarm is about the {subject_of(kind).value}, not {subject}")
        if (wrap_id is None) != (subject is AlarmSubject.WARD):
            raise ValueError(f"a {subject.value} alarm must {'not ' if wrap_id else ''}have a wrap id")
        return cls(
            id=_int(d, "id"),
            key=tuple(key),
            kind=kind,
            bed_id=_opt_str(d, "bed_id"),
            wrap_id=wrap_id,
            raised_us=_int(d, "raised_us"),
            extreme_c=None if extreme is None else float(extreme),
            escalate_at_us=_opt_int(d, "escalate_at_us"),
            signal_seq=_int(d, "signal_seq"),
            ended_us=_opt_int(d, "ended_us"),
            acked_us=_opt_int(d, "acked_us"),
            acked_by=_opt_str(d, "acked_by"),
            escalated_us=_opt_int(d, "escalated_us"),
            cleared_us=_opt_int(d, "cleared_us"),
            # Boards saved before reminders existed have none.
            reminded_us=_opt_int(d, "reminded_us") if "reminded_us" in d else None,
        )


@dataclass(frozen=True, slots=True)
class PauseRecord:
    """One ward screen's audio pause as saved."""

    screen_id: str
    who: str
    started_us: int
    until_us: int
    #: Rank of the highest alarm sounding when the pause began.
    baseline_rank: int
    #: Audit seq of the pause: alarm signals after it are new.
    since_seq: int

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "screen_id": self.screen_id,
            "who": self.who,
            "started_us": self.started_us,
            "until_us": self.until_us,
            "baseline_rank": self.baseline_rank,
            "since_seq": self.since_seq,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> PauseRecord:
        return cls(
            screen_id=_str(d, "screen_id"),
            who=_str(d, "who"),
            started_us=_int(d, "started_us"),
            until_us=_int(d, "until_us"),
            baseline_rank=_int(d, "baseline_rank"),
            since_seq=_int(d, "since_seq"),
        )


@dataclass(frozen=True, slots=True)
class BoardSnapshot:
    """The alarm board's whole state (the audit log is not part of it): its clock and counters,
    its alarms (shown, and cleared but remembered) by id, and its screens' audio pauses."""

    clock_us: int | None
    next_id: int
    seq: int
    alarms: tuple[AlarmRecord, ...] = ()
    pauses: tuple[PauseRecord, ...] = ()

    def to_json(self) -> dict[str, JsonValue]:
        """The snapshot as plain JSON data, in the current format."""
        return {
            "format": SNAPSHOT_FORMAT,
            "clock_us": self.clock_us,
            "next_id": self.next_id,
            "seq": self.seq,
            "alarms": [a.to_json() for a in self.alarms],
            "pauses": [p.to_json() for p in self.pauses],
        }

    @classmethod
    def from_json(cls, data: object) -> BoardSnapshot:
        """Parse a saved snapshot (format 1 or 2).

        Raises
        ------
        AlarmError
            The data is not a snapshot this version can read.
        """
        try:
            if not isinstance(data, Mapping):
                raise TypeError(f"a snapshot is an object, got {type(data).__name__}")
            fmt = data.get("format")
            if fmt not in (1, SNAPSHOT_FORMAT) or isinstance(fmt, bool):
                raise ValueError(f"format {fmt!r}, expected 1 or {SNAPSHOT_FORMAT}")
            return cls(
                clock_us=_opt_int(data, "clock_us"),
                next_id=_int(data, "next_id"),
                seq=_int(data, "seq"),
                alarms=tuple(AlarmRecord.from_json(a) for a in _list(data, "alarms")),
                pauses=tuple(PauseRecord.from_json(p) for p in _list(data, "pauses")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AlarmError(f"cannot restore the alarm board: the snapshot is damaged ({exc})") from exc


# Field parsing ------------------------------------------------------------------------------------
def _int(d: Mapping[str, object], name: str) -> int:
    value = d[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return value


def _opt_int(d: Mapping[str, object], name: str) -> int | None:
    return None if d[name] is None else _int(d, name)


def _str(d: Mapping[str, object], name: str) -> str:
    value = d[name]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _opt_str(d: Mapping[str, object], name: str) -> str | None:
    return None if d[name] is None else _str(d, name)


def _list(d: Mapping[str, object], name: str) -> list[Mapping[str, object]]:
    value = d[name]
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise TypeError(f"{name} must be a list of objects")
    return value
