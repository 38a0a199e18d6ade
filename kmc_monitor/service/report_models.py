"""The handover report's JSON shape (``GET /api/beds/{bed_id}/report``), as pydantic models.

:func:`kmc_monitor.service.reports.build_report` builds the report as plain data (the CSV writer
and the printed page read the same structure); these models are its ``response_model`` so that
OpenAPI documents every field a client may rely on, and a field that changes shape fails the route's
own validation in the tests instead of surprising the report page.

Alarm entries are the day history's (:class:`~kmc_monitor.service.schemas.HistoryAlarmOut`): an
alarm the board has forgotten is shown as the store last saved it, possibly with a kind this version
does not know.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from kmc_monitor.programme.discharge import ChecklistState
from kmc_monitor.service.schemas import HistoryAlarmOut
from kmc_monitor.service.views import AdmissionOut, SessionOut

__all__ = ["ReportOut"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReportShift(_Out):
    """The shift a report covers; ``previous`` and ``next`` let the page step without the starts."""

    key: str
    start_local: str
    end_local: str
    previous: str | None = None
    next: str | None = None


class ShiftContact(_Out):
    """One stay's skin-to-skin within the shift (sessions across the handover split by time)."""

    admission_id: int
    display_name: str
    contact_s: float
    sessions: int


class OpenAlarm(_Out):
    """An alarm still on the board at the period's end, and whether it was acknowledged by then."""

    alarm_id: int | None
    kind: str | None
    priority: str | None
    condition_on: bool
    acknowledged: bool
    acknowledged_by: str | None
    extreme_c: float | None


class OpenStay(_Out):
    admission_id: int
    display_name: str


class OpenAtEnd(_Out):
    """What the next shift takes over."""

    at_us: int
    alarms: list[OpenAlarm]
    admissions: list[OpenStay]


class ReportBed(_Out):
    bed_id: str
    label: str


class ReportBands(_Out):
    """The temperature limits the report was judged with (the ward's own, if set)."""

    severe_below_c: float
    moderate_below_c: float
    cold_stress_below_c: float
    hyperthermia_above_c: float


class MinuteBin(_Out):
    """One bin of readings; temperatures are None when no judged, plausible reading fell in it."""

    start_us: int
    count: int
    temp_median_c: float | None
    temp_min_c: float | None
    temp_max_c: float | None
    contact_fraction: float | None
    unjudged_fraction: float


class DayTotal(_Out):
    """One stay's contact on one ward day against its goal."""

    admission_id: int
    display_name: str
    contact_s: float
    goal_s: float
    percent_of_goal: float | None
    goal_met: bool
    observed_s: float
    unknown_s: float
    readings: int
    ongoing: bool
    day: str


class CaregiverDayOut(_Out):
    """One stay's contact that day by who held the baby: the mother's KMC and the others' apart."""

    admission_id: int
    display_name: str
    kmc_mode: str
    by_caregiver_s: dict[str, float]
    mother_kmc_s: float
    others_s: float
    total_s: float


class ReportOut(_Out):
    """One bed's ward day, or one shift, for the handover."""

    period: Literal["day", "shift"]
    shift: ReportShift | None
    shift_contact: list[ShiftContact]
    open_at_end: OpenAtEnd
    bed: ReportBed
    ward_name: str
    day: str
    ward_tz: str
    day_start_us: int
    day_end_us: int
    generated_us: int
    complete: bool
    bin_s: int
    bands: ReportBands
    admissions: list[AdmissionOut]
    readings: list[MinuteBin]
    sessions: list[SessionOut]
    totals: list[DayTotal]
    alarms: list[HistoryAlarmOut]
    caregivers: list[CaregiverDayOut]
    discharge_checklists: list[ChecklistState]
