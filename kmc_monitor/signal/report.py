"""What the rules produce for a wrap: sessions, alarms, daily totals; and the alarm catalogue.

Values are frozen, slotted dataclasses in the core's integer units (microseconds, milli-degrees);
properties give seconds and °C for reports.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

__all__ = [
    "Alarm",
    "AlarmKind",
    "Category",
    "DayTotal",
    "Priority",
    "Session",
    "WrapReport",
    "round_c",
]


class Category(enum.StrEnum):
    """IEC 60601-1-8 keeps technical alarms apart from physiological ones."""

    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"
    ADVISORY = "advisory"


class Priority(enum.StrEnum):
    """IEC 60601-1-8 priorities: high (red, immediate), medium (yellow, prompt), low (cyan)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Larger is more urgent."""
        return {"high": 3, "medium": 2, "low": 1}[self.value]


class AlarmKind(enum.StrEnum):
    """The alarm catalogue of clinical-rules.md: what a wrap's readings say.

    The ward service's own technical alarms (its database, its HL7 link) are not here: they are
    :class:`kmc_monitor.service.alarm_model.WardAlarmKind`, raised by the service about the ward."""

    HYPOTHERMIA_SEVERE = "hypothermia_severe"
    HYPOTHERMIA_MODERATE = "hypothermia_moderate"
    COLD_STRESS = "cold_stress"
    HYPERTHERMIA = "hyperthermia"
    COOLING_TREND = "cooling_trend"
    SENSOR_DETACHED = "sensor_detached"
    NO_DATA = "no_data"
    LOW_BATTERY = "low_battery"
    LOW_DAILY_CONTACT = "low_daily_contact"

    @property
    def category(self) -> Category:
        return _CATALOGUE[self][0]

    @property
    def priority(self) -> Priority:
        return _CATALOGUE[self][1]

    @property
    def is_cold(self) -> bool:
        return self in _COLD_SEVERITY

    @property
    def cold_severity(self) -> int:
        """0 for cold stress, 1 moderate, 2 severe; -1 for kinds that are not cold."""
        return _COLD_SEVERITY.get(self, -1)

    @property
    def has_extreme(self) -> bool:
        """Whether reports carry the episode's extreme smoothed temperature."""
        return self.is_cold or self is AlarmKind.HYPERTHERMIA


_CATALOGUE: dict[AlarmKind, tuple[Category, Priority]] = {
    AlarmKind.HYPOTHERMIA_SEVERE: (Category.PHYSIOLOGICAL, Priority.HIGH),
    AlarmKind.HYPOTHERMIA_MODERATE: (Category.PHYSIOLOGICAL, Priority.MEDIUM),
    AlarmKind.COLD_STRESS: (Category.PHYSIOLOGICAL, Priority.LOW),
    AlarmKind.HYPERTHERMIA: (Category.PHYSIOLOGICAL, Priority.MEDIUM),
    AlarmKind.COOLING_TREND: (Category.ADVISORY, Priority.LOW),
    AlarmKind.SENSOR_DETACHED: (Category.TECHNICAL, Priority.MEDIUM),
    AlarmKind.NO_DATA: (Category.TECHNICAL, Priority.MEDIUM),
    AlarmKind.LOW_BATTERY: (Category.TECHNICAL, Priority.LOW),
    AlarmKind.LOW_DAILY_CONTACT: (Category.ADVISORY, Priority.LOW),
}

_COLD_SEVERITY: dict[AlarmKind, int] = {
    AlarmKind.COLD_STRESS: 0,
    AlarmKind.HYPOTHERMIA_MODERATE: 1,
    AlarmKind.HYPOTHERMIA_SEVERE: 2,
}


def round_c(mc: float) -> float:
    """Milli-degrees to °C at the 0.01 °C resolution reports use (half to even)."""
    return round(mc / 10.0) / 100.0


@dataclass(frozen=True, slots=True)
class Session:
    """A skin-to-skin session: contact stretches joined across short breaks."""

    start_us: int
    end_us: int
    contact_us: int
    short: bool

    @property
    def duration_us(self) -> int:
        return self.end_us - self.start_us


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm episode. ``end_us`` is None while it is still active.

    ``extreme_mc`` is the lowest (cold kinds) or highest (hyperthermia) smoothed temperature of the
    episode in milli-degrees; None for other kinds.
    """

    kind: AlarmKind
    start_us: int
    end_us: int | None
    extreme_mc: float | None = None

    @property
    def category(self) -> Category:
        return self.kind.category

    @property
    def priority(self) -> Priority:
        return self.kind.priority

    @property
    def extreme_c(self) -> float | None:
        return None if self.extreme_mc is None else round_c(self.extreme_mc)


@dataclass(frozen=True, slots=True)
class DayTotal:
    """Totals of one calendar day in the ward's time zone."""

    day: dt.date
    start_us: int
    end_us: int
    observed_us: int
    contact_us: int
    unknown_us: int
    complete: bool


@dataclass(frozen=True, slots=True)
class WrapReport:
    """Everything the rules say about one wrap over an analysed span."""

    wrap_id: str
    first_us: int | None
    last_us: int | None
    readings: int
    invalid_readings: int
    observed_us: int
    contact_us: int
    unknown_us: int
    sessions: tuple[Session, ...]
    alarms: tuple[Alarm, ...]
    days: tuple[DayTotal, ...]
