"""HL7 v2.6 messages of the IHE Patient Care Device profiles: PCD-01, PCD-04, the watchdog, the ACK.

Bytes-free and I/O-free: values in, ER7 text out (segments separated by ``\\r``), built and checked
with hl7apy against HL7 v2.6's message structures, so a message that would not parse at the
hospital's interface engine fails here, in a test, instead of there. ``docs/hl7.md`` gives the field
by field mapping and the reasons.

- **PCD-01** ``ORU^R01^ORU_R01``: one bed's observations (skin temperature in ``MDC_DIM_DEGC``,
  skin-to-skin contact, the running session, today's and the rolling 24 h contact, battery), and a
  finished session's summary when one ends.
- **PCD-04** ``ORU^R40^ORU_R01``: one alarm event (HL7 v2.6 has no ORU_R40 structure; IHE PCD-04
  uses ORU_R01's) with its facets as separate OBX segments: the alarm, its source, event phase,
  alarm state, inactivation state, priority (PL/PM/PH) and alert type (SP/ST/SA).
- **Watchdog** ``ORU^R40^ORU_R01``: a keep-alive the interface engine acknowledges like any message;
  a missed acknowledgement is how this service learns the link is down.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, ParamSpec

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Group, Message
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from kmc_monitor.errors import KmcError
from kmc_monitor.service.alarms import AlarmState, AlarmView, BoardAlarmKind
from kmc_monitor.service.fhir import ALARM_DISPLAY
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import Category, Priority
from kmc_monitor.signal.states import Band, Judging, SessionState

__all__ = [
    "HL7_VERSION",
    "Ack",
    "AlarmReport",
    "BedObservation",
    "EventPhase",
    "Hl7Error",
    "Identity",
    "Patient",
    "SessionSummary",
    "alarm_report",
    "build_ack",
    "build_pcd01",
    "build_pcd04",
    "build_watchdog",
    "parse",
    "parse_ack",
]

_P = ParamSpec("_P")
HL7_VERSION: Final = "2.6"
#: IHE PCD's message profile identifiers (MSH-21): DEC's PCD-01 and ACM's PCD-04.
_PROFILE_PCD01: Final = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
_PROFILE_PCD04: Final = "IHE_PCD_ACM_001^IHE PCD ACM^1.3.6.1.4.1.19376.1.6.4.4^ISO"
#: Local codes (HL7 reserves coding systems starting with 99 for local use) for what the ISO/IEEE
#: 11073 nomenclature has no term for: skin-to-skin contact and its sessions, the wrap's alarms.
LOCAL: Final = "99KMC"
#: ISO/IEEE 11073-10101 terms used (code^name^MDC).
MDC_TEMP_SKIN: Final = "150388^MDC_TEMP_SKIN^MDC"
MDC_DIM_DEGC: Final = "268192^MDC_DIM_DEGC^MDC"
MDC_DIM_SEC: Final = "264320^MDC_DIM_SEC^MDC"
MDC_DIM_PERCENT: Final = "262688^MDC_DIM_PERCENT^MDC"
MDC_EVT_ALARM: Final = "196616^MDC_EVT_ALARM^MDC"
MDC_ATTR_ALERT_SOURCE: Final = "68480^MDC_ATTR_ALERT_SOURCE^MDC"
MDC_ATTR_EVENT_PHASE: Final = "68481^MDC_ATTR_EVENT_PHASE^MDC"
MDC_ATTR_ALARM_STATE: Final = "68482^MDC_ATTR_ALARM_STATE^MDC"
MDC_ATTR_ALARM_INACTIVATION_STATE: Final = "68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC"
MDC_ATTR_ALARM_PRIORITY: Final = "68484^MDC_ATTR_ALARM_PRIORITY^MDC"
MDC_ATTR_ALERT_TYPE: Final = "68485^MDC_ATTR_ALERT_TYPE^MDC"
#: OBR-4 of every message: SNOMED CT "monitoring of patient".
_OBR_SERVICE: Final = "182777000^monitoring of patient^SCT"
_WATCHDOG_CODE: Final = f"keep_alive^Interface keep-alive^{LOCAL}"

_PRIORITY: Final = {Priority.HIGH: "PH", Priority.MEDIUM: "PM", Priority.LOW: "PL"}
_ALERT_TYPE: Final = {Category.PHYSIOLOGICAL: "SP", Category.TECHNICAL: "ST", Category.ADVISORY: "SA"}
_ALARM_TEXT: Final = ALARM_DISPLAY


class Hl7Error(KmcError):
    """A message that cannot be built or parsed as HL7 v2.6 (the reason says which field)."""


class EventPhase(enum.StrEnum):
    """ACM's event phase (MDC_ATTR_EVENT_PHASE) of an alarm message."""

    START = "start"
    UPDATE = "update"
    END = "end"
    CONTINUE = "continue"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sends (MSH-3/4) and to whom (MSH-5/6): the ward service and its hospital's engine."""

    application: str = "KMC_MONITOR"
    facility: str = "KMC ward"
    receiving_application: str = ""
    receiving_facility: str = ""


