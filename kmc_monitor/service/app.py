"""The FastAPI app: REST for staff actions, WebSockets for the ward screen and the family pages.

``create_app(settings)`` builds the app; its lifespan owns the :class:`WardRuntime` (store, engine,
source, hub), so nothing is created at import time. Staff routes need a staff token (see
``auth.py``); ``/ws/bed/{family_token}`` serves one bed's plain status. A revoked, renewed or
discharged family link closes its open streams at once (the runtime signals each of them); the
token is also re-checked every second as a backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Query, Request, Response, WebSocket
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from kmc_monitor.errors import AlarmError, UnknownAlarmError
from kmc_monitor.service import credential
from kmc_monitor.service.alarms import AuditRecord
from kmc_monitor.service.apidocs import docs_router, mount_docs
from kmc_monitor.service.auth import SESSION_COOKIE, Role, SignInLimiter, StaffAuth, install_log_redaction
from kmc_monitor.service.config import Settings
from kmc_monitor.service.deps import Admin, Nurse, Runtime, Staff
from kmc_monitor.service.export import export_router
from kmc_monitor.service.firstrun import apply_ward_setup
from kmc_monitor.service.guard import PAGE_PREFIXES, RequestGuard
from kmc_monitor.service.hub import Subscriber
from kmc_monitor.service.ingest import ingest_router
from kmc_monitor.service.metrics import metrics_router
from kmc_monitor.service.pages import mount_dashboard, page_router
from kmc_monitor.service.programme_routes import programme_router
from kmc_monitor.service.reports import report_router, stored_alarm_json
from kmc_monitor.service.routes.family_card import family_card_router
from kmc_monitor.service.routes.nurses import nurses_router
from kmc_monitor.service.routes.station import close_station, open_station, station_router
from kmc_monitor.service.routes.ward_admin import (
    audit_identity,
    bed_detail,
    keep_family_links_soon,
    restore_family_links,
    ward_admin_router,
)
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.schemas import (
    AlarmParamsOut,
    AuditOut,
    HeardWrapOut,
    PauseBody,
    PauseOut,
    SettingsOut,
    TrendBinOut,
    TrendOut,
    WrapKeyBody,
    WrapOut,
    WrapsOut,
)
from kmc_monitor.service.store import StoreError, day_bounds
from kmc_monitor.service.views import admission_json, audit_json, bed_json, session_json
from kmc_monitor.service.ward import (
    MAX_HISTORY_DAYS,
    ContactHistory,
    NotFoundError,
    StayDay,
    WardConflictError,
    WardError,
)
from kmc_monitor.signal.params import US

__all__ = ["WS_UNAUTHORIZED", "audit_identity", "create_app"]

logger = logging.getLogger(__name__)

#: Close code of a WebSocket refused for want of a valid token.
WS_UNAUTHORIZED = 4401
#: Close code for a client that sends on a send-only stream (RFC 6455 "unsupported data").
WS_UNSUPPORTED = 1003
#: Close codes of the protocol layer (uvicorn's WebSocket implementation) that mean the client
#: sent something broken, by the reason they are counted under.
_PROTOCOL_CLOSES: dict[int, str] = {1002: "protocol", 1007: "invalid_utf8", 1009: "too_big"}
#: A family stream re-checks its token at least this often (seconds).
FAMILY_RECHECK_S = 1.0

#: An alarm or admission id in a path: what SQLite's INTEGER holds (64-bit signed). A larger number
#: is refused with 422 here instead of overflowing in the store as a 500 (found by fuzzing).
RowId = Annotated[int, PathParam(ge=-(2**63), le=2**63 - 1)]


#: Where the signed-out devices are kept (the store's settings table), so a restart keeps them out.
SIGNED_OUT_KEY = "signed_out_sessions"


def _today(rt: WardRuntime) -> dt.date:
    """The ward-local date now (the ward's clock, which is what daily totals follow)."""
    return dt.datetime.fromtimestamp(rt.clock(), ZoneInfo(rt.settings.ward_tz)).date()


def _stay_day_json(d: StayDay) -> dict[str, Any]:
    return {
        "day": d.day.isoformat(),
        "admission_id": d.admission_id,
        "display_name": d.display_name,
        "daily_goal_s": d.daily_goal_s,
        "readings": d.readings,
        "contact_s": d.contact_s,
        "observed_s": d.observed_s,
        "unknown_s": d.unknown_s,
        "goal_met": d.goal_met,
        "ongoing": d.ongoing,
    }


def _with_pending_audit(
    rt: WardRuntime,
    stored: list[AuditRecord],
    alarm_id: int | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
) -> list[AuditRecord]:
    """Stored audit lines plus those the board has not handed to the store yet, once each.

    Call on the event loop (the board is the loop's); ``stored`` may be read in a thread.
    """
    seen = {r.seq for r in stored}
    lo = -(2**63) if start_us is None else start_us
    hi = 2**63 - 1 if end_us is None else end_us
    pending = [
        r
        for r in rt.engine.board.audit
        if r.seq not in seen and (alarm_id is None or r.alarm_id == alarm_id) and lo <= r.at_us < hi
    ]
    return sorted([*stored, *pending], key=lambda r: (r.at_us, r.seq))


def _history(rt: WardRuntime, bed_id: str, first: dt.date, last: dt.date) -> ContactHistory:
    return rt.ward.contact_history(bed_id, first, last, rt.engine.params, now=rt.clock())


def create_app(settings: Settings, *, runtime: WardRuntime | None = None) -> FastAPI:
    """The ward service's app; the lifespan starts ``runtime`` (made from ``settings`` if None)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()
        rt = runtime if runtime is not None else WardRuntime(settings)
        app.state.runtime = rt
        # Until the store is open (rt.start) the app refuses every staff request: no tokens yet.
        app.state.auth = StaffAuth(())
        if not settings.all_staff_tokens and not (settings.data_dir / credential.CREDENTIAL_FILE).exists():
            logger.warning("no staff token is configured: every staff route refuses access")
        # The first-run page's answers (issue-14a), laid over the configuration before the
        # engine is built, so its days follow the ward's time zone.
        rt.settings = await asyncio.to_thread(apply_ward_setup, rt.settings)
        await rt.start()
        await open_station(app, rt)  # issue-17b: the health station, on the ward's database
        auth = StaffAuth(
            settings.all_staff_tokens,
            secret=rt.store.session_secret(),
            roles={
                Role.METRICS: settings.metrics_tokens,
                Role.SCREEN: settings.screen_tokens,
                Role.NURSE: settings.nurse_tokens,
            },
            session_s=settings.session_s,
        )
        try:
            kept = credential.load(rt.settings.data_dir)  # the ward's own staff credential (hashed)
        except credential.CredentialFileError as exc:
            logger.error("%s; the configured staff tokens still work", exc)
            kept = None
        if kept is not None:
            auth.add_digest(kept.sha256, Role.ADMIN)
        await asyncio.to_thread(restore_family_links, rt, rt.ward.base_url)
        await keep_family_links_soon(rt)  # a demo ward's first links
        auth.restore_signed_out(rt.store.get_setting(SIGNED_OUT_KEY, {}) or {})
        app.state.auth = auth
        app.state.signin_limiter = SignInLimiter()
        try:
            yield
        finally:
            await close_station(app)
            await rt.stop()

    # /docs and /openapi.json are served by apidocs.py: for staff, from local files, with a CSP.
    app = FastAPI(
        title="kmc-monitor ward service", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.include_router(docs_router())
    mount_docs(app)
    # The dashboard's pages and assets (dashboard/): who may open which page is decided there.
    app.include_router(page_router())
    app.include_router(report_router())
    app.include_router(family_card_router())
    app.include_router(export_router())
    app.include_router(metrics_router())
    app.include_router(ingest_router())
    app.include_router(programme_router())
    app.include_router(station_router())
    app.include_router(ward_admin_router())
    app.include_router(nurses_router())
    mount_dashboard(app)

    # Outermost: origin, credential, anti-forgery token and body size, before anything is read.
    app.add_middleware(RequestGuard, public_url=settings.public_url)

    @app.get("/api/session", tags=["service"])
    async def session(request: Request, who: Staff) -> dict[str, Any]:
        """Who this device is signed in as (and its role), and the anti-forgery token its page sends
        with every write (``X-CSRF-Token``; only a page of this origin can read it). Bearer clients
        need none."""
        auth: StaffAuth = request.app.state.auth
        sid = request.cookies.get(SESSION_COOKIE)
        ident = auth.identity(request.headers, request.cookies, {})
        csrf = auth.csrf_for(sid) if sid and auth.check_session(sid) is not None else None
        return {"staff": who, "role": None if ident is None else ident.role.label, "csrf": csrf}

    @app.post("/api/session/signout", tags=["service"])
    async def sign_out(request: Request, who: Staff, rt: Runtime) -> JSONResponse:
        """Sign this device out: its session cookie (and every renewal of it) stops working; the
        token and other devices' sessions are untouched."""
        auth: StaffAuth = request.app.state.auth
        ended = auth.sign_out(request.cookies.get(SESSION_COOKIE))
        if ended:
            await asyncio.to_thread(rt.store.set_setting, SIGNED_OUT_KEY, auth.signed_out)
            logger.info("a device of %s signed out", who)
        response = JSONResponse({"signed_out": ended})
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.middleware("http")
    async def token_to_cookie(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """``?token=`` on a page (the kiosk's sign-in link) once: a valid staff token becomes an
        HttpOnly session cookie. A session in use is renewed (a shift from now)."""
        response = await call_next(request)
        auth: StaffAuth | None = getattr(request.app.state, "auth", None)
        if auth is None:
            return response
        token = request.query_params.get("token")
        path = request.url.path
        fresh: str | None = None
        if token and path.startswith(PAGE_PREFIXES) and auth.check_token(token) is not None:
            fresh = auth.new_session(token)
        elif SESSION_COOKIE in request.cookies and response.status_code < 400:
            fresh = auth.renewal(request.cookies[SESSION_COOKIE])
        if fresh is not None:
            response.set_cookie(
                SESSION_COOKIE,
                fresh,
                max_age=int(auth.session_s),
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with where and what, but never the submitted value: a body may carry a wrap's AES key
        or a baby's hospital number, which must not come back in a response a proxy might log."""
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "invalid")), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(WardError)
    async def ward_error(request: Request, exc: WardError) -> JSONResponse:
        if isinstance(exc, NotFoundError):
            code = 404
        elif isinstance(exc, WardConflictError):
            code = 409
        else:
            code = 422
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        """The database refused (locked, disk full): 503 with what to do, never a bare 500. Nothing
        of the request was written (the store rolls back), so the client may simply try again."""
        logger.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": str(exc), "reason": exc.reason}, status_code=503)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/api/beds", tags=["ward"])
    async def beds(who: Staff, rt: Runtime) -> list[dict[str, Any]]:
        return [bed_json(v) for v in rt.engine.views(rt.now_us())]

    @app.get("/api/alarms", tags=["alarms"])
    async def alarms(
        who: Staff,
        rt: Runtime,
        bed_id: Annotated[str | None, Query(max_length=32, description="only this bed's alarms")] = None,
    ) -> list[dict[str, Any]]:
        """The alarms shown now, highest priority first, then oldest first."""
        if bed_id is not None:
            rt.ward.bed(bed_id)  # 404: a typo must not look like a quiet bed
        return [rt.alarm_json(a) for a in rt.engine.board.visible(rt.now_us(), bed_id=bed_id)]

    @app.get("/api/alarms/{alarm_id}/audit", tags=["alarms"])
    async def alarm_audit(alarm_id: RowId, who: Staff, rt: Runtime) -> list[AuditOut]:
        """Everything that happened to one alarm, oldest first: who did what, when."""
        stored = await asyncio.to_thread(rt.store.audit_log, alarm_id=alarm_id)
        lines = _with_pending_audit(rt, stored, alarm_id)
        if not lines:
            raise HTTPException(404, f"no alarm {alarm_id} in this ward's audit log")
        return [AuditOut(**audit_json(r)) for r in lines]

    def pause_state(rt: WardRuntime, screen_id: str) -> PauseOut:
        now_us = rt.now_us()
        board = rt.engine.board
        until = board.audio_paused_until(screen_id, now_us)
        sounding = board.sounding(screen_id, now_us)
        return PauseOut(
            screen_id=screen_id,
            paused_until_us=until,
            remaining_s=0.0 if until is None else max(0, until - now_us) / US,
            sounding=None if sounding is None else rt.alarm_json(sounding),
            audible_alarm_ids=[a.alarm_id for a in board.visible(now_us) if a.audible],
        )

    @app.post("/api/screens/{screen_id}/pause", tags=["alarms"])
    async def pause(screen_id: str, who: Staff, rt: Runtime, body: PauseBody | None = None) -> PauseOut:
        """Silence this screen for the audio pause; ``sounding`` is what still sounds through it
        (a new alarm above what was sounding when the pause began)."""
        try:
            rt.pause_audio(screen_id, audit_identity(who, body.who if body else None))
        except AlarmError as exc:
            raise HTTPException(422, str(exc)) from None
        return pause_state(rt, screen_id)

    @app.get("/api/screens/{screen_id}/audio", tags=["alarms"])
    async def pause_status(screen_id: str, who: Staff, rt: Runtime) -> PauseOut:
        """What this screen sounds now and its audio pause (asked after every alarm event)."""
        try:
            return pause_state(rt, screen_id)
        except AlarmError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/api/admissions", tags=["admissions"])
    async def admissions(who: Staff, rt: Runtime) -> list[dict[str, Any]]:
        return [admission_json(a) for a in rt.ward.current_admissions()]

    @app.get("/api/admissions/{admission_id}", tags=["admissions"])
    async def admission(admission_id: RowId, who: Staff, rt: Runtime) -> dict[str, Any]:
        """One admission, current or discharged."""
        return admission_json(rt.ward.admission(admission_id))

    @app.post("/api/admissions/{admission_id}/family-link", tags=["admissions"])
    async def renew_link(admission_id: RowId, who: Nurse, rt: Runtime) -> dict[str, Any]:
        """Revoke the family link and make a new one (the old card stops working at once)."""
        link = await rt.renew_family_link(admission_id, who)
        await keep_family_links_soon(rt)  # issue-14a: kept sealed across restarts
        return {"admission_id": admission_id, "family_url": link.url}

    @app.post("/api/admissions/{admission_id}/family-link/revoke", tags=["admissions"])
    async def revoke_link(admission_id: RowId, who: Nurse, rt: Runtime) -> dict[str, Any]:
        """Revoke the family link without a new one: its open bedside pages are closed at once."""
        rt.ward.admission(admission_id)  # 404 if none
        return {"admission_id": admission_id, "revoked": await rt.revoke_family_link(admission_id, who)}

    @app.get(
        "/api/admissions/{admission_id}/family-qr.svg",
        tags=["admissions"],
        response_class=Response,
        responses={200: {"content": {"image/svg+xml": {}}}},
    )
    async def family_qr(admission_id: RowId, who: Nurse, rt: Runtime) -> Response:
        rt.ward.admission(admission_id)  # 404 if none
        link = rt.family_links.get(admission_id)
        if link is None:
            raise HTTPException(
                404,
                "this service keeps no family token (only its hash); make a new link with "
                f"POST /api/admissions/{admission_id}/family-link",
            )
        return Response(link.qr_svg(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @app.get("/api/beds/{bed_id}/history", tags=["history"])
    async def history(
        bed_id: str,
        who: Staff,
        rt: Runtime,
        day: Annotated[
            dt.date | None, Query(description="ward-local day, YYYY-MM-DD (default today)")
        ] = None,
    ) -> dict[str, Any]:
        """One ward-local day of a bed: readings, sessions, each stay's contact against its daily
        goal, and the alarms of the day with their acknowledgements."""
        rt.ward.bed(bed_id)  # 404 before any work
        if day is None:
            day = _today(rt)
        tz = rt.settings.ward_tz
        start_t, end_t = day_bounds(day, tz)
        start_us, end_us = round(start_t * US), round(end_t * US)

        def load() -> tuple[list[Any], list[Any], ContactHistory, list[dict[str, Any]], list[AuditRecord]]:
            readings = rt.store.readings_for_bed_day(bed_id, day, tz)
            stored_sessions = rt.store.sessions_for_bed_day(bed_id, day, tz)
            days = _history(rt, bed_id, day, day)
            stored_alarms = rt.store.alarms_for_bed(bed_id, start_us, end_us)
            audit = rt.store.audit_log(start_us=start_us, end_us=end_us)
            return readings, stored_sessions, days, stored_alarms, audit

        readings, stored_sessions, days, stored_alarms, stored_audit = await asyncio.to_thread(load)
        audit = _with_pending_audit(rt, stored_audit, start_us=start_us, end_us=end_us)
        # Alarms still on the board are shown as the board sees them now; older ones as last saved.
        now_us = rt.now_us()
        alarms_out: dict[int, dict[str, Any]] = {}
        for raw in stored_alarms:
            alarm_id = int(raw["id"])
            try:
                alarms_out[alarm_id] = rt.alarm_json(rt.engine.board.alarm(alarm_id, now_us))
            except UnknownAlarmError:
                alarms_out[alarm_id] = stored_alarm_json(raw)
        for view in rt.engine.board.visible(now_us, bed_id=bed_id):
            if view.raised_us < end_us and (view.ended_us is None or view.ended_us >= start_us):
                alarms_out.setdefault(view.alarm_id, rt.alarm_json(view))
        for alarm_id, entry in alarms_out.items():
            entry["audit"] = [audit_json(r) for r in audit if r.alarm_id == alarm_id]
        if stored_sessions:
            sessions = [
                {
                    "admission_id": None,
                    "wrap_id": s.wrap_id,
                    "start_us": s.session.start_us,
                    "end_us": s.session.end_us,
                    "duration_s": s.session.duration_us / US,
                    "contact_s": s.session.contact_us / US,
                    "short": s.session.short,
                }
                for s in stored_sessions
            ]
            source = "stored"
        else:
            sessions = [session_json(s) for s in days.sessions]
            source = "readings"
        return {
            "bed_id": bed_id,
            "day": day.isoformat(),
            "readings": [
                {
                    "t": r.t,
                    "wrap_id": r.wrap_id,
                    "skin_temp_c": r.skin_temp_c,
                    "contact": r.contact,
                    "battery_pct": r.battery_pct,
                }
                for r in readings
            ],
            "sessions": sessions,
            "sessions_source": source,
            "totals": [_stay_day_json(d) for d in days.days],
            "alarms": sorted(alarms_out.values(), key=lambda a: (a["raised_us"] or 0, a["alarm_id"])),
        }

    @app.get("/api/beds/{bed_id}/days", tags=["history"])
    async def bed_days(
        bed_id: str,
        who: Staff,
        rt: Runtime,
        until: Annotated[
            dt.date | None, Query(description="last ward-local day, YYYY-MM-DD (default today)")
        ] = None,
        days: Annotated[
            int, Query(ge=1, le=MAX_HISTORY_DAYS, description="how many days back from `until`")
        ] = 7,
    ) -> dict[str, Any]:
        """Today's and the previous days' totals: for each day with readings or an admitted baby,
        the readings stored and each stay's contact against its daily goal (newest day first)."""
        rt.ward.bed(bed_id)
        last = until or _today(rt)
        first = last - dt.timedelta(days=days - 1)
        found = await asyncio.to_thread(_history, rt, bed_id, first, last)
        out = []
        for d in sorted(found.readings_per_day, reverse=True):
            totals = [_stay_day_json(x) for x in found.days if x.day == d]
            if totals or found.readings_per_day[d]:
                out.append({"day": d.isoformat(), "readings": found.readings_per_day[d], "totals": totals})
        return {"bed_id": bed_id, "first_day": first.isoformat(), "last_day": last.isoformat(), "days": out}

    # Beds and wraps ---------------------------------------------------------------------------
    @app.get("/api/beds/{bed_id}", tags=["ward"])
    async def bed(bed_id: str, who: Staff, rt: Runtime) -> dict[str, Any]:
        """The bed's tile, its current admission in full and its wrap."""
        return bed_detail(rt, bed_id)

    @app.get("/api/beds/{bed_id}/trend", tags=["ward"])
    async def trend(bed_id: str, who: Staff, rt: Runtime) -> TrendOut:
        """The bed's chart: one bin per minute of the wrap's readings since it was put on this bed
        (for this admission), 24 h at most, oldest first; the last bin is still filling."""
        status = rt.ward.bed_status(bed_id)
        bins = () if status.wrap_id is None else rt.engine.trend(status.wrap_id)
        return TrendOut(
            bed_id=bed_id,
            wrap_id=status.wrap_id,
            admission_id=None if status.admission is None else status.admission.admission_id,
            bins=[
                TrendBinOut(
                    start_us=b.start_us,
                    count=b.count,
                    temp_min_c=b.temp_min_c,
                    temp_median_c=b.temp_median_c,
                    temp_max_c=b.temp_max_c,
                    contact_fraction=b.contact_fraction,
                    unjudged_fraction=b.unjudged_fraction,
                )
                for b in bins
            ],
        )

    @app.get("/api/wraps", tags=["wraps"])
    async def wraps(who: Staff, rt: Runtime) -> WrapsOut:
        """Every registered wrap (whether it has a key, never the key), its bed and what was last
        heard of it; and wraps heard on the ward that nobody registered."""
        now_us = rt.now_us()
        views = {v.wrap_id: v for v in rt.engine.views(now_us) if v.wrap_id is not None}
        heard = {u.wrap_id: u for u in rt.engine.unassigned_wraps()}
        registered = []
        for w in rt.ward.wraps():
            v = views.get(w.wrap_id)
            u = heard.get(w.wrap_id)
            last_us = v.last_heard_us if v is not None else (u.last_heard_us if u is not None else None)
            registered.append(
                WrapOut(
                    wrap_id=w.wrap_id,
                    mac=w.mac,
                    has_key=w.has_key,
                    bed_id=w.bed_id,
                    last_heard_us=last_us,
                    last_heard_s=None if last_us is None else max(0, now_us - last_us) / US,
                    rssi_dbm=v.rssi_dbm if v is not None else (u.rssi_dbm if u is not None else None),
                    battery_pct=None if v is None else v.battery_pct,
                )
            )
        known = {w.wrap_id for w in registered}
        unregistered = [
            HeardWrapOut(
                wrap_id=u.wrap_id,
                last_heard_us=u.last_heard_us,
                last_heard_s=max(0, now_us - u.last_heard_us) / US,
                rssi_dbm=u.rssi_dbm,
            )
            for u in heard.values()
            if u.wrap_id not in known
        ]
        return WrapsOut(registered=registered, unregistered=unregistered)

    @app.delete("/api/wraps/unregistered", tags=["wraps"])
    async def clear_unregistered(who: Nurse, rt: Runtime) -> dict[str, Any]:
        """Clear the list of wraps heard on no bed (a wrap heard again reappears). The list also
        forgets a wrap unheard for 10 minutes and keeps at most 64 (the most recently heard)."""
        forgotten = rt.forget_unassigned_now()
        logger.info("%s cleared the list of unassigned wraps (%d)", who, forgotten)
        return {"forgotten": forgotten}

    @app.post("/api/wraps/{wrap_id}/key", tags=["wraps"])
    async def rekey_wrap(wrap_id: str, body: WrapKeyBody, who: Admin, rt: Runtime) -> dict[str, Any]:
        """Give a re-provisioned wrap its new key; its replay counter starts afresh (audited)."""
        await rt.rekey_wrap(wrap_id, body.key, who)
        return {"wrap_id": wrap_id, "has_key": body.key is not None, "audit": rt.store.wrap_audit(wrap_id)}

    @app.post("/api/wraps/{wrap_id}/counter-reset", tags=["wraps"])
    async def reset_wrap_counter(wrap_id: str, who: Admin, rt: Runtime) -> dict[str, Any]:
        """Accept a re-flashed wrap's restarted counter, once an engineer has checked the wrap was
        reset (until then a lower counter is what a replay looks like); audited."""
        before = await rt.reset_wrap_counter(wrap_id, who)
        return {"wrap_id": wrap_id, "previous_counter": before, "audit": rt.store.wrap_audit(wrap_id)}

    @app.get("/api/wraps/audit", tags=["wraps"])
    async def wraps_audit(who: Admin, rt: Runtime) -> list[dict[str, Any]]:
        """Every re-key and counter reset, oldest first: who, when, which wrap."""
        return await asyncio.to_thread(rt.store.wrap_audit)

    # Settings ---------------------------------------------------------------------------------
    @app.get("/api/settings", tags=["service"])
    async def ward_settings(who: Staff, rt: Runtime) -> SettingsOut:
        """The settings in effect (read-only: they are changed in the configuration file)."""
        s = rt.settings
        board = rt.engine.board.params
        return SettingsOut(
            ward_name=s.ward_name,
            ward_tz=s.ward_tz,
            clock_format=s.clock_format,
            base_url=s.base_url,
            retention_days=s.retention_days,
            require_hospital_number=s.require_hospital_number,
            default_daily_goal_s=s.clinical.daily_goal_s,
            alarms=AlarmParamsOut(audio_pause_s=board.audio_pause_s, escalation_s=board.escalation_s),
            clinical={k: float(v) for k, v in s.clinical.model_dump().items()},
            shift_starts=list(s.shift_starts),
        )

    @app.websocket("/ws/ward")
    async def ws_ward(websocket: WebSocket, since: int | None = None) -> None:
        auth: StaffAuth = websocket.app.state.auth
        ident = auth.identity(websocket.headers, websocket.cookies, {})
        await websocket.accept()
        if ident is None or ident.role < Role.SCREEN:
            await websocket.close(WS_UNAUTHORIZED, "a staff token is needed")
            return
        rt: WardRuntime = websocket.app.state.runtime
        sub = rt.ward_channel.subscribe(since)
        await _pump(websocket, sub, None)

    @app.websocket("/ws/bed/{family_token}")
    async def ws_bed(websocket: WebSocket, family_token: str) -> None:
        rt: WardRuntime = websocket.app.state.runtime
        adm = rt.ward.admission_for_family_token(family_token)
        await websocket.accept()
        if adm is None:
            await websocket.close(WS_UNAUTHORIZED, "this link is not valid (any more)")
            return
        admission_id = adm.admission_id

        def still_valid() -> bool:
            now = rt.ward.admission_for_family_token(family_token)
            return now is not None and now.admission_id == admission_id

        ended = rt.open_family_stream(admission_id)
        try:
            # Checked again once registered: a revoke in between must not be missed.
            if not still_valid():
                await websocket.close(WS_UNAUTHORIZED, "this link is not valid any more")
                return
            sub = rt.bed_channel(adm.bed_id).subscribe(None)
            await _pump(websocket, sub, still_valid, ended)
        finally:
            rt.close_family_stream(admission_id, ended)

    return app


async def _pump(
    websocket: WebSocket,
    sub: Subscriber,
    still_valid: Callable[[], bool] | None,
    ended: asyncio.Event | None = None,
) -> None:
    """Send the subscriber's messages until the client leaves or its token stops being valid
    (``ended`` set by the runtime at once, or ``still_valid`` false at the next re-check)."""

    async def receive() -> None:
        """Watch the client: the streams only send, so a client that sends anything is closed
        (1003), and one the protocol layer refused (a frame over the size limit: 1009, text that
        is not UTF-8: 1007, a broken frame: 1002) has gone; each is counted by reason."""
        refused = websocket.app.state.runtime.hub.refused_clients
        while True:
            try:
                message = await websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                reason = _PROTOCOL_CLOSES.get(int(message.get("code") or 1000))
                if reason is not None:
                    refused[reason] += 1
                    logger.warning("a stream client was closed by the protocol layer (%s)", reason)
                return
            if message["type"] != "websocket.receive":
                continue
            reason = "binary" if message.get("bytes") is not None else "text"
            refused[reason] += 1
            logger.warning("a stream client sent a %s message; closing it (these streams only send)", reason)
            with contextlib.suppress(Exception):
                await websocket.close(WS_UNSUPPORTED, "this stream only sends; send nothing")
            return

    async def send() -> None:
        while True:
            text: str | None
            if still_valid is None:
                text = await sub.next()
            else:
                try:
                    text = await asyncio.wait_for(sub.next(), FAMILY_RECHECK_S)
                except TimeoutError:
                    text = None
                if not still_valid():
                    await websocket.close(WS_UNAUTHORIZED, "this link is not valid any more")
                    return
            if text is not None:
                await websocket.send_text(text)

    receiver = asyncio.create_task(receive())
    sender = asyncio.create_task(send())
    tasks: set[asyncio.Task[Any]] = {receiver, sender}
    watcher: asyncio.Task[Any] | None = None
    if ended is not None:
        watcher = asyncio.create_task(ended.wait())
        tasks.add(watcher)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if watcher is not None and watcher in done:
            # The link was revoked: stop sending (even mid-send), then close with the refusal code.
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            with contextlib.suppress(Exception):
                await websocket.close(WS_UNAUTHORIZED, "this link is not valid any more")
    finally:
        sub.close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
