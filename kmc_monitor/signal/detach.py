"""Sensor detachment and settling: when a temperature must not be judged at all.

A skin sensor that reads air would raise a false hypothermia alarm; one that has just been put back
needs minutes to warm. The detach and re-attach tests are medians over the smoothing window (see
docs/rules.md), so one bad sample can neither silence a real alarm nor start a false one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kmc_monitor.signal.series import FloatArray, IntArray

__all__ = ["DetachCarry", "DetachResult", "SettleCarry", "detachment", "settling"]

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class DetachCarry:
    """Detached or not after the last reading, and the lowest smoothed skin of the open episode."""

    detached: bool = False
    episode_min_mc: float = np.inf


@dataclass(frozen=True, slots=True)
class DetachResult:
    detached: BoolArray
    #: chunk indices of the first reading of each detachment episode that begins in the chunk
    episode_starts: IntArray
    #: chunk indices of the first attached reading after a detached one
    reattached: IntArray
    carry: DetachCarry


def detachment(
    detach_test: BoolArray,
    ambient_reattach: BoolArray,
    no_ambient: BoolArray,
    smoothed_skin: Callable[[int, int], FloatArray],
    rise_mc: float,
    carry: DetachCarry,
) -> DetachResult:
    """Run the detach state machine over a chunk.

    ``detach_test`` sets the state; ``ambient_reattach`` (only where the detach test fails) or, at
    readings with ``no_ambient``, a rise of ``rise_mc`` above the episode's lowest smoothed skin clears
    it. ``smoothed_skin(a, b)`` gives exact smoothed skin values for chunk readings ``a..b-1``; it is
    called only inside detachment episodes that reach a reading without ambient, which is rare.
    The loop is over episodes, not samples.
    """
    n = detach_test.shape[0]
    det = np.zeros(n, dtype=np.bool_)
    sets = np.flatnonzero(detach_test)
    resets = np.flatnonzero(ambient_reattach & ~detach_test)
    rise_ok_where = no_ambient & ~detach_test
    starts: list[int] = []
    ends: list[int] = []
    detached = carry.detached
    emin = carry.episode_min_mc
    pos = 0
    while pos < n:
        if not detached:
            k = int(np.searchsorted(sets, pos))
            if k == sets.size:
                break
            pos = int(sets[k])
            starts.append(pos)
            detached = True
            emin = np.inf
        k = int(np.searchsorted(resets, pos))
        end = int(resets[k]) if k < resets.size else n
        if end > pos:
            if rise_ok_where[pos:end].any():
                sm = smoothed_skin(pos, end)
                running = np.fmin.accumulate(np.concatenate(([emin], sm)))[1:]
                with np.errstate(invalid="ignore"):
                    rise = rise_ok_where[pos:end] & (sm >= running + rise_mc)
                hit = np.flatnonzero(rise)
                if hit.size:
                    end = pos + int(hit[0])
                emin = float(running[end - pos - 1]) if end > pos else emin
            else:
                # The minimum only matters once a reading without ambient appears; keep it exact anyway
                # so a stream cut anywhere decides as a single pass would.
                emin = float(np.fmin.reduce(np.concatenate(([emin], smoothed_skin(pos, end)))))
        det[pos:end] = True
        if end >= n:
            break
        ends.append(end)
        detached = False
        pos = end
    return DetachResult(
        det,
        np.asarray(starts, dtype=np.int64),
        np.asarray(ends, dtype=np.int64),
        DetachCarry(detached, emin if detached else np.inf),
    )


@dataclass(frozen=True, slots=True)
class SettleCarry:
    """The settling period in force after the last reading, if any."""

    active: bool = False
    start_us: int = 0


def settling(
    t_us: IntArray,
    attached: BoolArray,
    markers: IntArray,
    normal: BoolArray,
    settle_us: int,
    carry: SettleCarry,
) -> tuple[BoolArray, SettleCarry]:
    """Which readings are still settling after a switch-on or re-attachment.

    ``markers`` are chunk indices where a settling period begins (first reading of the wrap if
    attached, each re-attachment). A period ends at the first reading ``settle_us`` after its start or
    the first reading whose smoothed T is normal; that reading is already judged. The loop is over
    periods (a few a day), each found by binary search.
    """
    n = t_us.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    periods: list[tuple[int, int]] = [(0, carry.start_us)] if carry.active else []
    periods += [(int(m), int(t_us[m])) for m in markers]
    if not periods:
        return out, SettleCarry()
    normal_idx = np.flatnonzero(normal)
    bounds = [a for a, _ in periods[1:]] + [n]
    last_open = False
    for (a, start), b in zip(periods, bounds, strict=True):
        by_time = int(np.searchsorted(t_us, start + settle_us, side="left"))
        k = int(np.searchsorted(normal_idx, a))
        by_normal = int(normal_idx[k]) if k < normal_idx.size else n
        end = min(by_time, by_normal, b)
        out[a:end] = True
        last_open = end == n
    out &= attached
    return out, SettleCarry(last_open, periods[-1][1]) if last_open else SettleCarry()
