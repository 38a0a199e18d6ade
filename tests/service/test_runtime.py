"""The ward runtime's tick cadence: how often a tile nothing touched is recomputed and sent.

A tile is recomputed when its wrap's readings are fed or an alarm of its bed changes, and otherwise
once a ward second (its timers and "last heard" move). A replay at 40x runs 40 ward seconds a wall
second: recomputing every idle tile at every tick (20 a second) cost a 24-bed replay and its ward
screen about half their CPU, for timers that show minutes. So idle tiles are recomputed at most
four times a wall second; a real-time ward is unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.app import create_app
from kmc_monitor.service.config import Settings
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.sources import ReadingSource, ReplayClock

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "runtime-test-staff-token-0123456789"
T0 = 1767261600.0
TICK_WALL_S = 0.05  # the ward's poll (runtime.POLL_S)

pytestmark = pytest.mark.timeout(60)


class OnceHeard(ReadingSource):
    """One demo wrap heard once, at the start, then silent: its tile changes only with time."""

    demo = True

    def __init__(self) -> None:
        self.sent = False

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [("W1", "54:48:E6:8F:80:A5", None)]

    def readings_until(self, t_s: float) -> list[Reading]:
        if self.sent:
            return []
        self.sent = True
        return [Reading(T0, "W1", 36.8, 28.0, 0.9, 80.0, -60.0)]


class Monotonic:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    return Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC")


def tile_sends(settings: Settings, speed: float, wall_s: float) -> Iterator[int]:
    """For each tick over ``wall_s`` wall seconds of a ward running ``speed`` times real time: how
    many times the wrap's tile was in the tick's changed views."""
    wall = Monotonic()
    clock = ReplayClock(T0, speed, monotonic=wall)
    rt = WardRuntime(settings, source=OnceHeard(), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt)) as client:
        assert client.portal is not None
        # The reading is released after the reorder window; from then on nothing touches the tile.
        for _ in range(round(5.0 / speed / TICK_WALL_S) + 2):
            wall.t += TICK_WALL_S
            client.portal.call(rt.step)
        for _ in range(round(wall_s / TICK_WALL_S)):
            wall.t += TICK_WALL_S
            result = client.portal.call(rt.step)
            yield sum(1 for v in result.beds if v.wrap_id == "W1")


def test_a_fast_replay_sends_an_idle_tile_at_most_four_times_a_wall_second(settings: Settings) -> None:
    sends = list(tile_sends(settings, speed=40.0, wall_s=2.0))
    # 40 ticks over 2 wall seconds (80 ward seconds): recomputed every 10 ward seconds, and its
    # "last heard" has moved each time, so it is sent 8 times; every tick would be 40.
    assert 7 <= sum(sends) <= 9, sends


def test_a_real_time_ward_still_sends_an_idle_tile_every_ward_second(settings: Settings) -> None:
    sends = list(tile_sends(settings, speed=1.0, wall_s=10.0))
    # 200 ticks over 10 s: once a second, as before.
    assert 9 <= sum(sends) <= 11, sends
