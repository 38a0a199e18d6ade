"""The alarms shown now, one alarm's audit trail, and each screen's audio pause."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from kmc_monitor.errors import AlarmError
from kmc_monitor.service.alarms import AuditRecord
from kmc_monitor.service.deps import RowId, Runtime, Staff, audit_identity
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.schemas import (
    PauseBody,
    PauseOut,
)
from kmc_monitor.service.views import (
    AlarmOut,
    AuditOut,
    audit_json,
)
from kmc_monitor.signal.params import US

__all__ = ["alarms_router", "with_pending_audit"]

logger = logging.getLogger(__name__)


def with_pending_audit(
    rt: WardRuntime,
    stored: list[AuditRecord],
    alarm_id: int | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
) -> list[AuditRecord]:
    """Stored audit lines plus those the board has not handed to the store yet, once each.

    Call on the event loop (the board is the loop's); ``stored`` may be read in a thread.
    """
    seen = {r.seq for r in stored}
    lo = -(2**63) if start_us is None else start_us
    hi = 2**63 - 1 if end_us is None else end_us
    pending = [
        r
        for r in rt.engine.board.audit
        if r.seq not in seen and (alarm_id is None or r.alarm_id == alarm_id) and lo <= r.at_us < hi
    ]
    return sorted([*stored, *pending], key=lambda r: (r.at_us, r.seq))


def alarms_router() -> APIRouter:
    """The alarm routes (acknowledging is ``ward_admin``'s: it may need a nurse's PIN)."""
    router = APIRouter()

    @router.get("/api/alarms", tags=["alarms"], response_model=list[AlarmOut])
    async def alarms(
        who: Staff,
        rt: Runtime,
        bed_id: Annotated[str | None, Query(max_length=32, description="only this bed's alarms")] = None,
    ) -> list[dict[str, Any]]:
        """The alarms shown now, highest priority first, then oldest first."""
        if bed_id is not None:
            rt.ward.bed(bed_id)  # 404: a typo must not look like a quiet bed
        return [rt.alarm_json(a) for a in rt.engine.board.visible(rt.now_us(), bed_id=bed_id)]

    @router.get("/api/alarms/{alarm_id}/audit", tags=["alarms"])
    async def alarm_audit(alarm_id: RowId, who: Staff, rt: Runtime) -> list[AuditOut]:
        """Everything that happened to one alarm, oldest first: who did what, when."""
        stored = await asyncio.to_thread(rt.store.audit_log, alarm_id=alarm_id)
        lines = with_pending_audit(rt, stored, alarm_id)
        if not lines:
            raise HTTPException(404, f"no alarm {alarm_id} in this ward's audit log")
        return [AuditOut(**audit_json(r)) for r in lines]

    def pause_state(rt: WardRuntime, screen_id: str) -> PauseOut:
        now_us = rt.now_us()
        board = rt.engine.board
        until = board.audio_paused_until(screen_id, now_us)
        sounding = board.sounding(screen_id, now_us)
        return PauseOut(
            screen_id=screen_id,
            paused_until_us=until,
            remaining_s=0.0 if until is None else max(0, until - now_us) / US,
            sounding=None if sounding is None else AlarmOut.model_validate(rt.alarm_json(sounding)),
            audible_alarm_ids=[a.alarm_id for a in board.visible(now_us) if a.audible],
        )

    @router.post("/api/screens/{screen_id}/pause", tags=["alarms"])
    async def pause(screen_id: str, who: Staff, rt: Runtime, body: PauseBody | None = None) -> PauseOut:
        """Silence this screen for the audio pause; ``sounding`` is what still sounds through it
        (a new alarm above what was sounding when the pause began)."""
        try:
            rt.pause_audio(screen_id, audit_identity(who, body.who if body else None))
        except AlarmError as exc:
            raise HTTPException(422, str(exc)) from None
        return pause_state(rt, screen_id)

    @router.get("/api/screens/{screen_id}/audio", tags=["alarms"])
    async def pause_status(screen_id: str, who: Staff, rt: Runtime) -> PauseOut:
        """What this screen sounds now and its audio pause (asked after every alarm event)."""
        try:
            return pause_state(rt, screen_id)
        except AlarmError as exc:
            raise HTTPException(422, str(exc)) from None

    return router
