"""The Bluetooth adapter vanishing and returning, on simulated time (no wall-clock sleeps).

:class:`SimRadio.remove_adapter` is what a pulled USB dongle or a restarted BlueZ looks like to
bleak: the running scanner goes deaf, stopping it raises, every start raises ``BleakError``. The
real gateway (watchdog, restarts, back-off) runs on the radio's clock; the second test runs it as
the ward's source through the engine, as ``serve --ble`` does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmc_monitor.devices.radio.backends import SimRadio
from kmc_monitor.devices.radio.gateway import SCANNER_RETRY_S, Gateway
from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulation.simulator import WardSimulator
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.wrap_book import WardWrapBook
from kmc_monitor.sources import GatewaySource
from tests.reliability.helpers import settings_for

pytestmark = pytest.mark.timeout(60)

T0 = 1_767_225_600.0
AWAY_S = 300.0


@pytest.mark.asyncio
async def test_the_gateway_retries_with_back_off_and_hears_again_when_the_adapter_returns() -> None:
    async with asyncio.timeout(30):
        sim = WardSimulator(2, start_s=T0, seed=3)
        radio = SimRadio(sim)
        readings: list[Reading] = []
        gw = Gateway(
            sim.registry(),
            clock=radio.now,
            sleep=radio.sleep,
            scanner_backend=radio.scanner_backend,
            on_reading=readings.append,
            watchdog_silence_s=60.0,
            tick_s=1.0,
        )
        async with gw:
            await radio.run_until(T0 + 30)
            assert readings
            radio.remove_adapter()
            gone_at = radio.now()
            await radio.run_until(gone_at + AWAY_S)
            stats = gw.stats()
            assert gw.running  # never gave up, never crashed
            assert not stats.scanning
            assert max(r.t for r in readings) <= gone_at
            # Retried with a doubling back-off after the watchdog's first restart: 2, 4, 8, 16, 30,
            # 30, ... s; neither a tight loop nor one try a minute.
            first_restart = gone_at + 60
            tries = 1 + sum(1 for _ in _backoff(first_restart, gone_at + AWAY_S))
            assert stats.scanner_failures == tries, (stats.scanner_failures, tries)
            assert stats.scanner_restarts == 1
            radio.return_adapter()
            back_at = radio.now()
            await radio.run_until(back_at + SCANNER_RETRY_S[1] + 10)
            stats = gw.stats()
            assert stats.scanning and stats.scanner_failures == tries
            heard_again = [r for r in readings if r.t > back_at]
            assert heard_again and min(r.t for r in heard_again) <= back_at + SCANNER_RETRY_S[1] + 5
            assert {r.wrap_id for r in heard_again} == {w.wrap_id for w in sim.wraps}


def _backoff(start: float, end: float) -> list[float]:
    """The retry times after a failed start at ``start``, up to ``end``."""
    out, t, delay = [], start, SCANNER_RETRY_S[0]
    while t + delay <= end:
        t += delay
        out.append(t)
        delay = min(SCANNER_RETRY_S[1], delay * 2)
    return out


@pytest.mark.asyncio
async def test_the_ward_shows_no_data_while_the_adapter_is_away_and_recovers(tmp_path: Path) -> None:
    async with asyncio.timeout(30):
        radio = SimRadio(WardSimulator(2, start_s=T0, seed=4))
        source = GatewaySource(WardWrapBook.in_data_dir(tmp_path / "data"), radio=radio, demo=True)
        rt = WardRuntime(settings_for(tmp_path / "data"), source=source, clock=radio.now, tick_s=None)
        await rt.start()
        try:

            async def run(seconds: float) -> None:
                end = radio.now() + seconds
                while radio.now() < end:
                    await radio.run_until(min(end, radio.now() + 1.0))
                    rt.step()

            await run(120)
            assert all(v.judging != "no data" for v in rt.engine.views(rt.now_us()))
            radio.remove_adapter()
            await run(25)
            assert all(v.judging != "no data" for v in rt.engine.views(rt.now_us()))  # not yet
            await run(AWAY_S)
            views = rt.engine.views(rt.now_us())
            assert [v.judging for v in views] == ["no data", "no data"]
            no_data = [a for a in rt.engine.board.visible(rt.now_us()) if a.kind.value == "no_data"]
            assert {a.bed_id for a in no_data} == {v.bed_id for v in views}
            radio.return_adapter()
            # no_data ends at the reading that completes 60 s of data after the silence
            await run(SCANNER_RETRY_S[1] + 70)
            views = rt.engine.views(rt.now_us())
            assert all(v.judging != "no data" for v in views), [v.judging for v in views]
            assert all(v.last_heard_s is not None and v.last_heard_s < 15 for v in views)
            still = [a for a in rt.engine.board.visible(rt.now_us()) if a.kind.value == "no_data"]
            assert all(a.ended_us is not None for a in still)
            assert source.gateway.stats().scanning
        finally:
            await rt.stop()
