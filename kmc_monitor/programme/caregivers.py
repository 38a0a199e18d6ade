"""Which caregiver held the baby for each session, and hours per caregiver per day.

Who holds the baby is recorded as steps, "who is holding from t" (from the family page or by a
nurse); before the first step nobody is known. A session belongs to the caregiver who held the
baby for most of it: a session is one stretch of skin-to-skin, and a hand-over in the middle of it
is rare and short, so splitting it would be false precision. Ties go to whoever held first.

Contact of a session that crosses a boundary (midnight, the period's edge, admission, discharge) is
shared out in proportion to the session's time on each side (a session's breaks are bridged, so
its contact is spread over its span).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from kmc_monitor.service.ward_model import Admission, CaregiverRole, FamilyMember
from kmc_monitor.signal.calendar import DayCalendar
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import Session

if TYPE_CHECKING:
    # For annotations only: the attribution below is pure, and a scenario run (which keeps its
    # sessions in memory) must not load sqlite3 by importing this module.
    from kmc_monitor.service.store import Store

__all__ = [
    "CaregiverDay",
    "SavedSession",
    "StaySession",
    "StaySummary",
    "attribute",
    "attribute_stay",
    "caregiver_days",
    "clipped_contact_s",
    "stay_sessions",
    "stay_summary",
]

Step = tuple[float, int | None]


@dataclass(frozen=True, slots=True)
class StaySession:
    """A saved session of one stay, with who held the baby for most of it."""

    admission_id: int
    start_t: float
    end_t: float
    contact_s: float
    caregiver_id: int | None
    role: CaregiverRole
    label: str
    open: bool

    @property
    def duration_s(self) -> float:
        return self.end_t - self.start_t


@dataclass(frozen=True, slots=True)
class CaregiverDay:
    """One ward-local day of one stay: contact seconds per caregiver label (``role`` or name)."""

    day: dt.date
    by_caregiver_s: dict[str, float]
    by_role_s: dict[CaregiverRole, float]

    @property
    def mother_s(self) -> float:
        return self.by_role_s.get(CaregiverRole.MOTHER, 0.0)

    @property
    def others_s(self) -> float:
        return sum(v for r, v in self.by_role_s.items() if r is not CaregiverRole.MOTHER)

    @property
    def total_s(self) -> float:
        return sum(self.by_role_s.values())


def attribute(start_t: float, end_t: float, steps: Sequence[Step]) -> int | None:
    """The caregiver id (None: unknown) who held for most of ``[start_t, end_t)``."""
    points: list[Step] = [(float("-inf"), None), *sorted(steps, key=lambda st: st[0])]
    if end_t <= start_t:  # an instant: whoever held then
        return next((who for t, who in reversed(points) if t <= start_t), None)
    held: dict[int | None, float] = {}
    for i, (t, who) in enumerate(points):
        nxt = points[i + 1][0] if i + 1 < len(points) else float("inf")
        overlap = min(nxt, end_t) - max(t, start_t)
        if overlap > 0:
            held[who] = held.get(who, 0.0) + overlap  # dicts keep first-seen order: ties go first
    best = max(held.values())
    return next(c for c, v in held.items() if v == best)


def clipped_contact_s(start_t: float, end_t: float, contact_s: float, lo: float, hi: float) -> float:
    """The part of a session's contact inside ``[lo, hi)``, in proportion to its time there."""
    span = end_t - start_t
    if span <= 0:
        return contact_s if lo <= start_t < hi else 0.0
    overlap = min(end_t, hi) - max(start_t, lo)
    return contact_s * overlap / span if overlap > 0 else 0.0


class SavedSession(Protocol):
    """A session as it was saved: the store's ``BedSession``, or the engine's ``SessionUpdate``
    kept in memory (a scenario run)."""

    @property
    def session(self) -> Session: ...

    @property
    def open(self) -> bool: ...


def stay_sessions(store: Store, admission: Admission, start_t: float, end_t: float) -> list[StaySession]:
    """The stay's saved sessions overlapping ``[start_t, end_t)`` (cut to the stay), attributed."""
    lo, hi = admission.clamp(start_t, end_t)
    if lo >= hi:
        return []
    return attribute_stay(
        admission,
        store.caregivers(admission.admission_id),
        store.holding(admission.admission_id),
        store.sessions_for_bed(admission.bed_id, lo, hi),
        lo,
        hi,
    )


