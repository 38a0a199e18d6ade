"""The wraps: registered and heard, the list of wraps heard on no bed, re-keying and counter resets.

Registering and assigning are ``ward_admin``'s.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter

from kmc_monitor.service.deps import Admin, Nurse, Runtime, Staff
from kmc_monitor.service.schemas import (
    CounterResetOut,
    ForgottenOut,
    HeardWrapOut,
    WrapAuditOut,
    WrapKeyBody,
    WrapKeyOut,
    WrapOut,
    WrapsOut,
)
from kmc_monitor.signal.params import US

__all__ = ["wraps_router"]

logger = logging.getLogger(__name__)


def wraps_router() -> APIRouter:
    """The wrap routes."""
    router = APIRouter()

    @router.get("/api/wraps", tags=["wraps"])
    async def wraps(who: Staff, rt: Runtime) -> WrapsOut:
        """Every registered wrap (whether it has a key, never the key), its bed and what was last
        heard of it; and wraps heard on the ward that nobody registered."""
        now_us = rt.now_us()
        views = {v.wrap_id: v for v in rt.engine.views(now_us) if v.wrap_id is not None}
        heard = {u.wrap_id: u for u in rt.engine.unassigned_wraps()}
        registered = []
        for w in rt.ward.wraps():
            v = views.get(w.wrap_id)
            u = heard.get(w.wrap_id)
            last_us = v.last_heard_us if v is not None else (u.last_heard_us if u is not None else None)
            registered.append(
                WrapOut(
                    wrap_id=w.wrap_id,
                    mac=w.mac,
                    has_key=w.has_key,
                    bed_id=w.bed_id,
                    last_heard_us=last_us,
                    last_heard_s=None if last_us is None else max(0, now_us - last_us) / US,
                    rssi_dbm=v.rssi_dbm if v is not None else (u.rssi_dbm if u is not None else None),
                    battery_pct=None if v is None else v.battery_pct,
                )
            )
        known = {w.wrap_id for w in registered}
        unregistered = [
            HeardWrapOut(
                wrap_id=u.wrap_id,
                last_heard_us=u.last_heard_us,
                last_heard_s=max(0, now_us - u.last_heard_us) / US,
                rssi_dbm=u.rssi_dbm,
            )
            for u in heard.values()
            if u.wrap_id not in known
        ]
        return WrapsOut(registered=registered, unregistered=unregistered)

    @router.delete("/api/wraps/unregistered", tags=["wraps"])
    async def clear_unregistered(who: Nurse, rt: Runtime) -> ForgottenOut:
        """Clear the list of wraps heard on no bed (a wrap heard again reappears). The list also
        forgets a wrap unheard for 10 minutes and keeps at most 64 (the most recently heard)."""
        forgotten = rt.forget_unassigned_now()
        logger.info("%s cleared the list of unassigned wraps (%d)", who, forgotten)
        return ForgottenOut(forgotten=forgotten)

    @router.post("/api/wraps/{wrap_id}/key", tags=["wraps"])
    async def rekey_wrap(wrap_id: str, body: WrapKeyBody, who: Admin, rt: Runtime) -> WrapKeyOut:
        """Give a re-provisioned wrap its new key; its replay counter starts afresh (audited)."""
        await rt.rekey_wrap(wrap_id, body.key, who)
        audit = [WrapAuditOut(**a) for a in rt.store.wrap_audit(wrap_id)]
        return WrapKeyOut(wrap_id=wrap_id, has_key=body.key is not None, audit=audit)

    @router.post("/api/wraps/{wrap_id}/counter-reset", tags=["wraps"])
    async def reset_wrap_counter(wrap_id: str, who: Admin, rt: Runtime) -> CounterResetOut:
        """Accept a re-flashed wrap's restarted counter, once an engineer has checked the wrap was
        reset (until then a lower counter is what a replay looks like); audited."""
        before = await rt.reset_wrap_counter(wrap_id, who)
        audit = [WrapAuditOut(**a) for a in rt.store.wrap_audit(wrap_id)]
        return CounterResetOut(wrap_id=wrap_id, previous_counter=before, audit=audit)

    @router.get("/api/wraps/audit", tags=["wraps"], response_model=list[WrapAuditOut])
    async def wraps_audit(who: Admin, rt: Runtime) -> list[dict[str, Any]]:
        """Every re-key and counter reset, oldest first: who, when, which wrap."""
        return await asyncio.to_thread(rt.store.wrap_audit)

    return router
