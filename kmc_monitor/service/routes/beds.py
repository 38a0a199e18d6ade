"""The ward's tiles, one bed in full, its chart, and its history by day.

Adding, renaming and ordering beds are ``ward_admin``'s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from kmc_monitor.errors import UnknownAlarmError
from kmc_monitor.service.alarms import AuditRecord
from kmc_monitor.service.deps import Runtime, Staff
from kmc_monitor.service.reports import stored_alarm_json
from kmc_monitor.service.routes.alarms import with_pending_audit
from kmc_monitor.service.routes.ward_admin import bed_detail
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.schemas import BedDetailOut, DaysOut, HistoryOut, TrendBinOut, TrendOut
from kmc_monitor.service.views import (
    BedOut,
    audit_json,
    bed_json,
    session_json,
    stay_day_json,
)
from kmc_monitor.service.ward import MAX_HISTORY_DAYS, ContactHistory
from kmc_monitor.service.ward_time import day_bounds
from kmc_monitor.signal.params import US

__all__ = ["beds_router"]

logger = logging.getLogger(__name__)


def _today(rt: WardRuntime) -> dt.date:
    """The ward-local date now (the ward's clock, which is what daily totals follow)."""
    return dt.datetime.fromtimestamp(rt.clock(), ZoneInfo(rt.settings.ward_tz)).date()


def _history(rt: WardRuntime, bed_id: str, first: dt.date, last: dt.date) -> ContactHistory:
    return rt.ward.contact_history(bed_id, first, last, rt.engine.params, now=rt.clock())


def beds_router() -> APIRouter:
    """The bed routes."""
    router = APIRouter()

    @router.get("/api/beds", tags=["ward"], response_model=list[BedOut])
    async def beds(who: Staff, rt: Runtime) -> list[dict[str, Any]]:
        return [bed_json(v) for v in rt.engine.views(rt.now_us())]

    @router.get(
        "/api/beds/{bed_id}", tags=["ward"], response_model=BedDetailOut, response_model_exclude_unset=True
    )
    async def bed(bed_id: str, who: Staff, rt: Runtime) -> dict[str, Any]:
        """The bed's tile, its current admission in full and its wrap."""
        return bed_detail(rt, bed_id)

    @router.get("/api/beds/{bed_id}/trend", tags=["ward"])
    async def trend(bed_id: str, who: Staff, rt: Runtime) -> TrendOut:
        """The bed's chart: one bin per minute of the wrap's readings since it was put on this bed
        (for this admission), 24 h at most, oldest first; the last bin is still filling."""
        status = rt.ward.bed_status(bed_id)
        bins = () if status.wrap_id is None else rt.engine.trend(status.wrap_id)
        return TrendOut(
            bed_id=bed_id,
            wrap_id=status.wrap_id,
            admission_id=None if status.admission is None else status.admission.admission_id,
            bins=[
                TrendBinOut(
                    start_us=b.start_us,
                    count=b.count,
                    temp_min_c=b.temp_min_c,
                    temp_median_c=b.temp_median_c,
                    temp_max_c=b.temp_max_c,
                    contact_fraction=b.contact_fraction,
                    unjudged_fraction=b.unjudged_fraction,
                )
                for b in bins
            ],
        )

    # The stored alarms of the day lack what only the board knows (``detail``, ``reminded_us``): an
    # alarm is sent with the keys it has, as before the model documented them.
    @router.get(
        "/api/beds/{bed_id}/history",
        tags=["history"],
        response_model=HistoryOut,
        response_model_exclude_unset=True,
    )
    async def history(
        bed_id: str,
        who: Staff,
        rt: Runtime,
        day: Annotated[
            dt.date | None, Query(description="ward-local day, YYYY-MM-DD (default today)")
        ] = None,
    ) -> dict[str, Any]:
        """One ward-local day of a bed: readings, sessions, each stay's contact against its daily
        goal, and the alarms of the day with their acknowledgements."""
        rt.ward.bed(bed_id)  # 404 before any work
        if day is None:
            day = _today(rt)
        tz = rt.settings.ward_tz
        start_t, end_t = day_bounds(day, tz)
        start_us, end_us = round(start_t * US), round(end_t * US)

        def load() -> tuple[list[Any], list[Any], ContactHistory, list[dict[str, Any]], list[AuditRecord]]:
            readings = rt.store.readings_for_bed_day(bed_id, day, tz)
            stored_sessions = rt.store.sessions_for_bed_day(bed_id, day, tz)
            days = _history(rt, bed_id, day, day)
            stored_alarms = rt.store.alarms_for_bed(bed_id, start_us, end_us)
            audit = rt.store.audit_log(start_us=start_us, end_us=end_us)
            return readings, stored_sessions, days, stored_alarms, audit

        readings, stored_sessions, days, stored_alarms, stored_audit = await asyncio.to_thread(load)
        audit = with_pending_audit(rt, stored_audit, start_us=start_us, end_us=end_us)
        # Alarms still on the board are shown as the board sees them now; older ones as last saved.
        now_us = rt.now_us()
        alarms_out: dict[int, dict[str, Any]] = {}
        for raw in stored_alarms:
            alarm_id = int(raw["id"])
            try:
                alarms_out[alarm_id] = rt.alarm_json(rt.engine.board.alarm(alarm_id, now_us))
            except UnknownAlarmError:
                alarms_out[alarm_id] = stored_alarm_json(raw)
        for view in rt.engine.board.visible(now_us, bed_id=bed_id):
            if view.raised_us < end_us and (view.ended_us is None or view.ended_us >= start_us):
                alarms_out.setdefault(view.alarm_id, rt.alarm_json(view))
        for alarm_id, entry in alarms_out.items():
            entry["audit"] = [audit_json(r) for r in audit if r.alarm_id == alarm_id]
        if stored_sessions:
            sessions = [
                {
                    "admission_id": None,
                    "wrap_id": s.wrap_id,
                    "start_us": s.session.start_us,
                    "end_us": s.session.end_us,
                    "duration_s": s.session.duration_us / US,
                    "contact_s": s.session.contact_us / US,
                    "short": s.session.short,
                }
                for s in stored_sessions
            ]
            source = "stored"
        else:
            sessions = [session_json(s) for s in days.sessions]
            source = "readings"
        return {
            "bed_id": bed_id,
            "day": day.isoformat(),
            "readings": [
                {
                    "t": r.t,
                    "wrap_id": r.wrap_id,
                    "skin_temp_c": r.skin_temp_c,
                    "contact": r.contact,
                    "battery_pct": r.battery_pct,
                }
                for r in readings
            ],
            "sessions": sessions,
            "sessions_source": source,
            "totals": [stay_day_json(d) for d in days.days],
            "alarms": sorted(alarms_out.values(), key=lambda a: (a["raised_us"] or 0, a["alarm_id"])),
        }

    @router.get("/api/beds/{bed_id}/days", tags=["history"], response_model=DaysOut)
    async def bed_days(
        bed_id: str,
        who: Staff,
        rt: Runtime,
        until: Annotated[
            dt.date | None, Query(description="last ward-local day, YYYY-MM-DD (default today)")
        ] = None,
        days: Annotated[
            int, Query(ge=1, le=MAX_HISTORY_DAYS, description="how many days back from `until`")
        ] = 7,
    ) -> dict[str, Any]:
        """Today's and the previous days' totals: for each day with readings or an admitted baby,
        the readings stored and each stay's contact against its daily goal (newest day first)."""
        rt.ward.bed(bed_id)
        last = until or _today(rt)
        first = last - dt.timedelta(days=days - 1)
        found = await asyncio.to_thread(_history, rt, bed_id, first, last)
        out = []
        for d in sorted(found.readings_per_day, reverse=True):
            totals = [stay_day_json(x) for x in found.days if x.day == d]
            if totals or found.readings_per_day[d]:
                out.append({"day": d.isoformat(), "readings": found.readings_per_day[d], "totals": totals})
        return {"bed_id": bed_id, "first_day": first.isoformat(), "last_day": last.isoformat(), "days": out}

    return router
