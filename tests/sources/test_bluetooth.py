"""The Bluetooth gateway as a ward source: a SimRadio behind the real bleak front ends, on the radio's
simulated clock (no wall clock), and the ward's database for the registry and the replay counters."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmc_monitor.devices.errors import RejectReason
from kmc_monitor.devices.radio.backends import SimRadio
from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulation.simulator import SimAdvert, WardSimulator, replay
from kmc_monitor.errors import KmcError
from kmc_monitor.service.store import Store
from kmc_monitor.service.wrap_book import WardWrapBook
from kmc_monitor.sources import GatewaySource, ReadingSource
from tests.clock import Clock

T0 = 1_767_225_600.0


def source_on(radio: SimRadio, data_dir: Path, **kwargs: object) -> GatewaySource:
    kwargs.setdefault("demo", False)
    book = WardWrapBook.in_data_dir(data_dir)
    return GatewaySource(book, radio=radio, wall_clock=lambda: T0, **kwargs)  # type: ignore[arg-type]


def assert_true_values(sim: WardSimulator, r: Reading) -> None:
    """A reading carries exactly the wrap's latest measurement at its time (nothing forged)."""
    m = max((m for m in sim.wrap(r.wrap_id).history if m.t <= r.t), key=lambda m: m.t)
    assert (r.skin_temp_c, r.ambient_temp_c, r.battery_pct) == pytest.approx(
        (m.skin_temp_c, m.ambient_temp_c, m.battery_pct), abs=1e-9
    )
    assert r.contact == pytest.approx(m.contact_fraction, abs=1e-9)


def last_advert(radio: SimRadio, wrap_id: str) -> SimAdvert:
    return next(a for a in reversed(radio.air) if a.wrap_id == wrap_id)


def saved_counters(data_dir: Path) -> dict[str, int]:
    with Store.in_data_dir(data_dir) as store:
        return store.wrap_counters()


