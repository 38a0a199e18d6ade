"""The health station's routes: homes' sync, discharge "home on KMC", the station view, visits.

- ``POST /api/station/homes/{home_id}/sync``: a home gateway's batch (``station/wire.py``). The
  request guard has checked the home's bearer token (hashed, constant time) and capped the body
  before any of it was read; here the body is parsed and applied in a worker thread (pydantic,
  AES-CCM and SQLite off the event loop that streams the ward) and answered with a ``SyncAck``.
- ``POST /api/station/homes`` (nurse): discharge a baby home on KMC with the family's consent, take
  the home into the station's care and show the pairing code (QR) once.
- ``POST /api/station/homes/{home_id}/pairing`` (nurse): a new pairing code; the old one stops.
- ``GET /api/station`` (screen): the homes in care with their last week and the attention list.
- ``POST /api/station/homes/{home_id}/visits`` (nurse), ``GET /api/station/visits.csv`` (screen).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import functools
import io
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kmc_monitor.devices.protocol.verify import WrapEntry
from kmc_monitor.service.deps import Nurse, Runtime, Staff, audit_identity
from kmc_monitor.service.reports import neutralise
from kmc_monitor.service.routes.nurses import NurseConfirm, confirmed_who
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.ward_model import CaregiverRole, DischargeStatus, WardConflictError, WardError
from kmc_monitor.station.attention import Attention, DayFacts, needs_attention, next_visit
from kmc_monitor.station.service import Issued, Station, home_id_for, pairing_payload
from kmc_monitor.station.store import HomeRecord
from kmc_monitor.station.sync import Invalid
from kmc_monitor.station.wire import SYNC_PATH, PairingCode, SyncAck, SyncBatch

__all__ = ["StationCollector", "close_station", "open_station", "station_router"]

logger = logging.getLogger(__name__)

#: Days of the last week shown per baby.
WEEK_DAYS: Final = 7
_HOME_ID = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", max_length=64)]


# Lifecycle ---------------------------------------------------------------------------------------
async def open_station(app: FastAPI, rt: WardRuntime) -> Station:
    """Open the station on the ward's database (after the runtime has migrated it)."""
    path: Path = rt.store.path
    station = await asyncio.to_thread(
        Station, path, visit_days=rt.settings.station_visit_days, workers=rt.settings.station_verify_workers
    )
    app.state.station = station
    # The verify workers start in the background: the service answers meanwhile.
    app.state.station_warm_up = asyncio.create_task(asyncio.to_thread(station.warm_up))
    return station


async def close_station(app: FastAPI) -> None:
    warm: asyncio.Task[None] | None = getattr(app.state, "station_warm_up", None)
    if warm is not None:
        with contextlib.suppress(Exception):
            await warm
    station: Station | None = getattr(app.state, "station", None)
    if station is not None:
        app.state.station = None
        await asyncio.to_thread(station.close)


def _station(request: Request) -> Station:
    station: Station | None = getattr(request.app.state, "station", None)
    if station is None:
        raise HTTPException(503, "the health station is starting; try again in a moment")
    return station


StationDep = Annotated[Station, Depends(_station)]


# Models ------------------------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ConsentBody(_Body):
    """The family's consent to care at home with the station watching: who gave it, and when."""

    name: Annotated[str, Field(min_length=1, max_length=64, description="who consented")]
    relation: CaregiverRole = Field(description="mother, father or family")
    given_t: float | None = Field(default=None, ge=0, description="Unix seconds; default: now")

    @field_validator("relation")
    @classmethod
    def _known(cls, value: CaregiverRole) -> CaregiverRole:
        if value is CaregiverRole.UNKNOWN:
            raise ValueError("say who consented: mother, father or family")
        return value


class HomeDischargeBody(_Body):
    """Discharge a baby home on KMC and hand the record to the station."""

    admission_id: int = Field(ge=1, le=2**63 - 1)
    consent: ConsentBody
    wrap_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]] | None,
        Field(min_length=1, max_length=2, description="default: the wrap on the baby's bed"),
    ] = None
    language: str = Field(default="en", pattern=r"^[a-z]{2}(?:-[A-Z]{2})?$")
    tz: str | None = Field(default=None, max_length=64, description="IANA zone; default: the ward's")

    @field_validator("wrap_ids")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("name each wrap once")
        return value

    who: Annotated[str | None, Field(min_length=1, max_length=64, description="name for the audit")] = None
    #: On a shared screen of a ward with nurses, the discharging nurse confirms (issue #14).
    nurse: NurseConfirm | None = None


