"""The ward's records and errors: beds, wraps, admissions, caregivers, as values.

Plain frozen values checked once on construction, and the errors every ward action raises. Both the
store (which keeps them) and :mod:`kmc_monitor.service.ward` (which applies the ward's policy) use
them; neither imports the other for them, so the store sits below the ward.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Final

from kmc_monitor.errors import KmcError

__all__ = [
    "INTERMITTENT_MIN_SESSION_S",
    "Admission",
    "AdmissionDetails",
    "AlreadyDischargedError",
    "Bed",
    "BedOccupiedError",
    "CaregiverRole",
    "DischargeStatus",
    "FamilyMember",
    "GestationalAge",
    "InvalidAdmissionError",
    "KmcMode",
    "NotFoundError",
    "WardConflictError",
    "WardError",
    "WrapInUseError",
    "WrapInfo",
    "low_contact_threshold_s",
]


# Errors ------------------------------------------------------------------------------------------
class WardError(KmcError):
    """A ward action cannot be done as asked; the message says why and what to do instead."""


class NotFoundError(WardError, LookupError):
    """No bed, wrap or admission with this id (the web layer answers 404)."""


class WardConflictError(WardError):
    """The ward's current state does not allow the action (the web layer answers 409)."""


class BedOccupiedError(WardConflictError):
    """The bed already has an admitted baby."""


class WrapInUseError(WardConflictError):
    """The wrap is on another bed, or the bed already has another wrap."""


class AlreadyDischargedError(WardConflictError):
    """The admission has already been discharged."""


class InvalidAdmissionError(WardError, ValueError):
    """Admission details out of range or missing (the web layer answers 422)."""


# Values ------------------------------------------------------------------------------------------
class KmcMode(enum.StrEnum):
    """How the unit practises KMC for this baby (WHO: continuous where incubators are scarce,
    intermittent — long sessions, not round the clock — in high-resource units)."""

    CONTINUOUS = "continuous"
    INTERMITTENT = "intermittent"


class DischargeStatus(enum.StrEnum):
    """How a stay ended, as the programme indicators count it."""

    HOME_ON_KMC = "home_on_kmc"
    TRANSFERRED = "transferred"
    DIED = "died"
    LEFT_AGAINST_ADVICE = "left_against_advice"


class CaregiverRole(enum.StrEnum):
    """Who held the baby skin-to-skin. WHO keeps "KMC" for the mother; the others' time is
    skin-to-skin contact by another caregiver, reported apart."""

    MOTHER = "mother"
    FATHER = "father"
    FAMILY = "family"
    UNKNOWN = "unknown"


#: Intermittent KMC counts sessions of at least this long (WHO: sessions of at least an hour).
INTERMITTENT_MIN_SESSION_S: Final = 3600.0


def low_contact_threshold_s(mode: KmcMode, daily_goal_s: float, min_daily_contact_s: float) -> float:
    """Contact in a day below which ``low_daily_contact`` is raised, by KMC mode (see
    :meth:`Admission.low_contact_s`)."""
    if mode is KmcMode.INTERMITTENT:
        return daily_goal_s
    return min(min_daily_contact_s, daily_goal_s)


@dataclass(frozen=True, slots=True)
class FamilyMember:
    """A caregiver named at admission: ``role`` mother, father or family (then ``name`` says who)."""

    role: CaregiverRole
    name: str = ""
    caregiver_id: int | None = None

    def __post_init__(self) -> None:
        if self.role is CaregiverRole.UNKNOWN:
            raise InvalidAdmissionError("a named caregiver is the mother, the father or a family member")
        name = self.name.strip() if isinstance(self.name, str) else ""
        if len(name) > 64:
            raise InvalidAdmissionError("a caregiver's name must be at most 64 characters")
        if self.role is CaregiverRole.FAMILY and not name:
            raise InvalidAdmissionError("name the family member (e.g. grandmother, aunt Mai)")
        object.__setattr__(self, "name", name)

    @property
    def label(self) -> str:
        return self.name or self.role.value


