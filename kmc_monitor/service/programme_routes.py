"""Routes of the programme layer: caregivers (staff and the family page), discharge status, and
the ward's indicators as JSON, CSV, DHIS2 data values and a printable page.

Family routes take the family token in the ``X-Family-Token`` header, never in the address: an
address ends up in access logs and proxies, a header does not. The same token opens the family
page's stream; a revoked or discharged link is refused with the same 404 as an unknown one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, HTTPException, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kmc_monitor.programme.caregivers import StaySummary, caregiver_days, stay_summary
from kmc_monitor.programme.charts import indicators_html
from kmc_monitor.programme.dhis2 import Dhis2Error, ImportSummary, data_value_set, load_mapping, push
from kmc_monitor.programme.discharge import ChecklistItem, ChecklistState, checklist_state
from kmc_monitor.programme.indicators import (
    Indicators,
    Period,
    PeriodError,
    compute_indicators,
    indicators_csv,
)
from kmc_monitor.service.deps import Admin, Nurse, RowId, Runtime, Staff
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.views import AdmissionOut, admission_out
from kmc_monitor.service.ward_model import Admission, CaregiverRole, DischargeStatus, FamilyMember, KmcMode

__all__ = ["Dhis2Settings", "programme_router"]

#: An id in a path or body: what SQLite's INTEGER holds (a larger one is a 422, not an overflow).
CaregiverId = Annotated[int, Field(ge=1, le=2**63 - 1)]

#: "Nothing recorded yet" (unlike an explicit "unknown", which is None).
_NOBODY = -1

#: Family-page holding changes are stamped "family"; a nurse's are "staff".
_FAMILY, _STAFF = "family", "staff"


class Dhis2Settings(BaseSettings):
    """Where the indicators are pushed (``KMC_DHIS2_URL``, ``_USER``, ``_PASSWORD``, ``_MAPPING``).

    Unset URL: the service never pushes (the payload can still be downloaded).
    """

    model_config = SettingsConfigDict(env_prefix="KMC_DHIS2_", extra="ignore")
    url: str | None = None
    user: str | None = None
    password: SecretStr | None = None
    mapping: str | None = None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CaregiverBody(_Body):
    role: Literal["mother", "father", "family"]
    name: Annotated[str, Field(max_length=64)] = ""


class HoldingBody(_Body):
    """Who holds the baby (``caregiver_id`` None: unknown) from ``from_t`` (default now) until
    ``until_t`` (default: until the next change)."""

    caregiver_id: CaregiverId | None = None
    from_t: Annotated[float, Field(ge=0, le=4_102_444_800)] | None = None
    until_t: Annotated[float, Field(ge=0, le=4_102_444_800)] | None = None


class FamilyHoldingBody(_Body):
    caregiver_id: CaregiverId | None = None


class ChecklistBody(_Body):
    """One checklist item ticked (``done`` true) or unticked by the nurse with the family."""

    item: ChecklistItem
    done: bool


class DischargeStatusBody(_Body):
    status: DischargeStatus


# Responses ----------------------------------------------------------------------------------------
class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Dhis2Pushed(ImportSummary):
    """What a push to DHIS2 did: the period, how many data values went, and the server's counts."""

    period: str
    sent: int


class CaregiverOut(_Out):
    caregiver_id: int | None
    role: CaregiverRole
    name: str
    label: str


class StayOut(_Out):
    """When skin-to-skin began (from birth, from admission) and how long the stay has practised it."""

    first_session_t: float | None
    time_to_first_from_birth_h: float | None
    time_to_first_from_admission_h: float | None
    days_in_kmc: float | None
    days_with_contact: int


class HoldingStepOut(_Out):
    from_t: float
    caregiver_id: int | None


class CaregiverDayOut(_Out):
    day: str
    by_caregiver_s: dict[str, float]
    by_role_s: dict[str, float]
    mother_kmc_s: float
    others_s: float
    total_s: float


class CaregiversOut(_Out):
    """The caregivers of a stay, who holds now, the record of who held, and hours per caregiver."""

    birth_t: float | None
    stay: StayOut
    admission_id: int
    kmc_mode: KmcMode
    daily_goal_s: float
    caregivers: list[CaregiverOut]
    holding_now: int | None
    holding: list[HoldingStepOut]
    days: list[CaregiverDayOut]


