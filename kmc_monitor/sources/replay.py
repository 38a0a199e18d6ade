"""Recorded traces as a reading source, and the accelerated clock a replayed ward runs on."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kmc_monitor.devices.reading import Reading
from kmc_monitor.signal.params import RuleParams
from kmc_monitor.sources.base import ReadingSource, WrapIdentity

__all__ = ["ReplayClock", "ReplaySource"]


class ReplaySource(ReadingSource):
    """Recorded traces handed out as their time comes on the runtime's (accelerated) clock."""

    def __init__(self, paths: Sequence[str], params: RuleParams | None = None) -> None:
        from kmc_monitor.devices.trace import ReadingCursor, TraceChunks

        p = params or RuleParams()
        # A recording is in the past: a stamp a day ahead of this machine is a clock fault, and one in
        # 2096 would otherwise hold the replay's clock for ever.
        latest_us = round((time.time() + p.max_clock_lead_s) * 1_000_000)
        # Read in time-ordered chunks as the clock reaches them: memory stays flat whatever the size.
        traces = TraceChunks(list(paths), p, latest_us=latest_us)
        self._rows = ReadingCursor(traces)
        self._wrap_ids = list(traces.wrap_ids)
        self.start_s = self._rows.first_t if self._rows.first_t is not None else time.time()

    def wraps(self) -> list[WrapIdentity]:
        # Locally administered addresses: a replayed wrap is on no real radio.
        return [
            (w, f"02:00:00:00:{(i >> 8) & 0xFF:02X}:{i & 0xFF:02X}", None)
            for i, w in enumerate(self._wrap_ids)
        ]

    def readings_until(self, t_s: float) -> list[Reading]:
        return self._rows.until(t_s)


@dataclass
class ReplayClock:
    """Seconds since the epoch running ``speed`` times faster than ``monotonic`` from ``start_s``."""

    start_s: float
    speed: float = 1.0
    monotonic: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if not (math.isfinite(self.speed) and self.speed > 0):
            raise ValueError("speed must be a positive number")
        self._m0 = self.monotonic()

    def __call__(self) -> float:
        return self.start_s + (self.monotonic() - self._m0) * self.speed
