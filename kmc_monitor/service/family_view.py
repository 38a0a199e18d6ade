"""What a family's bedside page is told: one bed, in plain words, never more than a parent needs.

The family stream (``/ws/bed/<token>``) sends :class:`FamilyView` (as JSON) about once a second.
The page translates, so the model carries machine-readable states (enums) besides the English
``status`` line kept for older pages. The rules live here, in one pure module (no I/O, no clock:
the runtime passes how long the baby has been apart), so they can be tested bed state by bed state:

- ``temperature_status``: ``well`` only when nothing at all casts doubt on it (see
  :func:`temperature_status`): a false "warm and well" is the worst thing this page could say.
- ``nurse``: whether the family should call the nurse (``call``), or a nurse has acknowledged every
  open alarm of the bed and the family is told "the nurse knows and is coming" (``coming``, #14):
  asking a parent to call a nurse who is already on her way only sends the parent running.
- ``advice``: what the parent should do for the state the baby is in (#14): ``too_warm`` (the nurse
  will loosen the wrap; do not add blankets) or ``cold`` (keep the baby skin to skin, cover the back,
  call the nurse). Wrong advice is worse than none, so nothing is advised when the state is unclear.
- ``praise``: whether the page may encourage ("You are doing beautifully", the goal reached). Never
  while any alarm of the bed is open, whatever its kind: a cheer under a red banner reads as if the
  service had not noticed.
- ``guide``: the card of the KMC guide the moment calls for (:func:`guide_moment`, #19).
- ``bed_number``: the number in a bed label like "Bed 1", so each language can say "Giường 1"
  (the ward types its own labels; a label that is not "Bed <n>" is shown as typed).
"""

from __future__ import annotations

import enum
import re
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from kmc_monitor.service.alarms import AlarmState
from kmc_monitor.service.engine import BedView
from kmc_monitor.signal.report import AlarmKind, Category
from kmc_monitor.signal.states import Band, Judging, SessionState

__all__ = [
    "LONG_BREAK_S",
    "Advice",
    "FamilyView",
    "GuideCard",
    "GuideMoment",
    "Moment",
    "NurseStatus",
    "SessionState",
    "TemperatureStatus",
    "bed_number",
    "family_json",
    "family_view",
    "guide_moment",
    "temperature_status",
]

#: Out of skin-to-skin this long (seen by this process) and the family page brings the
#: positioning card forward again ("hold your baby again"): WHO's KMC guidance asks for contact as
#: continuous as possible, and a three-hour break is about one feeding interval.
LONG_BREAK_S: Final = 3 * 3600.0

#: Alarm kinds that say nothing about the baby's temperature: only these leave "well" possible. A
#: kind added to the catalogue later is doubt until someone decides otherwise.
_NOT_ABOUT_TEMPERATURE: Final = frozenset(
    {AlarmKind.LOW_BATTERY, AlarmKind.LOW_DAILY_CONTACT, AlarmKind.COOLING_TREND}
)
_COLD_BANDS: Final = frozenset({Band.COLD_STRESS, Band.HYPOTHERMIA_MODERATE, Band.HYPOTHERMIA_SEVERE})
#: "Bed 1", "bed 12", "BED 3", or just "4": a label whose number each language can say its way.
_BED_LABEL: Final = re.compile(r"^\s*(?:bed\s*)?(\d{1,4})\s*$", re.IGNORECASE)


class TemperatureStatus(enum.StrEnum):
    WELL = "well"
    CALL_NURSE = "call_nurse"
    UNKNOWN = "unknown"


class NurseStatus(enum.StrEnum):
    """Whether the family is asked to call the nurse, or told the nurse is coming."""

    #: No open alarm on the bed.
    NONE = "none"
    #: An open alarm nobody has acknowledged yet (active or latched): "Please call your nurse".
    CALL = "call"
    #: Every open alarm acknowledged by a nurse: "The nurse knows and is coming".
    COMING = "coming"


