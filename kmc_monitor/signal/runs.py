"""Hysteresis latches and condition runs, vectorised, with state carried between chunks.

Both are "remember the last decisive event" problems, solved without a per-sample loop by a running
maximum over the indices of decisive events. Each function takes the carried state of the readings
before the chunk and returns the state after it, so any split of a series into chunks gives the same
answer as one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kmc_monitor.signal.series import IntArray

__all__ = ["RunCarry", "known_before", "latch", "run_starts"]

BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]


def latch(events: Int8Array, initial: int) -> Int8Array:
    """Forward-fill decisive events: ``events`` is 1 (set), 0 (reset) or -1 (keep).

    Returns the state after each reading; before the first decisive event the state is ``initial``
    (which may itself be -1, "undecided").
    """
    n = events.shape[0]
    decisive = np.flatnonzero(events >= 0)
    if decisive.size == 0:
        return np.full(n, initial, dtype=np.int8)
    values = events[decisive]
    # The state only changes where a decisive event differs from the one before it: paint the
    # segments between those changes instead of forward-filling every sample.
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate(([0], decisive[change], [n])).astype(np.int64)
    seg_values = np.concatenate(([values[0]], values[change])).astype(np.int8)
    out = np.repeat(seg_values, np.diff(starts))
    first = int(decisive[0])
    out[:first] = initial
    return out


def known_before(t_us: IntArray, last_t_us: int | None, stale_us: int) -> BoolArray:
    """Whether the interval that ends at each reading (from the reading before it) is known."""
    ok = np.empty(t_us.shape[0], dtype=np.bool_)
    if t_us.shape[0] == 0:
        return ok
    ok[0] = last_t_us is not None and int(t_us[0]) - last_t_us <= stale_us
    ok[1:] = np.diff(t_us) <= stale_us
    return ok


@dataclass(frozen=True, slots=True)
class RunCarry:
    """A run's state after the last reading seen: whether it is open, its onset, whether it fired."""

    open: bool = False
    onset_us: int = 0
    fired: bool = False


def run_starts(
    pred: BoolArray, t_us: IntArray, known: BoolArray, carry: RunCarry, delay_us: int
) -> tuple[IntArray, RunCarry]:
    """Indices where a run of ``pred`` first reaches ``delay_us`` of age, and the carried state.

    A run is a maximal sequence of consecutive readings with ``pred`` true and known intervals between
    them (``known[i]``: the interval ending at reading ``i`` is known). Its onset is its first reading's
    time; it yields one candidate, at its first reading with ``t - onset >= delay_us``. Evidence comes
    with readings, so that is also when a live monitor can know it. Work is one pass to find run
    boundaries, then a binary search per run.
    """
    n = pred.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64), carry
    cont = np.empty(n, dtype=np.bool_)
    cont[0] = carry.open and bool(known[0])
    cont[1:] = pred[:-1] & known[1:]
    cont &= pred
    nxt = np.zeros(n, dtype=np.bool_)
    nxt[:-1] = cont[1:]
    firsts = np.flatnonzero(pred & ~cont)
    lasts = np.flatnonzero(pred & ~nxt)
    onsets = t_us[firsts]
    carried = bool(cont[0])
    if carried:
        onsets = np.concatenate(([carry.onset_us], onsets)).astype(np.int64)
    if lasts.size == 0:
        return np.empty(0, dtype=np.int64), RunCarry()
    cand = np.searchsorted(t_us, onsets + delay_us, side="left")
    hit = cand <= lasts
    if carried and carry.fired:
        hit[0] = False
    open_now = bool(pred[-1])
    fired = bool(hit[-1]) or (carried and lasts.size == 1 and carry.fired)
    out = RunCarry(open_now, int(onsets[-1]), fired) if open_now else RunCarry()
    return cand[hit].astype(np.int64), out