@dataclass(frozen=True, slots=True)
class Patient:
    """The baby an observation or alarm is about: PID and PV1.

    ``hospital_number`` is the medical record number when the ward entered it; the admission id
    always goes too (the stay, PV1-19), so the engine can match a baby admitted without one.
    """

    admission_id: int
    display_name: str
    hospital_number: str | None
    bed_id: str
    bed_label: str
    ward_name: str


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A finished skin-to-skin session (sent once, when it ends)."""

    start_us: int
    end_us: int

    @property
    def duration_s(self) -> float:
        return (self.end_us - self.start_us) / US


@dataclass(frozen=True, slots=True)
class BedObservation:
    """One bed's observations at ``at_us``: what its tile shows, in numbers.

    ``temperature_c`` is the smoothed core-equivalent temperature the bands are judged on, None when
    it is not judged (``judging`` says why; sent as such so the receiver cannot take silence for a
    normal value).
    """

    at_us: int
    wrap_id: str | None
    temperature_c: float | None
    band: Band | None
    judging: Judging
    contact: bool | None
    session_state: SessionState
    session_s: float
    contact_today_s: float
    rolling_24h_s: float
    battery_pct: float | None
    ended_session: SessionSummary | None = None


@dataclass(frozen=True, slots=True)
class AlarmReport:
    """One alarm event as PCD-04 carries it (see :func:`alarm_report`)."""

    alarm_id: int
    kind: BoardAlarmKind
    phase: EventPhase
    #: ``active``, ``inactive`` or ``latched`` (MDC_ATTR_ALARM_STATE).
    state: str
    #: ``enabled`` or ``alert-acknowledged`` (MDC_ATTR_ALARM_INACTIVATION_STATE).
    inactivation: str
    priority: Priority
    at_us: int
    raised_us: int
    wrap_id: str | None
    extreme_c: float | None


@dataclass(frozen=True, slots=True)
class Ack:
    """An acknowledgement's MSA: its code (AA, AE, AR; CA, CE, CR), the message it answers, text."""

    code: str
    control_id: str
    text: str

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


def alarm_report(alarm: AlarmView, phase: EventPhase, at_us: int, wrap_id: str | None) -> AlarmReport:
    """The PCD-04 facets of ``alarm`` after an event of the given phase."""
    if phase is EventPhase.END or alarm.state is AlarmState.CLEARED:
        state = "latched" if alarm.state is AlarmState.LATCHED else "inactive"
    else:
        state = "latched" if alarm.state is AlarmState.LATCHED else "active"
    inactivation = "alert-acknowledged" if alarm.acknowledged_us is not None else "enabled"
    return AlarmReport(
        alarm_id=alarm.alarm_id,
        kind=alarm.kind,
        phase=phase,
        state=state,
        inactivation=inactivation,
        priority=alarm.priority,
        at_us=at_us,
        raised_us=alarm.raised_us,
        wrap_id=wrap_id,
        extreme_c=alarm.extreme_c,
    )


# Building ------------------------------------------------------------------------------------------
def _ts(at_us: int) -> str:
    """HL7 DTM to the millisecond with the UTC offset (IHE PCD asks for the offset)."""
    t = dt.datetime.fromtimestamp(at_us / US, dt.UTC)
    return t.strftime("%Y%m%d%H%M%S.") + f"{t.microsecond // 1000:03d}+0000"


def _escape(text: str) -> str:
    """Text as an HL7 field value: the delimiters escaped, line breaks made spaces."""
    out = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    out = out.replace("&", "\\T\\").replace("~", "\\R\\")
    return " ".join(out.split())


