"""The alarm board's values: its parameters, the states and actions of an alarm, and what the board
hands out (views, events, audit lines).

They live apart from :mod:`kmc_monitor.service.alarms` (the lifecycle itself) so that the board's
module stays about behaviour; every name here is also exported by that module, where callers import
them from.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final, TypeAlias

from kmc_monitor.signal.params import seconds_to_us
from kmc_monitor.signal.report import AlarmKind, Category, Priority

__all__ = [
    "AlarmAction",
    "AlarmEvent",
    "AlarmParams",
    "AlarmState",
    "AlarmSubject",
    "AlarmView",
    "AuditRecord",
    "BoardAlarmKind",
    "ConditionKey",
    "WardAlarmKind",
    "board_alarm_kind",
    "subject_of",
    "ward_condition_key",
]

#: Identifies one engine condition, e.g. ``(wrap_id, kind, start_us)``. Elements are ``str`` or
#: ``int`` so that a snapshot is plain JSON.
ConditionKey = tuple[str | int, ...]


class AlarmSubject(enum.StrEnum):
    """What an alarm is about: one wrap (and the baby on it), or the ward as a whole.

    Explicit, so that nothing has to guess from a placeholder wrap id (the board once carried ward
    alarms under a fake wrap ``"(ward)"``, which reached the database, the HL7 feed and the API)."""

    #: The ward itself (its database, its HL7 link): no bed, no wrap.
    WARD = "ward"
    #: One wrap; it may be on a bed or on none.
    WRAP = "wrap"


class WardAlarmKind(enum.StrEnum):
    """Technical alarms the service raises about the ward as a whole, never the signal core.

    They live here, not in :class:`~kmc_monitor.signal.report.AlarmKind`, because the signal core
    is the clinical rules only: a disk or a hospital link is not something a wrap's readings say.
    The values are those the catalogue used before, so stored rows, the API and the screens read
    them unchanged."""

    #: The ward service cannot write its database (locked, disk full, I/O error).
    STORAGE_FAILURE = "storage_failure"
    #: The hospital's HL7 interface engine does not acknowledge (``serve --hl7``): alarms reach
    #: the nurses only through the ward screen.
    HL7_LINK_FAILURE = "hl7_link_failure"

    @property
    def category(self) -> Category:
        return _WARD_CATALOGUE[self][0]

    @property
    def priority(self) -> Priority:
        return _WARD_CATALOGUE[self][1]

    @property
    def is_cold(self) -> bool:
        return False

    @property
    def cold_severity(self) -> int:
        """Never a cold kind (the same question as :attr:`AlarmKind.cold_severity`)."""
        return -1

    @property
    def has_extreme(self) -> bool:
        return False


#: Category and priority as IEC 60601-1-8 sorts them: technical, medium (prompt, yellow), like the
#: signal core's other technical alarms about equipment (a loose sensor, a silent wrap).
_WARD_CATALOGUE: Final[dict[WardAlarmKind, tuple[Category, Priority]]] = {
    WardAlarmKind.STORAGE_FAILURE: (Category.TECHNICAL, Priority.MEDIUM),
    WardAlarmKind.HL7_LINK_FAILURE: (Category.TECHNICAL, Priority.MEDIUM),
}

#: Every kind the alarm board carries: the clinical catalogue and the ward's own.
BoardAlarmKind: TypeAlias = AlarmKind | WardAlarmKind


def board_alarm_kind(value: object) -> BoardAlarmKind:
    """The board kind named ``value`` (a stored or sent string); ``ValueError`` when there is none."""
    if isinstance(value, AlarmKind | WardAlarmKind):
        return value
    if isinstance(value, str):
        for enum_type in (AlarmKind, WardAlarmKind):
            try:
                return enum_type(value)
            except ValueError:
                pass
    raise ValueError(f"{value!r} is not an alarm kind of the catalogue")


def ward_condition_key(kind: WardAlarmKind, since_us: int) -> ConditionKey:
    """The condition key of the ward's ``kind`` condition that began at ``since_us``.

    Led by the subject's value, which no clinical key starts with a kind after (a wrap's key is
    ``(wrap_id, clinical kind, start)``), so it never meets a wrap's conditions."""
    return (AlarmSubject.WARD.value, kind.value, since_us)


