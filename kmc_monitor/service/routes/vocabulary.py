"""``GET /api/vocabulary``: the words and limits the screens print (see ``service/vocabulary.py``).

A staff screen asks with its credential; a family page may ask with its link's token
(``X-Family-Token``). Nothing in it is about a baby, but the service answers no stranger.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request

from kmc_monitor.service.auth import Role
from kmc_monitor.service.deps import Runtime, requires
from kmc_monitor.service.vocabulary import VocabularyOut, vocabulary

__all__ = ["vocabulary_router"]

_staff = requires(Role.SCREEN)


def vocabulary_router() -> APIRouter:
    """The vocabulary route."""
    router = APIRouter()

    @router.get("/api/vocabulary", tags=["service"])
    async def ward_vocabulary(
        request: Request, rt: Runtime, x_family_token: Annotated[str | None, Header()] = None
    ) -> VocabularyOut:
        """Band names and limits (from the rule parameters in effect), why a temperature is not
        judged, the alarm kinds with category and priority, the priorities with their marks, the
        alarm and session states: each as the API spells it and in words."""
        if x_family_token is None or rt.ward.admission_for_family_token(x_family_token) is None:
            try:
                _staff(request)
            except HTTPException:
                if x_family_token is not None:
                    raise HTTPException(401, "this family link is not valid") from None
                raise
        return vocabulary(rt.engine.params)

    return router
