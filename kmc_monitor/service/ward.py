"""The ward: beds, admissions, wraps on beds, and each admission's family link.

A bed holds at most one admitted baby and at most one wrap at a time; a wrap is on at most one bed.
Readings belong to wraps, and a wrap's readings belong to a bed for the time the wrap was assigned to
it, so swapping two wraps between beds (a flat battery, a wrap sent for cleaning) never moves one
baby's history onto another's chart.

Decisions worth knowing:

- **Discharge frees the bed's wrap.** The wrap leaves with the baby's skin contact and must be cleaned
  and charged; a new baby never inherits a wrap still assigned from the previous one.
- **A hospital number is admitted once.** The same number on two current admissions is almost always
  the wrong baby being admitted; it is refused.
- **Family links.** Each admission gets one link made of :func:`secrets.token_urlsafe` (32 bytes:
  256 bits, far above the 128-bit floor). Only its SHA-256 is stored, so a copied database does not
  hold a single working link; a presented token is hashed and compared in constant time. The token
  sits in the URL *fragment* (``…/family#<token>``): browsers never send the fragment to the server,
  so it stays out of access logs, proxies and ``Referer`` headers; the family page's script reads it
  and presents it to the API. Because the token is not stored, its QR code can be printed only when
  the link is made; reprinting means :meth:`Ward.renew_family_link`, which revokes the old one.
  Discharge revokes the link; a revoked link never validates again.

The :class:`Ward` methods validate, apply the ward's policy (default daily goal, hospital number
required or not) and call the :class:`~kmc_monitor.service.store.Store`, whose transactions make each
check-and-change atomic. Time is injected (``now``, seconds since the Unix epoch); ``who`` names the
member of staff, for the record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import math
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

import numpy as np
import segno

from kmc_monitor.devices.reading import readings_to_series
from kmc_monitor.service.ward_model import (
    Admission,
    AdmissionDetails,
    Bed,
    DischargeStatus,
    FamilyMember,
    InvalidAdmissionError,
    NotFoundError,
    WardError,
    WrapInfo,
)
from kmc_monitor.signal.calendar import DayCalendar
from kmc_monitor.signal.params import US, RuleParams, celsius_to_mc
from kmc_monitor.signal.stream import analyze_series

if TYPE_CHECKING:
    from kmc_monitor.service.config import Settings
    from kmc_monitor.service.store import Store

__all__ = [
    "FAMILY_TOKEN_BYTES",
    "BedStatus",
    "ContactHistory",
    "FamilyLink",
    "MAX_HISTORY_DAYS",
    "StayDay",
    "StaySession",
    "Ward",
    "family_link_url",
    "hash_family_token",
    "new_family_token",
    "qr_png",
    "qr_svg",
    "token_matches",
]

#: Random bytes in a family token: 256 bits. NIST and OWASP ask for at least 128 bits for a
#: bearer secret that an attacker may try to guess online.
FAMILY_TOKEN_BYTES: Final = 32
_MIN_TOKEN_BYTES: Final = 16
_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}$")
#: The longest span one history query analyses (a month: more is a report, not a screen).
MAX_HISTORY_DAYS: Final = 31


@dataclass(frozen=True, slots=True)
class BedStatus:
    """A bed with what is on it now: the ward screen's row."""

    bed: Bed
    admission: Admission | None
    wrap_id: str | None


@dataclass(frozen=True, slots=True)
class StaySession:
    """One skin-to-skin session of one admission, as the clinical rules find it in stored readings."""

    admission_id: int
    wrap_id: str
    start_us: int
    end_us: int
    contact_us: int
    short: bool


@dataclass(frozen=True, slots=True)
class StayDay:
    """One admission's contact on one ward-local day, against its daily goal.

    ``contact_s``, ``observed_s`` and ``unknown_s`` count only the part of the day the baby was
    admitted to the bed; ``ongoing`` is True for a day not over yet (its total still grows).
    """

    day: dt.date
    admission_id: int
    display_name: str
    daily_goal_s: float
    readings: int
    contact_s: float
    observed_s: float
    unknown_s: float
    ongoing: bool

    @property
    def goal_met(self) -> bool:
        return self.contact_s >= self.daily_goal_s


