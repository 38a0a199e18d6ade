"""Readings past the retention period are deleted by the running ward; the ward's record stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.config import Settings
from kmc_monitor.service.runtime import PRUNE_EVERY_S, WardRuntime
from tests.clock import Clock
from tests.service.test_api import T0, FakeSource

DAY = 86400.0


def test_old_readings_are_pruned_when_the_ward_runs_and_recent_ones_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    token = "retention-staff-token-0123456789"
    settings = Settings(data_dir=tmp_path / "data", staff_token=token, retention_days=2)
    clock = Clock(T0)
    rt = WardRuntime(settings, source=FakeSource(), clock=clock, tick_s=None)
    rt.open()
    try:
        old = [Reading(T0 - 3 * DAY + i, "W1", 36.8, 30.0, 1.0, 80.0) for i in range(5)]
        kept = [Reading(T0 - 1 * DAY + i, "W1", 36.8, 30.0, 1.0, 80.0) for i in range(5)]
        rt.store.append_readings(old + kept)
        rt.step()  # the first step prunes
        left = rt.store.readings("W1", T0 - 4 * DAY, T0 - DAY / 2)
        assert [r.t for r in left] == [r.t for r in kept]
        # Old readings that arrive later (a replay, a gateway's backlog) go at the next prune,
        # PRUNE_EVERY_S of ward time on: not at every step.
        late_old = [Reading(T0 - 3 * DAY + 100 + i, "W1", 36.8, 30.0, 1.0, 80.0) for i in range(3)]
        rt.store.append_readings(late_old)
        clock.t += 60
        rt.step()
        assert len(rt.store.readings("W1", T0 - 4 * DAY, T0 - 2 * DAY)) == 3
        clock.t += PRUNE_EVERY_S
        rt.step()
        assert rt.store.readings("W1", T0 - 4 * DAY, T0 - 2 * DAY) == []
        assert [r.t for r in rt.store.readings("W1", T0 - 4 * DAY, T0 - DAY / 2)] == [r.t for r in kept]
        # Admissions are the ward's record: never pruned.
        assert rt.ward.current_admissions()
    finally:
        rt.store.close()
