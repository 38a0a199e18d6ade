"""``POST /api/readings``: readings pushed over HTTP by another process (``kmc-monitor replay --to``).

The ward's own sources (radio, MQTT, simulator) are polled by the runtime; this route is the one way
in for a process that has readings but is not a source, such as a recorded trace replayed into a
running ward to show or test it. It is staff-only (a reading can raise an alarm on a real bed), each
batch is validated once, here, like an MQTT payload (a value a sensor cannot report is refused with
422, implausible but possible values are left to the rules to blank and count), and batches are
bounded so one request cannot hold the event loop. Accepted readings go to the engine exactly as a
source's would: the next tick feeds, judges and stores them.

Counts since the service started are at ``GET /api/readings/stats``: batches and readings received,
readings accepted, and those the engine dropped (late or duplicate).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.deps import Admin, Runtime, Staff

__all__ = [
    "MAX_BATCH",
    "IngestCounts",
    "IngestStats",
    "ReadingIn",
    "ReadingsAccepted",
    "ReadingsBody",
    "ingest_router",
]

#: Readings per request: a few seconds of a full ward, small enough to judge in one tick.
MAX_BATCH: Final = 1000
#: Wrap ids as the ward's registry allows them.
_WRAP_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}$")
#: A reading from before 2000 or from 2100 on is a broken clock, not a measurement.
_T_MIN_S: Final = 946_684_800.0
_T_MAX_S: Final = 4_102_444_800.0


class ReadingIn(BaseModel):
    """One reading, as in a trace file (trace-format.md): missing values are null or left out."""

    model_config = ConfigDict(extra="forbid")

    t: Annotated[float, Field(ge=_T_MIN_S, lt=_T_MAX_S, description="seconds since the Unix epoch")]
    wrap_id: Annotated[str, Field(min_length=1, max_length=32)]
    skin_temp_c: Annotated[float | None, Field(ge=-40.0, le=125.0)] = None
    ambient_temp_c: Annotated[float | None, Field(ge=-40.0, le=125.0)] = None
    contact: Annotated[float | None, Field(ge=0.0, le=1.0)] = None
    battery_pct: Annotated[float | None, Field(ge=0.0, le=100.0)] = None
    rssi_dbm: Annotated[float | None, Field(ge=-127.0, le=20.0)] = None

    @field_validator("wrap_id")
    @classmethod
    def _wrap_id(cls, value: str) -> str:
        if not _WRAP_RE.match(value):
            raise ValueError(
                "use 1 to 32 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
            )
        return value

    @field_validator("t", "skin_temp_c", "ambient_temp_c", "contact", "battery_pct", "rssi_dbm")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    def reading(self) -> Reading:
        return Reading(
            self.t,
            self.wrap_id,
            self.skin_temp_c,
            self.ambient_temp_c,
            self.contact,
            self.battery_pct,
            self.rssi_dbm,
        )


class ReadingsBody(BaseModel):
    """A batch of readings, in any order (the engine orders them; a repeated ``(wrap_id, t)`` is
    dropped as a duplicate, so a client may safely send a batch again after a timeout)."""

    model_config = ConfigDict(extra="forbid")

    readings: Annotated[list[ReadingIn], Field(min_length=1, max_length=MAX_BATCH)]


class ReadingsAccepted(BaseModel):
    """What one batch did: ``accepted`` excludes late and duplicate readings."""

    received: int
    accepted: int


class IngestStats(BaseModel):
    """What ``POST /api/readings`` received since the service started."""

    batches: int
    received: int
    accepted: int
    dropped: int
    max_batch: int


@dataclass(slots=True)
class IngestCounts:
    """What the route has seen since the service started."""

    batches: int = 0
    received: int = 0
    accepted: int = 0

    def stats(self) -> IngestStats:
        return IngestStats(
            batches=self.batches,
            received=self.received,
            accepted=self.accepted,
            dropped=self.received - self.accepted,
            max_batch=MAX_BATCH,
        )


def _counts(request: Request) -> IngestCounts:
    counts: IngestCounts | None = getattr(request.app.state, "ingest_counts", None)
    if counts is None:
        counts = request.app.state.ingest_counts = IngestCounts()
    return counts


def ingest_router() -> APIRouter:
    """The ingest routes (staff only); include it in the app made by ``create_app``."""
    router = APIRouter(tags=["readings"])

    @router.post("/api/readings")
    async def post_readings(
        body: ReadingsBody, request: Request, who: Admin, rt: Runtime
    ) -> ReadingsAccepted:
        """Hand a batch of readings to the ward's engine; ``accepted`` excludes late and duplicate
        readings (already fed, or already received)."""
        accepted = rt.ingest_external([r.reading() for r in body.readings])
        counts = _counts(request)
        counts.batches += 1
        counts.received += len(body.readings)
        counts.accepted += accepted
        return ReadingsAccepted(received=len(body.readings), accepted=accepted)

    @router.get("/api/readings/stats")
    async def readings_stats(request: Request, who: Staff) -> IngestStats:
        """Counts of what ``POST /api/readings`` received since the service started."""
        return _counts(request).stats()

    return router
