"""Readings: one row per (wrap, time), kept for the retention period, read back by wrap or by the
bed the wrap was on; and :class:`ReadingWriter`, which commits them in batches at least every
second and keeps them through a refused write.

A sealed packet's replay counter is saved with the reading it admitted, in the same transaction,
so after a ``kill -9`` no admitted packet can be admitted again.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Final

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.store.codec import utc_text
from kmc_monitor.service.store.connection import StoreConnection
from kmc_monitor.service.store.errors import StoreError
from kmc_monitor.service.ward_time import day_bounds

__all__ = ["ReadingStore", "ReadingWriter"]

logger = logging.getLogger(__name__)

_READING_COLUMNS: Final = "t, wrap_id, skin_temp_c, ambient_temp_c, contact, battery_pct, rssi_dbm"


def _opt_float(value: float | None) -> float | None:
    """None for missing; NaN is missing too (SQLite would store it as NULL anyway)."""
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) else f


class ReadingStore(StoreConnection):
    """The ``readings`` table (and each sealed wrap's last accepted counter in ``wraps``)."""

    def append_readings(self, batch: Iterable[Reading]) -> int:
        """Store a batch of readings in one transaction; returns how many were new.

        A reading already stored (same wrap and time) is kept once, as the rules ask. A reading
        without a finite time or a wrap id cannot be stored and is dropped with a warning rather
        than poisoning the batch forever. On :class:`StoreError` nothing of the batch is stored:
        keep it and retry (:class:`ReadingWriter` does).
        """
        rows: list[
            tuple[str, float, float | None, float | None, float | None, float | None, float | None]
        ] = []
        bad = 0
        counters: dict[str, int] = {}
        for r in batch:
            t = float(r.t)
            if not math.isfinite(t) or not isinstance(r.wrap_id, str) or not r.wrap_id:
                bad += 1
                continue
            rows.append(
                (
                    r.wrap_id,
                    t,
                    _opt_float(r.skin_temp_c),
                    _opt_float(r.ambient_temp_c),
                    _opt_float(r.contact),
                    _opt_float(r.battery_pct),
                    _opt_float(r.rssi_dbm),
                )
            )
            if r.sealed is not None and r.counter is not None:
                counters[r.wrap_id] = max(counters.get(r.wrap_id, -1), int(r.counter))
        if bad:
            logger.warning("%d reading(s) without a valid time or wrap id not stored", bad)
        if not rows:
            return 0
        with self._write(f"saving {len(rows)} readings") as c:
            before = c.total_changes
            c.executemany(
                "INSERT OR IGNORE INTO readings(wrap_id, t, skin_temp_c, ambient_temp_c, contact, "
                "battery_pct, rssi_dbm) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            stored = c.total_changes - before
            # The replay counter of a sealed packet is kept with the reading it admitted, in the
            # same transaction: after a kill -9 no admitted packet can be admitted again.
            c.executemany(
                "UPDATE wraps SET last_counter = ? WHERE wrap_id = ? "
                "AND (last_counter IS NULL OR last_counter < ?)",
                [(n, w, n) for w, n in counters.items()],
            )
            return stored

    @staticmethod
    def _reading(row: Sequence[Any]) -> Reading:
        return Reading(float(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])

    def readings(self, wrap_id: str, start_t: float, end_t: float) -> list[Reading]:
        """A wrap's readings in ``[start_t, end_t)``, by time (whatever bed it was on)."""
        rows = self._read(
            "reading a wrap's readings",
            f"SELECT {_READING_COLUMNS} FROM readings WHERE wrap_id = ? AND t >= ? AND t < ? ORDER BY t",
            (wrap_id, start_t, end_t),
        )
        return [self._reading(r) for r in rows]

    def readings_for_bed(self, bed_id: str, start_t: float, end_t: float) -> list[Reading]:
        """Readings in ``[start_t, end_t)`` of whichever wraps were on the bed, each while it was there."""
        rows = self._read(
            "reading a bed's readings",
            f"SELECT {', '.join('r.' + c.strip() for c in _READING_COLUMNS.split(','))} "
            "FROM wrap_assignments a JOIN readings r ON r.wrap_id = a.wrap_id "
            "AND r.t >= max(a.start_t, :start) AND r.t < min(coalesce(a.end_t, :end), :end) "
            "WHERE a.bed_id = :bed AND a.start_t < :end AND coalesce(a.end_t, :end) > :start "
            "ORDER BY r.t, r.wrap_id",
            {"bed": bed_id, "start": start_t, "end": end_t},
        )
        return [self._reading(r) for r in rows]

    def readings_for_bed_day(self, bed_id: str, day: dt.date, ward_tz: str) -> list[Reading]:
        """A bed's readings of one ward-local calendar day (the history chart's day)."""
        return self.readings_for_bed(bed_id, *day_bounds(day, ward_tz))

    def prune(self, now: float) -> int:
        """Delete readings older than the retention period; returns how many.

        One short transaction per wrap, so the live writer never waits long. Sessions, admissions
        and the alarm audit log are small and kept: they are the ward's record.
        """
        cutoff = now - self._retention_s
        deleted = 0
        wrap: str | None = ""
        while True:
            # Walk the distinct wrap ids by seeking the primary key (fast on a big table).
            row = self._read(
                "pruning old readings", "SELECT min(wrap_id) FROM readings WHERE wrap_id > ?", (wrap,)
            )
            wrap = row[0][0] if row else None
            if wrap is None:
                break
            with self._write("pruning old readings") as c:
                deleted += c.execute(
                    "DELETE FROM readings WHERE wrap_id = ? AND t < ?", (wrap, cutoff)
                ).rowcount
        if deleted:
            logger.info("pruned %d readings older than %s", deleted, utc_text(cutoff))
        return deleted


class ReadingWriter:
    """Buffers readings and commits them in batches: on size, or when the oldest waited ``interval_s``.

    The caller feeds it with :meth:`add` and calls :meth:`tick` from its timer (time is injected),
    so readings reach the disk within a second even when none follow. A failed write
    (:class:`StoreError`) keeps every reading for the next attempt, one ``retry_s`` later — the
    caller is never interrupted, and nothing is lost unless the outage outlasts ``max_pending``
    readings, in which case the oldest are dropped, counted in :attr:`dropped` and logged as an
    error (show it: the history has a gap).

    Not thread-safe: feed it from one task.
    """

    def __init__(
        self,
        store: ReadingStore,
        *,
        max_batch: int = 1000,
        interval_s: float = 1.0,
        retry_s: float = 1.0,
        max_pending: int = 500_000,
    ) -> None:
        if max_batch < 1 or max_pending < max_batch or interval_s <= 0 or retry_s < 0:
            raise ValueError("need max_batch >= 1, max_pending >= max_batch, interval_s > 0, retry_s >= 0")
        self._store = store
        self._max_batch = int(max_batch)
        self._interval_s = float(interval_s)
        self._retry_s = float(retry_s)
        self._max_pending = int(max_pending)
        self._pending: deque[Reading] = deque()
        self._due_t: float | None = None
        self._not_before_t = -math.inf
        self.written = 0
        self.dropped = 0
        self.last_error: StoreError | None = None

    @property
    def pending(self) -> int:
        """Readings waiting to be written."""
        return len(self._pending)

    def add(self, readings: Iterable[Reading], now: float) -> None:
        """Buffer readings, and write if a batch is full or the oldest has waited long enough."""
        before = len(self._pending)
        self._pending.extend(readings)
        if before == 0 and self._pending and self._due_t is None:
            self._due_t = now + self._interval_s
        overflow = len(self._pending) - self._max_pending
        if overflow > 0:
            for _ in range(overflow):
                self._pending.popleft()
            self.dropped += overflow
            logger.error(
                "%d readings dropped: the database has refused writes for too long (%s)",
                overflow,
                self.last_error,
            )
        self.tick(now)

    def tick(self, now: float) -> None:
        """Write what is due; call at least once a second. Never raises :class:`StoreError`."""
        if not self._pending or now < self._not_before_t:
            return
        full = len(self._pending) >= self._max_batch
        if full or (self._due_t is not None and now >= self._due_t):
            try:
                self.flush(now)
            except StoreError:
                pass  # kept, logged, retried after retry_s

    def flush(self, now: float) -> int:
        """Write everything pending now; returns how many were written.

        Raises :class:`StoreError` (at shutdown the caller must know); what was not written stays
        pending.
        """
        done = 0
        while self._pending:
            batch = list(itertools.islice(self._pending, self._max_batch))
            try:
                self._store.append_readings(batch)
            except StoreError as exc:
                if self.last_error is None:
                    logger.warning("readings kept for retry (%d pending): %s", len(self._pending), exc)
                self.last_error = exc
                self._not_before_t = now + self._retry_s
                self._due_t = now + self._retry_s
                raise
            for _ in range(len(batch)):
                self._pending.popleft()
            done += len(batch)
            self.written += len(batch)
        if self.last_error is not None:
            logger.info("readings are being saved again after: %s", self.last_error)
            self.last_error = None
        self._due_t = None
        self._not_before_t = -math.inf
        return done