def _msh(msg: Message, ident: Identity, event: str, control_id: str, at_us: int, profile: str) -> None:
    msh = msg.msh
    msh.msh_3 = _escape(ident.application)
    msh.msh_4 = _escape(ident.facility)
    if ident.receiving_application:
        msh.msh_5 = _escape(ident.receiving_application)
    if ident.receiving_facility:
        msh.msh_6 = _escape(ident.receiving_facility)
    msh.msh_7 = _ts(at_us)
    msh.msh_9 = f"ORU^{event}^ORU_R01"
    msh.msh_10 = control_id
    msh.msh_11 = "P"
    msh.msh_12 = HL7_VERSION
    # Enhanced mode: the engine's accept acknowledgement is what the outbound queue waits for.
    msh.msh_15 = "AL"
    msh.msh_16 = "NE"
    msh.msh_18 = "UNICODE UTF-8"
    msh.msh_21 = profile


def _patient(result: Group, patient: Patient) -> None:
    grp = result.add_group("ORU_R01_PATIENT")
    ids = []
    if patient.hospital_number:
        ids.append(f"{_escape(patient.hospital_number)}^^^{_escape(patient.ward_name)}^MR")
    ids.append(f"A{patient.admission_id}^^^KMC_MONITOR^PI")
    for cx in ids:  # one repetition each
        grp.pid.add_field("pid_3").value = cx
    grp.pid.pid_5 = _escape(patient.display_name)
    visit = grp.add_group("ORU_R01_VISIT")
    visit.pv1.pv1_2 = "I"
    visit.pv1.pv1_3 = f"{_escape(patient.ward_name)}^^{_escape(patient.bed_label)}"
    visit.pv1.pv1_19 = f"A{patient.admission_id}^^^KMC_MONITOR^VN"


def _order(result: Group, filler: str, at_us: int) -> Group:
    order = result.add_group("ORU_R01_ORDER_OBSERVATION")
    order.obr.obr_1 = "1"
    order.obr.obr_3 = f"{filler}^KMC_MONITOR"
    order.obr.obr_4 = _OBR_SERVICE
    order.obr.obr_7 = _ts(at_us)
    return order


class _Obx:
    """Adds OBX segments to one order, numbering them (OBX-1) as it goes."""

    def __init__(self, order: Group, at_us: int, equipment: str | None) -> None:
        self.order = order
        self.at = _ts(at_us)
        self.equipment = equipment
        self.n = itertools.count(1)

    def add(
        self,
        value_type: str,
        code: str,
        sub_id: str,
        value: str | None,
        *,
        units: str | None = None,
        ref_range: str | None = None,
        flags: tuple[str, ...] = (),
        status: str = "F",
    ) -> None:
        obx = self.order.add_group("ORU_R01_OBSERVATION").obx
        obx.obx_1 = str(next(self.n))
        obx.obx_2 = value_type
        obx.obx_3 = code
        obx.obx_4 = sub_id
        if value is not None:
            obx.obx_5 = value
        if units is not None:
            obx.obx_6 = units
        if ref_range is not None:
            obx.obx_7 = ref_range
        for flag in flags:  # one repetition each (priority, alarm type, abnormality)
            obx.add_field("obx_8").value = flag
        obx.obx_11 = status
        obx.obx_14 = self.at
        if self.equipment is not None:
            obx.obx_18 = f"{_escape(self.equipment)}^KMC_MONITOR"


def _finish(msg: Message) -> str:
    msg.validate()
    return str(msg.to_er7())


def _checked(build: Callable[_P, str]) -> Callable[_P, str]:
    """A builder whose library errors become :class:`Hl7Error` (with the library's reason)."""

    @functools.wraps(build)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> str:
        try:
            return build(*args, **kwargs)
        except (HL7apyException, ValueError) as exc:
            raise Hl7Error(f"the HL7 message could not be built: {exc}") from None

    return checked


