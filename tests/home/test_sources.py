"""The home's Bluetooth source (the ward gateway's bleak front end) on a simulated radio."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmc_monitor.devices.radio.backends import SimRadio
from kmc_monitor.devices.simulation.simulator import WardSimulator, replay
from kmc_monitor.home.gateway import HomeGateway
from kmc_monitor.home.sources import BleWraps
from kmc_monitor.home.store import HomeStore
from tests.home.station import pairing_for

T0 = 1_767_600_000.0


@pytest.mark.asyncio
async def test_the_adapter_feeds_the_home_and_a_replay_after_a_restart_is_refused(
    tmp_path: Path, async_timeout_s: float
) -> None:
    sim = WardSimulator(1, start_s=T0, seed=11)
    code = pairing_for(sim, "http://127.0.0.1:9")
    store = HomeStore(tmp_path / "home")
    store.set_pairing(code)
    gateway = HomeGateway(store)
    radio = SimRadio(sim)
    async with asyncio.timeout(async_timeout_s):
        src = BleWraps(
            code,
            last_counters=gateway.counters,
            clock=radio.now,
            sleep=radio.sleep,
            scanner_backend=radio.scanner_backend,
        )
        await src.start()
        try:
            radio.inject(sim.forged_advert("W01", T0 + 20.5))
            radio.inject(sim.foreign_advert(T0 + 21.5))
            await radio.run_until(T0 + 120)
            heard = src.readings_until(T0 + 120)
            gateway.step(heard, T0 + 120)
        finally:
            await src.stop()
        assert heard and all(r.sealed is not None for r in heard)
        truth = {m.counter: m for m in sim.wrap("W01").history}
        assert all(r.skin_temp_c == truth[r.counter or -1].skin_temp_c for r in heard)
        assert [r.t for r in heard if abs(r.t - T0 - 20.5) < 1e-6] == [], "the forgery was refused"
        captured = next(a for a in reversed(radio.air) if a.wrap_id == "W01")
        store.close()

        # A power cut, then an attacker replays a packet heard before it: the counter on disk refuses it.
        store = HomeStore(tmp_path / "home")
        again = HomeGateway(store)
        src = BleWraps(
            code,
            last_counters=again.counters,
            clock=radio.now,
            sleep=radio.sleep,
            scanner_backend=radio.scanner_backend,
        )
        sim.wrap("W01").power_off()
        await src.start()
        try:
            radio.inject(replay(captured, T0 + 130))
            await radio.run_until(T0 + 140)
            assert src.readings_until(T0 + 140) == []
        finally:
            await src.stop()
        assert src.gateway.stats().wraps["W01"].replayed == 1
    store.close()
