"""The JSON the API and the ward stream send: each shape once as a pydantic model (which OpenAPI
documents and the routes declare), and the function that builds it.

The builders make plain dicts on purpose: the ward stream sends every changed tile twenty times a
second, and a dict is what the hub encodes. ``tests/service/test_views.py`` holds each builder to
its model (same keys, and the model accepts what the builder makes), so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from kmc_monitor.service.alarms import (
    AlarmAction,
    AlarmEvent,
    AlarmState,
    AlarmSubject,
    AlarmView,
    AuditRecord,
    BoardAlarmKind,
)
from kmc_monitor.service.engine import BedView, UnassignedWrap
from kmc_monitor.service.ward import StayDay, StaySession
from kmc_monitor.service.ward_model import Admission, DischargeStatus, KmcMode
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import Category, Priority
from kmc_monitor.signal.states import Band, Judging, SessionState

__all__ = [
    "AdmissionOut",
    "AlarmEventOut",
    "AlarmOut",
    "AuditOut",
    "BedOut",
    "SessionOut",
    "StayDayOut",
    "TileAlarmOut",
    "UnassignedWrapOut",
    "admission_json",
    "alarm_json",
    "audit_json",
    "bed_json",
    "event_json",
    "session_json",
    "stay_day_json",
    "unassigned_json",
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# Models --------------------------------------------------------------------------------------------
class TileAlarmOut(_Out):
    """One alarm on a ward tile: what a tile draws of it."""

    alarm_id: int
    kind: BoardAlarmKind
    priority: Priority
    state: AlarmState
    raised_us: int


class BedOut(_Out):
    """A ward tile: the bed, its baby and wrap, the temperature as the rules judge it, the session
    and the day's contact, the wrap's battery and signal, and the bed's alarms.

    ``band`` is null whenever the temperature is not judged (``judging`` says why): a screen must
    then not show a reassuring colour."""

    bed_id: str
    label: str
    position: int
    admission_id: int | None
    display_name: str | None
    wrap_id: str | None
    temperature_c: float | None
    band: Band | None
    judging: Judging
    contact: bool | None
    session_state: SessionState
    session_s: float
    contact_today_s: float
    rolling_24h_s: float
    daily_goal_s: float | None
    battery_pct: float | None
    rssi_dbm: float | None
    last_heard_s: float | None
    last_heard_us: int | None
    alarms: list[TileAlarmOut]


class UnassignedWrapOut(_Out):
    """A wrap heard on the ward but on no bed (pair it, or it is a neighbour's)."""

    wrap_id: str
    last_heard_us: int
    rssi_dbm: float | None


class AlarmOut(_Out):
    """An alarm as the board sees it now (the typed alarm snapshot). A ward-level alarm has neither
    bed nor wrap (both null, ``subject`` ``ward``); ``detail`` says in words what is wrong when the
    kind alone does not."""

    alarm_id: int
    kind: BoardAlarmKind
    subject: AlarmSubject
    category: Category
    priority: Priority
    state: AlarmState
    bed_id: str | None
    wrap_id: str | None
    detail: str | None
    raised_us: int
    ended_us: int | None
    acknowledged_us: int | None
    acknowledged_by: str | None
    escalated_us: int | None
    reminded_us: int | None
    cleared_us: int | None
    extreme_c: float | None


class AuditOut(_Out):
    """One line of the alarm audit log: who did what, when."""

    seq: int
    at_us: int
    who: str
    action: AlarmAction
    alarm_id: int | None
    screen_id: str | None
    detail: str


class AlarmEventOut(_Out):
    """One change of the alarm board on the ward stream (``alarm`` null for an audio pause)."""

    type: str = "alarm"
    action: AlarmAction
    at_us: int
    who: str
    alarm: AlarmOut | None
    screen_id: str | None
    until_us: int | None


class AdmissionOut(_Out):
    """An admission (staff only: it has the hospital number)."""

    admission_id: int
    bed_id: str
    display_name: str
    hospital_number: str | None
    birth_weight_g: int
    gestational_age: str
    daily_goal_s: float
    site_offset_c: float
    admitted_t: float
    admitted_by: str
    discharged_t: float | None
    discharged_by: str | None
    kmc_mode: KmcMode
    birth_t: float | None
    discharge_status: DischargeStatus | None


class SessionOut(_Out):
    """A skin-to-skin session: of a stay (``admission_id``), or as stored for the wrap (null)."""

    admission_id: int | None
    wrap_id: str
    start_us: int
    end_us: int
    duration_s: float
    contact_s: float
    short: bool


class StayDayOut(_Out):
    """One stay's contact on one ward-local day, against its daily goal."""

    day: str
    admission_id: int
    display_name: str
    daily_goal_s: float
    readings: int
    contact_s: float
    observed_s: float
    unknown_s: float
    goal_met: bool
    ongoing: bool


# Builders ------------------------------------------------------------------------------------------
def bed_json(v: BedView) -> dict[str, Any]:
    """A ward tile (:class:`BedOut`) as the ward stream and ``GET /api/beds`` send it."""
    return {
        "bed_id": v.bed_id,
        "label": v.label,
        "position": v.position,
        "admission_id": v.admission_id,
        "display_name": v.display_name,
        "wrap_id": v.wrap_id,
        "temperature_c": v.temperature_c,
        "band": v.band,
        "judging": v.judging,
        "contact": v.contact,
        "session_state": v.session_state,
        "session_s": v.session_s,
        "contact_today_s": v.contact_today_s,
        "rolling_24h_s": v.rolling_24h_s,
        "daily_goal_s": v.daily_goal_s,
        "battery_pct": v.battery_pct,
        "rssi_dbm": v.rssi_dbm,
        "last_heard_s": v.last_heard_s,
        "last_heard_us": v.last_heard_us,
        "alarms": [
            {
                "alarm_id": a.alarm_id,
                "kind": a.kind.value,
                "priority": a.priority.value,
                "state": a.state.value,
                "raised_us": a.raised_us,
            }
            for a in v.alarms
        ],
    }


def unassigned_json(u: UnassignedWrap) -> dict[str, Any]:
    """A wrap heard on no bed (:class:`UnassignedWrapOut`)."""
    return {"wrap_id": u.wrap_id, "last_heard_us": u.last_heard_us, "rssi_dbm": u.rssi_dbm}


def alarm_json(a: AlarmView, detail: str | None = None) -> dict[str, Any]:
    """An alarm (:class:`AlarmOut`) as the API and the ward stream send it. A ward-level alarm has
    neither bed nor wrap (both null); ``detail`` says in words what is wrong when the kind alone does
    not (the storage failure's cause and what happens to the readings meanwhile)."""
    return {
        "alarm_id": a.alarm_id,
        "kind": a.kind.value,
        "subject": a.subject.value,
        "category": a.category.value,
        "priority": a.priority.value,
        "state": a.state.value,
        "bed_id": a.bed_id,
        "wrap_id": a.wrap_id,
        "detail": detail,
        "raised_us": a.raised_us,
        "ended_us": a.ended_us,
        "acknowledged_us": a.acknowledged_us,
        "acknowledged_by": a.acknowledged_by,
        "escalated_us": a.escalated_us,
        "reminded_us": a.reminded_us,
        "cleared_us": a.cleared_us,
        "extreme_c": a.extreme_c,
    }


def admission_out(a: Admission) -> AdmissionOut:
    """An admission as the typed response model."""
    return AdmissionOut.model_validate(admission_json(a))


def admission_json(a: Admission) -> dict[str, Any]:
    """An admission (:class:`AdmissionOut`) as the API and the reports send it."""
    return {
        "admission_id": a.admission_id,
        "bed_id": a.bed_id,
        "display_name": a.display_name,
        "hospital_number": a.hospital_number,
        "birth_weight_g": a.birth_weight_g,
        "gestational_age": str(a.gestational_age),
        "daily_goal_s": a.daily_goal_s,
        "site_offset_c": a.site_offset_c,
        "admitted_t": a.admitted_t,
        "admitted_by": a.admitted_by,
        "discharged_t": a.discharged_t,
        "discharged_by": a.discharged_by,
        "kmc_mode": a.kmc_mode.value,
        "birth_t": a.birth_t,
        "discharge_status": None if a.discharge_status is None else a.discharge_status.value,
    }


def session_json(s: StaySession) -> dict[str, Any]:
    """A contact session of a stay (:class:`SessionOut`), as the history, the report and the CSV
    export give it."""
    return {
        "admission_id": s.admission_id,
        "wrap_id": s.wrap_id,
        "start_us": s.start_us,
        "end_us": s.end_us,
        "duration_s": (s.end_us - s.start_us) / US,
        "contact_s": s.contact_us / US,
        "short": s.short,
    }


def stay_day_json(d: StayDay) -> dict[str, Any]:
    """One stay's day against its goal (:class:`StayDayOut`)."""
    return {
        "day": d.day.isoformat(),
        "admission_id": d.admission_id,
        "display_name": d.display_name,
        "daily_goal_s": d.daily_goal_s,
        "readings": d.readings,
        "contact_s": d.contact_s,
        "observed_s": d.observed_s,
        "unknown_s": d.unknown_s,
        "goal_met": d.goal_met,
        "ongoing": d.ongoing,
    }


def audit_json(r: AuditRecord) -> dict[str, Any]:
    """One line of the alarm audit log (:class:`AuditOut`)."""
    return {
        "seq": r.seq,
        "at_us": r.at_us,
        "who": r.who,
        "action": str(r.action),
        "alarm_id": r.alarm_id,
        "screen_id": r.screen_id,
        "detail": r.detail,
    }


def event_json(e: AlarmEvent, detail: str | None = None) -> dict[str, Any]:
    """One board change on the ward stream (:class:`AlarmEventOut`)."""
    return {
        "type": "alarm",
        "action": e.action.value,
        "at_us": e.at_us,
        "who": e.who,
        "alarm": None if e.alarm is None else alarm_json(e.alarm, detail),
        "screen_id": e.screen_id,
        "until_us": e.until_us,
    }
