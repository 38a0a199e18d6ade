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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from html import escape
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from kmc_monitor.errors import AlarmError, UnknownAlarmError
from kmc_monitor.service.auth import SESSION_COOKIE, StaffAuth, install_log_redaction
from kmc_monitor.service.config import Settings
from kmc_monitor.service.engine import BedView
from kmc_monitor.service.hub import Subscriber
from kmc_monitor.service.runtime import WardRuntime, alarm_json, bed_json
from kmc_monitor.service.schemas import AckBody, AdmitBody, PauseBody
from kmc_monitor.service.ward import (
    Admission,
    AdmissionDetails,
    GestationalAge,
    InvalidAdmissionError,
    NotFoundError,
    WardConflictError,
    WardError,
)

__all__ = ["WS_UNAUTHORIZED", "create_app"]

logger = logging.getLogger(__name__)

#: Close code of a WebSocket refused for want of a valid token.
WS_UNAUTHORIZED = 4401
#: A family stream re-checks its token at least this often (seconds).
FAMILY_RECHECK_S = 1.0


def _runtime(request: Request) -> WardRuntime:
    rt: WardRuntime = request.app.state.runtime
    return rt


def _staff(request: Request) -> str:
    auth: StaffAuth = request.app.state.auth
    who = auth.identify(request.headers, request.cookies, request.query_params)
    if who is None:
        raise HTTPException(401, "a staff token is needed", headers={"WWW-Authenticate": "Bearer"})
    return who


Staff = Annotated[str, Depends(_staff)]
Runtime = Annotated[WardRuntime, Depends(_runtime)]


def _admission_json(a: Admission) -> dict[str, Any]:
    return {
        "admission_id": a.admission_id,
        "bed_id": a.bed_id,
        "display_name": a.display_name,
        "hospital_number": a.hospital_number,
        "birth_weight_g": a.birth_weight_g,
        "gestational_age": str(a.gestational_age),
        "daily_goal_s": a.daily_goal_s,
        "site_offset_c": a.site_offset_c,
        "admitted_t": a.admitted_t,
        "admitted_by": a.admitted_by,
        "discharged_t": a.discharged_t,
        "discharged_by": a.discharged_by,
    }


