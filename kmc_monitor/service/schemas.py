"""Request bodies of the HTTP API: validated once, here, at the edge."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AckBody", "AdmitBody", "PauseBody"]


class AdmitBody(BaseModel):
    """Admit a baby to a free bed (optionally putting a wrap on the bed at once)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    bed_id: Annotated[str, Field(min_length=1, max_length=32)]
    display_name: Annotated[str, Field(min_length=1, max_length=64, description="name shown on the ward")]
    birth_weight_g: Annotated[int, Field(ge=200, le=7000, description="grams, e.g. 1850")]
    gestational_age_weeks: Annotated[int, Field(ge=22, le=44)]
    gestational_age_days: Annotated[int, Field(ge=0, le=6)] = 0
    hospital_number: Annotated[str | None, Field(max_length=32)] = None
    daily_goal_s: Annotated[float | None, Field(ge=3600, le=86400, description="1 to 24 h, in s")] = None
    site_offset_c: Annotated[float, Field(ge=-3.0, le=3.0)] = 0.0
    wrap_id: Annotated[str | None, Field(min_length=1, max_length=32)] = None


class AckBody(BaseModel):
    """Who acknowledges (a name for the audit trail); the token's staff id when left out."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    who: Annotated[str | None, Field(min_length=1, max_length=64)] = None


class PauseBody(AckBody):
    """Who pauses a screen's audio."""
