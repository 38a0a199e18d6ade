"""The ward's clinical vocabulary in words, for the screens: the temperature bands with their limits
from the rule parameters in effect, why a temperature is not judged, the alarm catalogue with each
kind's category and priority, the priorities with their IEC 60601-1-8 marks, the alarm and session
states. ``GET /api/vocabulary`` serves it; the dashboard prints these words instead of keeping its
own copy, so a threshold changed in the configuration changes every screen's legend with it.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict

from kmc_monitor.service.alarm_model import AlarmSubject, WardAlarmKind, subject_of
from kmc_monitor.service.alarms import AlarmState
from kmc_monitor.signal.params import RuleParams
from kmc_monitor.signal.report import AlarmKind, Category, Priority
from kmc_monitor.signal.states import Band, Judging, SessionState

__all__ = [
    "ALARM_KIND_LABELS",
    "AlarmKindOut",
    "BandOut",
    "NamedOut",
    "PriorityOut",
    "ThresholdsOut",
    "VocabularyOut",
    "vocabulary",
]

BAND_LABELS: Final[dict[Band, str]] = {
    Band.HYPERTHERMIA: "Hyperthermia",
    Band.NORMAL: "Normal",
    Band.COLD_STRESS: "Cold stress",
    Band.HYPOTHERMIA_MODERATE: "Moderate hypothermia",
    Band.HYPOTHERMIA_SEVERE: "Severe hypothermia",
}
JUDGING_LABELS: Final[dict[Judging, str]] = {
    Judging.JUDGED: "Judged",
    Judging.NO_WRAP: "No wrap",
    Judging.NO_DATA: "No data",
    Judging.DETACHED: "Sensor detached",
    Judging.SETTLING: "Settling",
    Judging.NO_TEMPERATURE: "No temperature",
}
#: By the kind's value: a kind the catalogue gains later without words here is still named (its
#: value in words), and ``tests/service/test_vocabulary.py`` says which one lacks its label.
ALARM_KIND_LABELS: Final[dict[str, str]] = {
    "hypothermia_severe": "Severe hypothermia",
    "hypothermia_moderate": "Moderate hypothermia",
    "cold_stress": "Cold stress",
    "hyperthermia": "Hyperthermia",
    "cooling_trend": "Cooling trend",
    "sensor_detached": "Sensor detached",
    "no_data": "No data from wrap",
    "low_battery": "Low battery",
    "low_daily_contact": "Low daily contact",
    "storage_failure": "Storage failure",
    "hl7_link_failure": "Hospital HL7 link down",
}
#: IEC 60601-1-8: the priority is never told by colour alone (a word and a mark beside it).
_PRIORITY_WORDS: Final[dict[Priority, tuple[str, str]]] = {
    Priority.HIGH: ("HIGH", "!!!"),
    Priority.MEDIUM: ("MEDIUM", "!!"),
    Priority.LOW: ("LOW", "!"),
}
ALARM_STATE_LABELS: Final[dict[AlarmState, str]] = {
    AlarmState.ACTIVE: "Active",
    AlarmState.ACKNOWLEDGED: "Acknowledged",
    AlarmState.LATCHED: "Ended — latched until acknowledged",
    AlarmState.CLEARED: "Cleared",
}
SESSION_STATE_LABELS: Final[dict[SessionState, str]] = {
    SessionState.RUNNING: "In skin-to-skin contact",
    SessionState.PAUSED: "Session paused",
    SessionState.NONE: "Not in a session",
}
CATEGORY_LABELS: Final[dict[Category, str]] = {
    Category.PHYSIOLOGICAL: "Physiological",
    Category.TECHNICAL: "Technical",
    Category.ADVISORY: "Advisory",
}


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class NamedOut(_Out):
    """A state as the API spells it (``name``) and as a screen prints it (``label``)."""

    name: str
    label: str


class BandOut(_Out):
    """A WHO temperature band: ``low_c <= T < high_c`` (normal includes 37.5: ``T <= high_c``);
    null for no limit on that side."""

    name: Band
    label: str
    low_c: float | None
    high_c: float | None


class ThresholdsOut(_Out):
    """The band limits in effect (°C), as the rule parameters name them."""

    severe_below_c: float
    moderate_below_c: float
    cold_stress_below_c: float
    hyperthermia_above_c: float


class AlarmKindOut(_Out):
    """An alarm kind: the clinical catalogue's and the ward's own (``subject`` says which)."""

    name: str
    label: str
    category: Category
    priority: Priority
    subject: AlarmSubject


class PriorityOut(_Out):
    """A priority: its word (``HIGH``), its label (``High``), its mark (``!!!``), its rank (3: most
    urgent)."""

    name: Priority
    label: str
    word: str
    mark: str
    rank: int


class VocabularyOut(_Out):
    """Every word a ward screen prints for a state the API sends."""

    bands: list[BandOut]
    thresholds: ThresholdsOut
    judging: list[NamedOut]
    alarm_kinds: list[AlarmKindOut]
    categories: list[NamedOut]
    priorities: list[PriorityOut]
    alarm_states: list[NamedOut]
    session_states: list[NamedOut]


def _kind_label(kind: str) -> str:
    return ALARM_KIND_LABELS.get(kind) or kind.replace("_", " ").capitalize()


def vocabulary(p: RuleParams) -> VocabularyOut:
    """The vocabulary with the band limits of ``p`` (highest band first)."""
    limits: dict[Band, tuple[float | None, float | None]] = {
        Band.HYPERTHERMIA: (p.hyperthermia_above_c, None),
        Band.NORMAL: (p.cold_stress_below_c, p.hyperthermia_above_c),
        Band.COLD_STRESS: (p.moderate_below_c, p.cold_stress_below_c),
        Band.HYPOTHERMIA_MODERATE: (p.severe_below_c, p.moderate_below_c),
        Band.HYPOTHERMIA_SEVERE: (None, p.severe_below_c),
    }
    return VocabularyOut(
        bands=[BandOut(name=b, label=BAND_LABELS[b], low_c=lo, high_c=hi) for b, (lo, hi) in limits.items()],
        thresholds=ThresholdsOut(
            severe_below_c=p.severe_below_c,
            moderate_below_c=p.moderate_below_c,
            cold_stress_below_c=p.cold_stress_below_c,
            hyperthermia_above_c=p.hyperthermia_above_c,
        ),
        judging=[NamedOut(name=j.value, label=JUDGING_LABELS[j]) for j in Judging],
        alarm_kinds=[
            AlarmKindOut(
                name=k.value,
                label=_kind_label(k.value),
                category=k.category,
                priority=k.priority,
                subject=subject_of(k),
            )
            for k in (*AlarmKind, *WardAlarmKind)
        ],
        categories=[NamedOut(name=c.value, label=CATEGORY_LABELS[c]) for c in Category],
        priorities=[
            PriorityOut(name=pr, label=word.capitalize(), word=word, mark=mark, rank=pr.rank)
            for pr, (word, mark) in _PRIORITY_WORDS.items()
        ],
        alarm_states=[NamedOut(name=s.value, label=ALARM_STATE_LABELS[s]) for s in AlarmState],
        session_states=[NamedOut(name=s.value, label=SESSION_STATE_LABELS[s]) for s in SessionState],
    )