def create_app(settings: Settings, *, runtime: WardRuntime | None = None) -> FastAPI:
    """The ward service's app; the lifespan starts ``runtime`` (made from ``settings`` if None)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()
        rt = runtime if runtime is not None else WardRuntime(settings)
        app.state.runtime = rt
        app.state.auth = StaffAuth(settings.all_staff_tokens)
        if not settings.all_staff_tokens:
            logger.warning("no staff token is configured: every staff route refuses access")
        await rt.start()
        try:
            yield
        finally:
            await rt.stop()

    app = FastAPI(title="kmc-monitor ward service", lifespan=lifespan)

    @app.middleware("http")
    async def token_to_cookie(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """``?token=`` once: a valid staff token becomes an HttpOnly session cookie."""
        response = await call_next(request)
        token = request.query_params.get("token")
        auth: StaffAuth | None = getattr(request.app.state, "auth", None)
        if token and auth is not None and auth.check_token(token) is not None:
            response.set_cookie(
                SESSION_COOKIE,
                auth.new_session(token),
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    @app.exception_handler(WardError)
    async def ward_error(request: Request, exc: WardError) -> JSONResponse:
        if isinstance(exc, NotFoundError):
            code = 404
        elif isinstance(exc, WardConflictError):
            code = 409
        else:
            code = 422
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    async def index(who: Staff, rt: Runtime) -> Response:
        # An interim overview until the ward screen (dashboard/, issue #5): server-rendered, refreshed
        # every 5 s, every state in words as well as colour.
        return Response(overview_html(rt.engine.views(rt.now_us())), media_type="text/html")

    @app.get("/family", include_in_schema=False)
    async def family_page() -> Response:
        # The page itself holds no data: its script reads the token from the URL fragment and opens
        # /ws/bed/<token>, which is where the family token is checked.
        return Response(_FAMILY_PAGE.read_bytes(), media_type="text/html")

    @app.get("/api/beds", tags=["ward"])
    async def beds(who: Staff, rt: Runtime) -> list[dict[str, Any]]:
        return [bed_json(v) for v in rt.engine.views(rt.now_us())]

    @app.get("/api/alarms", tags=["alarms"])
    async def alarms(who: Staff, rt: Runtime) -> list[dict[str, Any]]:
        return [alarm_json(a) for a in rt.engine.board.visible(rt.now_us())]

    @app.post("/api/alarms/{alarm_id}/ack", tags=["alarms"])
    async def ack(alarm_id: int, who: Staff, rt: Runtime, body: AckBody | None = None) -> dict[str, Any]:
        try:
            view = rt.acknowledge(alarm_id, (body.who if body and body.who else None) or who)
        except UnknownAlarmError as exc:
            raise HTTPException(404, str(exc)) from None
        except AlarmError as exc:
            raise HTTPException(409, str(exc)) from None
        return alarm_json(view)

    @app.post("/api/screens/{screen_id}/pause", tags=["alarms"])
    async def pause(screen_id: str, who: Staff, rt: Runtime, body: PauseBody | None = None) -> dict[str, Any]:
        try:
            until = rt.pause_audio(screen_id, (body.who if body and body.who else None) or who)
        except AlarmError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"screen_id": screen_id, "paused_until_us": until}

    @app.get("/api/admissions", tags=["admissions"])
    async def admissions(who: Staff, rt: Runtime) -> list[dict[str, Any]]:
        return [_admission_json(a) for a in rt.ward.current_admissions()]

    @app.post("/api/admissions", status_code=201, tags=["admissions"])
    async def admit(body: AdmitBody, who: Staff, rt: Runtime) -> dict[str, Any]:
        try:
            details = AdmissionDetails(
                display_name=body.display_name,
                birth_weight_g=body.birth_weight_g,
                gestational_age=GestationalAge(body.gestational_age_weeks, body.gestational_age_days),
                hospital_number=body.hospital_number,
                daily_goal_s=body.daily_goal_s,
                site_offset_c=body.site_offset_c,
            )
        except (InvalidAdmissionError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        adm, link = rt.admit(body.bed_id, details, who, wrap_id=body.wrap_id)
        return {**_admission_json(adm), "family_url": link.url}

    @app.post("/api/admissions/{admission_id}/discharge", tags=["admissions"])
    async def discharge(admission_id: int, who: Staff, rt: Runtime) -> dict[str, Any]:
        return _admission_json(rt.discharge(admission_id, who))

    @app.post("/api/admissions/{admission_id}/family-link", tags=["admissions"])
    async def renew_link(admission_id: int, who: Staff, rt: Runtime) -> dict[str, Any]:
        """Revoke the family link and make a new one (the old card stops working at once)."""
        link = rt.renew_family_link(admission_id, who)
        return {"admission_id": admission_id, "family_url": link.url}

    @app.post("/api/admissions/{admission_id}/family-link/revoke", tags=["admissions"])
    async def revoke_link(admission_id: int, who: Staff, rt: Runtime) -> dict[str, Any]:
        """Revoke the family link without a new one: its open bedside pages are closed at once."""
        rt.ward.admission(admission_id)  # 404 if none
        return {"admission_id": admission_id, "revoked": rt.revoke_family_link(admission_id, who)}

    @app.get(
        "/api/admissions/{admission_id}/family-qr.svg",
        tags=["admissions"],
        response_class=Response,
        responses={200: {"content": {"image/svg+xml": {}}}},
    )
    async def family_qr(admission_id: int, who: Staff, rt: Runtime) -> Response:
        rt.ward.admission(admission_id)  # 404 if none
        link = rt.family_links.get(admission_id)
        if link is None:
            raise HTTPException(
                404,
                "this service keeps no family token (only its hash); make a new link with "
                f"POST /api/admissions/{admission_id}/family-link",
            )
        return Response(link.qr_svg(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @app.get("/api/beds/{bed_id}/history", tags=["ward"])
    async def history(
        bed_id: str,
        who: Staff,
        rt: Runtime,
        day: Annotated[
            dt.date | None, Query(description="ward-local day, YYYY-MM-DD (default today)")
        ] = None,
    ) -> dict[str, Any]:
        if bed_id not in {b.bed_id for b in rt.ward.beds()}:
            raise HTTPException(404, f"no bed {bed_id}")
        tz = rt.settings.ward_tz
        if day is None:
            from zoneinfo import ZoneInfo

            day = dt.datetime.fromtimestamp(rt.clock(), ZoneInfo(tz)).date()
        readings = await asyncio.to_thread(rt.store.readings_for_bed_day, bed_id, day, tz)
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
        }

    @app.websocket("/ws/ward")
    async def ws_ward(websocket: WebSocket, since: int | None = None) -> None:
        auth: StaffAuth = websocket.app.state.auth
        who = auth.identify(websocket.headers, websocket.cookies, websocket.query_params)
        await websocket.accept()
        if who is None:
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
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()  # clients say nothing we act on; this sees them go

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


#: The interim bedside page, shipped in dashboard/ beside the package.
_FAMILY_PAGE = Path(__file__).resolve().parents[2] / "dashboard" / "family.html"

_BAND_COLOUR = {
    "normal": "#d8f3dc",
    "cold_stress": "#caf0f8",
    "hypothermia_moderate": "#ffe066",
    "hypothermia_severe": "#ff6b6b",
    "hyperthermia": "#ffe066",
}


def overview_html(views: Sequence[BedView]) -> str:
    """A plain HTML table of the ward: one row per bed, alarms in words."""
    rows = []
    for v in views:
        band = v.band or v.judging
        temp = "&mdash;" if v.temperature_c is None or v.band is None else f"{v.temperature_c:.1f} &deg;C"
        alarms = ", ".join(f"{a.priority.value.upper()} {a.kind.value.replace('_', ' ')}" for a in v.alarms)
        session = (
            f"{v.session_state} {int(v.session_s // 60)} min" if v.session_state != "none" else "&mdash;"
        )
        colour = _BAND_COLOUR.get(v.band or "", "#dee2e6")
        goal = "" if v.daily_goal_s is None else f" of {v.daily_goal_s / 3600:.0f} h"
        rows.append(
            f"<tr><td>{escape(v.label)}</td><td>{escape(v.display_name or '')}</td>"
            f'<td style="background:{colour}">{temp} {escape(band.replace("_", " "))}</td>'
            f"<td>{'in contact' if v.contact else 'apart' if v.contact is not None else '&mdash;'}</td>"
            f"<td>{session}</td><td>{v.contact_today_s / 3600:.1f} h{goal}</td>"
            f"<td>{escape(alarms) or 'none'}</td></tr>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">'
        "<title>kmc-monitor ward</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.4em .8em}</style></head><body>"
        "<h1>Ward overview</h1><p>Interim page; the ward screen comes with the dashboard. "
        'API: <a href="/docs">/docs</a>.</p><table><tr><th>Bed</th><th>Baby</th><th>Temperature</th>'
        "<th>Contact</th><th>Session</th><th>Today</th><th>Alarms</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
