"""Skin-to-skin contact: the hysteresis state, contact intervals, runs and sessions.

The rules are in docs/rules.md ("Contact hysteresis", "Contact runs and sessions"). Everything here is
integer microseconds so that totals are exact and independent of how a trace was chunked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kmc_monitor.signal.params import RuleParams
from kmc_monitor.signal.runs import latch
from kmc_monitor.signal.series import FloatArray, IntArray

__all__ = [
    "NEVER_US",
    "Intervals",
    "Stretch",
    "contact_states",
    "intervals",
    "merge_stretches",
    "per_day",
    "runs_of",
]

BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]


#: "No contact value seen yet" as a time: older than any interval end by more than any hold.
NEVER_US: int = int(np.iinfo(np.int64).min // 2)


def contact_states(
    contact: FloatArray, t_us: IntArray, memory: int, last_contact_us: int, params: RuleParams
) -> tuple[Int8Array, IntArray, int, int]:
    """Hysteresis contact state after each reading, when it was last measured, and the carry.

    ``memory`` is the hysteresis state left by earlier readings (-1 before any valid contact value):
    the very first valid value decides with ``contact_first``; afterwards only ``>= contact_on`` or
    ``<= contact_off`` change the state. A reading without a valid value keeps the state (-1 until a
    first value). ``last_contact_us`` is the time of the last earlier reading that carried a valid
    value (:data:`NEVER_US` if none). Returns the state after each reading, the time of the last
    reading at or before each one that carried a value, and the memory and that time after the chunk.
    """
    missing = np.isnan(contact)
    with np.errstate(invalid="ignore"):
        # 1 at or above "on", 0 at or below "off", -1 in between or missing (NaN compares False).
        ev = (contact >= params.contact_on).astype(np.int8) * np.int8(2)
        ev -= ~(contact <= params.contact_off)
    if memory < 0:
        first = np.flatnonzero(~missing)
        if first.size:
            f = int(first[0])
            ev[f] = 1 if contact[f] >= params.contact_first else 0
    state = latch(ev, memory)
    measured = np.where(missing, NEVER_US, t_us)
    np.maximum.accumulate(measured, out=measured)
    np.maximum(measured, last_contact_us, out=measured)
    if state.size == 0:
        return state, measured, memory, last_contact_us
    return state, measured, int(state[-1]), int(measured[-1])


@dataclass(frozen=True, slots=True)
class Intervals:
    """Consecutive intervals ``[a, b)`` between readings with their contact classification."""

    a: IntArray
    b: IntArray
    contact: BoolArray
    unknown: BoolArray


def intervals(
    t_us: IntArray,
    states: Int8Array,
    measured_us: IntArray,
    last_t_us: int | None,
    last_state: int,
    last_measured_us: int,
    stale_us: int,
) -> Intervals:
    """The intervals ending at this chunk's readings (the first one starts at the carried reading).

    Interval ``[a, b)`` takes the contact state held at ``a`` when the whole interval lies within
    ``stale_us`` of the reading that last measured contact (``b - measured <= stale``); otherwise its
    contact is unknown. Where every reading carries contact this is the plain rule (``b - a <= stale``);
    a wrap that reports contact less often than temperature keeps its hours.
    """
    if last_t_us is None:
        a, b, s, m = t_us[:-1], t_us[1:], states[:-1], measured_us[:-1]
    else:
        a = np.concatenate(([last_t_us], t_us[:-1])).astype(np.int64)
        b = t_us
        s = np.concatenate(([last_state], states[:-1])).astype(np.int8)
        m = np.concatenate(([last_measured_us], measured_us[:-1])).astype(np.int64)
    known = ((b - m) <= stale_us) & (s >= 0)
    return Intervals(a, b, known & (s == 1), ~known)


def runs_of(iv: Intervals) -> tuple[IntArray, IntArray]:
    """Maximal runs of consecutive contact intervals, as ``(starts, ends)``."""
    c = iv.contact
    if c.size == 0:
        e = np.empty(0, dtype=np.int64)
        return e, e
    prev = np.concatenate(([False], c[:-1]))
    nxt = np.concatenate((c[1:], [False]))
    return iv.a[c & ~prev], iv.b[c & ~nxt]


@dataclass(frozen=True, slots=True)
class Stretch:
    """Contact runs joined across breaks of at most ``bridge_gap``: a session once long enough."""

    start_us: int
    end_us: int
    contact_us: int


def merge_stretches(
    starts: IntArray, ends: IntArray, current: Stretch | None, bridge_us: int
) -> tuple[list[Stretch], Stretch | None]:
    """Join new contact runs onto the current stretch; return the stretches closed and the open one.

    Runs that touch (a run split by a chunk boundary) have a gap of 0 and simply join.
    """
    if starts.size == 0:
        return [], current
    if current is not None:
        starts = np.concatenate(([current.start_us], starts)).astype(np.int64)
        ends = np.concatenate(([current.end_us], ends)).astype(np.int64)
        lengths = np.concatenate(([current.contact_us], (ends[1:] - starts[1:]))).astype(np.int64)
    else:
        lengths = ends - starts
    new = np.empty(starts.size, dtype=np.bool_)
    new[0] = True
    new[1:] = starts[1:] - ends[:-1] > bridge_us
    first = np.flatnonzero(new)
    last = np.concatenate((first[1:] - 1, [starts.size - 1]))
    contact = np.add.reduceat(lengths, first)
    stretches = [
        Stretch(int(starts[f]), int(ends[e]), int(c)) for f, e, c in zip(first, last, contact, strict=True)
    ]
    return stretches[:-1], stretches[-1]


def per_day(iv: Intervals, edges: IntArray) -> IntArray:
    """Observed, contact and unknown time of the intervals in each ``[edges[k], edges[k+1])``.

    Returns a ``(3, len(edges) - 1)`` array. The cumulative time of each kind is piecewise linear in
    time; evaluating it at the day edges and differencing splits every interval at midnight without a
    loop. The last column of the cumulative sums doubles as the chunk's totals.
    """
    lengths = iv.b - iv.a
    if edges.size == 2:  # all in one day: plain sums, no cumulative function needed
        return np.array(
            [[lengths.sum()], [lengths.sum(where=iv.contact)], [lengths.sum(where=iv.unknown)]],
            dtype=np.int64,
        )
    cum = np.zeros((3, lengths.size + 1), dtype=np.int64)
    np.cumsum(lengths, out=cum[0, 1:])
    np.cumsum(np.where(iv.contact, lengths, 0), out=cum[1, 1:])
    np.cumsum(np.where(iv.unknown, lengths, 0), out=cum[2, 1:])
    k = np.searchsorted(iv.a, edges, side="right") - 1
    kc = np.clip(k, 0, lengths.size - 1)
    part = np.clip(edges - iv.a[kc], 0, lengths[kc])
    weight = np.stack((np.ones(kc.size, dtype=np.bool_), iv.contact[kc], iv.unknown[kc]))
    at = np.where(k >= 0, cum[:, kc] + np.where(weight, part, 0), 0)
    return np.diff(at, axis=1)
