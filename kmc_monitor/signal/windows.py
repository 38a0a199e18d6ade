"""Trailing time windows over a wrap's readings, by counting instead of sorting.

A rolling median lies below a threshold exactly when enough of its window lies below it, so every band
decision is a rolling count: one cumulative sum and one gather, whatever the window length. Exact
median *values* are needed only where a report shows them (an alarm's extreme); those come from the
same counts by bisection over the (integer) temperatures, or from a sort for a handful of readings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kmc_monitor.signal.series import FloatArray, IntArray

__all__ = ["Median", "Window", "fall_below", "lag_values", "lower_median_at", "peak_fall", "trailing_start"]

BoolArray = npt.NDArray[np.bool_]
#: Rolling counts: int32 halves the memory traffic, and no window holds 2**31 readings.
CountArray = npt.NDArray[np.int32]

#: Rows per block when exact medians are gathered by sorting, to bound memory.
_MEDIAN_BLOCK_ROWS = 1 << 14


#: Every how many queries :func:`trailing_start` binary-searches to learn the local sampling rate.
_SAMPLE_EVERY = 64


def trailing_start(t_us: IntArray, first: int, span_us: int, stop: int | None = None) -> IntArray:
    """For readings ``first..stop-1``, the index of the oldest reading with ``t > t_i - span_us``.

    The same answer as ``np.searchsorted(t_us, t_us[first:stop] - span_us, side="right")``.
    """
    return _trailing_start(t_us, first, span_us, stop)[0]


def _trailing_start(
    t_us: IntArray, first: int, span_us: int, stop: int | None
) -> tuple[IntArray, int | None, int]:
    """:func:`trailing_start`, plus ``(width, head)`` when windows past a short head are regular.

    Found faster than a binary search per reading for the nearly regular sampling of real wraps:
    binary-search every 64th query, assume the window holds as many readings as at the sample before
    it, verify every guess, and binary-search only the guesses that were wrong (around gaps, jitter
    and rate changes). When one width ``w`` fits every reading from ``first + head`` on (the head
    covers windows cut short by the start of the series), guesses and checks are shifted slices, not
    gathers, and rolling counts can be slices too: ``lo_i = i - w`` there.
    """
    q = t_us[first:stop] - span_us
    n = q.shape[0]
    if n <= 4 * _SAMPLE_EVERY:
        return np.searchsorted(t_us, q, side="right").astype(np.int64), None, n
    idx = np.arange(first, first + n, dtype=np.int64)
    width = idx[::_SAMPLE_EVERY] - np.searchsorted(t_us, q[::_SAMPLE_EVERY], side="right")
    w = int(width[-1])
    head = min(n, max(_SAMPLE_EVERY, w + 1 - first))
    if head < n and bool((width[1:] == w).all()):
        # Regular past the head: check t[i - w] > q_i >= t[i - w - 1] with shifted slices.
        s0 = first + head
        ok = t_us[s0 - w : first + n - w] > q[head:]
        ok &= t_us[s0 - w - 1 : first + n - w - 1] <= q[head:]
        if ok.all():
            lo = idx - w
            lo[:head] = np.searchsorted(t_us, q[:head], side="right")
            return lo, w, head
    lo = idx - np.repeat(width, _SAMPLE_EVERY)[:n]
    np.clip(lo, 0, idx, out=lo)
    good = t_us[lo] > q
    good &= t_us[np.maximum(lo - 1, 0)] <= q
    at0 = lo == 0
    good[at0] = t_us[0] > q[at0]
    bad = np.flatnonzero(~good)
    lo[bad] = np.searchsorted(t_us, q[bad], side="right")
    return lo, None, n


@dataclass(frozen=True, slots=True)
class Window:
    """The trailing windows ``(t_i - span, t_i]`` of readings ``first..stop-1`` of an array.

    ``lo`` holds, for each of those readings, the index of the oldest reading in its window (indices
    into the full array); ``base`` is ``lo[0]`` (the smallest, as ``lo`` is sorted). Counts need
    cumulative sums from ``base`` to ``stop`` only, which keeps a streaming step's work proportional to
    its chunk, not to its carried tail.
    """

    lo: IntArray
    first: int
    stop: int
    base: int
    lo_rel: IntArray
    #: ``lo_i = i - width`` for the readings from ``first + head`` on (None: no such regularity).
    width: int | None = None
    head: int = 0

    @classmethod
    def trailing(cls, t_us: IntArray, span_us: int, first: int = 0) -> Window:
        lo, width, head = _trailing_start(t_us, first, span_us, None)
        base = int(lo[0]) if lo.size else first
        return cls(lo, first, t_us.shape[0], base, lo - base, width, head)

    def sub(self, a: int, b: int) -> Window:
        """The windows of this window's readings ``a..b-1`` (relative to ``first``)."""
        lo = self.lo[a:b]
        base = int(lo[0]) if lo.size else self.first + a
        head = min(max(self.head - a, 0), b - a)
        return Window(lo, self.first + a, self.first + b, base, lo - base, self.width, head)

    def count(self, mask: BoolArray) -> CountArray:
        """How many readings of each window have ``mask`` true (``mask`` over the full array)."""
        c = np.empty(self.stop - self.base + 1, dtype=np.int32)
        c[0] = 0
        np.cumsum(mask[self.base : self.stop], out=c[1:])
        hi = c[self.first - self.base + 1 :]
        if self.width is None:
            return hi - c[self.lo_rel]
        # Regular past the head: lo_i - base is a shifted index, so the subtraction is of slices.
        out = np.empty(hi.shape[0], dtype=np.int32)
        k, w = self.head, self.width
        out[:k] = hi[:k] - c[self.lo_rel[:k]]
        s0 = self.first + k - w - self.base
        np.subtract(hi[k:], c[s0 : s0 + hi.shape[0] - k], out=out[k:])
        return out

    def sizes(self) -> CountArray:
        """How many readings each window holds."""
        if self.width is None:
            return (np.arange(self.first + 1, self.stop + 1, dtype=np.int64) - self.lo).astype(np.int32)
        out = np.full(self.stop - self.first, self.width + 1, dtype=np.int32)
        k = self.head
        out[:k] = np.arange(self.first + 1, self.first + k + 1) - self.lo[:k]
        return out

    def median(self, values: FloatArray) -> Median:
        """Lower-median tests over ``values`` (NaN = missing) in these windows."""
        missing = np.isnan(values[self.base : self.stop])
        n = self.count(~np.isnan(values)) if missing.any() else self.sizes()
        return Median(self, values, n, (n + 1) // 2)


@dataclass(frozen=True, slots=True)
class Median:
    """The lower median of each window, known through counts.

    With ``n`` valid values the lower median is the ``k = (n + 1) // 2``-th smallest, so it is below a
    threshold exactly when at least ``k`` values are. Windows with no valid value have no median: every
    test is False for them.
    """

    window: Window
    values: FloatArray
    n: CountArray
    k: CountArray

    @property
    def has(self) -> BoolArray:
        return self.n > 0

    def below(self, threshold: float) -> BoolArray:
        """Median ``< threshold``."""
        with np.errstate(invalid="ignore"):
            hit = self.window.count(self.values < threshold)
        return (self.n > 0) & (hit >= self.k)

    def at_least(self, threshold: float) -> BoolArray:
        """Median ``>= threshold`` (False where there is no median)."""
        return (self.n > 0) & ~self.below(threshold)

    def extreme(self, lowest: bool) -> float:
        """The lowest (or highest) lower median over the windows, exactly; NaN if none has one.

        Sorting every window would cost far more than the band tests. Instead: sort a sample of
        windows to get a bound ``u`` that the answer cannot exceed (fall below), find with one rolling
        count the windows whose median could beat ``u`` (at least ``k`` values below it), and sort
        only those.
        """
        win = self.window
        ok = np.flatnonzero(self.n > 0)
        if ok.size == 0:
            return float("nan")
        sample = ok[:: max(1, ok.size // _EXTREME_SAMPLE)]
        meds = lower_median_at(self.values, win.lo[sample], sample + win.first)
        with np.errstate(invalid="ignore"):
            if lowest:
                bound = float(np.nanmin(meds))
                beats = self.window.count(self.values < bound) >= self.k
            else:
                bound = float(np.nanmax(meds))
                beats = self.window.count(self.values <= bound) < self.k
        cand = np.flatnonzero(beats & (self.n > 0))
        if cand.size == 0:
            return bound
        better = lower_median_at(self.values, win.lo[cand], cand + win.first)
        return float(np.nanmin(better)) if lowest else float(np.nanmax(better))


#: Windows sorted up front by :meth:`Median.extreme` to bound the answer.
_EXTREME_SAMPLE = 64


def lag_values(
    t_us: IntArray, values: FloatArray, first: int, lag_us: int, max_age_us: int, stop: int | None = None
) -> FloatArray:
    """``values[j] - values[lag(j)]`` for ``first <= j < stop``, NaN where no lagged reading is usable.

    ``lag(j)`` is the last reading with ``t <= t_j - lag_us``; it is usable only when it is no older than
    ``t_j - max_age_us`` (a reading from before a data gap says nothing about the last ``lag_us``).
    """
    lag = trailing_start(t_us, first, lag_us, stop) - 1
    bad = lag < 0
    np.maximum(lag, 0, out=lag)
    bad |= t_us[lag] < t_us[first:stop] - max_age_us
    out = values[first:stop] - values[lag]
    out[bad] = np.nan
    return out


def lower_median_at(values: FloatArray, lo: IntArray, idx: IntArray) -> FloatArray:
    """Exact lower medians of the windows ``values[lo[r] : idx[r] + 1]`` (NaN ignored).

    Returns NaN for a window with no valid value. Vectorised over rows: each block gathers its windows
    into a padded matrix, sorts rows (NaN sorts last) and picks position ``(n - 1) // 2``. Used where
    few readings need a value (a detached sensor's episode), not on the hot path.
    """
    out = np.full(idx.shape[0], np.nan)
    for s in range(0, idx.shape[0], _MEDIAN_BLOCK_ROWS):
        lo_b = lo[s : s + _MEDIAN_BLOCK_ROWS]
        hi_b = idx[s : s + _MEDIAN_BLOCK_ROWS]
        width = int((hi_b - lo_b).max()) + 1 if hi_b.size else 0
        if width == 0:
            continue
        cols = lo_b[:, None] + np.arange(width, dtype=np.int64)[None, :]
        inside = cols <= hi_b[:, None]
        mat = np.where(inside, values[np.minimum(cols, hi_b[:, None])], np.nan)
        n_valid = np.count_nonzero(~np.isnan(mat), axis=1)
        mat.sort(axis=1)
        pos = np.maximum((n_valid - 1) // 2, 0)
        med = mat[np.arange(mat.shape[0]), pos]
        out[s : s + _MEDIAN_BLOCK_ROWS] = np.where(n_valid > 0, med, np.nan)
    return out


#: Readings per block when screening where a fall is possible at all.
_SCREEN_BLOCK = 256


def _range_table(block_values: FloatArray, op: np.ufunc) -> list[FloatArray]:
    """Sparse table of ``op`` (fmax/fmin) over runs of 1, 2, 4, ... blocks, for O(1) range queries."""
    levels = [block_values]
    width = 1
    while 2 * width <= block_values.shape[0]:
        prev = levels[-1]
        levels.append(op(prev[:-width], prev[width:]))
        width *= 2
    return levels


def _range_query(levels: list[FloatArray], op: np.ufunc, lo: IntArray, hi: IntArray) -> FloatArray:
    """``op`` over blocks ``lo..hi`` (inclusive) for every pair, from the sparse table."""
    span = hi - lo + 1
    k = np.floor(np.log2(span)).astype(np.int64)
    out = np.empty(lo.shape[0])
    for level in range(int(k.max()) + 1):  # a handful of levels; np.unique costs more than this
        sel = k == level
        tab = levels[level]
        out[sel] = op(tab[lo[sel]], tab[hi[sel] - (1 << level) + 1])
    return out


def fall_below(
    window: Window, t_us: IntArray, values: FloatArray, lag_us: int, max_age_us: int, fall_mc: float
) -> BoolArray:
    """Whether the lower median of ``values[j] - values[lag(j)]`` over each window is ``<= -fall_mc``.

    The same answer as ``window.median(lagged).below(-fall_mc + 1)`` (values are whole milli-degrees),
    computed only where it can be true: a block of readings is looked at only if, between the oldest
    lagged reading its windows can reach and its last reading, the values span at least ``fall_mc``
    (block extremes from a sparse table). A baby's temperature rarely moves 1.5 °C in a minute or
    0.5 °C in half an hour, so most of a day is skipped without a lag gather or a count.
    """
    n = window.stop - window.first
    out = np.zeros(n, dtype=np.bool_)
    m = t_us.shape[0]
    # A live step of a few readings is one segment: screening would cost more than the answer.
    segments = (
        [(0, n)] if 0 < n <= _SCREEN_BLOCK else _fall_candidates(window, t_us, values, max_age_us, fall_mc)
    )
    lagged = np.full(m, np.nan)
    for sa, sb in segments:
        sub = window.sub(sa, sb)
        lagged[sub.base : sub.stop] = lag_values(t_us, values, sub.base, lag_us, max_age_us, sub.stop)
        out[sa:sb] = sub.median(lagged).below(-fall_mc + 1)
    return out


def _fall_candidates(
    window: Window, t_us: IntArray, values: FloatArray, max_age_us: int, fall_mc: float
) -> list[tuple[int, int]]:
    """Segments ``[a, b)`` of the window's readings (relative to ``first``) where a fall of
    ``fall_mc`` is possible: neighbouring candidate blocks merged."""
    n = window.stop - window.first
    if n == 0:
        return []
    m = t_us.shape[0]
    nb = -(-m // _SCREEN_BLOCK)
    padded = np.full(nb * _SCREEN_BLOCK, np.nan)
    padded[:m] = values
    blocks = padded.reshape(nb, _SCREEN_BLOCK)
    bmax = _range_table(np.fmax.reduce(blocks, axis=1), np.fmax)
    bmin = _range_table(np.fmin.reduce(blocks, axis=1), np.fmin)
    # Chunk readings in blocks of the same size, relative to window.first.
    a = np.arange(0, n, _SCREEN_BLOCK, dtype=np.int64)
    b = np.minimum(a + _SCREEN_BLOCK, n)
    j_first = window.lo[a]  # oldest reading in the first window of the block
    lag_first = np.searchsorted(t_us, t_us[j_first] - max_age_us, side="left")
    last = window.first + b - 1
    hi = _range_query(bmax, np.fmax, lag_first // _SCREEN_BLOCK, last // _SCREEN_BLOCK)
    lo = _range_query(bmin, np.fmin, j_first // _SCREEN_BLOCK, last // _SCREEN_BLOCK)
    with np.errstate(invalid="ignore"):
        maybe = hi - lo >= fall_mc
    edges = np.flatnonzero(np.diff(np.concatenate(([False], maybe, [False])).astype(np.int8)))
    return [
        (int(a[s_blk]), int(b[e_blk - 1]))
        for s_blk, e_blk in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True)
    ]


def peak_fall(
    window: Window, t_us: IntArray, values: FloatArray, span_us: int, smooth_us: int, fall_mc: float
) -> BoolArray:
    """Whether each window's smoothed value lies at least ``fall_mc`` below the highest smoothed value
    of the readings up to ``span_us`` before it.

    The smoothed value of reading ``j`` is the lower median of ``values`` over its trailing
    ``smooth_us`` window (NaN = missing); the peak is over readings ``k`` with
    ``t_j - span_us <= t_k <= t_j``. This is the fall test "over any span of up to 60 s": it needs no
    reading exactly 60 s back, so it also sees a sensor slip in the first minute of a wrap's data or
    right after a radio gap, and medians keep one bad sample from faking a fall. Only blocks whose raw
    values span ``fall_mc`` at all are looked at (see :func:`fall_below`); there exact medians are
    gathered and the peak comes from a sparse table of range maxima.
    """
    n = window.stop - window.first
    out = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return out
    reach_us = span_us + smooth_us
    if n <= _SCREEN_BLOCK:
        lo_raw = int(np.searchsorted(t_us, int(t_us[window.first]) - reach_us - smooth_us, side="left"))
        raw = values[lo_raw : window.stop]
        if raw.size == 0 or np.isnan(raw).all() or float(np.nanmax(raw) - np.nanmin(raw)) < fall_mc:
            return out
        segments = [(0, n)]
    else:
        segments = _fall_candidates(window, t_us, values, reach_us, fall_mc)
    for sa, sb in segments:
        j0, j1 = window.first + sa, window.first + sb
        p0 = int(np.searchsorted(t_us, int(t_us[j0]) - span_us, side="left"))
        lo = trailing_start(t_us, p0, smooth_us, j1)
        smoothed = lower_median_at(values, lo, np.arange(p0, j1, dtype=np.int64))
        first_peak = np.searchsorted(t_us, t_us[j0:j1] - span_us, side="left") - p0
        levels = _range_table(smoothed, np.fmax)
        peak = _range_query(levels, np.fmax, first_peak, np.arange(j0 - p0, j1 - p0, dtype=np.int64))
        with np.errstate(invalid="ignore"):
            out[sa:sb] = smoothed[j0 - p0 :] - peak <= -fall_mc
    return out