@dataclass(frozen=True, slots=True)
class ContactHistory:
    """A bed's days: readings per day (whoever was on the bed), each stay's daily totals and sessions."""

    bed_id: str
    first_day: dt.date
    last_day: dt.date
    readings_per_day: dict[dt.date, int]
    days: tuple[StayDay, ...]
    sessions: tuple[StaySession, ...]


@dataclass(frozen=True, slots=True)
class FamilyLink:
    """A family's link to their baby's page, as handed out once: the token is never stored.

    ``repr`` hides the token and the URL (which contains it), so a log line cannot leak a link.
    """

    admission_id: int
    token: str = field(repr=False)
    url: str = field(repr=False)

    def qr_svg(self, *, scale: int = 8) -> bytes:
        """The link as a QR code in SVG (print it on the bed card)."""
        return qr_svg(self.url, scale=scale)

    def qr_png(self, *, scale: int = 8) -> bytes:
        """The link as a QR code in PNG."""
        return qr_png(self.url, scale=scale)


# Tokens and QR codes -------------------------------------------------------------------------------
def new_family_token(nbytes: int = FAMILY_TOKEN_BYTES) -> str:
    """A fresh unguessable token (URL-safe base64 of ``nbytes`` random bytes, at least 16)."""
    if nbytes < _MIN_TOKEN_BYTES:
        raise ValueError(f"a family token needs at least {_MIN_TOKEN_BYTES} random bytes (128 bits)")
    return secrets.token_urlsafe(nbytes)


def hash_family_token(token: str) -> bytes:
    """The SHA-256 digest stored in place of the token.

    A plain hash, not a slow password hash, is enough: the token has 256 bits of entropy, so nobody
    can search for it from its hash; a slow hash only defends low-entropy secrets.
    """
    return hashlib.sha256(token.encode("utf-8")).digest()


def token_matches(token: str, stored_hash: bytes) -> bool:
    """Whether ``token`` hashes to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(hash_family_token(token), stored_hash)


def family_link_url(base_url: str, token: str) -> str:
    """The family page's address with the token in the fragment (never sent to the server)."""
    return f"{base_url.rstrip('/')}/family#{token}"


def _qr(data: str) -> segno.QRCode:
    # Error level M (15 % recovery) survives a creased or smudged bed card while staying small.
    return segno.make(data, error="m", micro=False)


def qr_svg(data: str, *, scale: int = 8) -> bytes:
    """``data`` as a QR code: a standalone SVG document (UTF-8 bytes)."""
    out = io.BytesIO()
    _qr(data).save(out, kind="svg", scale=scale, border=4, xmldecl=True, title="Family link")
    return out.getvalue()


