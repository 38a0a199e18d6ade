"""What the ward tells the hospital over HL7: the runtime's ticks turned into queued messages.

:class:`Hl7Feed` is called by the runtime after each tick with the alarm events of that tick (and of
staff actions) and the tiles that changed. It queues, in the order they happened:

- a PCD-04 (``ORU^R40``) for each alarm event: raised → ``start``; acknowledged, escalated, or a
  latched alarm cleared → ``update``; ended → ``end`` (alarm state ``latched`` if it stays shown);
- a PCD-01 (``ORU^R01``) for every admitted bed every ``interval_s`` of ward time, and at once for a
  bed whose skin-to-skin session just ended (with that session's summary).

Messages are written to the durable queue in the tick that made them; the link sends them. Audio
pauses are per screen, not per alarm, and are not sent. The interface's own ``hl7_link_failure``
alarm is not sent either: it is about this very link, and the engine sees the gap itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

from kmc_monitor.service.alarms import AlarmAction, AlarmEvent, AlarmState, AlarmSubject, WardAlarmKind
from kmc_monitor.service.engine import BedView
from kmc_monitor.service.hl7 import (
    BedObservation,
    EventPhase,
    Hl7Error,
    Identity,
    Patient,
    SessionSummary,
    alarm_report,
    build_pcd01,
    build_pcd04,
)
from kmc_monitor.service.hl7_outbox import Hl7Outbox
from kmc_monitor.service.ward_model import Admission
from kmc_monitor.signal.params import US

__all__ = ["Hl7Feed"]

logger = logging.getLogger(__name__)

_PHASE = {
    AlarmAction.RAISED: EventPhase.START,
    AlarmAction.ACKNOWLEDGED: EventPhase.UPDATE,
    AlarmAction.ESCALATED: EventPhase.UPDATE,
    AlarmAction.ENDED: EventPhase.END,
}
#: Kinds never sent: the link's own failure (see the module docstring).
_NOT_SENT = frozenset({WardAlarmKind.HL7_LINK_FAILURE})


class Hl7Feed:
    """See the module docstring.

    Parameters
    ----------
    outbox
        The durable queue.
    ident
        MSH sender and receiver.
    ward_name
        The ward (PV1-3's point of care, and the assigning authority of the hospital number).
    admission
        Looks an admission up by id (the ward's), for the hospital number.
    interval_s
        Ward seconds between two PCD-01 of one bed.
    wake
        Called after messages are queued (the link sends them now).
    """

    def __init__(
        self,
        outbox: Hl7Outbox,
        ident: Identity,
        ward_name: str,
        admission: Callable[[int], Admission],
        *,
        interval_s: float = 60.0,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.outbox = outbox
        self.ident = ident
        self.ward_name = ward_name
        self._admission = admission
        self.interval_s = interval_s
        self._wake = wake
        self._next_us = -math.inf
        self._beds: dict[str, BedView] = {}
        self._admissions: dict[int, Admission] = {}
        #: Per bed: the running session's start (ward µs) and its duration as last shown.
        self._sessions: dict[str, tuple[int, float]] = {}
        #: Alarms that ended latched: their clearing is sent as an update.
        self._latched: set[int] = set()
        #: Messages that could not be built (a bug, logged with the reason).
        self.build_errors = 0

    def latched(self, alarm_ids: Iterable[int]) -> None:
        """Alarms already latched when the feed starts (a restored board): their clearing is sent."""
        self._latched.update(alarm_ids)

    def on_tick(
        self,
        now_us: int,
        events: Iterable[AlarmEvent],
        changed: Iterable[BedView],
        views: Callable[[], list[BedView]],
    ) -> None:
        """Queue this tick's messages: alarm events, ended sessions, and the periodic observations."""
        pending: list[tuple[str, Callable[[str], str], int]] = []
        for v in changed:
            self._beds[v.bed_id] = v
            ended = self._session_update(v, now_us)
            if ended is not None and v.admission_id is not None:
                pending.append(("pcd01", self._pcd01(v, now_us, ended), now_us))
        for e in events:
            made = self._pcd04(e)
            if made is not None:
                pending.append(("pcd04", made, e.at_us))
        if now_us >= self._next_us:
            self._next_us = now_us + round(self.interval_s * US)
            for v in views():
                self._beds[v.bed_id] = v
                if v.admission_id is not None:
                    pending.append(("pcd01", self._pcd01(v, now_us, None), now_us))
        if not pending:
            return
        first = self.outbox.last_seq() + 1
        rows: list[tuple[str, str, int, str]] = []
        for k, (kind, build, at_us) in enumerate(pending):
            control_id = f"KMC{first + k}"
            try:
                rows.append((control_id, kind, at_us, build(control_id)))
            except Hl7Error as exc:
                self.build_errors += 1
                logger.error("an HL7 %s message could not be built and is not sent: %s", kind, exc)
        self.outbox.append(rows)
        self._wake()

    # Observations --------------------------------------------------------------------------------
    def _session_update(self, v: BedView, now_us: int) -> SessionSummary | None:
        """Follow the bed's session; the finished session when this tile shows it ended."""
        if v.admission_id is not None and v.session_state in ("running", "paused"):
            start = self._sessions.get(v.bed_id, (now_us - round(v.session_s * US), 0.0))[0]
            self._sessions[v.bed_id] = (start, v.session_s)
            return None
        seen = self._sessions.pop(v.bed_id, None)
        if seen is None:
            return None
        start_us, duration_s = seen
        return SessionSummary(start_us, start_us + round(duration_s * US))

    def _patient(self, bed_id: str | None) -> Patient | None:
        v = None if bed_id is None else self._beds.get(bed_id)
        if v is None or v.admission_id is None:
            return None
        adm = self._admissions.get(v.admission_id)
        if adm is None:
            adm = self._admission(v.admission_id)
            self._admissions[v.admission_id] = adm
        return Patient(
            adm.admission_id, adm.display_name, adm.hospital_number, v.bed_id, v.label, self.ward_name
        )

    def _pcd01(self, v: BedView, now_us: int, ended: SessionSummary | None) -> Callable[[str], str]:
        patient = self._patient(v.bed_id)
        obs = BedObservation(
            at_us=now_us,
            wrap_id=v.wrap_id,
            temperature_c=v.temperature_c if v.band is not None else None,
            band=v.band,
            judging=v.judging,
            contact=v.contact,
            session_state=v.session_state,
            session_s=v.session_s,
            contact_today_s=v.contact_today_s,
            rolling_24h_s=v.rolling_24h_s,
            battery_pct=v.battery_pct,
            ended_session=ended,
        )

        def build(control_id: str) -> str:
            if patient is None:
                raise Hl7Error(f"bed {v.bed_id}'s admission {v.admission_id} is not on the ward")
            return build_pcd01(control_id, self.ident, patient, obs)

        return build

    # Alarms --------------------------------------------------------------------------------------
    def _pcd04(self, e: AlarmEvent) -> Callable[[str], str] | None:
        a = e.alarm
        if a is None or a.kind in _NOT_SENT:
            return None
        phase = _PHASE.get(e.action)
        if e.action is AlarmAction.ENDED and a.state is AlarmState.LATCHED:
            self._latched.add(a.alarm_id)
        if e.action is AlarmAction.CLEARED:
            if a.alarm_id not in self._latched:
                return None  # its end was sent; clearing an unlatched alarm says nothing new
            self._latched.discard(a.alarm_id)
            phase = EventPhase.UPDATE
        if phase is None:
            return None
        ward_level = a.subject is AlarmSubject.WARD
        patient = None if ward_level else self._patient(a.bed_id)
        report = alarm_report(a, phase, e.at_us, a.wrap_id)

        def build(control_id: str) -> str:
            return build_pcd04(control_id, self.ident, patient, report)

        return build
