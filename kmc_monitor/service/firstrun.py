"""A first run that works on a ward: the address a phone can reach, the ward's set-up, and family
links that survive a restart.

- :func:`lan_address` finds the address of the interface of the default route (the one a phone on
  the ward's Wi-Fi reaches) by *connecting* a UDP socket, which sends nothing: the kernel only
  picks the route and the source address.
- :func:`public_base` decides where links and QR codes point: ``public_url`` if set; else, when
  the service listens on every interface (``0.0.0.0``/``::``), that LAN address; else the bound
  address, with :func:`loopback_warning` saying loudly that no phone can open it.
- :class:`WardSetup` is what the first-run page asks (ward name, time zone, clock format,
  languages, beds, daily goal), kept as one setting in the ward's database and laid over the
  configuration at every start (:func:`apply_ward_setup`).
- :class:`LinkKeeper` keeps family tokens sealed (AES-GCM, key in ``<data_dir>/family-links.key``)
  so that the service can show a family's QR card after a restart instead of making a new link,
  which used to cut off the parents' open page.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kmc_monitor.service.ward import FamilyLink, family_link_url, hash_family_token

if TYPE_CHECKING:
    from kmc_monitor.service.config import Settings
    from kmc_monitor.service.runtime import WardRuntime
    from kmc_monitor.service.store import Store

__all__ = [
    "LANGUAGES",
    "SETUP_KEY",
    "LinkKeeper",
    "WardSetup",
    "apply_ward_setup",
    "is_loopback",
    "lan_address",
    "loopback_warning",
    "public_base",
]

logger = logging.getLogger(__name__)

#: The settings key the first-run answers are kept under.
SETUP_KEY: Final = "ward_setup"
#: The languages the family pages speak (dashboard/assets/i18n).
LANGUAGES: Final = ("en", "es", "fr", "pt", "sw", "vi")
_KEY_FILE: Final = "family-links.key"


def lan_address(probe: str = "192.0.2.1") -> str | None:
    """The IPv4 address of the default route's interface, or None without a route (a laptop
    unplugged). ``probe`` is never contacted: connecting a UDP socket only chooses a route."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            addr = str(s.getsockname()[0])
    except OSError:
        return None
    return None if addr.startswith(("0.", "127.")) else addr


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_base(host: str, port: int, *, public_url: str | None, tls: bool) -> str:
    """Where links and QR codes point (see the module docstring)."""
    if public_url is not None:
        return public_url
    scheme = "https" if tls else "http"
    if host in ("0.0.0.0", "::", ""):
        lan = lan_address()
        if lan is not None:
            return f"{scheme}://{lan}:{port}"
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def loopback_warning(host: str, public_url: str | None) -> str | None:
    """The warning when phones and screens cannot reach the service, else None."""
    if public_url is not None or not is_loopback(host):
        return None
    return (
        f"The service listens on {host} only: no phone, QR card or other screen can reach it. "
        "On a ward, start it with --host 0.0.0.0 (and TLS, docs/security.md) or set public_url."
    )


class WardSetup(BaseModel):
    """The first-run answers: what makes this ward this ward. Kept in the database, so a restart
    keeps them; laid over the configuration file's values (the page is the later decision)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    ward_name: Annotated[str, Field(min_length=1, max_length=80)]
    ward_tz: Annotated[
        str, Field(min_length=1, max_length=64, description="IANA zone, e.g. Asia/Ho_Chi_Minh")
    ]
    clock_format: Literal["24h", "12h"] = "24h"
    languages: Annotated[
        list[Literal["en", "es", "fr", "pt", "sw", "vi"]], Field(min_length=1, max_length=6)
    ] = ["en"]
    beds: Annotated[int, Field(ge=1, le=200)]
    daily_goal_h: Annotated[float, Field(ge=1, le=24, description="hours of skin-to-skin a day")] = 20.0

    @field_validator("ward_tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone name: choose one such as Asia/Ho_Chi_Minh"
            ) from None
        return value


def stored_setup(store: Store) -> WardSetup | None:
    raw = store.get_setting(SETUP_KEY)
    if raw is None:
        return None
    try:
        return WardSetup.model_validate(raw)
    except ValueError:
        logger.warning("the stored ward set-up is not readable; the first-run page will ask again")
        return None


def overlay(settings: Settings, setup: WardSetup) -> Settings:
    """The settings with the first-run answers laid over them."""
    clinical = settings.clinical.model_copy(update={"daily_goal_s": setup.daily_goal_h * 3600.0})
    if clinical.min_daily_contact_s > clinical.daily_goal_s:
        clinical = clinical.model_copy(update={"min_daily_contact_s": clinical.daily_goal_s})
    return settings.model_copy(
        update={
            "ward_name": setup.ward_name,
            "ward_tz": setup.ward_tz,
            "clock_format": setup.clock_format,
            "clinical": clinical,
        }
    )


def apply_ward_setup(settings: Settings) -> Settings:
    """At start, before the runtime is built: the stored first-run answers over ``settings``
    (the engine's days then follow the ward's time zone from its first tick)."""
    from kmc_monitor.service.store import Store

    db = Path(settings.data_dir) / "kmc-monitor.sqlite3"
    if not db.exists():
        return settings
    with Store.from_settings(settings) as store:
        setup = stored_setup(store)
    return settings if setup is None else overlay(settings, setup)


class LinkKeeper:
    """Family tokens kept sealed with a key of the data directory (see the module docstring)."""

    def __init__(self, data_dir: Path) -> None:
        path = Path(data_dir) / _KEY_FILE
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = AESGCM.generate_key(bit_length=128)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key)
        if len(key) != 16:
            raise ValueError(
                f"{path} is damaged (not a 128-bit key): remove it; family cards are then reprinted"
            )
        self._aead = AESGCM(key)

    def seal(self, admission_id: int, token: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, token.encode("utf-8"), str(admission_id).encode())

    def open(self, admission_id: int, sealed: bytes) -> str | None:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], str(admission_id).encode()).decode("utf-8")
        except (InvalidTag, ValueError):
            return None

    def keep(self, rt: WardRuntime, now: float) -> int:
        """Seal every link this process holds that is not kept yet (call off the event loop)."""
        kept = dict(rt.store.sealed_family_links())
        n = 0
        for admission_id, link in list(rt.family_links.items()):
            old = kept.get(admission_id)
            if old is not None and self.open(admission_id, old) == link.token:
                continue
            rt.store.seal_family_link(admission_id, self.seal(admission_id, link.token), now=now)
            n += 1
        return n

    def restore(self, rt: WardRuntime, base_url: str) -> int:
        """Put the still-valid kept links back into ``rt.family_links`` (at start)."""
        n = 0
        for admission_id, sealed in rt.store.sealed_family_links():
            if admission_id in rt.family_links:
                continue
            token = self.open(admission_id, sealed)
            if token is None:
                continue
            adm = rt.store.admission_for_token_hash(hash_family_token(token))
            if adm is None or adm.admission_id != admission_id:
                continue  # renewed or revoked since: that token opens nothing any more
            rt.family_links[admission_id] = FamilyLink(admission_id, token, family_link_url(base_url, token))
            n += 1
        return n
