"""The dashboard's pages and assets: static files from ``dashboard/``, served with strict headers.

The pages are plain HTML, CSS and JavaScript with no build step; they talk to the service only
through its HTTP and WebSocket API, so this module only decides *who may open which page* and
*how it is served*:

- Staff pages (``/ward``, ``/bed/{bed_id}``, ``/report/{bed_id}``) need a staff credential. A kiosk
  opens ``/ward?token=...`` once and keeps the session cookie the app sets; without a credential
  the page answers 401 with a sign-in page (paste a token) instead of an empty screen.
- The family page (``/family``) is public: its token travels in the URL *fragment*, which a browser
  never sends to a server, so it never lands in a server or proxy log; the page opens
  ``/ws/bed/{token}`` itself and shows only what that stream gives.
- Every page and asset is sent with a Content-Security-Policy that allows scripts, styles and
  connections to this origin only (no inline script anywhere), ``nosniff``, no referrer, and no
  framing by another origin (the ward screen shows a bed's page in an overlay of its own origin, so
  that its sound and audio permission survive opening a bed). Pages are ``no-store``: a ward
  screen must never show a stale copy from a cache.

Where the files are: ``kmc_monitor/dashboard`` inside an installed wheel (the build copies them
there), else ``dashboard/`` beside the package in a source checkout.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from kmc_monitor.service.auth import SESSION_COOKIE, Role, SignInLimiter, StaffAuth

__all__ = ["SECURITY_HEADERS", "dashboard_dir", "mount_dashboard", "page_router"]

#: Sent with every page and asset.
SECURITY_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "SAMEORIGIN",
}


def dashboard_dir() -> Path:
    """The folder holding the dashboard's files (see the module docstring)."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "dashboard", here.parent / "dashboard"):
        if (candidate / "ward.html").is_file() or (candidate / "family.html").is_file():
            return candidate
    raise FileNotFoundError(
        "the dashboard's files are missing: expected kmc_monitor/dashboard (installed) or "
        "dashboard/ beside the package (source checkout)"
    )


class _Headers:
    """ASGI wrapper adding :data:`SECURITY_HEADERS` (and a cache policy) to every response."""

    def __init__(self, app: ASGIApp, cache: str) -> None:
        self.app = app
        self.cache = cache.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def add(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))  # type: ignore[call-overload]
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                headers.append((b"cache-control", self.cache))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add)  # type: ignore[arg-type]


def mount_dashboard(app: object, root: Path | None = None) -> None:
    """Serve the dashboard's assets (CSS, JavaScript, translations) under ``/assets``."""
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    base = root or dashboard_dir()
    # Assets may be cached briefly (a restarted service serves the same files); pages never are.
    app.mount("/assets", _Headers(StaticFiles(directory=base / "assets"), "max-age=60"), name="assets")


def _page(root: Path, name: str, status: int = 200) -> Response:
    response = FileResponse(root / name, status_code=status, media_type="text/html; charset=utf-8")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _is_staff(request: Request) -> bool:
    auth: StaffAuth | None = getattr(request.app.state, "auth", None)
    if auth is None:
        return False
    ident = auth.identity(request.headers, request.cookies, request.query_params)
    return ident is not None and ident.role >= Role.SCREEN


def page_router(root: Path | None = None) -> APIRouter:
    """The page routes (left out of the OpenAPI schema: they are documents, not API)."""
    base = root or dashboard_dir()
    router = APIRouter(include_in_schema=False)

    def staff_page(request: Request, name: str) -> Response:
        if not _is_staff(request):
            return _page(base, "signin.html", status=401)
        if "token" in request.query_params:
            # The token leaves the address bar (and the kiosk's history) once it became a cookie;
            # the middleware has set the cookie on this response already when the token was valid.
            target = request.url.remove_query_params("token")
            redirect = RedirectResponse(str(target.path) + (f"?{target.query}" if target.query else ""), 303)
            return redirect
        return _page(base, name)

    @router.get("/")
    async def root_page() -> Response:
        return RedirectResponse("/ward", 303)

    @router.get("/favicon.ico")
    async def favicon() -> Response:
        # Browsers ask for it on every page; a 404 would be logged as an error on the ward screen.
        return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})

    @router.get("/ward")
    async def ward_page(request: Request) -> Response:
        return staff_page(request, "ward.html")

    @router.get("/bed/{bed_id}")
    async def bed_page(request: Request, bed_id: str) -> Response:
        return staff_page(request, "bed.html")

    @router.get("/report/{bed_id}")
    async def report_page(request: Request, bed_id: str) -> Response:
        return staff_page(request, "report.html")

    @router.get("/discharge/{admission_id}")
    async def discharge_page(request: Request, admission_id: str) -> Response:
        return staff_page(request, "discharge.html")

    @router.get("/family-card/{admission_id}")
    async def family_card_page(request: Request, admission_id: str) -> Response:
        return staff_page(request, "family-card.html")

    @router.get("/station")
    async def station_page(request: Request) -> Response:
        return staff_page(request, "station.html")  # issue-17b: the health station

    @router.get("/admin")
    async def admin_page(request: Request) -> Response:
        return staff_page(request, "admin.html")  # ward administration (issue #14)

    @router.get("/setup")
    async def setup_page(request: Request) -> Response:
        return staff_page(request, "setup.html")  # the first run (issue #14)

    @router.get("/family")
    async def family_page() -> Response:
        return _page(base, "family.html")

    @router.post("/signin")
    async def sign_in(request: Request) -> Response:
        """The sign-in form: a valid token becomes the session cookie; the token is never echoed."""
        # A two-field urlencoded form, parsed here (no multipart parser needed), bounded in size.
        body = await request.body()
        form = urllib.parse.parse_qs(body[:4096].decode("utf-8", "replace"), max_num_fields=4)
        token = form.get("token", [""])[0]
        nxt = form.get("next", [""])[0]
        auth: StaffAuth = request.app.state.auth
        limiter: SignInLimiter = request.app.state.signin_limiter
        client = request.client.host if request.client else "?"
        target = nxt if nxt.startswith("/") and not nxt.startswith("//") else "/ward"
        wait_s = limiter.retry_after(client)
        if wait_s > 0:
            limiter.refused += 1
            return Response(
                f"too many failed sign-ins from this device: try again in {wait_s:.0f} s\n",
                status_code=429,
                media_type="text/plain",
                headers={"Retry-After": str(max(1, round(wait_s)))},
            )
        if auth.check_token(token.strip()) is None:
            limiter.failed(client)
            # Back to the sign-in page, which says so; the wrong token is not echoed anywhere.
            return RedirectResponse(target.split("?", 1)[0] + "?signin=failed", 303)
        limiter.succeeded(client)
        response = RedirectResponse(target, 303)
        response.set_cookie(
            SESSION_COOKIE,
            auth.new_session(token.strip()),
            max_age=int(auth.session_s),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    return router
