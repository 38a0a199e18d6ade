"""The printed family card (#14): what the card page needs to print one stay's card.

``GET /api/admissions/{admission_id}/family-card`` (a nurse's role, as the family link itself) gives
the bed, the link and the ward's Wi-Fi name; the page (``/family-card/{admission_id}``,
``dashboard/family-card.html``) prints them in the family's language with the QR code of
``/api/admissions/{admission_id}/family-qr.svg``. The page takes the words from the family page's own
``/assets/i18n/<lang>.json``, so the card and the page the family will open say the same things.

Only a link this process made can be printed: the store keeps a hash of each family token, never the
token. For any other stay the answer is 409 with what to do (make a new link), not a card with a
dead link on it.
"""

from __future__ import annotations

import enum
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict

from kmc_monitor.service.deps import Nurse, Runtime
from kmc_monitor.service.family_view import bed_number
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.ward import FamilyLink, qr_svg
from kmc_monitor.service.ward_model import Admission

__all__ = ["FamilyCard", "FamilyLanguage", "family_card_router", "link_in_language"]


class FamilyLanguage(enum.StrEnum):
    """The family page's languages (``dashboard/assets/i18n/<code>.json``)."""

    VI = "vi"
    EN = "en"
    FR = "fr"
    ES = "es"
    PT = "pt"
    SW = "sw"


AdmissionId = Annotated[int, Path(ge=1, le=2**63 - 1)]


LangQuery = Annotated[FamilyLanguage, Query(description="the family's language")]


class FamilyCard(BaseModel):
    """One stay's family card: the bed, the family page's link, how to connect."""

    model_config = ConfigDict(frozen=True)

    admission_id: int
    display_name: str
    bed_id: str
    bed_label: str
    #: The number of a "Bed <n>" label, so the card says it in the family's language; None: the
    #: ward's own label is printed as typed.
    bed_number: int | None
    family_url: str
    #: The ward's Wi-Fi network for families (``Settings.family_wifi_name``); None: the card only
    #: says "the ward Wi-Fi".
    wifi_name: str | None
    #: The link points at this machine only (``127.0.0.1``/``localhost``): no phone can open it. The
    #: page warns the nurse before printing.
    loopback_only: bool
    ward_name: str


def link_in_language(url: str, lang: FamilyLanguage) -> str:
    """``…/family#token`` → ``…/family?lang=vi#token``: the family page opens in the card's language
    (a phone's own choice, once made on the page, wins). The token stays in the fragment."""
    page, _, token = url.partition("#")
    return f"{page}?lang={lang.value}#{token}"


def _is_loopback(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def family_card_router() -> APIRouter:
    router = APIRouter(tags=["admissions"])

    @router.get("/api/admissions/{admission_id}/family-card")
    async def family_card(
        admission_id: AdmissionId, who: Nurse, rt: Runtime, lang: LangQuery = FamilyLanguage.EN
    ) -> FamilyCard:
        """What the printed family card shows (the page adds the words and the QR code): the link
        opens the family page in ``lang``."""
        adm, link = _card_link(rt, admission_id)
        bed = rt.ward.bed(adm.bed_id)
        return FamilyCard(
            admission_id=admission_id,
            display_name=adm.display_name,
            bed_id=bed.bed_id,
            bed_label=bed.label,
            bed_number=bed_number(bed.label),
            family_url=link_in_language(link.url, lang),
            wifi_name=rt.settings.family_wifi_name,
            loopback_only=_is_loopback(link.url),
            ward_name=rt.settings.ward_name,
        )

    @router.get(
        "/api/admissions/{admission_id}/family-card.svg",
        response_class=Response,
        responses={200: {"content": {"image/svg+xml": {}}}},
    )
    async def family_card_qr(
        admission_id: AdmissionId, who: Nurse, rt: Runtime, lang: LangQuery = FamilyLanguage.EN
    ) -> Response:
        """The card's QR code: the family link opening the page in ``lang``."""
        _, link = _card_link(rt, admission_id)
        svg = qr_svg(link_in_language(link.url, lang))
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    return router


def _card_link(rt: WardRuntime, admission_id: int) -> tuple[Admission, FamilyLink]:
    """The stay and its live family link, or the HTTP error saying what to do."""
    adm = rt.ward.admission(admission_id)  # 404 if none
    if not adm.current:
        raise HTTPException(409, f"admission {admission_id} is discharged: its family link no longer works")
    link = rt.family_links.get(admission_id)
    if link is None:
        raise HTTPException(
            409,
            "this service keeps no family token (only its hash), so this card cannot be printed; "
            f"make a new link (bed page, or POST /api/admissions/{admission_id}/family-link), then print",
        )
    return adm, link