class FamilyCaregiversOut(_Out):
    """What the family page is told of its own baby's caregivers (no record of corrections); only
    ``active: false`` for a link that is not (or no longer) valid."""

    active: bool
    birth_t: float | None = None
    stay: StayOut | None = None
    admission_id: int | None = None
    kmc_mode: KmcMode | None = None
    daily_goal_s: float | None = None
    caregivers: list[CaregiverOut] | None = None
    holding_now: int | None = None
    days: list[CaregiverDayOut] | None = None


class DischargeReportOut(_Out):
    ward_name: str
    ward_tz: str
    generated_t: float
    admission: AdmissionOut
    stay: StayOut
    caregivers: list[CaregiverOut]
    checklist: ChecklistState


def _member_out(m: FamilyMember) -> CaregiverOut:
    return CaregiverOut(caregiver_id=m.caregiver_id, role=m.role, name=m.name, label=m.label)


def _stay_out(summary: StaySummary) -> StayOut:
    return StayOut(
        first_session_t=summary.first_session_t,
        time_to_first_from_birth_h=summary.from_birth_h,
        time_to_first_from_admission_h=summary.from_admission_h,
        days_in_kmc=summary.days_in_kmc,
        days_with_contact=summary.days_with_contact,
    )


def _caregivers_out(rt: WardRuntime, adm: Admission, days: int) -> CaregiversOut:
    """The caregivers, who holds now, and the hours per caregiver of the last ``days`` days."""
    now = rt.clock()
    tz = rt.settings.ward_tz
    today = dt.datetime.fromtimestamp(now, ZoneInfo(tz)).date()
    first = max(
        today - dt.timedelta(days=days - 1), dt.datetime.fromtimestamp(adm.admitted_t, ZoneInfo(tz)).date()
    )
    members = rt.ward.caregivers(adm.admission_id)
    steps = rt.ward.store.holding(adm.admission_id)
    holder = next((c for t, c in reversed(steps) if t <= now), None)
    per_day = caregiver_days(rt.ward.store, adm, first, today, tz)
    return CaregiversOut(
        birth_t=adm.birth_t,
        stay=_stay_out(stay_summary(rt.ward.store, adm, tz, now=now)),
        admission_id=adm.admission_id,
        kmc_mode=adm.kmc_mode,
        daily_goal_s=adm.daily_goal_s,
        caregivers=[_member_out(m) for m in members],
        holding_now=holder,
        holding=[HoldingStepOut(from_t=t, caregiver_id=c) for t, c in steps],
        days=[
            CaregiverDayOut(
                day=d.day.isoformat(),
                by_caregiver_s=d.by_caregiver_s,
                by_role_s={r.value: v for r, v in d.by_role_s.items()},
                mother_kmc_s=d.mother_s,
                others_s=d.others_s,
                total_s=d.total_s,
            )
            for d in per_day
        ],
    )


def _family_caregivers(out: CaregiversOut) -> FamilyCaregiversOut:
    """What the family page is told: today's caregivers, without the record of corrections."""
    return FamilyCaregiversOut(active=True, **{name: value for name, value in out if name != "holding"})


def _checklist(rt: WardRuntime, admission_id: int) -> ChecklistState:
    adm = rt.ward.admission(admission_id)  # 404 for an unknown stay
    return checklist_state(adm.admission_id, rt.ward.store.teaching(adm.admission_id))


def discharge_report_out(rt: WardRuntime, admission_id: int) -> DischargeReportOut:
    """The discharge report: the stay, its skin-to-skin summary, its caregivers and its checklist."""
    adm = rt.ward.admission(admission_id)
    now = rt.clock()  # one moment: the report's time is the time its summary was made for
    return DischargeReportOut(
        ward_name=rt.settings.ward_name,
        ward_tz=rt.settings.ward_tz,
        generated_t=now,
        admission=admission_out(adm),
        stay=_stay_out(stay_summary(rt.ward.store, adm, rt.settings.ward_tz, now=now)),
        caregivers=[_member_out(m) for m in rt.ward.caregivers(adm.admission_id)],
        checklist=_checklist(rt, adm.admission_id),
    )


def _family_admission(rt: WardRuntime, token: str | None) -> Admission:
    adm = rt.ward.admission_for_family_token(token or "")
    if adm is None:
        raise HTTPException(404, "this family link is not valid any more: ask the nurses for a new card")
    return adm


