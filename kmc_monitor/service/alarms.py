"""The live alarm lifecycle: what a ward's nurses see and hear of the engine's alarm conditions.

The signal core (:class:`~kmc_monitor.signal.stream.WrapStream`) decides when an alarm *condition*
starts and ends. :class:`AlarmBoard` is the layer above it (IEC 60601-1-8, clinical-rules.md
"Live-only behaviour"): it turns each condition into an alarm with a stable id, latches high-priority
alarms, takes acknowledgements, pauses audio per ward screen, escalates medium alarms nobody
acknowledged, and writes every step to an audit log. ``docs/rules.md`` ("Alarm lifecycle") states
every choice the rules leave open.

Time is injected: every method takes ``now_us``, integer microseconds since the Unix epoch (the unit
of the signal core), and the board never reads a clock. Mutating methods return the
:class:`AlarmEvent` list a web layer streams; queries (:meth:`AlarmBoard.visible`,
:meth:`AlarmBoard.sounding`) change nothing and show the board as it is at ``now_us``, deadlines
included, even before the next :meth:`AlarmBoard.tick` has recorded them.
"""

from __future__ import annotations

import heapq
import logging
import math
from dataclasses import dataclass, fields
from typing import Final, TypeVar

from kmc_monitor.errors import AlarmError, UnknownAlarmError
from kmc_monitor.service.alarm_model import (
    AlarmAction,
    AlarmEvent,
    AlarmParams,
    AlarmState,
    AlarmSubject,
    AlarmView,
    AuditRecord,
    BoardAlarmKind,
    ConditionKey,
    WardAlarmKind,
    board_alarm_kind,
    subject_of,
    ward_condition_key,
)
from kmc_monitor.service.alarm_snapshot import AlarmRecord, BoardSnapshot, PauseRecord
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import Category, Priority

__all__ = [
    "SYSTEM",
    "AlarmAction",
    "AlarmBoard",
    "AlarmEvent",
    "AlarmParams",
    "AlarmRecord",
    "AlarmState",
    "AlarmSubject",
    "AlarmView",
    "AuditRecord",
    "BoardAlarmKind",
    "BoardSnapshot",
    "PauseRecord",
    "ConditionKey",
    "WardAlarmKind",
    "board_alarm_kind",
    "subject_of",
    "ward_condition_key",
]

#: The board's records and their saved forms, copied field for field (:func:`_copied`).
_R = TypeVar("_R", "_Alarm", "_Pause", AlarmRecord, PauseRecord)

logger = logging.getLogger(__name__)

#: The ``who`` of every action the board takes by itself (raise, escalate, end, resume audio).
SYSTEM: Final = "system"


@dataclass(slots=True)
class _Alarm:
    """The board's mutable record of one alarm; its state is derived from the times set."""

    id: int
    key: ConditionKey
    kind: BoardAlarmKind
    bed_id: str | None
    #: None for a ward alarm.
    wrap_id: str | None
    raised_us: int
    extreme_c: float | None
    escalate_at_us: int | None
    #: Audit seq of the last new alarm signal (raise or escalation): "new" for an audio pause.
    signal_seq: int = 0
    ended_us: int | None = None
    acked_us: int | None = None
    acked_by: str | None = None
    escalated_us: int | None = None
    cleared_us: int | None = None
    reminded_us: int | None = None

    @property
    def subject(self) -> AlarmSubject:
        """Follows from the kind (checked on the way in): the ward's kinds are about the ward."""
        return subject_of(self.kind)

    @property
    def escalates(self) -> bool:
        """Only a medium *patient* alarm escalates to high; a technical one reminds at its own
        priority (twenty red tiles for loose sensors would bury the one cold baby)."""
        return self.kind.priority is Priority.MEDIUM and self.kind.category is not Category.TECHNICAL

    @property
    def state(self) -> AlarmState:
        if self.cleared_us is not None:
            return AlarmState.CLEARED
        if self.acked_us is not None:
            return AlarmState.ACKNOWLEDGED
        if self.ended_us is not None:
            return AlarmState.LATCHED
        return AlarmState.ACTIVE

    def escalation_due(self, now_us: int) -> bool:
        return (
            self.escalate_at_us is not None
            and self.escalated_us is None
            and self.state is AlarmState.ACTIVE
            and now_us >= self.escalate_at_us
        )


