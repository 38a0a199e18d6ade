"""FastAPI dependencies shared by the web layer's routers: who is asking, and the ward runtime.

In a module of their own so that every router (``app.py``'s routes, ``reports.py``) takes them from
one place without importing ``app.py``. Both read what the app's lifespan put on ``app.state``, so a
router using them works in any app built by ``create_app``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from kmc_monitor.service.auth import StaffAuth
from kmc_monitor.service.runtime import WardRuntime

__all__ = ["Runtime", "Staff", "runtime", "staff"]


def runtime(request: Request) -> WardRuntime:
    """The ward runtime the app's lifespan started."""
    rt: WardRuntime = request.app.state.runtime
    return rt


def staff(request: Request) -> str:
    """The staff id behind the request (bearer token, session cookie or ``?token=``), else 401."""
    auth: StaffAuth = request.app.state.auth
    who = auth.identify(request.headers, request.cookies, request.query_params)
    if who is None:
        raise HTTPException(401, "a staff token is needed", headers={"WWW-Authenticate": "Bearer"})
    return who


Staff = Annotated[str, Depends(staff)]
Runtime = Annotated[WardRuntime, Depends(runtime)]
