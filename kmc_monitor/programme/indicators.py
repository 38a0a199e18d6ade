"""Programme indicators of one ward for one period, from what the ward service stored.

Every indicator's definition and source is in ``docs/indicators.md``; in short:

- *admissions*: stays admitted in the period; *initiations*: stays whose first skin-to-skin session
  began in the period; *median time to initiation* from birth (and from admission), in hours.
- *baby-days*: ward-local days in the period on which a baby was admitted from midnight to midnight
  (a day of admission or discharge is partial and would lower every share); the share of them with
  at least 8, 12 and 20 h of skin-to-skin contact.
- *patient-days*: admitted time in the period in days (partial days count in part): the
  denominator of rates (hypothermia per 100 patient-days, alarms per patient-day).
- *contact hours by caregiver*: the mother's KMC, the father's and the family's skin-to-skin, the
  unknown, and others and all together.
- *alarms*: by kind per patient-day; the share acknowledged and the median time to acknowledge by
  priority (the kind's priority when raised).
- *discharges* by status (home on KMC, transferred, died, left against advice, not recorded).
- *families taught before discharge*: stays going home whose discharge checklist was complete by
  the time of discharge (#19), as a count and a share of discharges home.

Only finished time counts: the period is cut at ``now``, so a report of the running month never
counts the rest of the month as days without contact.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from kmc_monitor.errors import KmcError
from kmc_monitor.programme.caregivers import StaySession, clipped_contact_s, stay_sessions
from kmc_monitor.programme.discharge import checklist_state
from kmc_monitor.service.store import Store
from kmc_monitor.service.ward_model import (
    INTERMITTENT_MIN_SESSION_S,
    Admission,
    CaregiverRole,
    DischargeStatus,
    KmcMode,
)
from kmc_monitor.signal.calendar import DayCalendar
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import AlarmKind, Priority

__all__ = [
    "DOSE_THRESHOLDS_H",
    "HYPOTHERMIA_KINDS",
    "IndicatorValue",
    "Indicators",
    "Period",
    "PeriodError",
    "compute_indicators",
    "indicators_csv",
]

#: The dose thresholds reported as shares of baby-days (hours of skin-to-skin a day).
DOSE_THRESHOLDS_H: tuple[int, ...] = (8, 12, 20)
#: Hypothermia episodes are counted by band (WHO's bands; cold stress is the mild one).
HYPOTHERMIA_KINDS: tuple[AlarmKind, ...] = (
    AlarmKind.COLD_STRESS,
    AlarmKind.HYPOTHERMIA_MODERATE,
    AlarmKind.HYPOTHERMIA_SEVERE,
)
_DAY_S = 86400.0


class PeriodError(KmcError, ValueError):
    """A period that cannot be read; the message shows how to write one."""


@dataclass(frozen=True, slots=True)
class Period:
    """Ward-local days ``first..last`` (inclusive); ``monthly`` when it is one calendar month."""

    first: dt.date
    last: dt.date

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026-12`` (a month), ``2026-12-05`` (a day) or ``2026-12-01..2026-12-15``."""
        text = text.strip()
        try:
            m = re.fullmatch(r"(\d{4})-?(\d{2})", text)
            if m:
                return cls.month(int(m.group(1)), int(m.group(2)))
            if ".." in text:
                a, b = text.split("..", 1)
                period = cls(dt.date.fromisoformat(a.strip()), dt.date.fromisoformat(b.strip()))
            else:
                day = dt.date.fromisoformat(text)
                period = cls(day, day)
        except ValueError:
            raise PeriodError(
                f"period {text!r}: write a month (2026-12), a day (2026-12-05) "
                "or days (2026-12-01..2026-12-15)"
            ) from None
        if period.last < period.first:
            raise PeriodError(f"period {text!r}: the last day is before the first")
        return period

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        if not 1 <= month <= 12:
            raise PeriodError(f"month {month} does not exist: use 01 to 12")
        first = dt.date(year, month, 1)
        nxt = dt.date(year + month // 12, month % 12 + 1, 1)
        return cls(first, nxt - dt.timedelta(days=1))

    @property
    def monthly(self) -> bool:
        return (
            self.first.day == 1
            and (self.last + dt.timedelta(days=1)).day == 1
            and (
                self.first.year,
                self.first.month,
            )
            == (self.last.year, self.last.month)
        )

    @property
    def dhis2(self) -> str:
        """DHIS2's period id: ``yyyyMM`` for a month, ``yyyyMMdd`` for a single day."""
        if self.monthly:
            return f"{self.first.year:04d}{self.first.month:02d}"
        if self.first == self.last:
            return self.first.strftime("%Y%m%d")
        raise PeriodError("DHIS2 takes a month (2026-12) or a single day, not an arbitrary span of days")

    def __str__(self) -> str:
        if self.monthly:
            return f"{self.first.year:04d}-{self.first.month:02d}"
        return self.first.isoformat() if self.first == self.last else f"{self.first}..{self.last}"

    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=k) for k in range((self.last - self.first).days + 1)]


