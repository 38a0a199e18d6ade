"""The family page of the home gateway, served on the home network by the home process itself.

Why a page of its own rather than the ward's family page: at home there is no ward, no nurse to
call and no bed link; the family needs the timer, today against the goal, warmth advice and a loud
cold alarm, from the board alone with no internet. The page shares the ward family view's words
(``/assets/i18n/<lang>.json``) and adds only the home's own (``/assets/home/i18n/<lang>.json``);
every file it loads comes from this process (no external address anywhere in it).

Read-only once paired: the page and its status route take no input. Before pairing (a board
started with ``home run`` on an empty data dir), ``POST /api/home/pair`` takes the pairing code
pasted on the page; it answers 409 without reading the body once the home is paired, so after the
first run nothing from the home network is parsed at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from kmc_monitor.home.pairing import MAX_CODE_CHARS, PairingError
from kmc_monitor.service.pages import SECURITY_HEADERS, dashboard_dir, mount_dashboard
from kmc_monitor.signal.report import AlarmKind
from kmc_monitor.signal.states import Band, Judging, SessionState

__all__ = ["HomeView", "PairResult", "WrapView", "create_home_app"]

logger = logging.getLogger(__name__)


class WrapView(BaseModel):
    """One wrap's live state for the family page."""

    wrap_id: str
    timer: SessionState = Field(description="running, paused or none")
    session_s: float
    today_s: float
    judging: Judging = Field(description="judged, detached, settling, no temperature, no data")
    band: Band | None
    temperature_c: float | None
    cold_alarm: AlarmKind | None = Field(description="a cold condition sounding at home")
    hot: bool
    battery_pct: float | None
    last_heard_t: float | None


class HomeView(BaseModel):
    """The family page's data: the baby, the wraps, and whether the station has everything."""

    paired: bool = Field(default=True, description="False: the page asks for the pairing code")
    display_name: str = ""
    language: str = "en"
    goal_s: float = 0.0
    now_t: float
    wraps: list[WrapView] = Field(default_factory=list)
    pending: int = Field(default=0, description="items not yet acknowledged by the health station")
    last_sync_t: float | None = None


class PairResult(BaseModel):
    """The answer to a pairing from the page: whose home this board now is."""

    home_id: str
    display_name: str


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def create_home_app(
    view: Callable[[], HomeView],
    pair: Callable[[str], PairResult] | None = None,
    root: Path | None = None,
) -> FastAPI:
    """The home's web app: ``/`` (the page), ``/api/home/status``, ``/api/home/pair`` while ``pair``
    is given and the home unpaired, and the shared ``/assets``."""
    base = root or dashboard_dir()
    app = FastAPI(title="kmc-monitor home", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.pair_refused = 0
    mount_dashboard(app, base)

    @app.post("/api/home/pair", response_model=PairResult, responses={400: {}, 409: {}, 413: {}})
    async def pair_route(request: Request) -> PairResult | JSONResponse:
        if pair is None or view().paired:
            return _problem(409, "this home gateway is paired already; pair again only from its console")
        body = b""
        async for part in request.stream():
            body += part
            if len(body) > MAX_CODE_CHARS:
                app.state.pair_refused += 1
                return _problem(413, "that is far too long for a pairing code: paste only the code itself")
        try:
            return pair(body.decode("utf-8", errors="replace"))
        except PairingError as exc:
            app.state.pair_refused += 1
            logger.warning("pairing from the page refused (%d so far): %s", app.state.pair_refused, exc)
            return _problem(400, str(exc))

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        response = FileResponse(base / "home.html", media_type="text/html; charset=utf-8")
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/api/home/status", response_model=HomeView)
    async def status() -> HomeView:
        return view()

    return app
