"""The FastAPI app: REST for staff actions, WebSockets for the ward screen and the family pages.

``create_app(settings)`` builds the app: its lifespan owns the :class:`WardRuntime` (store, engine,
source, hub), so nothing is created at import time; its middleware guards every request and turns a
kiosk's sign-in link into a session; the routes are the routers of ``service/routes/`` (one per
resource) and of the modules that serve a page of their own (reports, export, metrics, ingest,
the programme, the dashboard's pages). Staff routes need a staff token (see ``auth.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kmc_monitor.service import credential
from kmc_monitor.service.apidocs import docs_router, mount_docs
from kmc_monitor.service.auth import SESSION_COOKIE, Role, SignInLimiter, StaffAuth, install_log_redaction
from kmc_monitor.service.config import Settings
from kmc_monitor.service.export import export_router
from kmc_monitor.service.firstrun import apply_ward_setup
from kmc_monitor.service.guard import PAGE_PREFIXES, RequestGuard
from kmc_monitor.service.ingest import ingest_router
from kmc_monitor.service.metrics import metrics_router
from kmc_monitor.service.pages import mount_dashboard, page_router
from kmc_monitor.service.programme_routes import programme_router
from kmc_monitor.service.reports import report_router
from kmc_monitor.service.routes.admissions import admissions_router
from kmc_monitor.service.routes.alarms import alarms_router
from kmc_monitor.service.routes.beds import beds_router
from kmc_monitor.service.routes.family_card import family_card_router
from kmc_monitor.service.routes.nurses import nurses_router
from kmc_monitor.service.routes.service import service_router
from kmc_monitor.service.routes.session import SIGNED_OUT_KEY, session_router
from kmc_monitor.service.routes.station import close_station, open_station, station_router
from kmc_monitor.service.routes.streams import streams_router
from kmc_monitor.service.routes.vocabulary import vocabulary_router
from kmc_monitor.service.routes.ward_admin import (
    keep_family_links_soon,
    restore_family_links,
    ward_admin_router,
)
from kmc_monitor.service.routes.wraps import wraps_router
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.store import StoreError
from kmc_monitor.service.ward_model import NotFoundError, WardConflictError, WardError

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]


def create_app(settings: Settings, *, runtime: WardRuntime | None = None) -> FastAPI:
    """The ward service's app; the lifespan starts ``runtime`` (made from ``settings`` if None)."""
    # /docs and /openapi.json are served by apidocs.py: for staff, from local files, with a CSP.
    app = FastAPI(
        title="kmc-monitor ward service",
        lifespan=_lifespan(settings, runtime),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(docs_router())
    mount_docs(app)
    # The dashboard's pages and assets (dashboard/): who may open which page is decided there.
    for router in (
        page_router(),
        report_router(),
        family_card_router(),
        export_router(),
        metrics_router(),
        ingest_router(),
        programme_router(),
        station_router(),
        ward_admin_router(),
        nurses_router(),
        session_router(),
        service_router(),
        beds_router(),
        alarms_router(),
        admissions_router(),
        wraps_router(),
        vocabulary_router(),
        streams_router(),
    ):
        app.include_router(router)
    mount_dashboard(app)

    # Outermost: origin, credential, anti-forgery token and body size, before anything is read.
    app.add_middleware(RequestGuard, public_url=settings.public_url)
    app.middleware("http")(_token_to_cookie)
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(WardError, _ward_error)  # type: ignore[arg-type]
    app.add_exception_handler(StoreError, _store_error)  # type: ignore[arg-type]
    return app


def _lifespan(settings: Settings, runtime: WardRuntime | None) -> Lifespan:
    """Start the runtime (and the health station on its database), the staff's authentication and
    the family links kept across restarts; stop them all when the app stops."""

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

    return lifespan


async def _token_to_cookie(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
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


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with where and what, but never the submitted value: a body may carry a wrap's AES key
    or a baby's hospital number, which must not come back in a response a proxy might log."""
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "invalid")), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def _ward_error(request: Request, exc: WardError) -> JSONResponse:
    if isinstance(exc, NotFoundError):
        code = 404
    elif isinstance(exc, WardConflictError):
        code = 409
    else:
        code = 422
    return JSONResponse({"detail": str(exc)}, status_code=code)


async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
    """The database refused (locked, disk full): 503 with what to do, never a bare 500. Nothing
    of the request was written (the store rolls back), so the client may simply try again."""
    logger.error("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": str(exc), "reason": exc.reason}, status_code=503)
