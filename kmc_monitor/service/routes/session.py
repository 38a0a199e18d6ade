"""Who this device is signed in as, and signing it out."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from kmc_monitor.service.auth import SESSION_COOKIE, StaffAuth
from kmc_monitor.service.deps import Runtime, Staff
from kmc_monitor.service.schemas import SignedInOut, SignedOutOut

__all__ = ["SIGNED_OUT_KEY", "session_router"]

logger = logging.getLogger(__name__)

#: Where the signed-out devices are kept (the store's settings table), so a restart keeps them out.
SIGNED_OUT_KEY = "signed_out_sessions"


def session_router() -> APIRouter:
    """The session routes."""
    router = APIRouter()

    @router.get("/api/session", tags=["service"])
    async def session(request: Request, who: Staff) -> SignedInOut:
        """Who this device is signed in as (and its role), and the anti-forgery token its page sends
        with every write (``X-CSRF-Token``; only a page of this origin can read it). Bearer clients
        need none."""
        auth: StaffAuth = request.app.state.auth
        sid = request.cookies.get(SESSION_COOKIE)
        ident = auth.identity(request.headers, request.cookies, {})
        csrf = auth.csrf_for(sid) if sid and auth.check_session(sid) is not None else None
        return SignedInOut(staff=who, role=None if ident is None else ident.role.label, csrf=csrf)

    @router.post("/api/session/signout", tags=["service"], response_model=SignedOutOut)
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

    return router