class ReissueBody(_Body):
    who: Annotated[str | None, Field(min_length=1, max_length=64)] = None


class PairingOut(BaseModel):
    """A pairing code, shown once: the token exists nowhere else (the station keeps its hash)."""

    home_id: str
    admission_id: int | None
    pairing: PairingCode
    qr_payload: str = Field(description="what the QR holds: base64url of the pairing JSON")
    qr_svg: str


class DayOut(BaseModel):
    day: dt.date
    wrap_id: str
    contact_s: float
    goal_s: float
    measured_s: float
    cold_episodes: int
    coldest_c: float | None
    battery_pct: float | None
    complete: bool
    goal_met: bool


class AttentionOut(BaseModel):
    reason: str
    detail: str


class NextVisitOut(BaseModel):
    day_number: int
    day: dt.date
    overdue_days: int


class HomeOut(BaseModel):
    home_id: str
    admission_id: int | None
    display_name: str
    language: str
    tz: str
    daily_goal_s: float
    discharged_t: float
    discharge_day: dt.date = Field(description="the day of discharge on the home's calendar (its tz)")
    today: dt.date = Field(
        description="today on the home's calendar: a visit form defaults to it, since the screen's own "
        "date can be a day off across time zones"
    )
    days_since_discharge: int
    last_sync_t: float | None
    last_sync_ago_s: float | None
    accepted_through: int
    pending: int | None
    battery_pct: float | None
    power_cuts: int | None
    refused: int
    cold_episodes_7d: int
    days: list[DayOut]
    next_visit: NextVisitOut | None
    last_visit: dt.date | None
    attention: list[AttentionOut]


class StationOut(BaseModel):
    now_t: float
    visit_days: list[int]
    homes: list[HomeOut]
    attention: list[HomeOut] = Field(description="the homes with at least one attention reason")


class VisitBody(_Body):
    day: dt.date
    weight_g: float | None = Field(default=None, ge=300, le=10_000)
    notes: str = Field(default="", max_length=2000)
    who: Annotated[str | None, Field(min_length=1, max_length=64)] = None


class VisitOut(BaseModel):
    visit_id: int
    home_id: str
    day: dt.date
    day_number: int
    weight_g: float | None
    notes: str
    recorded_t: float
    recorded_by: str


# Helpers -----------------------------------------------------------------------------------------
def _who(who: str, name: str | None) -> str:
    return audit_identity(who, name)


def _station_url(rt: WardRuntime, request: Request) -> str:
    if rt.settings.public_url is not None:
        return rt.settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def _pairing_out(issued: Issued) -> PairingOut:
    return PairingOut(
        home_id=issued.home.home_id,
        admission_id=issued.home.admission_id,
        pairing=issued.code,
        qr_payload=pairing_payload(issued.code),
        qr_svg=issued.qr_svg,
    )


def _local_day(t: float, tz: str) -> dt.date:
    return dt.datetime.fromtimestamp(t, ZoneInfo(tz)).date()


