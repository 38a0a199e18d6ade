"""``no_data`` episodes: one alarm for a flapping radio link, not one per silence.

A stale interval (two readings more than ``stale_after`` apart) starts an episode ``stale_after``
after the reading before it. The episode ends only at the first reading that completes
``no_data_clear`` (60 s) of readings with no stale interval: a link heard 55 s in every 86 s is one
episode for as long as it flaps, instead of a new medium alarm (and its sound) every minute and a
half. The loop is over stale intervals (events), each resolved by one binary search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kmc_monitor.signal.series import IntArray

__all__ = ["SilenceCarry", "no_data_episodes"]


@dataclass(frozen=True, slots=True)
class SilenceCarry:
    """The ``no_data`` episode open after the last reading, if any.

    ``start_us`` is its start (None: no episode open); ``clean_from_us`` the first reading after the
    latest stale interval, from which the 60 s of clean data are counted.
    """

    start_us: int | None = None
    clean_from_us: int = 0


def no_data_episodes(
    t_us: IntArray, last_t_us: int | None, carry: SilenceCarry, stale_us: int, clear_us: int
) -> tuple[list[tuple[int, int]], SilenceCarry]:
    """Episodes closed in this chunk as ``(start_us, end_us)``, and the carry after it.

    ``t_us`` are the chunk's readings (strictly increasing, all after ``last_t_us``, the reading
    before the chunk or None for a wrap's first readings).
    """
    n = t_us.shape[0]
    if n == 0:
        return [], carry
    if last_t_us is None:
        prev = t_us[:-1]
        stale_at = np.flatnonzero(np.diff(t_us) > stale_us) + 1
    else:
        prev = np.concatenate(([last_t_us], t_us[:-1])).astype(np.int64)
        stale_at = np.flatnonzero(t_us - prev > stale_us)
    if last_t_us is None:
        prev = np.concatenate(([t_us[0]], prev)).astype(np.int64)
    closed: list[tuple[int, int]] = []
    start, clean = carry.start_us, carry.clean_from_us
    k, n_stale = 0, stale_at.size
    while True:
        if start is None:
            if k == n_stale:
                break
            j = int(stale_at[k])
            start, clean = int(prev[j]) + stale_us, int(t_us[j])
            k += 1
        # The reading completing clean_s of data must come before the next stale interval.
        end = int(np.searchsorted(t_us, clean + clear_us, side="left"))
        nxt = int(stale_at[k]) if k < n_stale else n
        if end < nxt:
            closed.append((start, int(t_us[end])))
            start = None
            continue
        if k == n_stale:
            break
        clean = int(t_us[stale_at[k]])
        k += 1
    return closed, SilenceCarry(start, clean if start is not None else 0)
