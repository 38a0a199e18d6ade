"""Recorded traces as a reading source, and the accelerated clock a replayed ward runs on."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kmc_monitor.devices.reading import Reading
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.sources.base import ReadingSource, WrapIdentity

__all__ = ["ReplayClock", "ReplaySource"]


class ReplaySource(ReadingSource):
    """Recorded traces handed out as their time comes on the runtime's (accelerated) clock."""

    def __init__(self, paths: Sequence[str], params: RuleParams | None = None) -> None:
        from kmc_monitor.devices.trace import read_traces

        p = params or RuleParams()
        # A recording is in the past: a stamp a day ahead of this machine is a clock fault, and one in
        # 2096 would otherwise hold the replay's clock for ever.
        latest_us = round((time.time() + p.max_clock_lead_s) * 1_000_000)
        traces = read_traces(list(paths), p, latest_us=latest_us)
        rows: list[Reading] = []
        for s in traces.series:
            for i in range(len(s)):
                rows.append(
                    Reading(
                        t=int(s.t_us[i]) / US,
                        wrap_id=s.wrap_id,
                        skin_temp_c=_c(s.skin_mc[i]),
                        ambient_temp_c=_c(s.ambient_mc[i]),
                        contact=_f(s.contact[i]),
                        battery_pct=_f(s.battery_pct[i]),
                    )
                )
        rows.sort(key=lambda r: (r.t, r.wrap_id))
        self._rows = rows
        self._pos = 0
        self._wrap_ids = [s.wrap_id for s in traces.series]
        self.start_s = rows[0].t if rows else time.time()

    def wraps(self) -> list[WrapIdentity]:
        # Locally administered addresses: a replayed wrap is on no real radio.
        return [
            (w, f"02:00:00:00:{(i >> 8) & 0xFF:02X}:{i & 0xFF:02X}", None)
            for i, w in enumerate(self._wrap_ids)
        ]

    def readings_until(self, t_s: float) -> list[Reading]:
        start = self._pos
        while self._pos < len(self._rows) and self._rows[self._pos].t <= t_s:
            self._pos += 1
        return self._rows[start : self._pos]


def _f(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def _c(mc: float) -> float | None:
    return None if math.isnan(mc) else float(mc) / 1000.0


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