@dataclass(frozen=True, slots=True)
class GestationalAge:
    """Gestational age at birth as clinicians write it: completed weeks plus days (``32+4``)."""

    weeks: int
    days: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.days <= 6:
            raise InvalidAdmissionError(f"gestational age days must be 0 to 6; got {self.days}")
        if not 20 <= self.weeks <= 45:
            raise InvalidAdmissionError(
                f"gestational age must be between 20+0 and 45+6 weeks; got {self.weeks}+{self.days}"
            )

    @property
    def total_days(self) -> int:
        return self.weeks * 7 + self.days

    @classmethod
    def from_days(cls, total_days: int) -> GestationalAge:
        return cls(total_days // 7, total_days % 7)

    @classmethod
    def parse(cls, text: str) -> GestationalAge:
        """``"32+4"``, ``"32"`` or ``"32w4d"`` → 32 weeks 4 days."""
        m = re.fullmatch(r"\s*(\d{1,2})\s*(?:w)?\s*(?:\+?\s*(\d)\s*d?)?\s*", text)
        if m is None:
            raise InvalidAdmissionError(f"gestational age {text!r}: write weeks+days, e.g. 32+4")
        return cls(int(m.group(1)), int(m.group(2) or 0))

    def __str__(self) -> str:
        return f"{self.weeks}+{self.days}"


@dataclass(frozen=True, slots=True)
class AdmissionDetails:
    """What staff enter to admit a baby; checked here, once, before anything is stored.

    ``daily_goal_s`` None means the ward's default (the clinical ``daily_goal_s``). The ranges
    catch typing mistakes (a weight in kilograms, a goal in hours) without refusing a real baby.
    """

    display_name: str
    birth_weight_g: int
    gestational_age: GestationalAge
    hospital_number: str | None = None
    daily_goal_s: float | None = None
    site_offset_c: float = 0.0
    kmc_mode: KmcMode = KmcMode.CONTINUOUS
    #: Birth time (seconds since the epoch), for the time from birth to the first skin-to-skin.
    birth_t: float | None = None
    #: Caregivers besides "unknown" who may hold the baby (the mother need not be listed).
    family: tuple[FamilyMember, ...] = ()

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kmc_mode", KmcMode(self.kmc_mode))
        except ValueError:
            raise InvalidAdmissionError(
                f"KMC mode {self.kmc_mode!r}: use continuous or intermittent"
            ) from None
        if self.kmc_mode is KmcMode.INTERMITTENT and self.daily_goal_s is None:
            raise InvalidAdmissionError(
                "intermittent KMC needs the baby's own daily goal (e.g. 4 h = 14400 s)"
            )
        if self.birth_t is not None and not math.isfinite(self.birth_t):
            raise InvalidAdmissionError("the birth time must be a time")
        roles = [m.role for m in self.family]
        for one in (CaregiverRole.MOTHER, CaregiverRole.FATHER):
            if roles.count(one) > 1:
                raise InvalidAdmissionError(f"name the {one.value} once")
        if len(self.family) > 8:
            raise InvalidAdmissionError("at most 8 caregivers per baby")
        name = self.display_name.strip() if isinstance(self.display_name, str) else ""
        if not name or len(name) > 64:
            raise InvalidAdmissionError("the display name must be 1 to 64 characters")
        object.__setattr__(self, "display_name", name)
        number = self.hospital_number
        if number is not None:
            number = number.strip()
            if len(number) > 32:
                raise InvalidAdmissionError("the hospital number must be at most 32 characters")
            object.__setattr__(self, "hospital_number", number or None)
        w = self.birth_weight_g
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
            raise InvalidAdmissionError("the birth weight must be a number of grams")
        if not 200 <= w <= 7000:
            hint = " (entered in kilograms? give grams, e.g. 1850)" if 0 < w < 10 else ""
            raise InvalidAdmissionError(f"the birth weight must be 200 to 7000 g; got {w:g} g{hint}")
        object.__setattr__(self, "birth_weight_g", round(w))
        goal = self.daily_goal_s
        if goal is not None and (not math.isfinite(goal) or not 3600 <= goal <= 86400):
            raise InvalidAdmissionError(
                f"the daily goal must be between 1 and 24 h (3600 to 86400 s); got {goal:g} s"
            )
        off = self.site_offset_c
        if not math.isfinite(off) or not -3.0 <= off <= 3.0:
            raise InvalidAdmissionError(
                f"the sensor site offset must be between -3.0 and +3.0 °C; got {off:g} °C"
            )


@dataclass(frozen=True, slots=True)
class Bed:
    """A place on the ward a baby is admitted to; ``position`` orders the ward screen."""

    bed_id: str
    label: str
    position: int = 0


@dataclass(frozen=True, slots=True)
class WrapInfo:
    """A registered wrap as the ward sees it: whether it has a key (never the key) and its bed."""

    wrap_id: str
    mac: str
    has_key: bool
    bed_id: str | None
    last_counter: int | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """One baby's stay on one bed, from admission to discharge (``discharged_t`` None: still here)."""

    admission_id: int
    bed_id: str
    display_name: str
    hospital_number: str | None
    birth_weight_g: int
    gestational_age: GestationalAge
    daily_goal_s: float
    site_offset_c: float
    admitted_t: float
    admitted_by: str
    discharged_t: float | None = None
    discharged_by: str | None = None
    kmc_mode: KmcMode = KmcMode.CONTINUOUS
    birth_t: float | None = None
    discharge_status: DischargeStatus | None = None

    @property
    def current(self) -> bool:
        return self.discharged_t is None

    def low_contact_s(self, min_daily_contact_s: float) -> float:
        """Below this much contact in a day, ``low_daily_contact`` is raised for this baby.

        Continuous KMC: the ward's floor (WHO's 8 h), or the goal if the goal is lower.
        Intermittent KMC: the baby's own goal — an 8 h floor would raise an advisory every day for
        a baby whose plan is a few long sessions, and a flood of advisories hides the real ones.
        """
        return low_contact_threshold_s(self.kmc_mode, self.daily_goal_s, min_daily_contact_s)

    def clamp(self, start_t: float, end_t: float) -> tuple[float, float]:
        """``[start_t, end_t)`` cut to the stay, so a family never sees the previous baby's data."""
        stop = end_t if self.discharged_t is None else min(end_t, self.discharged_t)
        return max(start_t, self.admitted_t), stop