@_checked
def build_pcd01(
    control_id: str, ident: Identity, patient: Patient, obs: BedObservation, ref_range: str = "36.5-37.5"
) -> str:
    """PCD-01 (``ORU^R01``) with one bed's observations; see the module docstring."""
    msg = Message("ORU_R01", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    _msh(msg, ident, "R01", control_id, obs.at_us, _PROFILE_PCD01)
    result = msg.add_group("ORU_R01_PATIENT_RESULT")
    _patient(result, patient)
    order = _order(result, f"{patient.admission_id}-{control_id}", obs.at_us)
    obx = _Obx(order, obs.at_us, obs.wrap_id)
    if obs.temperature_c is not None:
        flag = {"normal": "N", "hyperthermia": "H"}.get(obs.band or "", "L")
        obx.add(
            "NM",
            MDC_TEMP_SKIN,
            "1.1.1.1",
            f"{obs.temperature_c:.2f}",
            units=MDC_DIM_DEGC,
            ref_range=ref_range,
            flags=(flag,),
        )
    else:
        # Not judged (no data, detached, settling): said so, never left out silently.
        obx.add("NM", MDC_TEMP_SKIN, "1.1.1.1", None, units=MDC_DIM_DEGC, status="X")
        obx.add("ST", f"judging^Temperature not judged^{LOCAL}", "1.1.1.2", _escape(obs.judging))
    if obs.contact is None:
        obx.add("CWE", f"contact^Skin-to-skin contact^{LOCAL}", "1.1.2.1", None, status="X")
    else:
        value = "Y^Yes^HL70136" if obs.contact else "N^No^HL70136"
        obx.add("CWE", f"contact^Skin-to-skin contact^{LOCAL}", "1.1.2.1", value)
    obx.add("ST", f"session_state^Session state^{LOCAL}", "1.1.2.2", obs.session_state)
    obx.add("NM", f"session_s^Current session^{LOCAL}", "1.1.2.3", f"{obs.session_s:.0f}", units=MDC_DIM_SEC)
    obx.add(
        "NM",
        f"contact_today_s^Contact today^{LOCAL}",
        "1.1.2.4",
        f"{obs.contact_today_s:.0f}",
        units=MDC_DIM_SEC,
    )
    obx.add(
        "NM",
        f"contact_24h_s^Contact in the last 24 h^{LOCAL}",
        "1.1.2.5",
        f"{obs.rolling_24h_s:.0f}",
        units=MDC_DIM_SEC,
    )
    if obs.ended_session is not None:
        s = obs.ended_session
        obx.add("DTM", f"session_start^Session start^{LOCAL}", "1.1.3.1", _ts(s.start_us))
        obx.add("DTM", f"session_end^Session end^{LOCAL}", "1.1.3.2", _ts(s.end_us))
        obx.add(
            "NM",
            f"session_duration_s^Session duration^{LOCAL}",
            "1.1.3.3",
            f"{s.duration_s:.0f}",
            units=MDC_DIM_SEC,
        )
    if obs.battery_pct is not None:
        obx.add(
            "NM",
            f"battery_pct^Wrap battery^{LOCAL}",
            "1.2.1.1",
            f"{obs.battery_pct:.0f}",
            units=MDC_DIM_PERCENT,
        )
    return _finish(msg)


@_checked
def build_pcd04(control_id: str, ident: Identity, patient: Patient | None, report: AlarmReport) -> str:
    """PCD-04 (``ORU^R40``) for one alarm event; ``patient`` None for a ward-level alarm."""
    msg = Message("ORU_R01", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    _msh(msg, ident, "R40", control_id, report.at_us, _PROFILE_PCD04)
    result = msg.add_group("ORU_R01_PATIENT_RESULT")
    if patient is not None:
        _patient(result, patient)
    # OBR-3 names the alarm (the same for all its phases); OBR-7 is when it was raised.
    order = result.add_group("ORU_R01_ORDER_OBSERVATION")
    order.obr.obr_1 = "1"
    order.obr.obr_3 = f"alarm-{report.alarm_id}^KMC_MONITOR"
    order.obr.obr_4 = "196616^MDC_EVT_ALARM^MDC"
    order.obr.obr_7 = _ts(report.raised_us)
    obx = _Obx(order, report.at_us, report.wrap_id)
    kind = report.kind
    abnormal = {True: "L", False: "H"}.get(kind.is_cold) if kind.has_extreme else None
    flags = tuple(f for f in (abnormal, _PRIORITY[report.priority], _ALERT_TYPE[kind.category]) if f)
    sub = "1.1.1.1"
    obx.add(
        "CWE",
        MDC_EVT_ALARM,
        f"{sub}.1",
        f"{kind.value}^{_ALARM_TEXT.get(kind, kind.value)}^{LOCAL}",
        flags=flags,
    )
    if kind.has_extreme and report.extreme_c is not None:
        obx.add("NM", MDC_TEMP_SKIN, f"{sub}.2", f"{report.extreme_c:.2f}", units=MDC_DIM_DEGC)
    else:
        source = "ward^Ward service" if report.wrap_id is None else f"wrap^Wrap {_escape(report.wrap_id)}"
        obx.add("CWE", MDC_ATTR_ALERT_SOURCE, f"{sub}.2", f"{source}^{LOCAL}")
    obx.add("ST", MDC_ATTR_EVENT_PHASE, f"{sub}.3", report.phase.value)
    obx.add("ST", MDC_ATTR_ALARM_STATE, f"{sub}.4", report.state)
    obx.add("ST", MDC_ATTR_ALARM_INACTIVATION_STATE, f"{sub}.5", report.inactivation)
    obx.add("ST", MDC_ATTR_ALARM_PRIORITY, f"{sub}.6", _PRIORITY[report.priority])
    obx.add("ST", MDC_ATTR_ALERT_TYPE, f"{sub}.7", _ALERT_TYPE[kind.category])
    return _finish(msg)


@_checked
def build_watchdog(control_id: str, ident: Identity, at_us: int) -> str:
    """The watchdog keep-alive: an ``ORU^R40`` with no patient and one ``continue`` facet of a
    local "keep-alive" event (priority PN: not an alarm), acknowledged like any message."""
    msg = Message("ORU_R01", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    _msh(msg, ident, "R40", control_id, at_us, _PROFILE_PCD04)
    result = msg.add_group("ORU_R01_PATIENT_RESULT")
    order = _order(result, f"watchdog-{control_id}", at_us)
    obx = _Obx(order, at_us, None)
    obx.add("CWE", MDC_EVT_ALARM, "0.0.0.0.1", _WATCHDOG_CODE, flags=("PN", "ST"))
    obx.add("ST", MDC_ATTR_EVENT_PHASE, "0.0.0.0.3", EventPhase.CONTINUE.value)
    obx.add("ST", MDC_ATTR_ALARM_STATE, "0.0.0.0.4", "inactive")
    obx.add("ST", MDC_ATTR_ALARM_PRIORITY, "0.0.0.0.6", "PN")
    obx.add("ST", MDC_ATTR_ALERT_TYPE, "0.0.0.0.7", "ST")
    return _finish(msg)


# Parsing -------------------------------------------------------------------------------------------
def parse(text: str) -> Message:
    """An ER7 message parsed and validated strictly as HL7 v2.6 (an :class:`Hl7Error` if not)."""
    try:
        msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        msg.validate()
    except HL7apyException as exc:
        raise Hl7Error(f"not a valid HL7 v2.6 message: {exc}") from None
    return msg


@_checked
def build_ack(message: str, code: str = "AA", control_id: str = "ACK", text: str = "") -> str:
    """An acknowledgement of ``message`` (what an interface engine answers; used by tests)."""
    received = parse_message(message, find_groups=False)
    answered = received.msh.msh_10.value
    event = received.msh.msh_9.msh_9_2.value
    ack = Message("ACK", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    ack.msh.msh_3 = "ENGINE"
    ack.msh.msh_7 = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S+0000")
    ack.msh.msh_9 = f"ACK^{event}^ACK"
    ack.msh.msh_10 = control_id
    ack.msh.msh_11 = "P"
    ack.msh.msh_12 = HL7_VERSION
    ack.msa.msa_1 = code
    ack.msa.msa_2 = answered
    if text:
        ack.add_segment("ERR")
        ack.err.err_3 = "207^Application internal error^HL70357"
        ack.err.err_4 = "E"
        ack.err.err_8 = _escape(text)
    return _finish(ack)


def parse_ack(text: str) -> Ack:
    """The MSA of an acknowledgement (an :class:`Hl7Error` for anything that is not one)."""
    try:
        msg = parse_message(text, find_groups=False)
        msa = msg.msa
        code = msa.msa_1.value
        control_id = msa.msa_2.value
    except (HL7apyException, AttributeError, IndexError) as exc:
        raise Hl7Error(f"the interface engine's answer is not an HL7 acknowledgement: {exc}") from None
    if code not in ("AA", "AE", "AR", "CA", "CE", "CR"):
        raise Hl7Error(f"the acknowledgement code {code!r} is not one of AA, AE, AR, CA, CE, CR")
    detail = ""
    err = msg.children.get("ERR") if hasattr(msg.children, "get") else None
    if err:
        detail = err[0].to_er7()
    return Ack(code, control_id, detail)
