"""Admissions as staff read them, and each one's family link.

Admitting and discharging are ``ward_admin``'s.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Response

from kmc_monitor.service.deps import Nurse, RowId, Runtime, Staff
from kmc_monitor.service.routes.ward_admin import keep_family_links_soon
from kmc_monitor.service.schemas import FamilyLinkOut, RevokedOut
from kmc_monitor.service.views import (
    AdmissionOut,
    admission_json,
)

__all__ = ["admissions_router"]

logger = logging.getLogger(__name__)


def admissions_router() -> APIRouter:
    """The admission routes."""
    router = APIRouter()

    @router.get("/api/admissions", tags=["admissions"], response_model=list[AdmissionOut])
    async def admissions(who: Staff, rt: Runtime) -> list[dict[str, Any]]:
        return [admission_json(a) for a in rt.ward.current_admissions()]

    @router.get("/api/admissions/{admission_id}", tags=["admissions"], response_model=AdmissionOut)
    async def admission(admission_id: RowId, who: Staff, rt: Runtime) -> dict[str, Any]:
        """One admission, current or discharged."""
        return admission_json(rt.ward.admission(admission_id))

    @router.post("/api/admissions/{admission_id}/family-link", tags=["admissions"])
    async def renew_link(admission_id: RowId, who: Nurse, rt: Runtime) -> FamilyLinkOut:
        """Revoke the family link and make a new one (the old card stops working at once)."""
        link = await rt.renew_family_link(admission_id, who)
        await keep_family_links_soon(rt)  # issue-14a: kept sealed across restarts
        return FamilyLinkOut(admission_id=admission_id, family_url=link.url)

    @router.post("/api/admissions/{admission_id}/family-link/revoke", tags=["admissions"])
    async def revoke_link(admission_id: RowId, who: Nurse, rt: Runtime) -> RevokedOut:
        """Revoke the family link without a new one: its open bedside pages are closed at once."""
        rt.ward.admission(admission_id)  # 404 if none
        revoked = await rt.revoke_family_link(admission_id, who)
        return RevokedOut(admission_id=admission_id, revoked=revoked)

    @router.get(
        "/api/admissions/{admission_id}/family-qr.svg",
        tags=["admissions"],
        response_class=Response,
        responses={200: {"content": {"image/svg+xml": {}}}},
    )
    async def family_qr(admission_id: RowId, who: Nurse, rt: Runtime) -> Response:
        rt.ward.admission(admission_id)  # 404 if none
        link = rt.family_links.get(admission_id)
        if link is None:
            raise HTTPException(
                404,
                "this service keeps no family token (only its hash); make a new link with "
                f"POST /api/admissions/{admission_id}/family-link",
            )
        return Response(link.qr_svg(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    return router