class IndicatorValue(BaseModel):
    """One reported number: ``key`` names it (the DHIS2 mapping file maps keys to data elements).

    ``value`` is None when it cannot be known (a median of nothing, a share of no baby-days): a
    report that cannot know must not print 0.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    value: float | None
    unit: str
    label: str


class Indicators(BaseModel):
    """A ward's indicators for a period (JSON: ``kmc-indicators/1``)."""

    format: str = "kmc-indicators/1"
    period: str
    first_day: dt.date
    last_day: dt.date
    ward_tz: str
    until: dt.datetime
    values: list[IndicatorValue]

    def get(self, key: str) -> float | None:
        for v in self.values:
            if v.key == key:
                return v.value
        raise KeyError(key)


def _median(xs: Sequence[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _first_session_t(store: Store, adm: Admission, until_t: float) -> float | None:
    sessions = stay_sessions(store, adm, adm.admitted_t, until_t)
    return min((max(s.start_t, adm.admitted_t) for s in sessions), default=None)


def compute_indicators(store: Store, period: Period, *, ward_tz: str, now: float) -> Indicators:
    """The ward's indicators for ``period`` (ward-local days), counting time up to ``now`` only."""
    cal = DayCalendar(ward_tz)
    days = period.days()
    edges = [cal.midnight_us(d) / US for d in [*days, period.last + dt.timedelta(days=1)]]
    start_t, end_t = edges[0], min(edges[-1], now)
    values: list[IndicatorValue] = []

    def add(key: str, value: float | None, unit: str, label: str) -> None:
        v = None if value is None or not math.isfinite(value) else round(float(value), 4)
        values.append(IndicatorValue(key=key, value=v, unit=unit, label=label))

    stays = store.admissions_between(start_t, end_t) if end_t > start_t else []
    # Initiation -------------------------------------------------------------------------------
    admitted = [a for a in stays if start_t <= a.admitted_t < end_t]
    from_birth: list[float] = []
    from_admission: list[float] = []
    initiations = 0
    for adm in stays:  # a first session in the period is during a stay overlapping it
        first = _first_session_t(store, adm, end_t)
        if first is None or not start_t <= first < end_t:
            continue
        initiations += 1
        from_admission.append((first - adm.admitted_t) / 3600.0)
        if adm.birth_t is not None:
            from_birth.append((first - adm.birth_t) / 3600.0)
    add("admissions", len(admitted), "count", "Admissions")
    add("initiations", initiations, "count", "KMC initiations (first skin-to-skin session)")
    add(
        "time_to_initiation_from_birth_median_h",
        _median(from_birth),
        "h",
        "Median time from birth to first skin-to-skin",
    )
    add(
        "time_to_initiation_from_admission_median_h",
        _median(from_admission),
        "h",
        "Median time from admission to first skin-to-skin",
    )

    # Dose and caregivers ------------------------------------------------------------------------
    baby_days = 0
    at_least = dict.fromkeys(DOSE_THRESHOLDS_H, 0)
    patient_s = 0.0
    by_role = dict.fromkeys(CaregiverRole, 0.0)
    intermittent_days = 0
    intermittent_met = 0
    intermittent_sessions = 0
    intermittent_long = 0
    for adm in stays:
        lo, hi = adm.clamp(start_t, end_t)
        if hi <= lo:
            continue
        patient_s += hi - lo
        sessions = stay_sessions(store, adm, lo, hi)
        for s in sessions:
            by_role[s.role] += clipped_contact_s(s.start_t, s.end_t, s.contact_s, lo, hi)
        intermittent = adm.kmc_mode is KmcMode.INTERMITTENT
        long_sessions = [s for s in sessions if s.duration_s >= INTERMITTENT_MIN_SESSION_S]
        if intermittent:
            intermittent_sessions += len(sessions)
            intermittent_long += len(long_sessions)
        for k in range(len(days)):
            d0, d1 = edges[k], edges[k + 1]
            whole = adm.admitted_t <= d0 and (adm.discharged_t is None or adm.discharged_t >= d1)
            if not whole or d1 > now:
                continue
            contact = _day_contact(sessions, d0, d1)
            baby_days += 1
            for h in DOSE_THRESHOLDS_H:
                at_least[h] += contact >= h * 3600.0
            if intermittent:
                # Intermittent KMC is long sessions: only those of at least 60 min count to the goal.
                intermittent_days += 1
                intermittent_met += _day_contact(long_sessions, d0, d1) >= adm.daily_goal_s
    patient_days = patient_s / _DAY_S
    add("baby_days", baby_days, "days", "Baby-days (whole days admitted)")
    add("patient_days", patient_days, "days", "Patient-days (admitted time)")
    for h in DOSE_THRESHOLDS_H:
        add(f"baby_days_ge_{h}h_pct", _pct(at_least[h], baby_days), "%", f"Baby-days with at least {h} h")
    add(
        "intermittent_goal_met_pct",
        _pct(intermittent_met, intermittent_days),
        "%",
        "Intermittent-KMC baby-days meeting the baby's goal (sessions of 60 min or more)",
    )
    add(
        "intermittent_sessions_ge_60min_pct",
        _pct(intermittent_long, intermittent_sessions),
        "%",
        "Intermittent-KMC sessions lasting 60 min or more",
    )
    for role in CaregiverRole:
        add(f"contact_h.{role.value}", by_role[role] / 3600.0, "h", f"Skin-to-skin hours: {role.value}")
    others = sum(v for r, v in by_role.items() if r is not CaregiverRole.MOTHER)
    add("kmc_mother_h", by_role[CaregiverRole.MOTHER] / 3600.0, "h", "KMC hours (mother)")
    add("skin_to_skin_others_h", others / 3600.0, "h", "Skin-to-skin hours by others")
    add(
        "skin_to_skin_all_h",
        (others + by_role[CaregiverRole.MOTHER]) / 3600.0,
        "h",
        "Skin-to-skin hours, all",
    )

    # Alarms -------------------------------------------------------------------------------------------
    alarms = [
        a for a in store.alarms_raised_between(round(start_t * US), round(end_t * US)) if a.get("bed_id")
    ]
    counts: dict[AlarmKind, int] = dict.fromkeys(AlarmKind, 0)
    raised_by: dict[Priority, int] = dict.fromkeys(Priority, 0)
    acked_by: dict[Priority, list[float]] = {p: [] for p in Priority}
    for a in alarms:
        try:
            kind = AlarmKind(a["kind"])
        except ValueError:
            continue
        counts[kind] += 1
        raised_by[kind.priority] += 1
        if a.get("acked_us") is not None:
            acked_by[kind.priority].append((int(a["acked_us"]) - int(a["raised_us"])) / US)
    per_100 = 100.0 / patient_days if patient_days > 0 else math.nan
    for kind in HYPOTHERMIA_KINDS:
        add(
            f"hypothermia_per_100_patient_days.{kind.value}",
            counts[kind] * per_100 if patient_days > 0 else None,
            "per 100 patient-days",
            f"Hypothermia episodes ({kind.value}) per 100 patient-days",
        )
    # The clinical catalogue only: the ward's own alarms (storage, HL7 link) have no bed.
    for kind in AlarmKind:
        add(
            f"alarms_per_patient_day.{kind.value}",
            counts[kind] / patient_days if patient_days > 0 else None,
            "per patient-day",
            f"Alarms ({kind.value}) per patient-day",
        )
    add(
        "alarms_per_patient_day.all",
        sum(counts.values()) / patient_days if patient_days > 0 else None,
        "per patient-day",
        "Alarms per patient-day",
    )
    for p in Priority:
        add(f"alarms_raised.{p.value}", raised_by[p], "count", f"Alarms raised ({p.value} priority)")
        add(
            f"alarms_acknowledged_pct.{p.value}",
            _pct(len(acked_by[p]), raised_by[p]),
            "%",
            f"Alarms acknowledged ({p.value} priority)",
        )
        add(
            f"time_to_acknowledge_median_s.{p.value}",
            _median(acked_by[p]),
            "s",
            f"Median time to acknowledge ({p.value} priority)",
        )

    # Discharges ---------------------------------------------------------------------------------------
    discharged = [a for a in stays if a.discharged_t is not None and start_t <= a.discharged_t < end_t]
    add("discharges", len(discharged), "count", "Discharges")
    for status in DischargeStatus:
        add(
            f"discharges.{status.value}",
            sum(a.discharge_status is status for a in discharged),
            "count",
            f"Discharged: {status.value.replace('_', ' ')}",
        )
    add(
        "discharges.not_recorded",
        sum(a.discharge_status is None for a in discharged),
        "count",
        "Discharged: status not recorded",
    )
    # Families taught before discharge (#19): the checklist complete at or before discharge, among
    # the stays that went home (not those that died or were transferred: they were not taught to go
    # home, and counting them would lower the share for the wrong reason).
    home = [
        a for a in discharged if a.discharge_status not in (DischargeStatus.DIED, DischargeStatus.TRANSFERRED)
    ]
    taught = 0
    for adm in home:
        state = checklist_state(adm.admission_id, store.teaching(adm.admission_id))
        if (
            state.completed_t is not None
            and adm.discharged_t is not None
            and state.completed_t <= adm.discharged_t
        ):
            taught += 1
    add(
        "families_taught_before_discharge",
        taught,
        "count",
        "Families taught before discharge (checklist complete)",
    )
    add(
        "families_taught_before_discharge.pct",
        _pct(taught, len(home)),
        "%",
        "Families taught before discharge, share of discharges home",
    )
    return Indicators(
        period=str(period),
        first_day=period.first,
        last_day=period.last,
        ward_tz=ward_tz,
        until=dt.datetime.fromtimestamp(end_t, dt.UTC)
        if end_t > start_t
        else dt.datetime.fromtimestamp(start_t, dt.UTC),
        values=values,
    )


def _day_contact(sessions: Sequence[StaySession], d0: float, d1: float) -> float:
    return sum(clipped_contact_s(s.start_t, s.end_t, s.contact_s, d0, d1) for s in sessions)


def indicators_csv(indicators: Indicators) -> str:
    """One row per indicator: period, key, value (empty when it cannot be known), unit, label."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["period", "indicator", "value", "unit", "label"])
    for v in indicators.values:
        w.writerow([indicators.period, v.key, "" if v.value is None else f"{v.value:g}", v.unit, v.label])
    return out.getvalue()