async def _indicators(rt: WardRuntime, period: str | None) -> Indicators:
    now = rt.clock()
    tz = rt.settings.ward_tz
    try:
        if period is None:
            today = dt.datetime.fromtimestamp(now, ZoneInfo(tz)).date()
            p = Period.month(today.year, today.month)
        else:
            p = Period.parse(period)
    except PeriodError as exc:
        raise HTTPException(422, str(exc)) from None
    if (p.last - p.first).days > 366:
        raise HTTPException(422, "ask for at most a year at a time")
    return await asyncio.to_thread(compute_indicators, rt.ward.store, p, ward_tz=tz, now=now)


def programme_router() -> APIRouter:
    """Caregiver, discharge-status and indicator routes; include in the app made by ``create_app``."""
    router = APIRouter()

    @router.get(
        "/api/admissions/{admission_id}/caregivers",
        tags=["caregivers"],
        response_model=CaregiversOut,
    )
    async def caregivers(
        admission_id: RowId, who: Staff, rt: Runtime, days: Annotated[int, Query(ge=1, le=31)] = 7
    ) -> CaregiversOut:
        """The baby's caregivers, who holds now, and hours per caregiver per day (bed page, report)."""
        return await asyncio.to_thread(_caregivers_out, rt, rt.ward.admission(admission_id), days)

    @router.post(
        "/api/admissions/{admission_id}/caregivers",
        status_code=201,
        tags=["caregivers"],
        response_model=CaregiverOut,
    )
    async def add_caregiver(
        admission_id: RowId, body: CaregiverBody, who: Nurse, rt: Runtime
    ) -> CaregiverOut:
        member = FamilyMember(CaregiverRole(body.role), body.name)
        added, _ = await rt.write(lambda now: rt.ward.add_caregiver(admission_id, member, now=now, who=who))
        return _member_out(added)

    @router.put("/api/admissions/{admission_id}/holding", tags=["caregivers"], response_model=CaregiversOut)
    async def set_holding(admission_id: RowId, body: HoldingBody, who: Nurse, rt: Runtime) -> CaregiversOut:
        """A nurse records who holds (now) or corrects who held (a past span, e.g. one session)."""
        await rt.write(
            lambda now: rt.ward.set_holder(
                admission_id,
                body.caregiver_id,
                from_t=now if body.from_t is None else body.from_t,
                until_t=body.until_t,
                now=now,
                who=who,
                source=_STAFF,
            )
        )
        return await asyncio.to_thread(_caregivers_out, rt, rt.ward.admission(admission_id), 7)

    @router.put(
        "/api/admissions/{admission_id}/discharge-status",
        tags=["admissions"],
        response_model=AdmissionOut,
    )
    async def discharge_status(
        admission_id: RowId, body: DischargeStatusBody, who: Nurse, rt: Runtime
    ) -> AdmissionOut:
        adm, _ = await rt.write(lambda now: rt.ward.set_discharge_status(admission_id, body.status, who=who))
        return admission_out(adm)

    @router.get(
        "/api/admissions/{admission_id}/discharge-checklist",
        tags=["admissions"],
        response_model=ChecklistState,
    )
    async def discharge_checklist(admission_id: RowId, who: Staff, rt: Runtime) -> ChecklistState:
        """What the family has been taught before going home, item by item, with who ticked it."""
        return await asyncio.to_thread(_checklist, rt, admission_id)

    @router.put(
        "/api/admissions/{admission_id}/discharge-checklist",
        tags=["admissions"],
        response_model=ChecklistState,
    )
    async def tick_discharge_checklist(
        admission_id: RowId, body: ChecklistBody, who: Nurse, rt: Runtime
    ) -> ChecklistState:
        """Tick or untick one item; the signed-in staff member and the time are recorded with it."""
        await rt.write(
            lambda now: rt.ward.store.set_teaching(admission_id, body.item.value, body.done, now=now, who=who)
        )
        rt.checklist_changed(admission_id)
        return await asyncio.to_thread(_checklist, rt, admission_id)

    @router.get(
        "/api/admissions/{admission_id}/discharge-report",
        tags=["admissions"],
        response_model=DischargeReportOut,
    )
    async def discharge_report(admission_id: RowId, who: Staff, rt: Runtime) -> DischargeReportOut:
        """The discharge report's data (the page ``/discharge/{admission_id}`` prints it)."""
        return await asyncio.to_thread(discharge_report_out, rt, admission_id)

    @router.get(
        "/api/family/caregivers",
        tags=["family"],
        response_model=FamilyCaregiversOut,
        response_model_exclude_unset=True,
    )
    async def family_caregivers(
        rt: Runtime, x_family_token: Annotated[str | None, Header()] = None
    ) -> FamilyCaregiversOut:
        """The family's own baby: who may hold, who holds now, and today's hours per caregiver.

        A link that is not (or no longer) valid gets ``{"active": false}``, the same for every
        reason, rather than an error: the family page asks on its own, and its stream already tells
        the family the link has ended.
        """
        adm = rt.ward.admission_for_family_token(x_family_token or "")
        if adm is None:
            return FamilyCaregiversOut(active=False)
        return _family_caregivers(await asyncio.to_thread(_caregivers_out, rt, adm, 1))

    @router.put(
        "/api/family/holding",
        tags=["family"],
        response_model=FamilyCaregiversOut,
        response_model_exclude_unset=True,
    )
    async def family_holding(
        body: FamilyHoldingBody, rt: Runtime, x_family_token: Annotated[str | None, Header()] = None
    ) -> FamilyCaregiversOut:
        """ "Who is holding now", from the family page (from now; a nurse can correct it later)."""
        adm = _family_admission(rt, x_family_token)
        now = rt.clock()
        steps = rt.ward.store.holding(adm.admission_id)
        current = next((c for t, c in reversed(steps) if t <= now), None) if steps else _NOBODY
        # The same choice again (a double tap, a page re-sent) writes nothing: the record stays
        # readable and a family link cannot fill the database.
        if current != body.caregiver_id:
            await rt.write(
                lambda at: rt.ward.set_holder(
                    adm.admission_id, body.caregiver_id, from_t=at, now=at, who="family page", source=_FAMILY
                )
            )
        return _family_caregivers(await asyncio.to_thread(_caregivers_out, rt, adm, 1))

    @router.get(
        "/api/indicators",
        tags=["indicators"],
        responses={
            200: {
                "model": Indicators,
                "description": "the indicators (JSON), as CSV (format=csv), or as DHIS2 data values "
                "(format=dhis2)",
                "content": {"text/csv": {}},
            }
        },
    )
    async def indicators(
        who: Staff,
        rt: Runtime,
        period: Annotated[str | None, Query(max_length=40)] = None,
        format: Literal["json", "csv", "dhis2"] = "json",
    ) -> Response:
        """The ward's indicators for a period (default this month): JSON, CSV or DHIS2 data values."""
        ind = await _indicators(rt, period)
        if format == "csv":
            name = f"kmc-indicators-{ind.period}.csv"
            return Response(
                indicators_csv(ind),
                media_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="{name}"',
                    "Cache-Control": "no-store",
                },
            )
        if format == "dhis2":
            return Response(_payload(ind).model_dump_json(exclude_none=True), media_type="application/json")
        return Response(ind.model_dump_json(), media_type="application/json")

    @router.post("/api/indicators/dhis2", tags=["indicators"])
    async def push_dhis2(
        who: Admin, rt: Runtime, period: Annotated[str | None, Query(max_length=40)] = None
    ) -> Dhis2Pushed:
        """Send the period's data values to the configured DHIS2 server; its import counts back."""
        cfg = Dhis2Settings()
        if cfg.url is None or cfg.user is None or cfg.password is None:
            raise HTTPException(
                409, "no DHIS2 server configured: set KMC_DHIS2_URL, KMC_DHIS2_USER and KMC_DHIS2_PASSWORD"
            )
        ind = await _indicators(rt, period)
        payload = _payload(ind)
        try:
            summary = await asyncio.to_thread(
                push, payload, cfg.url, cfg.user, cfg.password.get_secret_value()
            )
        except Dhis2Error as exc:
            raise HTTPException(502, str(exc)) from None
        return Dhis2Pushed(period=ind.period, sent=len(payload.dataValues), **summary.model_dump())

    @router.get("/indicators", response_class=HTMLResponse, tags=["indicators"])
    async def indicators_page(
        who: Staff, rt: Runtime, period: Annotated[str | None, Query(max_length=40)] = None
    ) -> HTMLResponse:
        """The printable indicators page with its charts."""
        ind = await _indicators(rt, period)
        page = await asyncio.to_thread(indicators_html, ind, ward_name=rt.settings.ward_name)
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    return router


def _payload(ind: Indicators) -> Any:
    cfg = Dhis2Settings()
    if cfg.mapping is None:
        raise HTTPException(409, "no DHIS2 mapping file configured: set KMC_DHIS2_MAPPING")
    try:
        mapping = load_mapping(cfg.mapping, {v.key for v in ind.values})
        return data_value_set(ind, mapping)
    except (Dhis2Error, PeriodError) as exc:
        raise HTTPException(422, str(exc)) from None
