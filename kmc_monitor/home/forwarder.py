"""The outbox to the health station: batches oldest first, acknowledged by ``accepted_through``.

Why this shape: a home has no steady network. Items wait on the board's disk (the outbox in the
home's SQLite file, one sequence per home) and leave in sequence order, at most
``MAX_BATCH_READINGS`` readings and ``MAX_BATCH_DAYS`` summaries a batch, so three days offline
catch up in a few dozen bounded posts. Only the station's ``accepted_through`` deletes an item;
a batch that fails (no route, a refused connection, a timeout, a 5xx, an answer that is not a
``SyncAck``) is simply sent again after a back-off that doubles up to a cap. A repeated item is a
no-op at the station, so a lost answer costs a resend, never a duplicate.

The standard library's ``urllib`` does the HTTPS (certificate checked against the system's CAs)
in the forwarder's own thread with its own connection to the data file.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from kmc_monitor import __version__
from kmc_monitor.errors import KmcError
from kmc_monitor.home.store import HomeStore
from kmc_monitor.station.wire import (
    MAX_BATCH_DAYS,
    MAX_BATCH_READINGS,
    SYNC_PATH,
    DailySummary,
    HomeStatus,
    SyncAck,
    SyncBatch,
    SyncReading,
)

__all__ = ["Backoff", "Forwarder", "SyncError", "SyncOutcome"]

logger = logging.getLogger(__name__)

#: Largest answer read from the station (a SyncAck is a few dozen bytes).
_MAX_ANSWER: Final = 64 * 1024


class SyncError(KmcError):
    """A batch did not reach the station (it stays queued and is sent again)."""


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """One post: how many items went, how many the station now holds for good, what waits."""

    sent: int
    accepted_through: int
    pending: int


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait ``first_s``, doubling after each failure in a row, never more than ``cap_s``."""

    first_s: float = 5.0
    cap_s: float = 300.0

    def delay_s(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.cap_s, self.first_s * 2.0 ** min(failures - 1, 30)))


class Forwarder:
    """Sends the home's outbox to its station.

    ``clock`` stamps each batch's status (injected: a simulated home sends simulated times).
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        clock: Callable[[], float],
        timeout_s: float = 30.0,
        backoff: Backoff | None = None,
        every_s: float = 60.0,
    ) -> None:
        self.store = HomeStore(data_dir)
        code = self.store.pairing()
        if code is None:
            raise ValueError("the home is not paired: run 'kmc-monitor home pair CODE' first")
        self.code = code
        self.url = code.station_url.rstrip("/") + SYNC_PATH.format(home_id=code.home_id)
        self.clock = clock
        self.timeout_s = timeout_s
        self.backoff = backoff or Backoff()
        self.every_s = every_s
        self.failures = 0
        self.batches = 0
        self.refused = 0
        self.last_ok_t: float | None = None
        self.last_error: str | None = None

    def close(self) -> None:
        self.store.close()

    def _batch(self) -> tuple[SyncBatch, int] | None:
        rows = self.store.outbox_head(MAX_BATCH_READINGS, MAX_BATCH_DAYS)
        if not rows:
            return None
        readings: list[SyncReading] = []
        days: list[DailySummary] = []
        for row in rows:
            data = json.loads(row.body)
            data["seq"] = row.seq
            if row.kind == "reading":
                readings.append(SyncReading.model_validate(data))
            else:
                days.append(DailySummary.model_validate(data))
        status = HomeStatus(
            sent_t=self.clock(),
            pending=max(0, self.store.pending() - len(rows)),
            battery_pct=self.store.last_battery(),
            power_cuts=self.store.power_cuts,
            version=__version__,
        )
        batch = SyncBatch(
            home_id=self.code.home_id, readings=tuple(readings), days=tuple(days), status=status
        )
        return batch, rows[-1].seq

    def sync_once(self) -> SyncOutcome:
        """Post the oldest batch; raises :class:`SyncError` if it did not get through (kept queued)."""
        built = self._batch()
        if built is None:
            return SyncOutcome(0, self.store.accepted_through(), 0)
        batch, last_seq = built
        request = urllib.request.Request(
            self.url,
            data=batch.model_dump_json().encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self.code.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = response.read(_MAX_ANSWER)
        except urllib.error.HTTPError as exc:
            hint = (
                " (the station no longer knows this home's token: ask it to pair again)"
                if exc.code in (401, 403)
                else ""
            )
            raise SyncError(f"the station answered {exc.code} {exc.reason}{hint}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SyncError(f"the station is not reachable: {reason}") from None
        try:
            ack = SyncAck.model_validate_json(answer)
        except ValidationError:
            raise SyncError(
                "the station's answer is not a SyncAck: is station_url the health station?"
            ) from None
        through = ack.accepted_through
        if ack.refused:
            # Still acknowledged (one bad packet must not block the home): say so where it shows.
            self.refused += ack.refused
            logger.warning(
                "the station refused %d item(s) of this batch (%d so far): a wrap re-keyed or reset "
                "since pairing? ask the station to issue a new pairing code",
                ack.refused,
                self.refused,
            )
        if through > last_seq:
            # Never delete what was not sent: a station claiming more is confused (another home's state?).
            logger.warning(
                "station acknowledged through %d but only %d was sent; keeping the rest", through, last_seq
            )
            through = last_seq
        self.store.acknowledge(through)
        sent = len(batch.readings) + len(batch.days)
        return SyncOutcome(sent, through, self.store.pending())

    def sync_all(self, max_batches: int = 1_000_000) -> SyncOutcome:
        """Post batches until the outbox is empty (or the station stops taking any); raises SyncError."""
        outcome = SyncOutcome(0, 0, self.store.pending())
        for _ in range(max_batches):
            before = self.store.last_seq(), self.store.pending()
            outcome = self.sync_once()
            self.batches += 1
            if outcome.pending == 0 or outcome.pending == before[1]:
                break
        return outcome

    def run(self, stop: threading.Event, wake: threading.Event | None = None) -> None:
        """The worker thread: drain the outbox, then wait ``every_s`` (or the back-off after a failure)."""
        while not stop.is_set():
            try:
                self.sync_all()
            except (SyncError, sqlite3.Error) as exc:
                # sqlite3.Error: the data file is busy or the disk is failing; the items stay queued.
                self.failures += 1
                self.last_error = str(exc)
                delay = self.backoff.delay_s(self.failures)
                if self.failures == 1 or self.failures % 10 == 0:
                    logger.warning(
                        "home sync: %s; %d items wait, next try in %.0f s", exc, self.store.pending(), delay
                    )
            else:
                if self.failures:
                    logger.info("home sync: the station is reachable again")
                self.failures = 0
                self.last_error = None
                self.last_ok_t = self.clock()
                delay = self.every_s
            if wake is not None:
                wake.wait(delay)
                wake.clear()
            else:
                stop.wait(delay)
