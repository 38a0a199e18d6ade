"""Nurses as people: the admin's list of nurses, and a nurse confirming an action with her initials
and PIN on a shared screen.

The screen stays signed in with its own token (a wall screen must not sign out at 3 a.m.); the
person is named by the confirmation. What the audit records is then ``"Lan Nguyen (LN) via
staff-1a2b3c4d"``: the nurse first (the handover report names her), the screen's identity beside
it (which device it was done on).

When the ward has nurses registered, acknowledge, admit and discharge from a browser (a session
cookie: a shared screen) need a confirmation; a bearer client (an integration, a script with its
own token) is itself the identity and needs none. A ward without nurses works as before.

Wrong PINs are counted per client address and initials: five free, then the pair waits 1 s, 2 s,
4 s, … (at most 5 min), answered 429 before any PIN is checked; each outcome is counted
(``GET /api/nurses/attempts``). Checking a PIN is a ~50 ms scrypt, done in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kmc_monitor.service.auth import SignInLimiter
from kmc_monitor.service.deps import Admin, Runtime
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.store.people import PIN_MAX, PIN_MIN, Nurse

__all__ = ["NurseConfirm", "PinAttemptsOut", "confirmed_who", "nurses_router"]

_INITIALS = r"^[A-Za-z]{1,4}$"
#: A nurse's id in a path: what SQLite's INTEGER holds (a larger number is a 422, not a 500).
NurseId = Annotated[int, PathParam(ge=-(2**63), le=2**63 - 1)]
_PIN = rf"^[0-9]{{{PIN_MIN},{PIN_MAX}}}$"
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)


def _clean_name(value: str) -> str:
    name = "".join(c for c in value if c.isprintable()).strip()
    while name.startswith(_FORMULA_START):
        name = name[1:].lstrip()
    if not name:
        raise ValueError("give the nurse's name as the ward knows her, e.g. Lan Nguyen")
    return name


class NurseConfirm(_Body):
    """A nurse's confirmation of an action on a shared screen: her initials and her PIN."""

    initials: Annotated[str, Field(pattern=_INITIALS, description="1 to 4 letters, e.g. LN")]
    pin: Annotated[str, Field(pattern=_PIN, description=f"{PIN_MIN} to {PIN_MAX} digits")]


class NurseBody(_Body):
    """A new nurse: her name, the initials she confirms with, and her PIN (kept hashed)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    initials: Annotated[str, Field(pattern=_INITIALS)]
    pin: Annotated[str, Field(pattern=_PIN, description=f"{PIN_MIN} to {PIN_MAX} digits")]

    _name = field_validator("name")(_clean_name)


class NurseChangeBody(_Body):
    """Change a nurse's name, initials or PIN (what is left out stays)."""

    name: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    initials: Annotated[str | None, Field(pattern=_INITIALS)] = None
    pin: Annotated[str | None, Field(pattern=_PIN)] = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _clean_name(value)


class NurseOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    nurse_id: int
    name: str
    initials: str
    signature: str
    created_t: float


class PinAttemptsOut(BaseModel):
    """Confirmations since the service started, by outcome."""

    model_config = ConfigDict(frozen=True)

    confirmed: int
    wrong: int
    refused_waiting: int


def _out(n: Nurse) -> NurseOut:
    return NurseOut(
        nurse_id=n.nurse_id,
        name=n.name,
        initials=n.initials.upper(),
        signature=n.signature,
        created_t=n.created_t,
    )


def _limiter(request: Request) -> tuple[SignInLimiter, Counter[str]]:
    state = request.app.state
    if getattr(state, "pin_limiter", None) is None:
        state.pin_limiter = SignInLimiter()
        state.pin_attempts = Counter()
    return state.pin_limiter, state.pin_attempts


def nurses_on_ward(rt: WardRuntime) -> bool:
    return bool(rt.store.nurses())


async def confirmed_who(request: Request, rt: WardRuntime, who: str, confirm: NurseConfirm | None) -> str:
    """Who the audit names for an action: the confirming nurse and the device, or the device alone
    where no confirmation is needed (see the module docstring). 403 when one is needed and
    missing, 422 for initials and PIN that match no nurse, 429 while that pair must wait."""
    if confirm is None:
        from_browser = not request.headers.get("authorization", "").lower().startswith("bearer ")
        if from_browser and await asyncio.to_thread(nurses_on_ward, rt):
            raise HTTPException(403, "confirm with your initials and PIN (this ward names who does what)")
        return who
    limiter, counts = _limiter(request)
    client = request.client.host if request.client else "?"
    key = f"{client}|{confirm.initials.upper()}"
    wait = limiter.retry_after(key)
    if wait > 0:
        counts["refused_waiting"] += 1
        raise HTTPException(
            429,
            f"too many wrong PINs for {confirm.initials.upper()}: wait {wait:.0f} s and try again",
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    nurse = await asyncio.to_thread(rt.store.nurse_by_pin, confirm.initials, confirm.pin)
    if nurse is None:
        limiter.failed(key)
        counts["wrong"] += 1
        # 422, not 403: a browser's API helper retries a 403 once with a fresh anti-forgery token,
        # which would check (and count) one typed PIN twice.
        raise HTTPException(422, "those initials and PIN do not match a nurse of this ward: try again")
    limiter.succeeded(key)
    counts["confirmed"] += 1
    return f"{nurse.signature} via {who}"


def nurses_router() -> APIRouter:
    router = APIRouter(tags=["nurses"])

    @router.get("/api/nurses")
    async def nurses(who: Admin, rt: Runtime) -> list[NurseOut]:
        """The ward's nurses (never a PIN)."""
        return [_out(n) for n in await asyncio.to_thread(rt.store.nurses)]

    @router.post("/api/nurses", status_code=201)
    async def add_nurse(body: NurseBody, who: Admin, rt: Runtime) -> NurseOut:
        """Add a nurse; 409 if a nurse on the ward has these initials already."""
        nurse, _ = await rt.write(
            lambda now: rt.store.add_nurse(body.name, body.initials.upper(), body.pin, now=now, who=who)
        )
        return _out(nurse)

    @router.patch("/api/nurses/{nurse_id}")
    async def change_nurse(nurse_id: NurseId, body: NurseChangeBody, who: Admin, rt: Runtime) -> NurseOut:
        """Change a nurse's name, initials or PIN (a forgotten PIN is replaced, never shown)."""
        initials = None if body.initials is None else body.initials.upper()
        nurse, _ = await rt.write(
            lambda now: rt.store.update_nurse(
                nurse_id, name=body.name, initials=initials, pin=body.pin, now=now, who=who
            )
        )
        return _out(nurse)

    @router.delete("/api/nurses/{nurse_id}")
    async def remove_nurse(nurse_id: NurseId, who: Admin, rt: Runtime) -> NurseOut:
        """A nurse who left the ward: her PIN stops working; what she did keeps her name."""
        nurse, _ = await rt.write(lambda now: rt.store.retire_nurse(nurse_id, now=now, who=who))
        return _out(nurse)

    @router.get("/api/nurses/attempts")
    async def attempts(request: Request, who: Admin) -> PinAttemptsOut:
        """PIN confirmations since the service started: confirmed, wrong, refused while waiting."""
        _, counts = _limiter(request)
        return PinAttemptsOut(
            confirmed=counts["confirmed"], wrong=counts["wrong"], refused_waiting=counts["refused_waiting"]
        )

    return router