def qr_png(data: str, *, scale: int = 8) -> bytes:
    """``data`` as a QR code: a PNG image with the standard 4-module quiet zone."""
    out = io.BytesIO()
    _qr(data).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def _check_id(what: str, value: str) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise WardError(
            f"{what} {value!r}: use 1 to 32 letters, digits, spaces, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return value


def _check_who(who: str) -> str:
    if not isinstance(who, str) or not who.strip():
        raise WardError("every ward action needs the name of the member of staff doing it")
    return who.strip()


# The ward ------------------------------------------------------------------------------------------
class Ward:
    """The ward's beds, admissions, wraps and family links over a :class:`Store`.

    Parameters
    ----------
    store
        Where the ward lives.
    base_url
        Address families reach the service at; family links and QR codes point there.
    default_daily_goal_s
        Daily contact goal for an admission that does not set its own.
    require_hospital_number
        Refuse admissions without a hospital number.
    """

    def __init__(
        self,
        store: Store,
        *,
        base_url: str,
        default_daily_goal_s: float = 20 * 3600.0,
        require_hospital_number: bool = False,
    ) -> None:
        self._store = store
        self._base_url = base_url.rstrip("/")
        self._default_goal_s = float(default_daily_goal_s)
        self._require_number = bool(require_hospital_number)

    @classmethod
    def from_settings(cls, store: Store, settings: Settings) -> Ward:
        return cls(
            store,
            base_url=settings.base_url,
            default_daily_goal_s=settings.clinical.daily_goal_s,
            require_hospital_number=settings.require_hospital_number,
        )

    @property
    def base_url(self) -> str:
        """Where family links point (the service's public address)."""
        return self._base_url

    @base_url.setter
    def base_url(self, url: str) -> None:
        # Set once the server knows its real address (a port chosen by the system, ``--port 0``).
        self._base_url = url.rstrip("/")

    @property
    def store(self) -> Store:
        return self._store

    # Beds ---------------------------------------------------------------------------------------
    def add_bed(self, bed_id: str, label: str | None = None, *, position: int = 0, now: float) -> Bed:
        """Add a bed (``label`` defaults to the id); an existing id is a conflict."""
        bed = Bed(_check_id("bed id", bed_id), (label or bed_id).strip() or bed_id, int(position))
        self._store.add_bed(bed, now=now)
        return bed

    def beds(self) -> list[Bed]:
        return self._store.beds()

    def bed(self, bed_id: str) -> Bed:
        """The bed with this id; :class:`NotFoundError` names the ward's beds when there is none."""
        beds = self._store.beds()
        found = next((b for b in beds if b.bed_id == bed_id), None)
        if found is None:
            known = ", ".join(b.bed_id for b in beds) or "none yet"
            raise NotFoundError(f"no bed {bed_id!r} on this ward (beds: {known})")
        return found

    def bed_status(self, bed_id: str) -> BedStatus:
        """One bed with its current admission and wrap (the bed-detail screen)."""
        bed = self.bed(bed_id)
        admission = next((a for a in self._store.current_admissions() if a.bed_id == bed_id), None)
        wrap = next((w for w, b in self._store.current_assignments().items() if b == bed_id), None)
        return BedStatus(bed, admission, wrap)

    def overview(self) -> list[BedStatus]:
        """Every bed with its current admission and wrap, in screen order."""
        admissions = {a.bed_id: a for a in self._store.current_admissions()}
        wraps = {bed: wrap for wrap, bed in self._store.current_assignments().items()}
        return [BedStatus(b, admissions.get(b.bed_id), wraps.get(b.bed_id)) for b in self._store.beds()]

    # Admissions -----------------------------------------------------------------------------------
    def admit(
        self, bed_id: str, details: AdmissionDetails, *, now: float, who: str
    ) -> tuple[Admission, FamilyLink]:
        """Admit a baby to a free bed and make its family link (show the QR code now: it is not kept).

        Raises :class:`NotFoundError` (no such bed), :class:`BedOccupiedError`,
        :class:`WardConflictError` (hospital number already admitted), :class:`InvalidAdmissionError`.
        """
        who = _check_who(who)
        if self._require_number and details.hospital_number is None:
            raise InvalidAdmissionError("this hospital requires the baby's hospital number at admission")
        if details.daily_goal_s is None:
            details = replace(details, daily_goal_s=self._default_goal_s)
        token = new_family_token()
        admission = self._store.admit(bed_id, details, hash_family_token(token), now=now, who=who)
        return admission, FamilyLink(admission.admission_id, token, family_link_url(self._base_url, token))

    def discharge(
        self, admission_id: int, *, now: float, who: str, status: DischargeStatus | None = None
    ) -> Admission:
        """Discharge: end the stay, revoke the family link, free the bed's wrap (for cleaning).

        ``status`` (home on KMC, transferred, died, left against advice) feeds the programme
        indicators; None is counted there as "not recorded", never guessed.
        """
        return self._store.discharge(admission_id, now=now, who=_check_who(who), status=status)

    def set_discharge_status(self, admission_id: int, status: DischargeStatus, *, who: str) -> Admission:
        """Record or correct how a discharged stay ended."""
        _check_who(who)
        return self._store.set_discharge_status(admission_id, status)

    # Caregivers -----------------------------------------------------------------------------------
    def caregivers(self, admission_id: int) -> list[FamilyMember]:
        """The caregivers named at admission (the mother first if named)."""
        self.admission(admission_id)
        return self._store.caregivers(admission_id)

    def add_caregiver(self, admission_id: int, member: FamilyMember, *, now: float, who: str) -> FamilyMember:
        """Name another caregiver during the stay (a grandmother who arrives on day 3)."""
        return self._store.add_caregiver(admission_id, member, now=now, who=_check_who(who))

    def set_holder(
        self,
        admission_id: int,
        caregiver_id: int | None,
        *,
        from_t: float,
        until_t: float | None = None,
        now: float,
        who: str,
        source: str,
    ) -> None:
        """Record who holds the baby from ``from_t`` (None: unknown) — "who is holding now" from
        the family page, or a nurse's correction of the past.

        With ``until_t``, the change covers ``[from_t, until_t)`` only: whoever held before at
        ``until_t`` holds again from there, so correcting one session leaves the others as they were.
        """
        adm = self.admission(admission_id)
        bad_end = until_t is not None and not (math.isfinite(until_t) and until_t > from_t)
        if not math.isfinite(from_t) or bad_end:
            raise WardError("the holding span needs a start time before its end")
        if from_t < adm.admitted_t - 1.0 or (adm.discharged_t is not None and from_t >= adm.discharged_t):
            raise WardError("the holding span must start during the stay")
        if from_t > now + 60.0:
            raise WardError("the holding span cannot start in the future")
        named = {m.caregiver_id for m in self._store.caregivers(admission_id)}
        if caregiver_id is not None and caregiver_id not in named:
            raise NotFoundError(f"admission {admission_id} has no caregiver {caregiver_id}")
        self._store.set_holder(
            admission_id,
            caregiver_id,
            from_t=from_t,
            until_t=until_t,
            now=now,
            who=_check_who(who),
            source=source,
        )

    def admission(self, admission_id: int) -> Admission:
        found = self._store.admission(admission_id)
        if found is None:
            raise NotFoundError(f"no admission {admission_id}")
        return found

    def current_admissions(self) -> list[Admission]:
        return self._store.current_admissions()

    def past_admissions(
        self, *, since_t: float | None = None, until_t: float | None = None, limit: int = 100
    ) -> list[Admission]:
        return self._store.past_admissions(since_t=since_t, until_t=until_t, limit=limit)

    # Family links -------------------------------------------------------------------------------
    def renew_family_link(self, admission_id: int, *, now: float, who: str) -> FamilyLink:
        """Revoke the admission's link and make a new one (to reprint the card, or after a leak)."""
        token = new_family_token()
        self._store.replace_family_link(admission_id, hash_family_token(token), now=now, who=_check_who(who))
        return FamilyLink(admission_id, token, family_link_url(self._base_url, token))

    def revoke_family_link(self, admission_id: int, *, now: float, who: str) -> bool:
        """Revoke the admission's link at once; False if it had none live."""
        return self._store.revoke_family_links(admission_id, now=now, who=_check_who(who)) > 0

    def admission_for_family_token(self, token: str) -> Admission | None:
        """The current admission a live family token opens, else None (revoked, discharged, unknown).

        The same None for every failure, so a caller learns nothing about why a token is refused.
        """
        if not isinstance(token, str) or not 16 <= len(token) <= 256:
            return None
        return self._store.admission_for_token_hash(hash_family_token(token))

    # Wraps --------------------------------------------------------------------------------------
    def wraps(self) -> list[WrapInfo]:
        return self._store.wraps()

    def wrap(self, wrap_id: str) -> WrapInfo:
        found = next((w for w in self._store.wraps() if w.wrap_id == wrap_id), None)
        if found is None:
            raise NotFoundError(f"no wrap {wrap_id!r} registered: register it first (POST /api/wraps)")
        return found

    def add_wrap(self, wrap_id: str, mac: str, key: str | None = None, *, now: float) -> WrapInfo:
        """Register a wrap (MAC in any usual spelling, key as 32 hex digits or None for a keyless
        bench wrap). A known id or MAC is a conflict; a malformed MAC or key is refused."""
        return self._store.add_wrap(_check_id("wrap id", wrap_id), mac, key, now=now)

    def assign_wrap(self, wrap_id: str, bed_id: str, *, now: float, who: str, replace: bool = False) -> None:
        """Put a wrap on a bed. ``replace`` takes the bed's current wrap off first (spare for a
        broken one); without it a bed that has another wrap is a conflict. Assigning a wrap to the
        bed it is already on does nothing."""
        self._store.assign_wrap(wrap_id, bed_id, now=now, who=_check_who(who), replace=replace)

    def unassign_wrap(self, wrap_id: str, *, now: float, who: str) -> bool:
        """Take a wrap off its bed; False if it was on none."""
        return self._store.unassign_wrap(wrap_id, now=now, who=_check_who(who))

    def swap_wraps(self, bed_a: str, bed_b: str, *, now: float, who: str) -> None:
        """Exchange the wraps of two beds at one instant (one may have none: that moves the wrap)."""
        self._store.swap_wraps(bed_a, bed_b, now=now, who=_check_who(who))

    # History ------------------------------------------------------------------------------------
    def contact_history(
        self, bed_id: str, first_day: dt.date, last_day: dt.date, params: RuleParams, *, now: float
    ) -> ContactHistory:
        """The bed's ward-local days ``first_day`` to ``last_day``: readings per day, and for each
        admission on the bed those days its daily totals and sessions.

        Totals come from the stored readings through the signal core (the rules the live engine
        and ``analyze`` run), cut to each stay, so a discharged baby's contact never counts towards
        the next baby's goal. Each query analyses its own span: a session running across the span's
        first midnight starts there, and contact hysteresis starts from the span's first reading, so
        a total can differ from the live tile by the few seconds of that first transition.
        """
        self.bed(bed_id)
        if last_day < first_day:
            raise WardError(f"the last day {last_day} is before the first day {first_day}")
        if (last_day - first_day).days >= MAX_HISTORY_DAYS:
            raise WardError(f"ask for at most {MAX_HISTORY_DAYS} days at a time")
        cal = DayCalendar(params.ward_tz)
        days = [first_day + dt.timedelta(days=k) for k in range((last_day - first_day).days + 1)]
        bounds = [*days, last_day + dt.timedelta(days=1)]
        edges = np.array([cal.midnight_us(d) for d in bounds], dtype=np.int64)
        start_t, end_t = int(edges[0]) / US, int(edges[-1]) / US
        readings = self._store.readings_for_bed(bed_id, start_t, end_t)
        t_us = np.array([round(r.t * US) for r in readings], dtype=np.int64)
        per_day = np.diff(np.searchsorted(t_us, edges))
        now_us = round(now * US)
        out_days: list[StayDay] = []
        sessions: list[StaySession] = []
        for adm in self._store.admissions_for_bed(bed_id, start_t, end_t):
            lo, hi = adm.clamp(start_t, end_t)
            rows = [r for r in readings if lo <= r.t < hi]
            stay_t = np.array([round(r.t * US) for r in rows], dtype=np.int64)
            counts = np.diff(np.searchsorted(stay_t, edges))
            totals: dict[dt.date, list[int]] = {}
            for series in readings_to_series(rows, params):
                report = analyze_series(
                    series, params, site_offset_mc=celsius_to_mc(adm.site_offset_c), calendar=cal
                )
                for d in report.days:
                    acc = totals.setdefault(d.day, [0, 0, 0])
                    acc[0] += d.observed_us
                    acc[1] += d.contact_us
                    acc[2] += d.unknown_us
                sessions += [
                    StaySession(adm.admission_id, series.wrap_id, s.start_us, s.end_us, s.contact_us, s.short)
                    for s in report.sessions
                ]
            for k, day in enumerate(days):
                day_start, day_end = int(edges[k]), int(edges[k + 1])
                if day_start >= hi * US or day_end <= lo * US or day_start > now_us:
                    continue  # the baby was not on the bed that day, or the day has not begun
                observed, contact, unknown = totals.get(day, [0, 0, 0])
                out_days.append(
                    StayDay(
                        day,
                        adm.admission_id,
                        adm.display_name,
                        adm.daily_goal_s,
                        int(counts[k]),
                        contact / US,
                        observed / US,
                        unknown / US,
                        day_end > now_us and adm.current,
                    )
                )
        return ContactHistory(
            bed_id,
            first_day,
            last_day,
            {d: int(n) for d, n in zip(days, per_day, strict=True)},
            tuple(sorted(out_days, key=lambda d: (d.day, d.admission_id))),
            tuple(sorted(sessions, key=lambda s: (s.start_us, s.wrap_id))),
        )