def _home_out(station: Station, home: HomeRecord, now_t: float, min_daily_contact_s: float) -> HomeOut:
    today = _local_day(now_t, home.tz)
    discharge_day = _local_day(home.discharged_t, home.tz)
    first = today - dt.timedelta(days=WEEK_DAYS - 1)
    since = min(first, discharge_day)
    stored = station.store.days(home.home_id, since, today)
    visits = station.store.visits(home.home_id)
    last_visit = max((v.day for v in visits), default=None)
    facts = [DayFacts(d.wrap_id, d.day, d.contact_s, d.cold_episodes, d.complete) for d in stored]
    reasons: list[Attention] = needs_attention(
        now_t=now_t,
        discharged_t=home.discharged_t,
        discharge_day=discharge_day,
        last_sync_t=home.last_sync_t,
        days=facts,
        last_visit_day=last_visit,
        min_daily_contact_s=min_daily_contact_s,
    )
    nxt = next_visit(
        discharge_day=discharge_day,
        visit_days=station.visit_days,
        visits=[v.day for v in visits],
        today=today,
    )
    week = [d for d in stored if d.day >= first]
    battery = home.status.battery_pct if home.status is not None else None
    if battery is None and week:
        battery = next((d.battery_pct for d in reversed(week) if d.battery_pct is not None), None)
    return HomeOut(
        home_id=home.home_id,
        admission_id=home.admission_id,
        display_name=home.display_name,
        language=home.language,
        tz=home.tz,
        daily_goal_s=home.daily_goal_s,
        discharged_t=home.discharged_t,
        discharge_day=discharge_day,
        today=today,
        days_since_discharge=(today - discharge_day).days,
        last_sync_t=home.last_sync_t,
        last_sync_ago_s=None if home.last_sync_t is None else max(0.0, now_t - home.last_sync_t),
        accepted_through=home.accepted_through,
        pending=None if home.status is None else home.status.pending,
        battery_pct=battery,
        power_cuts=None if home.status is None else home.status.power_cuts,
        refused=home.refused,
        cold_episodes_7d=sum(d.cold_episodes for d in week),
        days=[
            DayOut(
                day=d.day,
                wrap_id=d.wrap_id,
                contact_s=d.contact_s,
                goal_s=d.goal_s,
                measured_s=d.measured_s,
                cold_episodes=d.cold_episodes,
                coldest_c=d.coldest_c,
                battery_pct=d.battery_pct,
                complete=d.complete,
                goal_met=d.contact_s >= d.goal_s,
            )
            for d in week
        ],
        next_visit=None
        if nxt is None
        else NextVisitOut(day_number=nxt.day_number, day=nxt.day, overdue_days=nxt.overdue_days),
        last_visit=last_visit,
        attention=[AttentionOut(reason=a.reason.value, detail=a.detail) for a in reasons],
    )