class Advice(enum.StrEnum):
    """What the parent is asked to do for the baby's state (the page words it)."""

    TOO_WARM = "too_warm"
    COLD = "cold"


class Moment(enum.StrEnum):
    COLD_ALARM = "cold_alarm"
    BEFORE_DISCHARGE = "before_discharge"
    FIRST_SESSION = "first_session"
    LONG_BREAK = "long_break"


class GuideCard(enum.StrEnum):
    POSITIONING = "positioning"
    WRAP_AND_HAT = "wrap_and_hat"
    FEEDING = "feeding"
    KEEPING_WARM = "keeping_warm"
    DANGER_SIGNS = "danger_signs"


class GuideMoment(BaseModel):
    """The guide card the moment calls for, and the moment (the page says why it came forward)."""

    model_config = ConfigDict(frozen=True)

    moment: Moment
    card: GuideCard


class FamilyView(BaseModel):
    """One message of the family stream: what the family page of one bed receives."""

    model_config = ConfigDict(frozen=True)

    type: Literal["bed"] = "bed"
    label: str
    bed_number: int | None
    admitted: bool
    #: The family's own baby, as the nurses entered it: the only name this stream ever carries.
    display_name: str | None
    in_contact: bool
    session_state: SessionState
    session_s: float
    #: Today's hours against the goal as the baby's KMC mode counts them (intermittent: only
    #: sessions of at least an hour), and whether the running session adds to them as it goes.
    contact_today_s: float
    today_counts_running: bool
    daily_goal_s: float | None
    temperature_status: TemperatureStatus
    nurse: NurseStatus
    advice: Advice | None
    praise: bool
    #: English, for pages older than the translated states.
    status: str
    guide: GuideMoment | None


def bed_number(label: str) -> int | None:
    """The number of a "Bed <n>" label (or a bare number), None for any other label."""
    m = _BED_LABEL.match(label)
    return None if m is None else int(m.group(1))


def temperature_status(v: BedView) -> TemperatureStatus:
    """``well`` only when the temperature is judged, in the normal band, with no temperature alarm
    and no sensor alarm on the bed. Any physiological alarm (latched or acknowledged too), a cooling
    trend, or a band outside normal is ``call_nurse``, which wins over ``unknown`` (no data,
    detached, settling, no wrap, not admitted) because the nurses must hear from the parent even when
    the sensor has since gone quiet."""
    if v.admission_id is None:
        return TemperatureStatus.UNKNOWN
    kinds = {a.kind for a in v.alarms}
    # A cooling trend is advisory on the ward, but it is about warmth: never "warm and well" then.
    worrying = any(k.category is Category.PHYSIOLOGICAL or k is AlarmKind.COOLING_TREND for k in kinds)
    # A sensor alarm may outlive the reading that ended it by a tick; until it ends, not "well".
    sensor_doubt = bool(kinds - _NOT_ABOUT_TEMPERATURE)
    if worrying or (v.band is not None and v.band != Band.NORMAL):
        return TemperatureStatus.CALL_NURSE
    if v.judging == Judging.JUDGED and v.band == Band.NORMAL and not sensor_doubt:
        return TemperatureStatus.WELL
    return TemperatureStatus.UNKNOWN


def nurse_status(v: BedView) -> NurseStatus:
    """``coming`` once a nurse has acknowledged every open alarm of the bed; ``call`` while one is
    unacknowledged (a latched alarm too: nobody has seen it); ``none`` without open alarms."""
    states = [a.state for a in v.alarms if a.state is not AlarmState.CLEARED]
    if not states:
        return NurseStatus.NONE
    if all(s is AlarmState.ACKNOWLEDGED for s in states):
        return NurseStatus.COMING
    return NurseStatus.CALL


def advice(v: BedView) -> Advice | None:
    """Cold wins over warm (a cold baby needs the parent now; both at once means a sensor in doubt,
    and keeping the baby skin to skin is safe either way). From the alarms first, then the band."""
    if v.admission_id is None:
        return None
    kinds = {a.kind for a in v.alarms}
    if any(k.is_cold for k in kinds) or v.band in _COLD_BANDS:
        return Advice.COLD
    if AlarmKind.HYPERTHERMIA in kinds or v.band == Band.HYPERTHERMIA:
        return Advice.TOO_WARM
    return None


