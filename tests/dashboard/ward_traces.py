"""Deterministic wards for the ward screen's browser tests: traces a real ``serve --replay`` plays.

Every wrap's story is written out here (no randomness), so a test knows which bed should show
what: a severe hypothermia that is still on, one that ended (latched), a moderate hypothermia, a
baby rewarming from one, cold stress, hyperthermia, a detached sensor, a low battery; the others
are warm and in contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kmc_monitor.devices.trace import write_trace
from kmc_monitor.signal.series import build_series

T0 = 1_700_000_000.0
#: One reading every 5 s (a real wrap measures every 2 s) for the first 20 minutes, while every
#: story below unfolds and its alarm is raised, ended or latched; then one every 20 s, still well
#: inside every rule's windows (no gap, no stale wrap), which holds the same ward at a quarter of the
#: replay's cost: a test machine runs several wards and browsers at once.
STEP_S = 5.0
DENSE_S = 1200.0
SPARSE_STEP_S = 20.0
AMBIENT_C = 25.0


@dataclass(frozen=True)
class Story:
    """One wrap: its skin temperature before and after ``switch_s``, its battery, whether its
    sensor is off the skin (skin near ambient: detached from the first reading)."""

    wrap_id: str
    before_c: float
    after_c: float | None = None
    switch_s: float = 0.0
    battery_pct: float = 90.0
    detached: bool = False


#: Wrap id → story; every other wrap of a ward is a warm baby in contact.
STORIES: dict[str, Story] = {
    s.wrap_id: s
    for s in (
        Story("W02", 31.0),  # severe hypothermia, still on: HIGH, active
        Story("W03", 31.0, 37.0, switch_s=400.0),  # severe, then warm again: HIGH, latched (ended)
        Story("W04", 35.0),  # moderate hypothermia: MEDIUM
        Story("W05", 35.0, 36.3, switch_s=450.0),  # moderate, now rewarming at 36.3 °C
        Story("W06", 36.2),  # cold stress: LOW
        Story("W07", 38.1),  # hyperthermia: MEDIUM
        Story("W08", 37.0, battery_pct=10.0),  # low battery: technical LOW
        Story("W09", 26.0, detached=True),  # sensor off the skin: technical MEDIUM, not judged
    )
}


def wrap_ids(n: int) -> list[str]:
    return [f"W{i:02d}" for i in range(1, n + 1)]


def _skin(story: Story, t_rel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    skin = np.full(t_rel.size, story.before_c)
    if story.after_c is not None:
        skin[t_rel >= story.switch_s] = story.after_c
    return skin


def ward_trace(path: Path, beds: int, hours: float = 4.0) -> Path:
    """A ward of ``beds`` wraps for ``hours`` of readings (see :data:`STORIES` and :data:`STEP_S`)."""
    end_s = hours * 3600.0
    t = T0 + np.concatenate(
        (np.arange(0.0, min(DENSE_S, end_s), STEP_S), np.arange(DENSE_S, end_s, SPARSE_STEP_S))
    )
    t_rel = t - T0
    n = t.size
    series = []
    for wrap in wrap_ids(beds):
        story = STORIES.get(wrap, Story(wrap, 36.9 + 0.05 * (int(wrap[1:]) % 5)))
        ambient = np.full(n, story.before_c - 0.5 if story.detached else AMBIENT_C)
        series.append(
            build_series(wrap, t, _skin(story, t_rel), ambient, np.ones(n), np.full(n, story.battery_pct))
        )
    write_trace(path, series)
    return path