def subject_of(kind: BoardAlarmKind) -> AlarmSubject:
    """The subject a kind is always about: the ward's kinds the ward, the clinical ones a wrap."""
    return AlarmSubject.WARD if isinstance(kind, WardAlarmKind) else AlarmSubject.WRAP


@dataclass(frozen=True, slots=True)
class AlarmParams:
    """Numbers of the alarm lifecycle; the hospital sets them, a nurse cannot."""

    #: How long an audio pause silences one ward screen.
    audio_pause_s: float = 120.0
    #: A medium alarm not acknowledged within this time escalates to high.
    escalation_s: float = 300.0
    #: How long a cleared alarm is remembered, so that a late duplicate start or end of its
    #: condition, or a late acknowledgement, is recognised instead of raising a phantom alarm.
    forget_after_s: float = 86_400.0

    def __post_init__(self) -> None:
        for name in ("audio_pause_s", "escalation_s", "forget_after_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")

    @property
    def audio_pause_us(self) -> int:
        return seconds_to_us(self.audio_pause_s)

    @property
    def escalation_us(self) -> int:
        return seconds_to_us(self.escalation_s)

    @property
    def forget_after_us(self) -> int:
        return seconds_to_us(self.forget_after_s)


class AlarmState(enum.StrEnum):
    """Where an alarm is in its lifecycle."""

    #: Condition on, not acknowledged: shown and sounding.
    ACTIVE = "active"
    #: Condition on, acknowledged: shown, silent.
    ACKNOWLEDGED = "acknowledged"
    #: Condition over but the alarm was (effectively) high and nobody acknowledged it: shown and
    #: sounding until a nurse acknowledges.
    LATCHED = "latched"
    #: Gone from the display.
    CLEARED = "cleared"


class AlarmAction(enum.StrEnum):
    """What an event or audit record reports."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    #: A technical alarm still unacknowledged after ``escalation_s``: it sounds again at its own
    #: priority (never as high), and again every ``escalation_s`` while nobody acknowledges it.
    REMINDED = "reminded"
    ENDED = "ended"
    CLEARED = "cleared"
    AUDIO_PAUSED = "audio_paused"
    AUDIO_RESUMED = "audio_resumed"


@dataclass(frozen=True, slots=True)
class AlarmView:
    """One alarm as a screen shows it at some moment.

    ``priority`` is the effective priority (high once a medium alarm escalated); ``base_priority``
    the catalogue's. ``escalate_at_us`` is the pending escalation deadline, None when none is pending.
    """

    alarm_id: int
    key: ConditionKey
    kind: BoardAlarmKind
    bed_id: str | None
    #: None for a ward alarm (``subject`` is :attr:`AlarmSubject.WARD`).
    wrap_id: str | None
    state: AlarmState
    priority: Priority
    raised_us: int
    ended_us: int | None
    acknowledged_us: int | None
    acknowledged_by: str | None
    escalate_at_us: int | None
    escalated_us: int | None
    cleared_us: int | None
    extreme_c: float | None
    #: The last time a technical alarm was sounded again for want of an acknowledgement.
    reminded_us: int | None = None

    @property
    def subject(self) -> AlarmSubject:
        """What the alarm is about (the ward, or the wrap ``wrap_id``): it follows from the kind."""
        return subject_of(self.kind)

    @property
    def category(self) -> Category:
        return self.kind.category

    @property
    def base_priority(self) -> Priority:
        return self.kind.priority

    @property
    def escalated(self) -> bool:
        return self.escalated_us is not None

    @property
    def condition_active(self) -> bool:
        return self.ended_us is None

    @property
    def audible(self) -> bool:
        """Not acknowledged and still shown: it sounds unless an audio pause holds it back."""
        return self.state in (AlarmState.ACTIVE, AlarmState.LATCHED)


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One change of the board, as the web layer streams it.

    ``alarm`` is the alarm after the change (None for audio pause events); ``seq`` is the number of
    the matching :class:`AuditRecord`.
    """

    seq: int
    action: AlarmAction
    at_us: int
    who: str
    alarm: AlarmView | None
    screen_id: str | None = None
    until_us: int | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One line of the audit log: when, who, which alarm (or screen), what, and why."""

    seq: int
    at_us: int
    who: str
    action: AlarmAction
    alarm_id: int | None
    screen_id: str | None
    detail: str
