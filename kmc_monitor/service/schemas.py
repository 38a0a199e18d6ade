"""Request bodies and response shapes of the HTTP API: validated once, here, at the edge.

Field errors come back as 422 with the field named and a sentence saying what is expected, so a
nurse at the ward screen or an engineer with ``curl`` can correct the request.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kmc_monitor.service.alarms import AlarmState, AlarmSubject
from kmc_monitor.service.views import AdmissionOut, AlarmOut, AuditOut, SessionOut, StayDayOut, TileAlarmOut
from kmc_monitor.service.ward_model import DischargeStatus
from kmc_monitor.signal.report import Category, Priority
from kmc_monitor.signal.states import Band, Judging, SessionState

__all__ = [
    "AckBody",
    "AdmitBody",
    "AdmittedOut",
    "AlarmParamsOut",
    "AssignWrapBody",
    "BedChangeOut",
    "BedDetailOut",
    "BedWrapOut",
    "CounterResetOut",
    "DayOut",
    "DaysOut",
    "FamilyLinkOut",
    "ForgottenOut",
    "HistoryAlarmOut",
    "HistoryOut",
    "HistoryReadingOut",
    "RevokedOut",
    "SignedInOut",
    "SignedOutOut",
    "WrapAuditOut",
    "WrapKeyOut",
    "BedBody",
    "HeardWrapOut",
    "PauseBody",
    "PauseOut",
    "SettingsOut",
    "SwapWrapsBody",
    "TrendBinOut",
    "TrendOut",
    "WrapBody",
    "WrapOut",
    "WrapsOut",
]

_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}$")
_MAC_RE: Final = re.compile(r"^[0-9A-Fa-f]{2}(?:([:-]?)[0-9A-Fa-f]{2})(?:\1[0-9A-Fa-f]{2}){4}$")
_KEY_RE: Final = re.compile(r"^[0-9A-Fa-f]{32}$")

Id = Annotated[str, Field(min_length=1, max_length=32, description="letters, digits, ' ', '.', '_', '-'")]


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(
            "use 1 to 32 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
        )
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FamilyMemberBody(_Body):
    """A caregiver named at admission: the mother, the father, or a family member by name."""

    role: Literal["mother", "father", "family"]
    name: Annotated[str, Field(max_length=64)] = ""


class AdmitBody(_Body):
    """Admit a baby to a free bed (optionally putting a wrap on the bed at once)."""

    bed_id: Annotated[str, Field(min_length=1, max_length=32)]
    display_name: Annotated[str, Field(min_length=1, max_length=64, description="name shown on the ward")]
    birth_weight_g: Annotated[int, Field(ge=200, le=7000, description="grams, e.g. 1850")]
    gestational_age_weeks: Annotated[int, Field(ge=22, le=44)]
    gestational_age_days: Annotated[int, Field(ge=0, le=6)] = 0
    hospital_number: Annotated[str | None, Field(max_length=32)] = None
    daily_goal_s: Annotated[float | None, Field(ge=3600, le=86400, description="1 to 24 h, in s")] = None
    site_offset_c: Annotated[float, Field(ge=-3.0, le=3.0)] = 0.0
    wrap_id: Annotated[str | None, Field(min_length=1, max_length=32)] = None
    #: Continuous KMC (default goal 20 h a day) or intermittent (the baby's own goal is required).
    kmc_mode: Literal["continuous", "intermittent"] = "continuous"
    #: Birth time, seconds since the Unix epoch (for the time from birth to first skin-to-skin).
    birth_t: Annotated[float | None, Field(ge=1_420_070_400, le=4_102_444_800)] = None
    #: Caregivers who may hold the baby besides the mother (and the mother by name if wished).
    family: Annotated[list[FamilyMemberBody], Field(max_length=8)] = []


class DischargeBody(_Body):
    """How the stay ended (optional at discharge; can be recorded later)."""

    status: DischargeStatus | None = None


class AckBody(_Body):
    """Who acknowledges (a name for the audit trail); the token's staff id when left out."""

    who: Annotated[str | None, Field(min_length=1, max_length=64)] = None


class PauseBody(AckBody):
    """Who pauses a screen's audio."""