@pytest.mark.asyncio
async def test_readings_are_verified_and_attacks_are_not(tmp_path: Path, async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        sim = WardSimulator(3, start_s=T0, seed=5)
        radio = SimRadio(sim)
        src = source_on(radio, tmp_path)
        as_source: ReadingSource = src  # the base class, checked by mypy
        assert as_source.wraps()
        assert src.demo is False and src.reorder_s == 0.0
        await src.start()
        try:
            await radio.run_until(T0 + 30)
            captured = last_advert(radio, "W01")
            attacks = [T0 + 40.1234, T0 + 41.2345, T0 + 42.3456]
            radio.inject(sim.forged_advert("W01", attacks[0], skin_temp_c=38.9))
            radio.inject(sim.foreign_advert(attacks[1]))
            radio.inject(replay(captured, attacks[2]))
            await radio.run_until(T0 + 60)
            early = src.readings_until(T0 + 45)
            rest = src.readings_until(radio.now())
        finally:
            await src.stop()
    # Readings later than asked for wait for the next call; none is handed out twice.
    assert early and all(r.t <= T0 + 45 for r in early)
    assert rest and all(r.t > T0 + 45 for r in rest)
    readings = early + rest
    assert {r.wrap_id for r in readings} == {"W01", "W02", "W03"}
    assert not {r.t for r in readings} & set(attacks)
    for r in readings:
        assert_true_values(sim, r)
    stats = src.gateway.stats()
    assert stats.wraps["W01"].rejected == {RejectReason.AUTHENTICATION_FAILED: 1}
    assert stats.wraps["W01"].replayed == 1
    assert stats.unknown_devices == 1


@pytest.mark.asyncio
async def test_counters_saved_at_stop_refuse_a_replay_after_the_restart(
    tmp_path: Path, async_timeout_s: float
) -> None:
    async with asyncio.timeout(async_timeout_s):
        radio = SimRadio(WardSimulator(3, start_s=T0, seed=6))
        src = source_on(radio, tmp_path)
        await src.start()
        await radio.run_until(T0 + 30)
        assert src.readings_until(radio.now())
        # The newest packet accepted before the restart: only the saved counter can refuse it
        # afterwards (the in-memory "same bytes as last time" check is gone with the process).
        captured = last_advert(radio, "W01")
        before = src.gateway.verifier.last_counters()
        await src.stop()
        assert saved_counters(tmp_path) == before

        async def replayed_after_restart(data_dir: Path) -> tuple[list[Reading], int]:
            # An empty air (no simulated ward): the wraps are known from the database only.
            radio = SimRadio(start_s=T0 + 100)
            src = source_on(radio, data_dir)
            await src.start()
            try:
                radio.inject(replay(captured, T0 + 101))
                await radio.run_until(T0 + 110)
                return src.readings_until(radio.now()), src.gateway.stats().wraps["W01"].replayed
            finally:
                await src.stop()

        assert await replayed_after_restart(tmp_path) == ([], 1)
        # The control: with the counters forgotten, the same packet would be taken as new.
        with Store.in_data_dir(tmp_path) as store:
            store.save_wrap_counters({})
        got, replayed = await replayed_after_restart(tmp_path)
        assert [r.wrap_id for r in got] == ["W01"] and replayed == 0


@pytest.mark.asyncio
async def test_counters_are_saved_while_running(tmp_path: Path, async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        radio = SimRadio(WardSimulator(2, start_s=T0, seed=7))
        src = source_on(radio, tmp_path, counters_every_s=5.0)
        await src.start()
        try:
            await radio.run_until(T0 + 3)
            src.readings_until(radio.now())  # the first call saves
            first = saved_counters(tmp_path)
            assert first == src.gateway.verifier.last_counters() and first
            await radio.run_until(T0 + 6)
            src.readings_until(radio.now())  # 3 s later: not due yet
            assert saved_counters(tmp_path) == first != src.gateway.verifier.last_counters()
            await radio.run_until(T0 + 9)
            src.readings_until(radio.now())  # 6 s after the first save: due
            assert saved_counters(tmp_path) == src.gateway.verifier.last_counters() != first
        finally:
            await src.stop()


@pytest.mark.asyncio
async def test_a_restarted_simulated_ward_continues_its_counters(
    tmp_path: Path, async_timeout_s: float
) -> None:
    """A simulated wrap starts from the same counter on every run; the source moves it past the saved
    one, as a real wrap's counter would have kept counting, or every packet would be a replay."""
    async with asyncio.timeout(async_timeout_s):
        for start in (T0, T0 + 3600):
            sim = WardSimulator(2, start_s=start, seed=8)
            radio = SimRadio(sim)
            src = source_on(radio, tmp_path)
            await src.start()
            try:
                await radio.run_until(start + 20)
                got = src.readings_until(radio.now())
            finally:
                await src.stop()
            assert {r.wrap_id for r in got} == {"W01", "W02"}
            assert src.gateway.stats().wraps["W01"].replayed == 0


@pytest.mark.asyncio
async def test_a_registry_file_is_imported_into_the_ward(tmp_path: Path, async_timeout_s: float) -> None:
    other = WardSimulator(2, start_s=T0, seed=9)
    path = tmp_path / "ward.toml"
    path.write_text(other.registry_toml(), encoding="utf-8")
    path.chmod(0o600)  # it holds keys: readable by its owner only
    async with asyncio.timeout(async_timeout_s):
        radio = SimRadio(start_s=T0)
        book = WardWrapBook.in_data_dir(tmp_path / "data")
        src = GatewaySource(book, registry_file=path, radio=radio, wall_clock=lambda: T0)
        assert sorted(w for w, _, _ in src.wraps()) == ["W01", "W02"]
        await src.start()
        try:
            for advert in other.adverts_until(T0 + 10):
                radio.inject(advert)
            await radio.run_until(T0 + 10)
            got = src.readings_until(radio.now())
        finally:
            await src.stop()
    assert {r.wrap_id for r in got} == {"W01", "W02"}
    for r in got:
        assert_true_values(other, r)
    with Store.in_data_dir(tmp_path / "data") as store:
        assert [(w.wrap_id, w.mac) for w in store.wraps()] == [(e.wrap_id, e.mac) for e in other.identities()]


def test_demo_mode_leaves_a_fresh_ward_to_the_runtime(tmp_path: Path) -> None:
    """In demo mode the runtime registers and admits the simulated wraps (it refuses wraps that exist
    already), so the source must not register them on a fresh database; it still verifies them."""
    sim = WardSimulator(3, start_s=T0, seed=0)
    src = GatewaySource.simulated(3, WardWrapBook.in_data_dir(tmp_path), wall_clock=lambda: T0)
    try:
        assert src.demo is True
        assert src.wraps() == [(e.wrap_id, e.mac, e.key) for e in sim.identities()]
        assert len(src.gateway.registry) == 3
    finally:
        asyncio.run(src.stop())
    with Store.in_data_dir(tmp_path) as store:
        assert store.wraps() == []


def test_a_database_with_other_wraps_of_the_same_ids_is_refused(tmp_path: Path) -> None:
    with Store.in_data_dir(tmp_path) as store:
        store.add_wrap("W01", "C0:00:00:00:00:01", None, now=T0)
    with pytest.raises(KmcError, match="W01"):
        GatewaySource.simulated(2, WardWrapBook.in_data_dir(tmp_path), wall_clock=lambda: T0)
    # The database was closed again: it opens for writing at once.
    with Store.in_data_dir(tmp_path) as store:
        store.save_wrap_counters({})


@pytest.mark.asyncio
async def test_a_simulated_radio_runs_on_the_wall_clock(tmp_path: Path, async_timeout_s: float) -> None:
    now = Clock(T0)
    src = GatewaySource.simulated(2, WardWrapBook.in_data_dir(tmp_path), demo=False, wall_clock=now)
    async with asyncio.timeout(async_timeout_s):
        await src.start()
        try:
            now.t = T0 + 20  # the driver advances the radio to the (fake) wall clock on its own
            got: list[Reading] = []
            while {r.wrap_id for r in got} != {"W01", "W02"}:
                await asyncio.sleep(0.05)
                got += src.readings_until(now.t)
            assert src.radio is not None and src.radio.now() == T0 + 20
        finally:
            await src.stop()


@pytest.mark.asyncio
async def test_a_room_gateways_own_store_keeps_its_registry_and_counters(
    tmp_path: Path, async_timeout_s: float
) -> None:
    """The same source on the room gateway's small store: the registry file goes into it, the
    counters saved at stop refuse a replay after the restart, and no ward database is made."""
    from kmc_monitor.mqtt.gateway_store import GatewayStore
    from kmc_monitor.service.store import DB_FILENAME

    other = WardSimulator(2, start_s=T0, seed=10)
    path = tmp_path / "room.toml"
    path.write_text(other.registry_toml(), encoding="utf-8")
    path.chmod(0o600)
    data = tmp_path / "gw"
    async with asyncio.timeout(async_timeout_s):
        radio = SimRadio(start_s=T0)
        book = GatewayStore.in_data_dir(data)
        src = GatewaySource(book, registry_file=path, radio=radio, wall_clock=lambda: T0)
        await src.start()
        try:
            adverts = other.adverts_until(T0 + 10)
            for advert in adverts:
                radio.inject(advert)
            await radio.run_until(T0 + 10)
            assert {r.wrap_id for r in src.readings_until(radio.now())} == {"W01", "W02"}
            captured = next(a for a in reversed(adverts) if a.wrap_id == "W01")
        finally:
            await src.stop()
        radio = SimRadio(start_s=T0 + 100)
        src = GatewaySource(GatewayStore.in_data_dir(data), radio=radio, wall_clock=lambda: T0)
        await src.start()
        try:
            radio.inject(replay(captured, T0 + 101))
            await radio.run_until(T0 + 110)
            assert src.readings_until(radio.now()) == []
            assert src.gateway.stats().wraps["W01"].replayed == 1
        finally:
            await src.stop()
    assert not (data / DB_FILENAME).exists()