@dataclass(slots=True)
class _Pause:
    screen_id: str
    who: str
    started_us: int
    until_us: int
    #: Rank of the highest alarm sounding (audible, whatever earlier pauses) when the pause began.
    baseline_rank: int
    #: Audit seq of the pause: alarm signals after it are new.
    since_seq: int


def _order(view: AlarmView) -> tuple[int, int, int, int]:
    """Effective priority, then patient before technical, then age (oldest first), then id.

    At equal priority a cold baby's alarm comes (and sounds) before a loose sensor's or a silent
    wrap's: it is the one that needs a nurse's hands."""
    technical = 1 if view.kind.category is Category.TECHNICAL else 0
    return (-view.priority.rank, technical, view.raised_us, view.alarm_id)


class AlarmBoard:
    """The alarms of one ward: lifecycle, audio pauses per screen, escalation and audit.

    Parameters
    ----------
    params
        The lifecycle's numbers (defaults: 120 s audio pause, 5 min escalation).
    """

    def __init__(self, params: AlarmParams | None = None) -> None:
        self.params = params or AlarmParams()
        self._clock_us: int | None = None
        self._next_id = 1
        self._seq = 0
        self._live: dict[int, _Alarm] = {}
        self._recent: dict[int, _Alarm] = {}
        self._by_key: dict[ConditionKey, int] = {}
        self._pauses: dict[str, _Pause] = {}
        self._audit: list[AuditRecord] = []

    # Engine side ------------------------------------------------------------------------------
    def condition_started(
        self,
        key: ConditionKey,
        kind: BoardAlarmKind,
        bed_id: str | None,
        wrap_id: str | None,
        now_us: int,
        *,
        extreme_c: float | None = None,
    ) -> list[AlarmEvent]:
        """Raise an alarm for a condition the engine started; a key seen before changes nothing.

        ``bed_id`` may be None: a wrap not (yet) assigned to a bed still alarms. A ward alarm
        (a :class:`WardAlarmKind`) has neither bed nor wrap: both None; a clinical kind needs its
        wrap (:func:`~kmc_monitor.service.alarm_model.ward_condition_key` makes a ward key).
        """
        key = _checked_key(key)
        kind = _checked_kind(kind)
        if isinstance(kind, WardAlarmKind):
            if bed_id is not None or wrap_id is not None:
                raise AlarmError(f"{kind.value} is about the ward: it has no bed and no wrap")
        else:
            if bed_id is not None:
                _checked_name(bed_id, "bed_id")
            _checked_name(wrap_id, "wrap_id")
        extreme_c = _checked_extreme(extreme_c)
        events: list[AlarmEvent] = []
        now = self._advance(now_us, events)
        if key in self._by_key:
            logger.debug("duplicate start of condition %r ignored", key)
            return events
        # The deadline for escalation (medium patient alarms) or for the first reminder (technical).
        reminds = kind.category is Category.TECHNICAL
        escalate_at = now + self.params.escalation_us if kind.priority is Priority.MEDIUM or reminds else None
        alarm = _Alarm(self._next_id, key, kind, bed_id, wrap_id, now, extreme_c, escalate_at)
        self._next_id += 1
        self._live[alarm.id] = alarm
        self._by_key[key] = alarm.id
        where = f"bed {bed_id}" if bed_id is not None else "no bed"
        extreme = "" if extreme_c is None else f", extreme {extreme_c:.2f} °C"
        about = "about the ward" if wrap_id is None else f"on wrap {wrap_id}, {where}"
        ev = self._emit(
            events,
            AlarmAction.RAISED,
            now,
            SYSTEM,
            alarm,
            f"{kind.value} ({kind.category.value}, {kind.priority.value}) {about}{extreme}",
        )
        alarm.signal_seq = ev.seq
        return events

    def condition_ended(
        self, key: ConditionKey, now_us: int, *, extreme_c: float | None = None
    ) -> list[AlarmEvent]:
        """Mark the condition's alarm ended: it latches if (effectively) high and unacknowledged,
        otherwise it clears. A duplicate end, or the end of a condition never started, changes
        nothing. ``extreme_c`` (the episode's final extreme) replaces the one given at the start."""
        key = _checked_key(key)
        extreme_c = _checked_extreme(extreme_c)
        events: list[AlarmEvent] = []
        now = self._advance(now_us, events)
        alarm_id = self._by_key.get(key)
        alarm = None if alarm_id is None else self._live.get(alarm_id)
        if alarm is None or alarm.ended_us is not None:
            if alarm_id is None:
                logger.warning("end of condition %r that never started on this board ignored", key)
            return events
        alarm.ended_us = now
        if extreme_c is not None:
            alarm.extreme_c = extreme_c
        if alarm.acked_us is None and self._latches(alarm):
            self._emit(
                events, AlarmAction.ENDED, now, SYSTEM, alarm, "condition ended; latched until acknowledged"
            )
        else:
            alarm.cleared_us = now
            why = "acknowledged earlier" if alarm.acked_us is not None else "not latching"
            self._emit(events, AlarmAction.ENDED, now, SYSTEM, alarm, f"condition ended; {why}")
            self._clear(alarm, now, SYSTEM, events)
        return events

    def condition_progress(self, key: ConditionKey, *, extreme_c: float) -> None:
        """The open episode's extreme so far (a cold baby still cooling, a hot one still warming).

        No event and no audit line: the raise recorded the extreme then, the end records the final
        one; in between a screen, report or export that reads the alarm sees the current value
        instead of the one frozen at the raise. Unknown or ended keys change nothing."""
        checked = _checked_extreme(extreme_c)
        alarm_id = self._by_key.get(_checked_key(key))
        alarm = None if alarm_id is None else self._live.get(alarm_id)
        if alarm is not None and alarm.ended_us is None and checked is not None:
            alarm.extreme_c = checked

    # Nurse side -------------------------------------------------------------------------------
    def acknowledge(self, alarm_id: int, who: str, now_us: int) -> list[AlarmEvent]:
        """A nurse acknowledges an alarm: it stops sounding; a latched alarm clears.

        Raises
        ------
        UnknownAlarmError
            No alarm with this id is on the board or was cleared recently.
        AlarmError
            The alarm was already acknowledged or has already cleared (nothing is recorded).
        """
        who = _checked_user(who)
        if isinstance(alarm_id, bool) or not isinstance(alarm_id, int):
            raise AlarmError(f"alarm id must be an integer, got {alarm_id!r}")
        # Checked before any deadline is processed: a refused call changes nothing. No deadline
        # can acknowledge or clear an alarm, so the outcome is the same.
        alarm = self._live.get(alarm_id)
        if alarm is None:
            old = self._recent.get(alarm_id)
            if old is None:
                raise UnknownAlarmError(f"no alarm {alarm_id} on this ward's board")
            assert old.cleared_us is not None
            by = f" (acknowledged by {old.acked_by})" if old.acked_by is not None else ""
            raise AlarmError(f"alarm {alarm_id} has already cleared at {old.cleared_us} µs{by}")
        if alarm.acked_us is not None:
            raise AlarmError(
                f"alarm {alarm_id} was already acknowledged by {alarm.acked_by} at {alarm.acked_us} µs"
            )
        events: list[AlarmEvent] = []
        now = self._advance(now_us, events)
        alarm.acked_us = now
        alarm.acked_by = who
        if alarm.ended_us is not None:
            alarm.cleared_us = now
            self._emit(events, AlarmAction.ACKNOWLEDGED, now, who, alarm, "latched alarm acknowledged")
            self._clear(alarm, now, who, events)
        else:
            self._emit(
                events, AlarmAction.ACKNOWLEDGED, now, who, alarm, "silenced; shown while the condition lasts"
            )
        return events

    def pause_audio(self, screen_id: str, who: str, now_us: int) -> list[AlarmEvent]:
        """Silence one ward screen for ``audio_pause_s``; a new, higher alarm still sounds.

        "Higher" means a larger effective priority rank than the highest audible alarm when the pause
        began (nothing audible: rank 0, so any new alarm sounds). "New" means raised or escalated
        after the pause. Pausing a paused screen starts a fresh pause.
        """
        _checked_name(screen_id, "screen_id")
        who = _checked_user(who)
        events: list[AlarmEvent] = []
        now = self._advance(now_us, events)
        baseline = max(
            (self._priority(a, now).rank for a in self._live.values() if a.state in _AUDIBLE), default=0
        )
        until = now + self.params.audio_pause_us
        above = next((p.value for p in Priority if p.rank == baseline), "nothing")
        ev = self._emit(
            events,
            AlarmAction.AUDIO_PAUSED,
            now,
            who,
            None,
            f"audio paused until {until} µs; a new alarm above {above} sounds through",
            screen_id=screen_id,
            until_us=until,
        )
        self._pauses[screen_id] = _Pause(screen_id, who, now, until, baseline, ev.seq)
        return events

    def tick(self, now_us: int) -> list[AlarmEvent]:
        """Let time pass: escalations and pause ends due by ``now_us`` happen (at their deadlines)."""
        events: list[AlarmEvent] = []
        self._advance(now_us, events)
        return events

    # Queries ----------------------------------------------------------------------------------
    def visible(
        self, now_us: int, *, bed_id: str | None = None, category: Category | None = None
    ) -> list[AlarmView]:
        """Alarms shown at ``now_us``: highest effective priority first, then oldest first."""
        now = self._now(now_us)
        views = [
            self._view(a, now)
            for a in self._live.values()
            if (bed_id is None or a.bed_id == bed_id) and (category is None or a.kind.category is category)
        ]
        views.sort(key=_order)
        return views

    def sounding(self, screen_id: str, now_us: int) -> AlarmView | None:
        """What this screen sounds at ``now_us``: its highest unacknowledged alarm not held back by
        the screen's audio pause, or None. The screen picks the tone pattern by ``priority``."""
        now = self._now(now_us)
        pause = self._active_pause(screen_id, now)
        best: AlarmView | None = None
        for a in self._live.values():
            if a.state not in _AUDIBLE:
                continue
            view = self._view(a, now)
            if pause is not None and not (
                self._is_new(a, now, pause.since_seq) and view.priority.rank > pause.baseline_rank
            ):
                continue
            if best is None or _order(view) < _order(best):
                best = view
        return best

    def audio_paused_until(self, screen_id: str, now_us: int) -> int | None:
        """End of the screen's audio pause at ``now_us`` (µs), or None when it is not paused."""
        pause = self._active_pause(screen_id, self._now(now_us))
        return None if pause is None else pause.until_us

    def alarm(self, alarm_id: int, now_us: int) -> AlarmView:
        """One alarm, shown or recently cleared."""
        alarm = self._live.get(alarm_id) or self._recent.get(alarm_id)
        if alarm is None:
            raise UnknownAlarmError(f"no alarm {alarm_id} on this ward's board")
        return self._view(alarm, self._now(now_us))

    @property
    def audit(self) -> tuple[AuditRecord, ...]:
        """Audit records not yet drained, in order (``seq`` increases by one, time never goes back)."""
        return tuple(self._audit)

    def drain_audit(self) -> list[AuditRecord]:
        """Hand the audit records over (to persistence) and forget them here."""
        out, self._audit = self._audit, []
        return out

    # Persistence ------------------------------------------------------------------------------
    def snapshot(self) -> BoardSnapshot:
        """The board's whole state as a typed value (the audit log is not part of it); its
        :meth:`~BoardSnapshot.to_json` is what the store keeps."""
        alarms = sorted([*self._live.values(), *self._recent.values()], key=lambda a: a.id)
        return BoardSnapshot(
            clock_us=self._clock_us,
            next_id=self._next_id,
            seq=self._seq,
            alarms=tuple(_copied(AlarmRecord, a) for a in alarms),
            pauses=tuple(
                _copied(PauseRecord, p) for p in sorted(self._pauses.values(), key=lambda p: p.screen_id)
            ),
        )

    @classmethod
    def restore(cls, snapshot: BoardSnapshot, params: AlarmParams | None = None) -> AlarmBoard:
        """A board in exactly the state of ``snapshot``: deadlines are kept as they were set, even if
        ``params`` changed since. Audit sequence numbers continue where they stopped. (Saved JSON
        becomes a snapshot through :meth:`BoardSnapshot.from_json`, which checks its shape.)

        Raises
        ------
        AlarmError
            The snapshot is not one a board can be in (ids twice, counters behind, a lifecycle
            that cannot happen).
        """
        board = cls(params)
        try:
            board._clock_us = snapshot.clock_us
            board._next_id = snapshot.next_id
            board._seq = snapshot.seq
            for record in snapshot.alarms:
                alarm = _alarm_from(record)
                if alarm.id in board._live or alarm.id in board._recent or alarm.key in board._by_key:
                    raise ValueError(f"alarm {alarm.id} or its key appears twice")
                if alarm.id >= board._next_id or alarm.signal_seq > board._seq:
                    raise ValueError(f"alarm {alarm.id} is newer than the board's counters")
                (board._recent if alarm.cleared_us is not None else board._live)[alarm.id] = alarm
                board._by_key[alarm.key] = alarm.id
            for p in snapshot.pauses:
                if p.screen_id in board._pauses:
                    raise ValueError(f"screen {p.screen_id!r} paused twice")
                board._pauses[p.screen_id] = _copied(_Pause, p)
        except (AlarmError, ValueError) as exc:
            raise AlarmError(f"cannot restore the alarm board: the snapshot is damaged ({exc})") from exc
        return board

    # Internals --------------------------------------------------------------------------------
    def _now(self, now_us: int) -> int:
        """``now_us`` checked; never earlier than a time the board has already acted at."""
        if isinstance(now_us, bool) or not isinstance(now_us, int):
            raise AlarmError(f"now_us must be integer microseconds since the Unix epoch, got {now_us!r}")
        if self._clock_us is not None and now_us < self._clock_us:
            # A slightly late caller must still get its alarm raised: it happens "now" on the board.
            logger.warning(
                "time went back from %d µs to %d µs; acting at %d µs", self._clock_us, now_us, self._clock_us
            )
            return self._clock_us
        return now_us

    def _advance(self, now_us: int, events: list[AlarmEvent]) -> int:
        """Carry out every deadline up to ``now_us``, each at its own time, in time order."""
        now = self._now(now_us)
        due: list[tuple[int, int, int, str]] = []
        for a in self._live.values():
            if a.escalation_due(now):
                assert a.escalate_at_us is not None
                due.append((a.escalate_at_us, 0, a.id, ""))
        for p in self._pauses.values():
            if p.until_us <= now:
                due.append((p.until_us, 1, 0, p.screen_id))
        heapq.heapify(due)
        while due:
            deadline, what, alarm_id, screen_id = heapq.heappop(due)
            # Deadlines are never behind the clock of a board that ran these calls; the floor only
            # keeps the audit in time order for a snapshot edited by hand.
            at = deadline if self._clock_us is None else max(deadline, self._clock_us)
            if what == 0:
                alarm = self._live[alarm_id]
                within_s = (deadline - alarm.raised_us) / US
                if alarm.escalates:
                    alarm.escalated_us = at
                    ev = self._emit(
                        events,
                        AlarmAction.ESCALATED,
                        at,
                        SYSTEM,
                        alarm,
                        f"not acknowledged within {within_s:g} s: sounds and shows as high",
                    )
                else:
                    alarm.reminded_us = at
                    alarm.escalate_at_us = deadline + self.params.escalation_us
                    if alarm.escalate_at_us <= now:  # a long quiet spell: every reminder, in order
                        heapq.heappush(due, (alarm.escalate_at_us, 0, alarm.id, ""))
                    ev = self._emit(
                        events,
                        AlarmAction.REMINDED,
                        at,
                        SYSTEM,
                        alarm,
                        f"not acknowledged within {within_s:g} s: sounds again at "
                        f"{alarm.kind.priority.value} priority",
                    )
                alarm.signal_seq = ev.seq
            else:
                del self._pauses[screen_id]
                self._emit(
                    events,
                    AlarmAction.AUDIO_RESUMED,
                    at,
                    SYSTEM,
                    None,
                    "audio pause over",
                    screen_id=screen_id,
                )
        forget = self.params.forget_after_us
        stale = [
            a for a in self._recent.values() if a.cleared_us is not None and a.cleared_us + forget <= now
        ]
        for a in stale:
            del self._recent[a.id]
            del self._by_key[a.key]
        self._clock_us = now
        return now

    def _emit(
        self,
        events: list[AlarmEvent],
        action: AlarmAction,
        at_us: int,
        who: str,
        alarm: _Alarm | None,
        detail: str,
        *,
        screen_id: str | None = None,
        until_us: int | None = None,
    ) -> AlarmEvent:
        self._seq += 1
        view = None if alarm is None else self._view(alarm, at_us)
        event = AlarmEvent(self._seq, action, at_us, who, view, screen_id, until_us)
        alarm_id = None if alarm is None else alarm.id
        self._audit.append(AuditRecord(self._seq, at_us, who, action, alarm_id, screen_id, detail))
        events.append(event)
        return event

    def _clear(self, alarm: _Alarm, now: int, who: str, events: list[AlarmEvent]) -> None:
        del self._live[alarm.id]
        self._recent[alarm.id] = alarm
        self._emit(events, AlarmAction.CLEARED, now, who, alarm, "removed from display")

    @staticmethod
    def _latches(alarm: _Alarm) -> bool:
        # Effective priority: a medium that escalated counts as high here too.
        return alarm.kind.priority is Priority.HIGH or alarm.escalated_us is not None

    @staticmethod
    def _priority(alarm: _Alarm, now: int) -> Priority:
        if alarm.escalated_us is not None or (alarm.escalates and alarm.escalation_due(now)):
            return Priority.HIGH
        return alarm.kind.priority

    def _is_new(self, alarm: _Alarm, now: int, since_seq: int) -> bool:
        # An escalation not yet recorded happens after everything recorded, so after any pause.
        return alarm.signal_seq > since_seq or alarm.escalation_due(now)

    def _active_pause(self, screen_id: str, now: int) -> _Pause | None:
        pause = self._pauses.get(screen_id)
        return pause if pause is not None and now < pause.until_us else None

    def _view(self, alarm: _Alarm, now: int) -> AlarmView:
        due = alarm.escalation_due(now)
        pending = None
        if alarm.escalates:
            escalated_us = alarm.escalate_at_us if due else alarm.escalated_us
            if alarm.state is AlarmState.ACTIVE and escalated_us is None:
                pending = alarm.escalate_at_us
            reminded_us = None
        else:
            escalated_us = None
            reminded_us = alarm.reminded_us
            if due:  # the last reminder due by now, as a board that ticked would have it
                assert alarm.escalate_at_us is not None
                every = self.params.escalation_us
                reminded_us = alarm.escalate_at_us + (now - alarm.escalate_at_us) // every * every
        return AlarmView(
            alarm_id=alarm.id,
            key=alarm.key,
            kind=alarm.kind,
            bed_id=alarm.bed_id,
            wrap_id=alarm.wrap_id,
            state=alarm.state,
            priority=self._priority(alarm, now),
            raised_us=alarm.raised_us,
            ended_us=alarm.ended_us,
            acknowledged_us=alarm.acked_us,
            acknowledged_by=alarm.acked_by,
            escalate_at_us=pending,
            escalated_us=escalated_us,
            cleared_us=alarm.cleared_us,
            extreme_c=alarm.extreme_c,
            reminded_us=reminded_us,
        )