class BedBody(_Body):
    """A new bed: its id (as printed on the bed), the label the screen shows, its place on screen."""

    bed_id: Id
    label: Annotated[str | None, Field(min_length=1, max_length=64, description="default: the id")] = None
    position: Annotated[int, Field(ge=0, le=10_000, description="screen order, smallest first")] = 0

    _id = field_validator("bed_id")(_check_id)


class WrapBody(_Body):
    """Register a wrap: its id (printed on it), its Bluetooth MAC and, for encrypted wraps, its key."""

    wrap_id: Id
    mac: Annotated[str, Field(description="e.g. A4:C1:38:8D:18:B9 (':' or '-' or no separators)")]
    key: Annotated[
        str | None,
        Field(description="the wrap's BTHome key: 32 hex digits; leave out for a keyless bench wrap"),
    ] = None

    _id = field_validator("wrap_id")(_check_id)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        if not _MAC_RE.match(value):
            raise ValueError(
                f"{value!r} is not a MAC address: give six pairs of hex digits, e.g. A4:C1:38:8D:18:B9"
            )
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not _KEY_RE.match(value):
            # The value is a secret: the message says what is wrong without repeating it.
            raise ValueError(f"the key must be exactly 32 hex digits (0-9, a-f); got {len(value)} characters")
        return value


class AssignWrapBody(_Body):
    """Put a registered wrap on this bed; ``replace`` takes the bed's current wrap off first."""

    wrap_id: Id
    replace: Annotated[bool, Field(description="swap out the bed's current wrap (a flat battery)")] = False


class SwapWrapsBody(_Body):
    """Exchange the wraps of two beds at one instant (one of them may have none)."""

    bed_a: Id
    bed_b: Id

    @model_validator(mode="after")
    def _two_beds(self) -> SwapWrapsBody:
        if self.bed_a == self.bed_b:
            raise ValueError(f"swapping needs two different beds; got {self.bed_a} twice")
        return self


# Responses -----------------------------------------------------------------------------------------
class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class WrapOut(_Out):
    """A registered wrap: whether it has a key (never the key), its bed, and what was last heard."""

    wrap_id: str
    mac: str
    has_key: bool
    bed_id: str | None
    last_heard_us: int | None
    last_heard_s: float | None
    rssi_dbm: float | None
    battery_pct: float | None = Field(description="known for a wrap on a bed (the rules read it)")


class HeardWrapOut(_Out):
    """A wrap heard on the ward that is not registered (a neighbour's, or one to register)."""

    wrap_id: str
    last_heard_us: int
    last_heard_s: float
    rssi_dbm: float | None


class WrapsOut(_Out):
    registered: list[WrapOut]
    unregistered: list[HeardWrapOut]


class TrendBinOut(_Out):
    start_us: int
    count: int
    temp_min_c: float | None
    temp_median_c: float | None
    temp_max_c: float | None
    contact_fraction: float | None
    #: Share of the bin's readings whose temperature the rules did not judge (sensor detached or
    #: settling): a chart draws such a stretch as a gap, never as the baby's temperature.
    unjudged_fraction: float


class TrendOut(_Out):
    """A bed's chart: bins of the wrap's readings since it was put on this bed (24 h at most)."""

    bed_id: str
    wrap_id: str | None
    admission_id: int | None
    bins: list[TrendBinOut]


class PauseOut(_Out):
    """A screen's audio pause: until when, and the alarm that sounds through it (None: silent)."""

    screen_id: str
    paused_until_us: int | None
    remaining_s: float
    sounding: AlarmOut | None
    audible_alarm_ids: list[int] = Field(description="alarms not acknowledged (held back or sounding)")


class AlarmParamsOut(_Out):
    audio_pause_s: float
    escalation_s: float


class SettingsOut(_Out):
    """The ward's settings in effect (read-only here; no token is ever shown)."""

    ward_name: str
    ward_tz: str
    clock_format: Literal["24h", "12h"]
    base_url: str
    retention_days: int
    require_hospital_number: bool
    default_daily_goal_s: float
    alarms: AlarmParamsOut
    clinical: dict[str, float]
    #: When the shifts start, ward time (the handover report's periods), e.g. ["07:00", "19:00"].
    shift_starts: list[str] = []


class WrapKeyBody(_Body):
    """A wrap's new BTHome key (32 hex digits), or null for a keyless bench wrap."""

    key: Annotated[str | None, Field(min_length=32, max_length=32, pattern=r"^[0-9A-Fa-f]{32}$")] = None