def attribute_stay(
    admission: Admission,
    members: Iterable[FamilyMember],
    steps: Sequence[Step],
    sessions: Iterable[SavedSession],
    start_t: float,
    end_t: float,
) -> list[StaySession]:
    """The stay's sessions overlapping ``[start_t, end_t)`` (cut to the stay), by start, each
    attributed to who held for most of it; the rule of :func:`stay_sessions` without the store.

    ``sessions`` are those of the wraps that were on the stay's bed when each began (the store's
    ``sessions_for_bed``); ``members`` the stay's caregivers and ``steps`` its "who holds from when".
    Kept apart from the store so that a run with no database (a scenario's live path) attributes by
    this same rule rather than a copy of it.
    """
    lo, hi = admission.clamp(start_t, end_t)
    if lo >= hi:
        return []
    by_id = {m.caregiver_id: m for m in members}
    out = []
    for s in sorted(sessions, key=lambda x: x.session.start_us):
        if not (s.session.start_us < hi * US and s.session.end_us > lo * US):
            continue
        s0, s1 = s.session.start_us / US, s.session.end_us / US
        if s1 <= admission.admitted_t or (
            admission.discharged_t is not None and s0 >= admission.discharged_t
        ):
            continue
        who = attribute(s0, s1, steps)
        member: FamilyMember | None = by_id.get(who) if who is not None else None
        role = CaregiverRole.UNKNOWN if member is None else member.role
        out.append(
            StaySession(
                admission.admission_id,
                s0,
                s1,
                s.session.contact_us / US,
                who,
                role,
                role.value if member is None else member.label,
                s.open,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class StaySummary:
    """Initiation and duration of one stay's KMC (``None``: not known, or no session yet).

    ``days_in_kmc``: from the first skin-to-skin session to discharge (or now), in days;
    ``days_with_contact``: ward-local days of the stay with any skin-to-skin session.
    """

    first_session_t: float | None
    from_birth_h: float | None
    from_admission_h: float | None
    days_in_kmc: float | None
    days_with_contact: int


def stay_summary(store: Store, admission: Admission, ward_tz: str, *, now: float) -> StaySummary:
    end = now if admission.discharged_t is None else min(now, admission.discharged_t)
    sessions = stay_sessions(store, admission, admission.admitted_t, end)
    if not sessions:
        return StaySummary(None, None, None, None, 0)
    first = max(min(s.start_t for s in sessions), admission.admitted_t)
    cal = DayCalendar(ward_tz)
    days = {cal.day_of(round(max(s.start_t, admission.admitted_t) * US)) for s in sessions} | {
        cal.day_of(round(min(s.end_t, end) * US) - 1) for s in sessions if s.end_t > s.start_t
    }
    return StaySummary(
        first,
        None if admission.birth_t is None else (first - admission.birth_t) / 3600.0,
        (first - admission.admitted_t) / 3600.0,
        max(0.0, end - first) / 86400.0,
        len(days),
    )


def caregiver_days(
    store: Store, admission: Admission, first_day: dt.date, last_day: dt.date, ward_tz: str
) -> list[CaregiverDay]:
    """Contact per caregiver for each ward-local day of the stay in ``first_day..last_day``."""
    cal = DayCalendar(ward_tz)
    days = [first_day + dt.timedelta(days=k) for k in range((last_day - first_day).days + 1)]
    edges = [cal.midnight_us(d) / US for d in [*days, last_day + dt.timedelta(days=1)]]
    sessions = stay_sessions(store, admission, edges[0], edges[-1])
    out = []
    for k, day in enumerate(days):
        lo, hi = admission.clamp(edges[k], edges[k + 1])
        if lo >= hi:
            continue
        out.append(_day(day, sessions, lo, hi))
    return out


def _day(day: dt.date, sessions: Iterable[StaySession], lo: float, hi: float) -> CaregiverDay:
    by_label: dict[str, float] = {}
    by_role: dict[CaregiverRole, float] = {}
    for s in sessions:
        c = clipped_contact_s(s.start_t, s.end_t, s.contact_s, lo, hi)
        if c > 0:
            by_label[s.label] = by_label.get(s.label, 0.0) + c
            by_role[s.role] = by_role.get(s.role, 0.0) + c
    return CaregiverDay(day, by_label, by_role)
