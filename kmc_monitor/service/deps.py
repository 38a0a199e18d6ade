"""FastAPI dependencies shared by the web layer's routers: who is asking (and may they), the runtime.

In a module of their own so that every router (``app.py``'s routes, ``reports.py``) takes them from
one place without importing ``app.py``. Both read what the app's lifespan put on ``app.state``, so a
router using them works in any app built by ``create_app``.

Each route names the least role it needs (:class:`~kmc_monitor.service.auth.Role`): ``Staff`` (a
screen: view, acknowledge, pause), ``Nurse`` (admit, discharge, assign), ``Admin`` (beds, wraps,
keys), ``MetricsReader`` (``/metrics``). A valid token of a lesser role gets 403, no token 401.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam

from kmc_monitor.service.auth import Role, StaffAuth
from kmc_monitor.service.runtime import WardRuntime

__all__ = [
    "Admin",
    "MetricsReader",
    "Nurse",
    "RowId",
    "Runtime",
    "Staff",
    "audit_identity",
    "requires",
    "runtime",
    "staff",
]

#: An alarm or admission id in a path: what SQLite's INTEGER holds (64-bit signed). A larger number
#: is refused with 422 here instead of overflowing in the store as a 500 (found by fuzzing).
RowId = Annotated[int, PathParam(ge=-(2**63), le=2**63 - 1)]
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def runtime(request: Request) -> WardRuntime:
    """The ward runtime the app's lifespan started."""
    rt: WardRuntime = request.app.state.runtime
    return rt


def requires(role: Role) -> Callable[[Request], str]:
    """A dependency: the staff id behind the request if its token has ``role`` (or above)."""

    def check(request: Request) -> str:
        auth: StaffAuth = request.app.state.auth
        # No ``?token=`` here: a token in a URL counts only on the kiosk's sign-in link (a page),
        # never on the API (it would end up in proxies' logs and browsers' histories).
        ident = auth.identity(request.headers, request.cookies, {})
        if ident is None:
            raise HTTPException(401, "a staff token is needed", headers={"WWW-Authenticate": "Bearer"})
        if ident.role < role:
            raise HTTPException(
                403, f"this device's token ({ident.role.label}) may not do this: it needs {role.label}"
            )
        return ident.who

    return check


def staff(request: Request) -> str:
    """The staff id behind the request (bearer token or session cookie), at least a screen's role."""
    return requires(Role.SCREEN)(request)


Staff = Annotated[str, Depends(requires(Role.SCREEN))]
Nurse = Annotated[str, Depends(requires(Role.NURSE))]
Admin = Annotated[str, Depends(requires(Role.ADMIN))]
MetricsReader = Annotated[str, Depends(requires(Role.METRICS))]
Runtime = Annotated[WardRuntime, Depends(runtime)]


def audit_identity(who: str, display_name: str | None) -> str:
    """What the audit records as who did it: the authenticated identity, always first; a name the
    client gave only beside it, in brackets, cleaned of control characters and of a leading
    spreadsheet-formula sign (finding 9: an acknowledgement recorded as "System", or as a formula)."""
    if not display_name:
        return who
    name = "".join(c for c in display_name if c.isprintable()).strip()[:64]
    while name.startswith(_FORMULA_START):
        name = name[1:].lstrip()
    return f"{who} [{name}]" if name else who
