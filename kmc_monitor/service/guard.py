"""What every request meets before the app sees it: origin, credential, anti-forgery token, size.

:class:`RequestGuard` is plain ASGI middleware, so it runs before FastAPI reads or parses anything:

- **Origin.** A state-changing request (any method but GET, HEAD, OPTIONS) and every WebSocket
  handshake that names an ``Origin`` must come from this service's own origin: the scheme and the
  ``Host`` it was addressed to, or :attr:`Settings.public_url`. A page on another port of the same
  host (same *site*, so ``SameSite=Strict`` cookies go with it) is another origin and is refused
  with 403; a WebSocket handshake from it is refused before it is accepted.
- **Credential before body.** A state-changing ``/api/`` request needs a valid staff credential
  (bearer token or session cookie), checked on the headers: a stranger's upload is answered 401
  without one byte of it read.
- **Home gateways** (``POST /api/station/homes/{home_id}/sync``) carry their home's pairing token
  instead of a staff credential, checked the same way on the headers (hashed, constant time) before
  any of the body (capped at 1 MiB) is read (issue-17b; see docs/station.md).
- **Anti-forgery token.** A write authenticated by the session *cookie* (a browser) must carry
  ``X-CSRF-Token``, which the dashboard gets from ``GET /api/session`` (a same-origin read, which
  no other origin can make). Bearer requests need none: no browser adds that header by itself.
- ``Cache-Control: no-store`` and ``X-Content-Type-Options: nosniff`` on every ``/api/`` answer.
- **Failed sign-ins** are rate-limited per client address with a doubling back-off (429).
- **Body caps per route**, enforced on ``Content-Length`` before the body is read and on the bytes
  actually streamed (a chunked upload that lies is cut off at the cap): 413.

Each refusal is counted by reason (:attr:`RequestGuard.refused`, exported at ``/metrics``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kmc_monitor.service.auth import SESSION_COOKIE, SignInLimiter, StaffAuth

__all__ = ["CSRF_HEADER", "DEFAULT_BODY_CAP", "RequestGuard"]

CSRF_HEADER: Final = "x-csrf-token"
#: Bytes a request body may have unless its route says otherwise: every staff action is a small form.
DEFAULT_BODY_CAP: Final = 64 * 1024
#: Route prefixes with their own cap: a batch of readings (1000 of about 200 bytes), the sign-in form.
ROUTE_CAPS: Final[tuple[tuple[str, int], ...]] = (("/api/readings", 512 * 1024), ("/signin", 4096))
_SAFE: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: The family page's own API: authenticated by the family link's token, not a staff credential.
FAMILY_PREFIX: Final = "/api/family/"
#: A family page sends one small choice ("who is holding now").
FAMILY_BODY_CAP: Final = 2048
#: The pages a kiosk's sign-in link opens with ``?token=`` (the only place a token in a URL counts).
PAGE_PREFIXES: Final = ("/ward", "/bed/", "/report/", "/station", "/admin", "/setup")
#: A home gateway's sync route (issue-17b): authenticated by that home's own pairing token (no staff
#: role), checked here before any of the body is read, like a staff credential.
STATION_SYNC_RE: Final = re.compile(r"^/api/station/homes/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})/sync$")
#: A sync batch: at most 2 000 sealed readings and 60 day summaries (about 300 kB), with room.
STATION_SYNC_CAP: Final = 1024 * 1024


class _TooLarge(Exception):
    pass


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class RequestGuard:
    """ASGI middleware; see the module docstring. ``public_url``: an origin accepted besides the
    request's own (the address behind a TLS reverse proxy)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        public_url: str | None = None,
        caps: Sequence[tuple[str, int]] = ROUTE_CAPS,
        default_cap: int = DEFAULT_BODY_CAP,
    ) -> None:
        self.app = app
        self.public_origin = None if public_url is None else _origin_of(public_url)
        self.caps = tuple(caps)
        self.default_cap = default_cap
        self.refused: Counter[str] = Counter()
        self._published = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._published and "app" in scope:
            scope["app"].state.http_refusals = self.refused  # what /metrics reports
            self._published = True
        if scope["type"] == "websocket":
            headers = _headers(scope)
            if not self._origin_ok(scope, headers):
                self.refused["origin"] += 1
                await receive()  # the websocket.connect event
                await send({"type": "websocket.close", "code": 4403, "reason": "origin not allowed"})
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/api/"):
            send = _api_headers(send)
        if scope["method"] in _SAFE:
            blocked = self._rate_limited(scope, _headers(scope))
            if blocked is not None:
                await self._refuse(send, 429, "rate_limited", blocked)
                return
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        path: str = scope["path"]
        blocked = self._rate_limited(scope, headers)
        if blocked is not None:
            await self._refuse(send, 429, "rate_limited", blocked)
            return
        if not self._origin_ok(scope, headers):
            await self._refuse(send, 403, "origin", "this request comes from another site's page")
            return
        cap = next((n for prefix, n in self.caps if path.startswith(prefix)), self.default_cap)
        home = STATION_SYNC_RE.match(path)
        if home is not None:
            if not _home_ok(scope, home.group(1), _bearer(headers)):
                await self._refuse(
                    send,
                    401,
                    "unauthenticated",
                    "this home's pairing token is not valid: pair the home "
                    "gateway again (a new pairing code at the station)",
                )
                return
            cap = STATION_SYNC_CAP
        elif path.startswith(FAMILY_PREFIX):
            # A family page's writes carry its link's token (X-Family-Token), never a staff one:
            # checked here, before any of the body is read, like a staff credential.
            if not await _family_ok(scope, headers.get("x-family-token")):
                await self._refuse(send, 401, "unauthenticated", "this family link is not valid")
                return
            cap = min(cap, FAMILY_BODY_CAP)
        elif path.startswith("/api/"):
            auth: StaffAuth | None = getattr(scope["app"].state, "auth", None) if "app" in scope else None
            verdict = self._credential(auth, headers)
            if verdict is not None:
                status, reason, detail = verdict
                await self._refuse(send, status, reason, detail)
                return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await self._refuse(send, 400, "bad_length", "Content-Length is not a number")
                return
            if int(length) > cap:
                await self._refuse(send, 413, "too_large", f"the body is over {cap} bytes")
                return
        try:
            body = await _read_body(receive, cap)
        except _TooLarge:
            await self._refuse(send, 413, "too_large", f"the body is over {cap} bytes")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _rate_limited(self, scope: Scope, headers: dict[str, str]) -> str | None:
        """Failed sign-ins (a wrong bearer token, or a wrong ``?token=`` on a page) count against
        the client's address, with a doubling back-off (:class:`SignInLimiter`); a blocked address
        is answered 429 before its token is even looked at."""
        state = getattr(scope["app"], "state", None) if "app" in scope else None
        auth: StaffAuth | None = getattr(state, "auth", None)
        limiter: SignInLimiter | None = getattr(state, "signin_limiter", None)
        scheme, _, value = headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
        if token is None and scope["path"].startswith(PAGE_PREFIXES):
            token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        if auth is None or limiter is None or token is None:
            return None
        client = (scope.get("client") or ("?",))[0]
        wait_s = limiter.retry_after(client)
        if wait_s > 0:
            return f"too many failed sign-ins from this address: try again in {wait_s:.0f} s"
        home = STATION_SYNC_RE.match(scope["path"])
        if home is not None:
            valid = _home_ok(scope, home.group(1), token)  # a home's token, not a staff one
        else:
            valid = auth.token_identity(token) is not None
        if not valid:
            limiter.failed(client)
        else:
            limiter.succeeded(client)
        return None

    def _origin_ok(self, scope: Scope, headers: dict[str, str]) -> bool:
        origin = headers.get("origin")
        if origin is None:
            return True  # not a browser's cross-site request (browsers send Origin on these)
        origin = origin.lower()
        host = headers.get("host", "").lower()
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        return origin in (f"{scheme}://{host}", self.public_origin)

    def _credential(self, auth: StaffAuth | None, headers: dict[str, str]) -> tuple[int, str, str] | None:
        if auth is None:
            return 401, "unauthenticated", "a staff token is needed"
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            if auth.check_token(value.strip()) is None:
                return 401, "unauthenticated", "a staff token is needed"
            return None
        sid = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        if auth.check_session(sid) is None:
            return 401, "unauthenticated", "a staff token is needed"
        if not auth.check_csrf(sid, headers.get(CSRF_HEADER)):
            return 403, "csrf", "the anti-forgery token is missing or wrong: reload the page"
        return None

    async def _refuse(self, send: Send, status: int, reason: str, detail: str) -> None:
        self.refused[reason] += 1
        body = json.dumps({"detail": detail, "reason": reason}).encode()
        extra: list[tuple[bytes, bytes]] = []
        if status == 401:
            extra.append((b"www-authenticate", b"Bearer"))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"connection", b"close"),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _api_headers(send: Send) -> Send:
    """``send`` adding ``Cache-Control: no-store`` and ``nosniff`` to the response: API answers
    (names, hospital numbers, alarms) are kept by no browser or proxy cache, and never run as a
    script or page whatever their type."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in (b"cache-control",)]
            headers += [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in scope.get("headers", ()):
        out.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return out


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip('"')
    return None


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _home_ok(scope: Scope, home_id: str, token: str | None) -> bool:
    """Whether ``token`` is the home's pairing token (in memory, hashed, constant time)."""
    station = getattr(scope["app"].state, "station", None) if "app" in scope else None
    return station is not None and bool(station.check_token(home_id, token))


async def _family_ok(scope: Scope, token: str | None) -> bool:
    """Whether ``token`` opens a current admission (a hashed look-up, off the event loop)."""
    if not token or len(token) > 256 or "app" not in scope:
        return False
    rt = getattr(scope["app"].state, "runtime", None)
    if rt is None:
        return False
    return await asyncio.to_thread(lambda: rt.ward.admission_for_family_token(token) is not None)


async def _read_body(receive: Receive, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message: dict[str, Any] = dict(await receive())
        if message["type"] != "http.request":
            break  # the client went away: the app sees an empty body and the disconnect after
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
