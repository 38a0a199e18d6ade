"""The home-sync contract: pairing at discharge, and the batches a home gateway forwards.

Why a contract of its own: the home gateway and the health station are built, deployed and upgraded
apart (a board in a family's home for weeks, a service at the station), so what crosses between them
is versioned and validated at both ends, like the MQTT payloads of the room gateways.

- **Pairing** (:class:`PairingCode`): at discharge "home on KMC", with the family's consent recorded,
  the station issues a code (shown as a QR) holding its address, the home's id, a bearer token of
  at least 128 bits, and the wraps' ids, MACs and keys, so the home gateway can verify its wraps
  locally and the station can verify what it forwards.
- **Sync** (:class:`SyncBatch` → :class:`SyncAck`): ``POST {station_url}/api/station/homes/{home_id}/sync``
  with ``Authorization: Bearer <token>``. Every forwarded item carries the home's own sequence
  number; the station stores items idempotently by ``(home_id, seq)`` and answers with the highest
  sequence it holds without a gap (``accepted_through``). The home drops what is acknowledged and
  sends the rest, oldest first: days offline catch up in order, without loss or duplicates, with
  a bounded batch size on both ends.
- **Sealed readings**: a reading crosses as the wrap's own sealed packet (BTHome, AES-CCM), never as
  plain values: the station re-verifies it with the wrap's key and counter, so the home gateway and
  the network are carriers only (the security rule: every reading attributable to its wrap).
- **Daily summaries** (:class:`DailySummary`): the home gateway runs the same rules as the ward over
  every reading it heard and sends per-day results; a later summary of the same day replaces an
  earlier one (the day is still running).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "MAX_BATCH_DAYS",
    "MAX_BATCH_READINGS",
    "MAX_SEALED_HEX",
    "SYNC_PATH",
    "DailySummary",
    "HomeBaby",
    "HomeStatus",
    "PairingCode",
    "SyncAck",
    "SyncBatch",
    "SyncReading",
    "WrapGrant",
]

#: The route a home gateway posts to, under the station's base URL.
SYNC_PATH: Final = "/api/station/homes/{home_id}/sync"
#: At most this many readings in one batch (about 200 kB of JSON): bounded memory at both ends.
MAX_BATCH_READINGS: Final = 2000
#: At most this many daily summaries in one batch.
MAX_BATCH_DAYS: Final = 60
#: A sealed BTHome packet is at most 31 bytes of advert; hex doubles it.
MAX_SEALED_HEX: Final = 64

_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MAC_RE: Final = re.compile(r"^[0-9A-F]{2}(?::[0-9A-F]{2}){5}$")
_HEX_RE: Final = re.compile(r"^(?:[0-9a-f]{2})+$")

Seq = Annotated[int, Field(ge=1, le=2**53)]


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError("use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WrapGrant(_Wire):
    """A wrap going home with the baby: what the home gateway needs to hear and verify it."""

    wrap_id: str
    mac: str = Field(description="upper-case, colon-separated")
    key: str | None = Field(default=None, description="the wrap's AES-128 key as 32 hex digits")

    _wrap = field_validator("wrap_id")(_check_id)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        if not _MAC_RE.match(value):
            raise ValueError("a MAC is six upper-case hex pairs joined by ':'")
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{32}", value):
            raise ValueError("a wrap key is 32 lower-case hex digits")
        return value


class HomeBaby(_Wire):
    """What the home's family view shows and the station's list names."""

    display_name: str = Field(max_length=64, description="as the family knows the baby")
    daily_goal_s: float = Field(gt=0, le=86400)
    language: str = Field(default="en", pattern=r"^[a-z]{2}(?:-[A-Z]{2})?$")
    tz: str = Field(default="UTC", max_length=64, description="IANA time zone of the home")
    discharged_t: float = Field(description="Unix seconds of the discharge home")


class PairingCode(_Wire):
    """The content of the pairing QR printed at discharge (JSON, base64url in the QR)."""

    v: Literal[1] = 1
    station_url: str = Field(max_length=256, pattern=r"^https?://")
    home_id: str
    token: str = Field(min_length=22, max_length=128, description="bearer secret, >= 128 bits")
    wraps: tuple[WrapGrant, ...] = Field(min_length=1, max_length=2, description="one wrap, or twins")
    baby: HomeBaby

    _home = field_validator("home_id")(_check_id)


class SyncReading(_Wire):
    """One forwarded reading: the wrap's sealed packet and when the home gateway heard it."""

    seq: Seq
    wrap_id: str
    t: float = Field(description="Unix seconds, the home gateway's clock when heard")
    sealed: str = Field(max_length=MAX_SEALED_HEX, description="the BTHome service data, hex")
    rssi_dbm: float | None = None

    _wrap = field_validator("wrap_id")(_check_id)

    @field_validator("sealed")
    @classmethod
    def _sealed(cls, value: str) -> str:
        if not _HEX_RE.match(value):
            raise ValueError("a sealed packet is lower-case hex")
        return value


class DailySummary(_Wire):
    """One day at home (the home's calendar day), as the home gateway's rules judged it."""

    seq: Seq
    wrap_id: str
    day: dt.date
    contact_s: float = Field(ge=0, le=86400, description="skin-to-skin seconds that count to the goal")
    goal_s: float = Field(gt=0, le=86400)
    measured_s: float = Field(ge=0, le=86400, description="seconds of the day with readings")
    cold_episodes: int = Field(ge=0, description="hypothermia episodes (any band below normal) begun")
    coldest_c: float | None = Field(default=None, ge=20, le=45)
    hot_episodes: int = Field(default=0, ge=0)
    battery_pct: float | None = Field(default=None, ge=0, le=100)
    complete: bool = Field(description="False while the day is still running")

    _wrap = field_validator("wrap_id")(_check_id)


class HomeStatus(_Wire):
    """How the home gateway itself is, at the time of the batch."""

    sent_t: float = Field(description="Unix seconds, the home gateway's clock")
    pending: int = Field(ge=0, description="items still waiting in the home's outbox after this batch")
    battery_pct: float | None = Field(default=None, ge=0, le=100, description="the wrap's, last heard")
    power_cuts: int = Field(default=0, ge=0, description="restarts without a clean shutdown so far")
    version: str = Field(default="", max_length=32)


class SyncBatch(_Wire):
    """One POST: readings and summaries in the home's sequence order, and the gateway's status."""

    v: Literal[1] = 1
    home_id: str
    readings: tuple[SyncReading, ...] = Field(default=(), max_length=MAX_BATCH_READINGS)
    days: tuple[DailySummary, ...] = Field(default=(), max_length=MAX_BATCH_DAYS)
    status: HomeStatus

    _home = field_validator("home_id")(_check_id)


class SyncAck(_Wire):
    """The station's answer: everything with ``seq <= accepted_through`` is stored for good."""

    accepted_through: int = Field(ge=0)
    refused: int = Field(default=0, ge=0, description="items refused in this batch (counted, logged)")