def _inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` written in place: the route's body is declared for the API
    docs and the fuzzer without FastAPI parsing it (parsing runs in a worker, see ``sync``)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(schema)
    return out


# The router --------------------------------------------------------------------------------------
def station_router() -> APIRouter:
    router = APIRouter(tags=["station"])

    @router.post(
        SYNC_PATH,
        response_model=SyncAck,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _inline_schema(SyncBatch.model_json_schema())}},
            },
            "security": [{"homeToken": []}],
        },
    )
    async def sync(home_id: _HOME_ID, request: Request, rt: Runtime, station: StationDep) -> SyncAck:
        """A home gateway's batch. Authenticated by the home's pairing token (checked by the request
        guard before the body is read); parsed, verified and stored in a worker thread."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not station.check_token(home_id, token.strip()):
            raise HTTPException(
                401, "this home's pairing token is not valid", headers={"WWW-Authenticate": "Bearer"}
            )
        body = await request.body()
        now = rt.clock()

        # On the station's own threads: a catch-up must not take every thread of the default
        # executor, which the ward's staff actions write through.
        out = await asyncio.get_running_loop().run_in_executor(
            station.threads, functools.partial(station.receiver.receive, home_id, body, now=now)
        )
        if isinstance(out, Invalid):
            logger.warning(
                "home %s: a sync batch was refused (%d error(s)): not the contract", home_id, len(out.errors)
            )
            raise RequestValidationError(out.errors)
        return out

    @router.post("/api/station/homes", status_code=201, response_model=PairingOut)
    async def discharge_home(
        body: HomeDischargeBody, request: Request, who: Nurse, rt: Runtime, station: StationDep
    ) -> PairingOut:
        """Discharge a baby home on KMC (if still on the ward) with the family's consent recorded,
        take the home into the station's care (the baby, the wraps with their keys, the goal, the
        language and time zone) and show its pairing code once."""
        tz = body.tz or rt.settings.ward_tz
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise RequestValidationError(
                [
                    {
                        "loc": ["body", "tz"],
                        "msg": "not an IANA time zone (e.g. Asia/Ho_Chi_Minh)",
                        "type": "value_error",
                    }
                ]
            ) from None
        adm = rt.ward.admission(body.admission_id)  # 404
        if adm.discharged_t is not None and adm.discharge_status not in (None, DischargeStatus.HOME_ON_KMC):
            raise WardConflictError(
                f"admission {adm.admission_id} was discharged as {adm.discharge_status}, not home on KMC"
            )
        home_id = home_id_for(adm.admission_id)
        if await asyncio.to_thread(station.store.home_for_admission, adm.admission_id) is not None:
            raise WardConflictError(
                f"{adm.display_name} is in the station's care already ({home_id}): "
                f"issue a new pairing code with POST /api/station/homes/{home_id}/pairing"
            )
        wrap_ids = body.wrap_ids
        if wrap_ids is None:
            current = rt.ward.bed_status(adm.bed_id).wrap_id if adm.discharged_t is None else None
            if current is None:
                raise WardError("name the wrap(s) going home (wrap_ids): the baby's bed has none on it")
            wrap_ids = [current]
        registry = await asyncio.to_thread(rt.store.wrap_registry)
        entries: list[WrapEntry] = []
        for wrap_id in wrap_ids:
            entry = registry.by_id(wrap_id)
            if entry is None:
                raise WardError(f"no wrap {wrap_id!r} is registered")
            if entry.key is None:
                raise WardError(
                    f"wrap {wrap_id} has no key: the station could not verify what it sends from home "
                    "(give it a key, or send another wrap home)"
                )
            entries.append(entry)
        # A discharge, confirmed by the nurse as every discharge from a shared screen is (after the
        # checks above, so nobody types a PIN for something refused anyway).
        actor = await confirmed_who(request, rt, _who(who, body.who), body.nurse)
        consent_t = body.consent.given_t if body.consent.given_t is not None else rt.clock()
        if consent_t > rt.clock() + 300:
            raise WardError("the consent's time is in the future: give when the family consented")
        # Checked, now act: the discharge first (it frees the bed), then the station's record.
        if adm.discharged_t is None:
            adm = await rt.discharge(adm.admission_id, actor, DischargeStatus.HOME_ON_KMC)
        elif adm.discharge_status is None:
            adm = await asyncio.to_thread(
                rt.ward.set_discharge_status, adm.admission_id, DischargeStatus.HOME_ON_KMC, who=actor
            )
        now = rt.clock()
        assert adm.discharged_t is not None
        name = neutralise("".join(c for c in body.consent.name if c.isprintable()))
        home = HomeRecord(
            home_id=home_id,
            admission_id=adm.admission_id,
            display_name=adm.display_name,
            daily_goal_s=adm.daily_goal_s,
            language=body.language,
            tz=tz,
            discharged_t=adm.discharged_t,
            enrolled_t=now,
            enrolled_by=actor,
            consent_by=f"{body.consent.relation.value}: {name}",
            consent_t=consent_t,
            accepted_through=0,
            last_sync_t=None,
            status=None,
            refused=0,
            token_t=now,
        )
        issued = await asyncio.to_thread(
            station.enrol, home, entries, station_url=_station_url(rt, request), now=now, who=actor
        )
        logger.info(
            "%s went home on KMC (%s), enrolled by %s with consent of %s",
            adm.display_name,
            home_id,
            actor,
            home.consent_by,
        )
        return _pairing_out(issued)

    @router.post("/api/station/homes/{home_id}/pairing", response_model=PairingOut)
    async def reissue(
        home_id: _HOME_ID,
        request: Request,
        who: Nurse,
        rt: Runtime,
        station: StationDep,
        body: ReissueBody | None = None,
    ) -> PairingOut:
        """A new pairing code (a lost card, a replaced board): the old token is refused at once."""
        actor = _who(who, body.who if body else None)
        issued = await asyncio.to_thread(
            station.reissue, home_id, station_url=_station_url(rt, request), now=rt.clock(), who=actor
        )
        station.receiver.forget(home_id)
        return _pairing_out(issued)

    @router.get("/api/station", response_model=StationOut)
    async def station_view(who: Staff, rt: Runtime, station: StationDep) -> StationOut:
        """The babies at home in the station's care, newest discharge first, and those needing
        attention (``station/attention.py``)."""
        now = rt.clock()
        minimum = rt.settings.clinical.min_daily_contact_s

        def load() -> list[HomeOut]:
            return [_home_out(station, h, now, minimum) for h in station.store.homes()]

        homes = await asyncio.to_thread(load)
        return StationOut(
            now_t=now,
            visit_days=list(station.visit_days),
            homes=homes,
            attention=[h for h in homes if h.attention],
        )

    @router.post("/api/station/homes/{home_id}/visits", status_code=201, response_model=VisitOut)
    async def add_visit(
        home_id: _HOME_ID, body: VisitBody, who: Nurse, rt: Runtime, station: StationDep
    ) -> VisitOut:
        """Record a follow-up visit: the day, the baby's weight, notes, and who (audited)."""
        actor = _who(who, body.who)
        notes = "".join(c for c in body.notes if c.isprintable() or c == "\n")
        now = rt.clock()

        def step() -> tuple[HomeRecord, Any]:
            home = station.store.home(home_id)
            if not _local_day(home.discharged_t, home.tz) <= body.day <= _local_day(now, home.tz):
                raise WardError(
                    f"a visit is recorded between the discharge ({_local_day(home.discharged_t, home.tz)}) "
                    "and today, on the home's calendar"
                )
            visit = station.store.add_visit(home_id, body.day, body.weight_g, notes, now=now, who=actor)
            return home, visit

        home, visit = await asyncio.to_thread(step)
        return _visit_out(home, visit)

    @router.get("/api/station/homes/{home_id}/visits", response_model=list[VisitOut])
    async def visits(home_id: _HOME_ID, who: Staff, station: StationDep) -> list[VisitOut]:
        def load() -> list[VisitOut]:
            home = station.store.home(home_id)
            return [_visit_out(home, v) for v in station.store.visits(home_id)]

        return await asyncio.to_thread(load)

    @router.get(
        "/api/station/visits.csv",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def visits_csv(who: Staff, station: StationDep) -> Response:
        """Every recorded visit, one row each, for the station's own records or the district."""

        def build() -> str:
            homes = {h.home_id: h for h in station.store.homes()}
            out = io.StringIO()
            w = csv.writer(out, lineterminator="\r\n")
            w.writerow(
                [
                    "home_id",
                    "baby",
                    "visit_day",
                    "day_after_discharge",
                    "weight_g",
                    "notes",
                    "recorded_at_utc",
                    "recorded_by",
                ]
            )
            for v in station.store.visits():
                home = homes[v.home_id]
                row = _visit_out(home, v)
                w.writerow(
                    [
                        v.home_id,
                        neutralise(home.display_name),
                        v.day.isoformat(),
                        row.day_number,
                        "" if v.weight_g is None else f"{v.weight_g:.0f}",
                        neutralise(v.notes),
                        dt.datetime.fromtimestamp(v.recorded_t, dt.UTC).isoformat(timespec="seconds"),
                        neutralise(v.recorded_by),
                    ]
                )
            return out.getvalue()

        text = await asyncio.to_thread(build)
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="station-visits.csv"',
                "Cache-Control": "no-store",
            },
        )

    return router


def _visit_out(home: HomeRecord, v: Any) -> VisitOut:
    return VisitOut(
        visit_id=v.visit_id,
        home_id=v.home_id,
        day=v.day,
        day_number=(v.day - _local_day(home.discharged_t, home.tz)).days,
        weight_g=v.weight_g,
        notes=v.notes,
        recorded_t=v.recorded_t,
        recorded_by=v.recorded_by,
    )


# Metrics -----------------------------------------------------------------------------------------
class StationCollector(Collector):
    """The station's sync counters for ``/metrics``: labels are fixed words, never a home id."""

    def __init__(self, station: Callable[[], Station | None]) -> None:
        self._station = station

    def collect(self) -> Iterable[Metric]:
        station = self._station()
        if station is None:
            return []
        s = station.receiver.stats
        batches = CounterMetricFamily(
            "kmc_station_sync_batches",
            "Sync batches from home gateways: stored, or refused whole (invalid)",
            labels=["kind"],
        )
        batches.add_metric(["stored"], s.batches)
        batches.add_metric(["invalid"], s.invalid)
        items = CounterMetricFamily(
            "kmc_station_items", "Items forwarded by home gateways and stored, by kind", labels=["kind"]
        )
        items.add_metric(["reading"], s.readings_accepted)
        items.add_metric(["day"], s.days_accepted)
        items.add_metric(["repeated"], s.repeated)
        refused = CounterMetricFamily(
            "kmc_station_items_refused", "Forwarded items refused (stored with the reason)", labels=["reason"]
        )
        for reason, n in sorted(s.refused.items()):
            refused.add_metric([reason], n)
        homes = GaugeMetricFamily("kmc_station_homes", "Homes in the station's care")
        homes.add_metric([], station.home_count())
        return [batches, items, refused, homes]
