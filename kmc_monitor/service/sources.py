"""Where the ward's readings come from: simulated wraps, recorded traces, (later) radios and brokers.

Every source hands the runtime the same :class:`~kmc_monitor.devices.reading.Reading`; nothing after
a source knows which kind it was. A source is polled: :meth:`Source.readings_until` returns what
arrived up to a time and was not handed out before, so the runtime decides the pace (and a replay's
accelerated clock decides what "up to now" means).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulator import SimMeasurement, WardSimulator
from kmc_monitor.signal.params import US, RuleParams

__all__ = ["ReplayClock", "ReplaySource", "SimulatedSource", "Source"]


class Source(Protocol):
    """Where readings come from: any source yields the same :class:`Reading`.

    Optional members a source may have (the runtime looks for them): ``async start()`` and
    ``async stop()`` (a radio), ``demo`` (False: a real ward, set up with empty beds instead of one
    admitted baby per wrap) and ``reorder_s`` (how long its deliveries may be out of order).
    """

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        """``(wrap_id, mac, key)`` of the wraps this source knows (for demo set-up)."""
        ...

    def readings_until(self, t_s: float) -> list[Reading]:
        """Readings received up to ``t_s`` not handed out before."""
        ...


class SimulatedSource:
    """N simulated wraps; readings are the measurements the wraps send (the packets' content)."""

    def __init__(self, n_wraps: int, *, start_s: float, seed: int = 0) -> None:
        self.sim = WardSimulator(n_wraps, start_s=start_s, seed=seed)

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [(i.wrap_id, i.mac, i.key) for i in self.sim.identities()]

    def readings_until(self, t_s: float) -> list[Reading]:
        return [
            Reading(
                t=e.t,
                wrap_id=e.wrap_id,
                skin_temp_c=e.skin_temp_c,
                ambient_temp_c=e.ambient_temp_c,
                contact=e.contact_fraction,
                battery_pct=float(e.battery_pct),
            )
            for e in self.sim.events_until(t_s)
            if isinstance(e, SimMeasurement)
        ]


class ReplaySource:
    """Recorded traces handed out as their time comes on the runtime's (accelerated) clock."""

    def __init__(self, paths: Sequence[str], params: RuleParams | None = None) -> None:
        from kmc_monitor.devices.trace import read_traces

        traces = read_traces(list(paths), params)
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

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
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
