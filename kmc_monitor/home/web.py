"""The family page of the home gateway, served on the home network by the home process itself.

Why a page of its own rather than the ward's family page: at home there is no ward, no nurse to
call and no bed link; the family needs the timer, today against the goal, warmth advice and a loud
cold alarm, from the board alone with no internet. The page shares the ward family view's words
(``/assets/i18n/<lang>.json``) and adds only the home's own (``/assets/home/i18n/<lang>.json``);
every file it loads comes from this process (no external address anywhere in it).

Read-only: the page and its one JSON route take no input, so nothing from the network is parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from kmc_monitor.service.pages import SECURITY_HEADERS, dashboard_dir, mount_dashboard
from kmc_monitor.signal.report import AlarmKind

__all__ = ["HomeView", "WrapView", "create_home_app"]


class WrapView(BaseModel):
    """One wrap's live state for the family page."""

    wrap_id: str
    timer: str = Field(description="running, paused or none")
    session_s: float
    today_s: float
    judging: str = Field(description="judged, detached, settling, no temperature, no data")
    band: str | None
    temperature_c: float | None
    cold_alarm: AlarmKind | None = Field(description="a cold condition sounding at home")
    hot: bool
    battery_pct: float | None
    last_heard_t: float | None


class HomeView(BaseModel):
    """The family page's data: the baby, the wraps, and whether the station has everything."""

    display_name: str
    language: str
    goal_s: float
    now_t: float
    wraps: list[WrapView]
    pending: int = Field(description="items not yet acknowledged by the health station")
    last_sync_t: float | None


def create_home_app(view: Callable[[], HomeView], root: Path | None = None) -> FastAPI:
    """The home's web app: ``/`` (the page), ``/api/home/status`` and the shared ``/assets``."""
    base = root or dashboard_dir()
    app = FastAPI(title="kmc-monitor home", docs_url=None, redoc_url=None, openapi_url=None)
    mount_dashboard(app, base)

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
