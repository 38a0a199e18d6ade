"""The health station inside the ward service: homes' tokens, enrolment at discharge, pairing QR.

:class:`Station` holds what the request guard needs on every sync request without touching the
disk (each home's token hash, checked in constant time) and the :class:`SyncReceiver`. Its
methods that write are synchronous: the web layer calls them in a worker thread.

Tokens: a pairing token is 192 random bits (``secrets.token_urlsafe(24)``), shown once in the
pairing QR and stored only as its SHA-256 (a stolen database opens no home's sync route). A new
code for a home replaces the hash in the same transaction that audits it, so the old QR stops
working at once.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import multiprocessing
import os
import secrets
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import segno

from kmc_monitor.devices.protocol.verify import WrapEntry
from kmc_monitor.devices.reading import Reading
from kmc_monitor.sources import ReadingSource
from kmc_monitor.station.store import HomeRecord, StationStore
from kmc_monitor.station.sync import SyncReceiver
from kmc_monitor.station.wire import HomeBaby, PairingCode, WrapGrant

__all__ = [
    "PAIRING_TOKEN_BYTES",
    "Issued",
    "NoWard",
    "Station",
    "hash_token",
    "home_id_for",
    "pairing_qr_svg",
]

#: Random bytes of a home's bearer token (192 bits; the contract asks at least 128).
PAIRING_TOKEN_BYTES: Final = 24
#: Compared against when a home is unknown, so an unknown home costs the same as a wrong token.
_NO_HOME: Final = hashlib.sha256(b"no such home").digest()


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def home_id_for(admission_id: int) -> str:
    """A home's id: from the stay it follows (one home per stay; twins share a stay's wraps)."""
    return f"home-{admission_id}"


def pairing_payload(code: PairingCode) -> str:
    """What the QR holds: base64url (no padding) of the code's JSON (the contract)."""
    return base64.urlsafe_b64encode(code.model_dump_json().encode()).decode().rstrip("=")


def pairing_qr_svg(code: PairingCode) -> str:
    """The pairing code as an SVG QR (error level M: survives a creased discharge card)."""
    out = io.BytesIO()
    segno.make(pairing_payload(code), error="m", micro=False).save(
        out, kind="svg", scale=4, border=4, xmldecl=False, title="Home gateway pairing"
    )
    return out.getvalue().decode()


@dataclass(frozen=True, slots=True)
class Issued:
    """A pairing code just issued (the only time its token exists outside the home gateway)."""

    home: HomeRecord
    code: PairingCode

    @property
    def qr_svg(self) -> str:
        return pairing_qr_svg(self.code)


#: How much the verify workers yield the CPU (``nice``): a catch-up is background work, the ward's
#: stream is not (CFS then gives the service's own threads about nine tenths of a busy core).
WORKER_NICE: Final = 10


def _background_worker() -> None:
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    import kmc_monitor.station.sync  # noqa: F401  (the decoder and pydantic, imported once here)


def _ready() -> bool:
    return True


class NoWard(ReadingSource):
    """The reading source of ``serve --station``: a station without a ward has no wraps of its own
    (no demo babies either: ``demo`` False sets up empty beds, which nobody uses)."""

    demo = False

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return []

    def readings_until(self, t_s: float) -> list[Reading]:
        return []


class Station:
    """See the module docstring. ``path``: the ward's database file (migrated already)."""

    def __init__(self, path: str | Path, *, visit_days: Sequence[int], workers: int = 0) -> None:
        self.store = StationStore(path)
        self._workers = workers
        # Worker processes for large batches (station/sync.py says why); started by the
        # forkserver, not forked from this threaded process. Started lazily, at the first task.
        self._pool = (
            ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_background_worker,
            )
            if workers > 0
            else None
        )
        self.receiver = SyncReceiver(self.store, self._pool)
        #: The threads sync batches are received on (the web layer's), apart from the default
        #: executor's: enough to keep every worker process and the writer busy, no more.
        self.threads = ThreadPoolExecutor(max_workers=workers + 2, thread_name_prefix="kmc-station-sync")
        self.visit_days = tuple(visit_days)
        self._lock = threading.Lock()
        self._tokens: dict[str, bytes] = self.store.token_hashes()

    def warm_up(self) -> None:
        """Start the worker processes now (imports take a second each), not at a home's first
        large batch while the ward is streaming. Only when homes are in care: a ward without any
        starts no process for nothing (the pool then starts at the first large batch)."""
        if self.home_count() == 0:
            return
        if self._pool is not None:
            for f in [self._pool.submit(_ready) for _ in range(self._workers)]:
                f.result()

    def close(self) -> None:
        self.threads.shutdown(wait=True, cancel_futures=True)
        self.receiver.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    def home_count(self) -> int:
        with self._lock:
            return len(self._tokens)

    def check_token(self, home_id: str, token: str | None) -> bool:
        """Whether ``token`` is ``home_id``'s current bearer token (constant time in the token)."""
        if not token or len(token) > 256:
            return False
        with self._lock:
            expected = self._tokens.get(home_id)
        ok = hmac.compare_digest(hash_token(token), expected if expected is not None else _NO_HOME)
        return ok and expected is not None

    def enrol(
        self,
        home: HomeRecord,
        wraps: Sequence[WrapEntry],
        *,
        station_url: str,
        now: float,
        who: str,
    ) -> Issued:
        """Take a home into care and issue its first pairing code."""
        token = secrets.token_urlsafe(PAIRING_TOKEN_BYTES)
        digest = hash_token(token)
        self.store.enrol(home, wraps, digest, now=now, who=who)
        with self._lock:
            self._tokens[home.home_id] = digest
        stored = self.store.home(home.home_id)
        return Issued(stored, self._code(stored, wraps, token, station_url))

    def reissue(self, home_id: str, *, station_url: str, now: float, who: str) -> Issued:
        """A new pairing code for a home; the old token is refused from this moment on."""
        token = secrets.token_urlsafe(PAIRING_TOKEN_BYTES)
        digest = hash_token(token)
        self.store.replace_token(home_id, digest, now=now, who=who)
        with self._lock:
            self._tokens[home_id] = digest
        stored = self.store.home(home_id)
        wraps, _ = self.store.home_wraps(home_id)
        return Issued(stored, self._code(stored, wraps, token, station_url))

    @staticmethod
    def _code(home: HomeRecord, wraps: Sequence[WrapEntry], token: str, station_url: str) -> PairingCode:
        return PairingCode(
            station_url=station_url,
            home_id=home.home_id,
            token=token,
            wraps=tuple(
                WrapGrant(wrap_id=w.wrap_id, mac=w.mac, key=None if w.key is None else w.key.hex())
                for w in wraps
            ),
            baby=HomeBaby(
                display_name=home.display_name,
                daily_goal_s=home.daily_goal_s,
                language=home.language,
                tz=home.tz,
                discharged_t=home.discharged_t,
            ),
        )
