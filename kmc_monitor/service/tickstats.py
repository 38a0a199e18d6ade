"""Tick statistics of the ward runtime, kept apart from ``metrics.py`` so that the runtime can own
them without importing the web layer (``metrics.py`` imports the FastAPI dependencies, which import
the runtime)."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final

from kmc_monitor.service.alarms import AlarmAction, AlarmEvent

__all__ = ["TICK_BUCKETS_S", "TickStats"]

#: Histogram buckets of the tick duration, seconds. A tick is due every 50 ms: what matters is how
#: often one takes a good part of that (or more: then the screens fall behind).
TICK_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class TickStats:
    """What the runtime's ticks did, accumulated: a histogram of durations, readings taken from the
    source, and alarms raised and escalated by kind and priority.

    Plain counters, no prometheus-client objects: the runtime owns one from its construction, so
    nothing is missed before the first scrape, and the collector turns them into metrics.
    """

    def __init__(self, buckets: Sequence[float] = TICK_BUCKETS_S) -> None:
        self.buckets = tuple(sorted(buckets))
        #: Ticks per bucket: index i counts durations <= buckets[i] (and > buckets[i-1]); the last
        #: index counts those above every bucket.
        self.counts = [0] * (len(self.buckets) + 1)
        self.ticks = 0
        self.seconds = 0.0
        self.readings = 0
        self.raised: Counter[tuple[str, str]] = Counter()
        self.escalated: Counter[str] = Counter()
        self.reminded: Counter[str] = Counter()

    def observe(self, seconds: float, readings: int, events: Iterable[AlarmEvent] = ()) -> None:
        """Count one tick: how long it took, how many readings the source gave it, its events."""
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.ticks += 1
        self.seconds += seconds
        self.readings += readings
        for e in events:
            if e.alarm is None:
                continue
            if e.action is AlarmAction.RAISED:
                self.raised[(e.alarm.kind.value, e.alarm.priority.value)] += 1
            elif e.action is AlarmAction.ESCALATED:
                self.escalated[e.alarm.kind.value] += 1
            elif e.action is AlarmAction.REMINDED:
                self.reminded[e.alarm.kind.value] += 1

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus' cumulative buckets, ``+Inf`` last."""
        out: list[tuple[str, float]] = []
        total = 0
        for bound, n in zip(self.buckets, self.counts, strict=False):
            total += n
            out.append((_le(bound), float(total)))
        out.append(("+Inf", float(self.ticks)))
        return out


def _le(bound: float) -> str:
    return repr(float(bound))
