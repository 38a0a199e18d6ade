"""Alarm conditions from run candidates: small state machines over events, not samples.

The vectorised stages reduce a chunk to a handful of candidate events (a run reached its delay, a
recovery was shown, a sensor came off). Only these events go through the Python state machines here,
which enforce "one temperature condition at a time" and "never step down while rewarming".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kmc_monitor.signal.report import AlarmKind
from kmc_monitor.signal.series import IntArray

__all__ = ["Episode", "TempActive", "simple_episodes", "temperature_episodes"]

BoolArray = npt.NDArray[np.bool_]

_DETACH, _REC_COLD, _REC_HOT = 0, 1, 2
_START_ORDER = (
    AlarmKind.HYPOTHERMIA_SEVERE,
    AlarmKind.HYPOTHERMIA_MODERATE,
    AlarmKind.COLD_STRESS,
    AlarmKind.HYPERTHERMIA,
)


@dataclass(frozen=True, slots=True)
class TempActive:
    """The temperature condition active after the last reading, with its extreme so far."""

    kind: AlarmKind
    start_us: int
    extreme_mc: float = np.nan


@dataclass(frozen=True, slots=True)
class Episode:
    """An alarm episode's part inside a chunk.

    ``first``/``stop`` are chunk indices of the readings that belong to it (for the extreme);
    ``end_us`` is None when it is still active after the chunk.
    """

    kind: AlarmKind
    start_us: int
    end_us: int | None
    first: int
    stop: int
    carried_extreme_mc: float = np.nan


def temperature_episodes(
    t_us: IntArray,
    starts: dict[AlarmKind, IntArray],
    recovered_cold: IntArray,
    recovered_hot: IntArray,
    detached: IntArray,
    active: TempActive | None,
) -> list[Episode]:
    """Apply the one-condition-at-a-time rules to a chunk's candidate events.

    At one reading, events apply in the order detachment, recoveries, then starts from worst to
    mildest (docs/rules.md). The last episode returned has ``end_us=None`` if a condition is still
    active.
    """
    n = t_us.shape[0]
    idx_parts = [detached, recovered_cold, recovered_hot]
    code_parts = [
        np.full(detached.size, _DETACH),
        np.full(recovered_cold.size, _REC_COLD),
        np.full(recovered_hot.size, _REC_HOT),
    ]
    for order, kind in enumerate(_START_ORDER, start=3):
        cand = starts[kind]
        idx_parts.append(cand)
        code_parts.append(np.full(cand.size, order))
    idx = np.concatenate(idx_parts).astype(np.int64)
    code = np.concatenate(code_parts).astype(np.int64)
    order_ix = np.lexsort((code, idx))

    out: list[Episode] = []
    cur_kind = active.kind if active else None
    cur_start = active.start_us if active else 0
    cur_first = 0
    cur_extreme = active.extreme_mc if active else np.nan

    def close(at: int) -> None:
        assert cur_kind is not None
        out.append(Episode(cur_kind, cur_start, int(t_us[at]), cur_first, at, cur_extreme))

    for i, c in zip(idx[order_ix].tolist(), code[order_ix].tolist(), strict=True):
        if c == _DETACH or (c == _REC_COLD and cur_kind is not None and cur_kind.is_cold):
            if cur_kind is not None:
                close(i)
                cur_kind = None
            continue
        if c == _REC_HOT:
            if cur_kind is AlarmKind.HYPERTHERMIA:
                close(i)
                cur_kind = None
            continue
        if c == _REC_COLD:
            continue
        kind = _START_ORDER[c - 3]
        if cur_kind is not None:
            if kind.is_cold and cur_kind.is_cold and cur_kind.cold_severity >= kind.cold_severity:
                continue  # never step down, never restart the same kind
            if kind is AlarmKind.HYPERTHERMIA and cur_kind is AlarmKind.HYPERTHERMIA:
                continue
            close(i)
        cur_kind, cur_start, cur_first, cur_extreme = kind, int(t_us[i]), i, np.nan
    if cur_kind is not None:
        out.append(Episode(cur_kind, cur_start, None, cur_first, n, cur_extreme))
    return out


def simple_episodes(
    kind: AlarmKind, t_us: IntArray, starts: IntArray, ends: IntArray, active_start_us: int | None
) -> list[Episode]:
    """Episodes of an alarm that starts at ``starts`` candidates and ends at ``ends`` events.

    An end at the same reading as a start applies first. The last episode has ``end_us=None`` if the
    alarm is still active.
    """
    idx = np.concatenate((ends, starts)).astype(np.int64)
    code = np.concatenate((np.zeros(ends.size, np.int64), np.ones(starts.size, np.int64)))
    order_ix = np.lexsort((code, idx))
    out: list[Episode] = []
    cur = active_start_us
    cur_first = 0
    for i, c in zip(idx[order_ix].tolist(), code[order_ix].tolist(), strict=True):
        if c == 0 and cur is not None:
            out.append(Episode(kind, cur, int(t_us[i]), cur_first, i))
            cur = None
        elif c == 1 and cur is None:
            cur, cur_first = int(t_us[i]), i
    if cur is not None:
        out.append(Episode(kind, cur, None, cur_first, t_us.shape[0]))
    return out
