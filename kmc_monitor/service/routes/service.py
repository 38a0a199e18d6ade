"""The service itself: alive, and the settings in effect."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from kmc_monitor.service.deps import Runtime, Staff
from kmc_monitor.service.schemas import (
    AlarmParamsOut,
    SettingsOut,
)

__all__ = ["service_router"]

logger = logging.getLogger(__name__)


def service_router() -> APIRouter:
    """``/healthz`` and the settings."""
    router = APIRouter()

    @router.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @router.get("/api/settings", tags=["service"])
    async def ward_settings(who: Staff, rt: Runtime) -> SettingsOut:
        """The settings in effect (read-only: they are changed in the configuration file)."""
        s = rt.settings
        board = rt.engine.board.params
        return SettingsOut(
            ward_name=s.ward_name,
            ward_tz=s.ward_tz,
            clock_format=s.clock_format,
            base_url=s.base_url,
            retention_days=s.retention_days,
            require_hospital_number=s.require_hospital_number,
            default_daily_goal_s=s.clinical.daily_goal_s,
            alarms=AlarmParamsOut(audio_pause_s=board.audio_pause_s, escalation_s=board.escalation_s),
            clinical={k: float(v) for k, v in s.clinical.model_dump().items()},
            shift_starts=list(s.shift_starts),
        )

    return router
