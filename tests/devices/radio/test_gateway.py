"""The gateway through bleak's real front ends, on a simulated radio and its clock."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from kmc_monitor.devices.errors import RejectReason
from kmc_monitor.devices.protocol.gatt import CONTACT_CHAR_UUID, TEMPERATURE_MEASUREMENT_UUID
from kmc_monitor.devices.radio.backends import SimRadio
from kmc_monitor.devices.radio.gateway import AdapterUnavailableError, Gateway, start_scanner
from kmc_monitor.devices.radio.tracker import AdvertTracker, StaleChange
from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulation.simulator import SimConfig, SimMeasurement, WardSimulator, replay
from kmc_monitor.errors import KmcError

T0 = 1_767_225_600.0


def make(
    n: int,
    *,
    seed: int = 1,
    config: SimConfig | None = None,
    connected: tuple[str, ...] = (),
    **kwargs: object,
) -> tuple[WardSimulator, SimRadio, Gateway, list[Reading]]:
    sim = WardSimulator(n, start_s=T0, seed=seed, config=config)
    radio = SimRadio(sim)
    readings: list[Reading] = []
    kwargs.setdefault("housekeeping", False)  # tests call check() at the times they choose
    gw = Gateway(
        sim.registry(),
        clock=radio.now,
        sleep=radio.sleep,
        scanner_backend=radio.scanner_backend,
        client_backend=radio.client_backend,
        connected=connected,
        on_reading=readings.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return sim, radio, gw, readings


def truth_at(sim: WardSimulator, r: Reading) -> SimMeasurement:
    """The measurement a reading must carry: the wrap's latest one at the reading's time."""
    return max((m for m in sim.wrap(r.wrap_id).history if m.t <= r.t), key=lambda m: m.t)


def assert_true_values(sim: WardSimulator, r: Reading) -> None:
    m = truth_at(sim, r)
    assert r.skin_temp_c == pytest.approx(m.skin_temp_c, abs=1e-9)
    assert r.ambient_temp_c == pytest.approx(m.ambient_temp_c, abs=1e-9)
    assert r.contact == pytest.approx(m.contact_fraction, abs=1e-9)
    assert r.battery_pct == m.battery_pct


@pytest.mark.asyncio
async def test_twenty_wraps_become_readings_with_their_true_values(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        sim, radio, gw, readings = make(20)
        async with gw:
            assert gw.scanning_mode == "active"  # a custom backend scans actively
            await radio.run_until(T0 + 300)
        assert {r.wrap_id for r in readings} == {w.wrap_id for w in sim.wraps}
        for r in readings:
            assert_true_values(sim, r)
            assert r.rssi_dbm is not None and -110 < r.rssi_dbm < -30
        # Each measurement is advertised twice and becomes one reading (unless both copies are lost).
        measured = sum(1 for w in sim.wraps for m in w.history if m.t <= T0 + 300)
        assert 0.97 * measured <= len(readings) <= measured
        stats = gw.stats()
        assert stats.readings == len(readings)
        assert sum(w.decoded for w in stats.wraps.values()) == len(readings)
        assert sum(w.duplicate for w in stats.wraps.values()) > 0.5 * len(readings)
        assert all(w.interval_s == pytest.approx(1.0, abs=0.02) for w in stats.wraps.values())
        assert stats.unknown_devices == 0 and stats.scanner_restarts == 0


@pytest.mark.asyncio
async def test_registry_from_a_file_and_the_readings_iterator(tmp_path: Path, async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        sim = WardSimulator(3, start_s=T0, seed=2)
        path = tmp_path / "ward.toml"
        path.write_text(sim.registry_toml(), encoding="utf-8")
        path.chmod(0o600)  # it holds keys: readable by its owner only
        radio = SimRadio(sim)
        gw = Gateway(path, clock=radio.now, sleep=radio.sleep, scanner_backend=radio.scanner_backend)
        got: list[Reading] = []

        async def consume() -> None:
            async for r in gw.readings():
                got.append(r)

        await gw.start()
        consumer = asyncio.create_task(consume())
        await radio.run_until(T0 + 30)
        await gw.stop()
        await consumer  # the stream ends when the gateway stops
        assert {r.wrap_id for r in got} == {"W01", "W02", "W03"}
        for r in got:
            assert_true_values(sim, r)


@pytest.mark.asyncio
async def test_silent_wrap_goes_stale_after_its_learned_interval(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        changes: list[StaleChange] = []
        sim, radio, gw, _ = make(3, config=SimConfig(loss_prob=0.0), on_link=changes.append)
        async with gw:
            await radio.run_until(T0 + 60)
            interval = gw.tracker.interval_s("W02")
            assert interval is not None and interval == pytest.approx(1.0, abs=0.01)
            limit = gw.tracker.stale_after_s("W02")
            assert limit == pytest.approx(6 * interval)
            sim.wrap("W02").power_off()
            radio.advance(0.001)
            last = gw.tracker.state("W02", radio.now())
            assert last is not None
            radio.advance_to(last.last_seen_s + limit - 0.01)
            assert await gw.check() == []
            radio.advance_to(last.last_seen_s + limit + 0.01)
            went = await gw.check()
            assert went == [StaleChange("W02", pytest.approx(last.last_seen_s + limit), True)]  # type: ignore[arg-type]
            assert gw.stats().wraps["W02"].stale and not gw.stats().wraps["W01"].stale
            radio.advance(30)
            assert await gw.check() == []  # reported once
            sim.wrap("W02").power_on()
            radio.advance(3)
            assert changes[-1].key == "W02" and not changes[-1].stale
            assert not gw.stats().wraps["W02"].stale
        assert [c.stale for c in changes] == [True, False]


@pytest.mark.asyncio
async def test_forged_unknown_and_replayed_adverts_never_become_readings(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        sim, radio, gw, readings = make(3, seed=4)
        async with gw:
            await radio.run_until(T0 + 30)
            captured = next(a for a in radio.air if a.wrap_id == "W01")
            attack_times = [T0 + 40.1234, T0 + 41.2345, T0 + 42.3456, T0 + 43.4567]
            radio.inject(sim.forged_advert("W01", attack_times[0], skin_temp_c=38.9))
            radio.inject(sim.foreign_advert(attack_times[1]))
            radio.inject(replay(captured, attack_times[2]))
            radio.inject(replay(captured, attack_times[3]))
            await radio.run_until(T0 + 60)
        assert not {r.t for r in readings} & set(attack_times)
        assert all(r.skin_temp_c != 38.9 for r in readings)
        for r in readings:
            assert_true_values(sim, r)
        stats = gw.stats()
        w01 = stats.wraps["W01"]
        assert w01.rejected == {RejectReason.AUTHENTICATION_FAILED: 1}
        assert w01.replayed == 2
        assert stats.unknown_devices == 1
        assert all(w.rejected == {} and w.replayed == 0 for k, w in stats.wraps.items() if k != "W01")


@pytest.mark.asyncio
async def test_watchdog_restarts_a_scanner_that_went_silent(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        _, radio, gw, readings = make(4, watchdog_silence_s=30.0)
        async with gw:
            await radio.run_until(T0 + 100)
            await gw.check()
            assert gw.stats().scanner_restarts == 0  # wraps are heard: no restart
            radio.stall_scanners()
            radio.advance(29)
            await gw.check()
            assert gw.stats().scanner_restarts == 0
            n = len(readings)
            radio.advance(2)
            await gw.check()
            assert gw.stats().scanner_restarts == 1 and radio.scanner_starts == 2
            radio.advance(10)
            assert len(readings) > n  # heard again after the restart


@pytest.mark.asyncio
async def test_housekeeping_task_runs_on_the_injected_clock(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        _, radio, gw, _ = make(2, watchdog_silence_s=20.0, housekeeping=True, tick_s=1.0)
        async with gw:
            await radio.run_until(T0 + 30)
            radio.stall_scanners()
            radio.fail_scanner_starts(1)  # the first restart fails: retried after the back-off
            await radio.run_until(T0 + 75)
            stats = gw.stats()
            assert (stats.scanner_restarts, stats.scanner_failures, stats.scanning) == (1, 1, True)
            await radio.run_until(T0 + 90)
            assert gw.stats().scanner_restarts == 1  # healthy again
            assert gw.link_states()[0].last_seen_s > T0 + 80


@pytest.mark.asyncio
async def test_connected_mode_survives_failures_and_disconnects(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        config = SimConfig(connected_every=2)
        sim, radio, gw, readings = make(2, config=config, connected=("W02",), reconnect_s=(2.0, 8.0))
        radio.fail_connections("W02", 4)  # first establish_connection (3 attempts) fails, then one more
        async with gw:
            await radio.run_until(T0 + 60, step_s=0.25)
            link = gw.stats().wraps["W02"].link
            assert link.connect_failures == 1 and link.connects == 1
            first = [r for r in readings if r.wrap_id == "W02" and r.t > T0 + 20]
            assert len(first) > 15
            assert link.missed == 0 and link.rejected == {}
            # A corrupted value on the link is refused and counted, not turned into a reading.
            n = len(readings)
            assert radio.send_on_link("W02", TEMPERATURE_MEASUREMENT_UUID, b"\xf8\x00\x00\x00\x00")
            assert radio.send_on_link("W02", CONTACT_CHAR_UUID, b"\x01")
            assert len(readings) == n
            rejected = gw.stats().wraps["W02"].link.rejected
            assert rejected == {RejectReason.UNSUPPORTED_FORMAT: 1, RejectReason.TRUNCATED: 1}
            dropped_at = radio.now()
            radio.drop_link("W02")
            await radio.run_until(T0 + 90, step_s=0.25)
            radio.fail_connections("W02", 10)
            radio.drop_link("W02")
            await radio.run_until(T0 + 150, step_s=0.25)
        link = gw.stats().wraps["W02"].link
        assert link.disconnects == 2 and link.connects == 3 and link.connect_failures >= 3
        after = [r for r in readings if r.wrap_id == "W02" and r.t > dropped_at]
        assert after and max(r.t for r in after) > T0 + 140  # indications resumed after both drops
        gatt = [r for r in readings if r.wrap_id == "W02" and r.rssi_dbm is None]  # from the link
        assert len(gatt) > 50 and link.indications >= len(gatt)
        for r in gatt:
            assert_true_values(sim, r)
        assert {r.wrap_id for r in readings} == {"W01", "W02"}


@pytest.mark.asyncio
async def test_scanning_modes_and_adapter_failures(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        _, radio, gw, _ = make(1, scanning_mode="passive")
        async with gw:
            assert gw.scanning_mode == "passive"
        radio.fail_scanner_starts(1)
        scanner, mode = await start_scanner(lambda d, a: None, backend=radio.scanner_backend, mode="passive")
        assert mode == "active"  # passive refused: falls back
        await scanner.stop()
        radio.fail_scanner_starts(1)
        with pytest.raises(AdapterUnavailableError, match="injected"):
            await start_scanner(lambda d, a: None, backend=radio.scanner_backend)


@pytest.mark.asyncio
async def test_slow_consumer_loses_the_oldest_readings(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        sim = WardSimulator(3, start_s=T0, seed=5)
        radio = SimRadio(sim)
        gw = Gateway(
            sim.registry(),
            clock=radio.now,
            scanner_backend=radio.scanner_backend,
            housekeeping=False,
            queue_size=5,
        )
        async with gw:
            radio.advance(30)
            kept = gw.drain()
        assert len(kept) == 5
        assert gw.stats().readings_dropped == gw.stats().readings - 5
        assert kept == sorted(kept, key=lambda r: r.t) and kept[-1].t > T0 + 25


def test_connected_wraps_must_be_registered() -> None:
    sim = WardSimulator(1, start_s=T0)
    with pytest.raises(KmcError, match="W09"):
        Gateway(sim.registry(), clock=lambda: T0, connected=["W09"])


@pytest.mark.asyncio
async def test_no_adapter_is_one_plain_error(monkeypatch: pytest.MonkeyPatch, async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        # No D-Bus system bus here, whatever the machine has.
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/kmc-test-bus")
        gw = Gateway(WardSimulator(1, start_s=T0).registry(), clock=lambda: T0)
        with pytest.raises(AdapterUnavailableError, match="no Bluetooth adapter"):
            await gw.start()
        assert not gw.running


@pytest.mark.ble_adapter
@pytest.mark.asyncio
async def test_real_adapter_scans(
    ble_adapter: str | None, async_timeout_s: float, caplog: pytest.LogCaptureFixture
) -> None:
    """Opt-in (--ble-adapter [NAME]): the platform scanner starts, hears for a few seconds, stops."""
    caplog.set_level(logging.INFO)
    async with asyncio.timeout(async_timeout_s):
        heard: list[str] = []
        scanner, mode = await start_scanner(lambda d, a: heard.append(d.address), adapter=ble_adapter)
        try:
            await asyncio.sleep(3.0)
        finally:
            await scanner.stop()
        assert mode in ("active", "passive")


def test_tracker_is_injectable() -> None:
    tracker = AdvertTracker(stale_multiple=3.0)
    sim = WardSimulator(1, start_s=T0)
    gw = Gateway(sim.registry(), clock=lambda: T0, tracker=tracker)
    assert gw.tracker is tracker
