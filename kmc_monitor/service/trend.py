"""A tile's chart buffer: readings binned as they are fed, bounded to the chart's span.

Apart from the engine because it is a self-contained structure with its own checkpoint form (flat
tuples: pickling thousands of small dataclasses per wrap made a restart slow).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from kmc_monitor.service.engine_model import TrendBin
from kmc_monitor.signal.report import round_c
from kmc_monitor.signal.series import FloatArray, IntArray

__all__ = ["Trend"]


class Trend:
    """A bounded chart buffer: closed bins in a deque, plus the readings of the bin still open."""

    def __init__(self, bin_us: int, span_us: int, contact_first: float) -> None:
        self.bin_us = bin_us
        self.span_us = span_us
        self.contact_first = contact_first
        self.bins: deque[TrendBin] = deque(maxlen=max(1, span_us // bin_us))
        self.open_start: int | None = None
        self.open_temp: list[float] = []
        self.open_contact: list[float] = []
        self.open_count = 0
        self.open_unjudged = 0

    def add(self, t_us: IntArray, temp_mc: FloatArray, contact: FloatArray, judged: bool = True) -> None:
        """Add readings in time order (the engine feeds only ordered, de-duplicated readings)."""
        if t_us.size == 0:
            return
        starts = t_us - t_us % self.bin_us
        cut = np.flatnonzero(np.diff(starts)) + 1
        for idx in np.split(np.arange(t_us.size), cut):
            start = int(starts[idx[0]])
            if start != self.open_start:
                self._close()
                self.open_start = start
            self.open_count += int(idx.size)
            if not judged:
                self.open_unjudged += int(idx.size)
            self.open_temp.extend(temp_mc[idx][~np.isnan(temp_mc[idx])].tolist())
            self.open_contact.extend(contact[idx][~np.isnan(contact[idx])].tolist())
        horizon = int(t_us[-1]) - self.span_us
        while self.bins and self.bins[0].start_us < horizon:
            self.bins.popleft()

    def _bin(self) -> TrendBin | None:
        if self.open_start is None:
            return None
        temp = np.asarray(self.open_temp)
        con = np.asarray(self.open_contact)
        have = temp.size > 0
        return TrendBin(
            self.open_start,
            self.open_count,
            round_c(float(temp.min())) if have else None,
            round_c(float(np.median(temp))) if have else None,
            round_c(float(temp.max())) if have else None,
            float(np.mean(con >= self.contact_first)) if con.size else None,
            self.open_unjudged / self.open_count if self.open_count else 0.0,
        )

    def _close(self) -> None:
        b = self._bin()
        if b is not None:
            self.bins.append(b)
        self.open_start, self.open_temp, self.open_contact, self.open_count = None, [], [], 0
        self.open_unjudged = 0

    def snapshot(self) -> tuple[TrendBin, ...]:
        current = self._bin()
        return (*self.bins, current) if current is not None else tuple(self.bins)

    def state(self) -> tuple[Any, ...]:
        """Flat tuples for a checkpoint (a pickle of many small dataclasses is slow)."""
        bins = [
            (
                b.start_us,
                b.count,
                b.temp_min_c,
                b.temp_median_c,
                b.temp_max_c,
                b.contact_fraction,
                b.unjudged_fraction,
            )
            for b in self.bins
        ]
        return (bins, self.open_start, self.open_temp, self.open_contact, self.open_count, self.open_unjudged)

    def load(self, state: tuple[Any, ...]) -> None:
        bins, self.open_start, self.open_temp, self.open_contact, self.open_count, self.open_unjudged = state
        self.bins.clear()
        self.bins.extend(TrendBin(*b) for b in bins)