def guide_moment(v: BedView, *, apart_s: float | None, going_home: bool) -> GuideMoment | None:
    """Which card of the family page's KMC guide comes forward now, and why (#19); None: none.

    The rule, first match wins (documented in ``docs/family-guide.md``): a cold alarm on the bed
    (active, acknowledged or latched) brings *keeping warm* with "keep your baby skin to skin, cover
    the head, call the nurse"; a discharge checklist that the nurse has started brings *danger signs*
    (the days before going home); no skin-to-skin in the last 24 hours and none now brings
    *positioning* (the first session: how to hold your baby); apart for :data:`LONG_BREAK_S` or
    more brings *positioning* again (a long break). Nothing is brought forward for a bed with no
    baby. The cold card wins over everything: it is the one that asks the family to act now.
    """
    if v.admission_id is None:
        return None
    if any(a.kind.is_cold for a in v.alarms):
        return GuideMoment(moment=Moment.COLD_ALARM, card=GuideCard.KEEPING_WARM)
    if going_home:
        return GuideMoment(moment=Moment.BEFORE_DISCHARGE, card=GuideCard.DANGER_SIGNS)
    in_contact = v.session_state in (SessionState.RUNNING, SessionState.PAUSED)
    if not in_contact and v.rolling_24h_s <= 0 and v.contact_today_s <= 0:
        return GuideMoment(moment=Moment.FIRST_SESSION, card=GuideCard.POSITIONING)
    if not in_contact and apart_s is not None and apart_s >= LONG_BREAK_S:
        return GuideMoment(moment=Moment.LONG_BREAK, card=GuideCard.POSITIONING)
    return None


def _status_line(v: BedView, nurse: NurseStatus) -> str:
    if v.admission_id is None:
        return "This bed has no baby admitted."
    if nurse is NurseStatus.COMING:
        return "The nurse knows and is coming."
    if nurse is NurseStatus.CALL:
        return "The nurses have been alerted. Please call your nurse."
    if v.judging in (Judging.NO_DATA, Judging.NO_WRAP):
        return "The wrap is not sending right now; the nurses know."
    if v.contact:
        return "Skin-to-skin contact: the timer is running."
    return "Not in skin-to-skin contact right now."


def family_view(v: BedView, *, apart_s: float | None = None, going_home: bool = False) -> FamilyView:
    """The family page's view of bed ``v`` (``apart_s``: how long the stay has been out of contact as
    the runtime saw it; ``going_home``: the nurse has started the discharge checklist)."""
    admitted = v.admission_id is not None
    nurse = nurse_status(v) if admitted else NurseStatus.NONE
    session_state = (
        SessionState(v.session_state)
        if admitted and v.session_state in (SessionState.RUNNING, SessionState.PAUSED)
        else SessionState.NONE
    )
    return FamilyView(
        label=v.label,
        bed_number=bed_number(v.label),
        admitted=admitted,
        display_name=v.display_name if admitted else None,
        in_contact=bool(v.contact),
        session_state=session_state,
        session_s=v.session_s,
        contact_today_s=v.contact_today_s if v.goal_contact_today_s is None else v.goal_contact_today_s,
        today_counts_running=v.goal_counts_running,
        daily_goal_s=v.daily_goal_s,
        temperature_status=temperature_status(v),
        nurse=nurse,
        advice=advice(v),
        praise=admitted and not v.alarms,
        status=_status_line(v, nurse),
        guide=guide_moment(v, apart_s=apart_s, going_home=going_home),
    )


def family_json(v: BedView, *, apart_s: float | None = None, going_home: bool = False) -> dict[str, Any]:
    """:func:`family_view` as the JSON object the hub publishes on the bed's channel."""
    return family_view(v, apart_s=apart_s, going_home=going_home).model_dump(mode="json")
