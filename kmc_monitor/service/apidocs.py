"""``/docs`` and ``/openapi.json``: the API's reference, for staff, from files this service ships.

FastAPI's default ``/docs`` page loads Swagger UI from a CDN: blank on a ward without internet, and
a third party's script running on the ward's origin with every staff member's session (finding 12).
Here the Swagger UI files come from the ``swagger-ui-bundle`` package (installed with the service),
the page and the schema need a staff session or token like any other staff page, and the page has
its own Content-Security-Policy: scripts and styles from this origin only (Swagger UI sets inline
style attributes, hence ``style-src 'unsafe-inline'``; no inline script, no other origin). The
page's script sends the session's anti-forgery token with "Try it out" writes, as the dashboard does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from kmc_monitor.service.deps import Staff

__all__ = ["DOCS_CSP", "docs_router", "mount_docs"]

DOCS_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_HEADERS: Final = {
    "Content-Security-Policy": DOCS_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>kmc-monitor API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

# Not inline (the CSP forbids inline script): served at /docs/init.js.
_INIT: Final = """"use strict";
let csrf = null;
async function token() {
  if (csrf === null) {
    const res = await fetch("/api/session", { credentials: "same-origin" });
    csrf = res.ok ? (await res.json()).csrf || "" : "";
  }
  return csrf;
}
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  requestInterceptor: async (req) => {
    if (!["GET", "HEAD", "OPTIONS"].includes((req.method || "GET").toUpperCase())) {
      const t = await token();
      if (t) req.headers["X-CSRF-Token"] = t;
    }
    return req;
  },
});
"""


def swagger_ui_dir() -> Path:
    """The Swagger UI files of the installed ``swagger-ui-bundle`` package."""
    import swagger_ui_bundle  # type: ignore[import-untyped]  # ships no type hints

    return Path(str(swagger_ui_bundle.swagger_ui_path))


def mount_docs(app: FastAPI) -> None:
    """Serve Swagger UI's own files (public: they hold no ward data) under ``/docs/assets``."""
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_dir()), name="docs-assets")


def docs_router() -> APIRouter:
    """``/docs``, its script and ``/openapi.json``, for staff."""
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi(request: Request, who: Staff) -> JSONResponse:
        schema: dict[str, Any] = request.app.openapi()
        return JSONResponse(schema, headers={"Cache-Control": "no-store"})

    @router.get("/docs")
    async def docs(who: Staff) -> HTMLResponse:
        return HTMLResponse(_PAGE, headers=_HEADERS)

    @router.get("/docs/init.js")
    async def init() -> Response:
        return Response(_INIT, media_type="text/javascript", headers=_HEADERS)

    return router