# Responses of the routers ---------------------------------------------------------------------------
class SignedInOut(_Out):
    """Who this device is signed in as, its role, and the anti-forgery token its page sends."""

    staff: str
    role: str | None
    csrf: str | None


class SignedOutOut(_Out):
    signed_out: bool


class BedWrapOut(_Out):
    """The wrap on a bed: its id, MAC and whether it has a key (never the key)."""

    wrap_id: str
    mac: str
    has_key: bool


class BedDetailOut(_Out):
    """A bed's tile (:class:`~kmc_monitor.service.views.BedOut`) with its current admission and wrap
    in full. A bed the engine has not drawn yet has only its id and label of the tile's fields."""

    bed_id: str
    label: str
    position: int | None = None
    admission_id: int | None = None
    display_name: str | None = None
    wrap_id: str | None = None
    temperature_c: float | None = None
    band: Band | None = None
    judging: Judging | None = None
    contact: bool | None = None
    session_state: SessionState | None = None
    session_s: float | None = None
    contact_today_s: float | None = None
    rolling_24h_s: float | None = None
    daily_goal_s: float | None = None
    battery_pct: float | None = None
    rssi_dbm: float | None = None
    last_heard_s: float | None = None
    last_heard_us: int | None = None
    alarms: list[TileAlarmOut] | None = None
    admission: AdmissionOut | None
    wrap: BedWrapOut | None
    family_qr_available: bool


class UndoOfferOut(_Out):
    """How to undo an action for a while: ``POST /api/ward-admin/undo/{undo_id}`` before ``until_t``."""

    undo_id: str
    until_t: float
    what: str


class BedChangeOut(BedDetailOut):
    """A bed after a wrap went on or came off: what was done in words naming the baby, and (for a
    wrap taken off) which wrap and how to undo it."""

    done: str
    removed_wrap_id: str | None = None
    undo: UndoOfferOut | None = None


class AdmittedOut(AdmissionOut):
    """A new admission with its family link (shown once; kept sealed)."""

    family_url: str


class FamilyLinkOut(_Out):
    admission_id: int
    family_url: str


class RevokedOut(_Out):
    admission_id: int
    revoked: bool


class HistoryReadingOut(_Out):
    t: float
    wrap_id: str
    skin_temp_c: float | None
    contact: float | None
    battery_pct: float | None


class HistoryAlarmOut(_Out):
    """An alarm of the day: as the board sees it now, or as last saved once the board forgot it
    (then ``detail`` and ``reminded_us`` are absent, and a kind this version does not know has no
    category or priority); with its audit lines of the day."""

    alarm_id: int
    kind: str
    #: A bed's alarms are about its wrap; the field says so explicitly, as :class:`AlarmOut` does.
    subject: AlarmSubject = AlarmSubject.WRAP
    category: Category | None
    priority: Priority | None
    state: AlarmState | None
    bed_id: str | None
    wrap_id: str | None
    detail: str | None = None
    raised_us: int | None
    ended_us: int | None
    acknowledged_us: int | None
    acknowledged_by: str | None
    escalated_us: int | None
    reminded_us: int | None = None
    cleared_us: int | None
    extreme_c: float | None
    audit: list[AuditOut]


class HistoryOut(_Out):
    """One ward-local day of a bed. ``sessions_source`` says whether the sessions are the ones the
    engine stored (``stored``) or found again in the readings (``readings``)."""

    bed_id: str
    day: str
    readings: list[HistoryReadingOut]
    sessions: list[SessionOut]
    sessions_source: Literal["stored", "readings"]
    totals: list[StayDayOut]
    alarms: list[HistoryAlarmOut]


class DayOut(_Out):
    day: str
    readings: int
    totals: list[StayDayOut]


class DaysOut(_Out):
    bed_id: str
    first_day: str
    last_day: str
    days: list[DayOut]


class ForgottenOut(_Out):
    forgotten: int


class WrapAuditOut(_Out):
    """A re-key or counter reset: when, which wrap, what, who."""

    at_t: float
    wrap_id: str
    action: str
    who: str
    detail: str


class WrapKeyOut(_Out):
    wrap_id: str
    has_key: bool
    audit: list[WrapAuditOut]


class CounterResetOut(_Out):
    wrap_id: str
    previous_counter: int | None
    audit: list[WrapAuditOut]