_AUDIBLE: Final = (AlarmState.ACTIVE, AlarmState.LATCHED)


# Entry checks -------------------------------------------------------------------------------------
def _checked_key(key: ConditionKey) -> ConditionKey:
    if not isinstance(key, tuple) or not key:
        raise AlarmError(f"a condition key must be a non-empty tuple, got {key!r}")
    for part in key:
        if not isinstance(part, str | int):
            raise AlarmError(f"a condition key holds only str and int (to persist it), got {key!r}")
    return key


def _checked_kind(kind: BoardAlarmKind) -> BoardAlarmKind:
    try:
        return board_alarm_kind(kind)
    except ValueError:
        raise AlarmError(f"{kind!r} is not an alarm kind of the catalogue") from None


def _checked_name(name: str | None, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise AlarmError(f"{what} must be a non-empty string, got {name!r}")
    return name


def _checked_user(who: str) -> str:
    _checked_name(who, "who (the user id)")
    if who == SYSTEM:
        raise AlarmError(f"{SYSTEM!r} is reserved for the board's own actions; give the user's id")
    return who


def _checked_extreme(extreme_c: float | None) -> float | None:
    if extreme_c is None:
        return None
    if isinstance(extreme_c, bool) or not isinstance(extreme_c, int | float) or not math.isfinite(extreme_c):
        raise AlarmError(f"extreme_c must be a finite temperature in °C, got {extreme_c!r}")
    return float(extreme_c)


# Snapshot restoring -------------------------------------------------------------------------------
def _copied(cls: type[_R], source: object) -> _R:
    """``cls`` made of the like-named fields of ``source``: the board's mutable records and the
    snapshot's frozen ones hold the same fields under the same names (a test checks that they do),
    so saving and restoring copy them all and a field added to both cannot be forgotten in one."""
    return cls(**{f.name: getattr(source, f.name) for f in fields(cls)})


def _alarm_from(record: AlarmRecord) -> _Alarm:
    """The board's record of a saved alarm, brought up to today's rules, or ``ValueError``."""
    alarm = _copied(_Alarm, record)
    alarm.key = _checked_key(record.key)
    if (alarm.wrap_id is None) != (alarm.subject is AlarmSubject.WARD):
        raise ValueError(f"alarm {alarm.id}: a {alarm.subject.value} alarm with wrap id {alarm.wrap_id!r}")
    if alarm.escalated_us is not None and alarm.kind.category is Category.TECHNICAL:
        # Saved before technical alarms stopped escalating: it reminded then; one that latched
        # for it is over (a technical alarm never latches now).
        alarm.reminded_us, alarm.escalated_us = alarm.escalated_us, None
        if alarm.ended_us is not None and alarm.cleared_us is None and alarm.acked_us is None:
            alarm.cleared_us = alarm.ended_us
    if (alarm.acked_us is None) != (alarm.acked_by is None):
        raise ValueError(f"alarm {alarm.id}: acknowledgement time and user must come together")
    if alarm.cleared_us is None and alarm.ended_us is not None:
        if alarm.acked_us is not None:
            raise ValueError(f"alarm {alarm.id} is acknowledged and ended but not cleared")
        if not AlarmBoard._latches(alarm):
            raise ValueError(f"alarm {alarm.id} is ended but neither latching nor cleared")
    if alarm.escalated_us is not None and not alarm.escalates:
        raise ValueError(f"alarm {alarm.id} escalated but is not a medium patient alarm")
    return alarm
