"""The simulated ward: seeded, clock-free, plausible babies, real BTHome packets."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kmc_monitor.devices.protocol.bthome import decode_service_data
from kmc_monitor.devices.protocol.verify import WrapRegistry
from kmc_monitor.devices.simulation.simulator import (
    SimAdvert,
    SimConfig,
    SimMeasurement,
    WardSimulator,
    replay,
)

T0 = 1_767_225_600.0


def run(sim: WardSimulator, until_s: float) -> list[SimAdvert | SimMeasurement]:
    return sim.events_until(until_s)


def test_same_seed_same_ward_packet_for_packet() -> None:
    a = run(WardSimulator(5, start_s=T0, seed=7), T0 + 300)
    b = run(WardSimulator(5, start_s=T0, seed=7), T0 + 300)
    c = run(WardSimulator(5, start_s=T0, seed=8), T0 + 300)
    assert a == b
    assert a != c


def test_stepping_does_not_change_the_ward() -> None:
    whole = run(WardSimulator(4, start_s=T0, seed=3, config=SimConfig(chunk_s=60.0)), T0 + 400)
    sim = WardSimulator(4, start_s=T0, seed=3, config=SimConfig(chunk_s=60.0))
    stepped: list[SimAdvert | SimMeasurement] = []
    for t in np.arange(T0 + 0.37, T0 + 400, 0.37):
        stepped += sim.events_until(float(t))
    stepped += sim.events_until(T0 + 400)
    assert stepped == whole
    assert sim.events_until(T0 + 100) == []  # never back in time


def test_wrap_identity_does_not_depend_on_ward_size() -> None:
    small = WardSimulator(3, start_s=T0, seed=1).identities()
    large = WardSimulator(30, start_s=T0, seed=1).identities()
    assert large[:3] == small
    assert len({i.mac for i in large}) == 30
    assert all(int(i.mac[:2], 16) & 0xC0 == 0xC0 for i in large)  # static random addresses
    assert len({i.key for i in large}) == 30


def test_the_simulator_never_reads_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden() -> float:
        raise AssertionError("the simulator read the wall clock")

    sim = WardSimulator(3, start_s=T0, seed=2)
    for name in ("time", "monotonic", "perf_counter", "time_ns", "monotonic_ns"):
        monkeypatch.setattr(time, name, forbidden)
    assert run(sim, T0 + 120)


def test_adverts_are_real_bthome_packets_of_the_current_measurement() -> None:
    sim = WardSimulator(6, start_s=T0, seed=4)
    keys = {i.mac: i.key for i in sim.identities()}
    latest: dict[str, SimMeasurement] = {}
    counters: dict[str, int] = {}
    adverts = 0
    for ev in run(sim, T0 + 200):
        if isinstance(ev, SimMeasurement):
            latest[ev.wrap_id] = ev
            continue
        adverts += 1
        m = latest[ev.wrap_id or ""]
        assert m.t <= ev.t
        adv = decode_service_data(ev.service_data, mac=ev.mac, key=keys[ev.mac])
        assert adv.encrypted
        assert (adv.packet_id, adv.counter) == (m.packet_id, m.counter)
        assert adv.skin_temp_c == pytest.approx(m.skin_temp_c, abs=1e-9)
        assert adv.ambient_temp_c == pytest.approx(m.ambient_temp_c, abs=1e-9)
        assert (adv.contact_level, adv.contact, adv.battery_pct) == (
            m.contact_level,
            m.contact,
            m.battery_pct,
        )
        assert counters.get(ev.mac, -1) <= m.counter  # repeats share a counter, new packets raise it
        counters[ev.mac] = m.counter
    assert adverts > 6 * 150


def test_packet_ids_and_counters_rise_with_every_measurement() -> None:
    sim = WardSimulator(1, start_s=T0, seed=5)
    ms = [e for e in run(sim, T0 + 1200) if isinstance(e, SimMeasurement)]
    assert len(ms) == pytest.approx(600, abs=2)  # every 2 s
    assert all(b.counter == a.counter + 1 for a, b in zip(ms, ms[1:], strict=False))
    assert all(b.packet_id == (a.packet_id + 1) % 256 for a, b in zip(ms, ms[1:], strict=False))
    gaps = np.diff([m.t for m in ms])
    assert gaps == pytest.approx(2.0, abs=0.0011)


def test_advertising_jitter_and_losses() -> None:
    config = SimConfig(loss_prob=0.2)
    sim = WardSimulator(3, start_s=T0, seed=6, config=config)
    adverts = [e for e in run(sim, T0 + 600) if isinstance(e, SimAdvert)]
    for w in sim.wraps:
        sent = w.adverts_sent + w.adverts_lost
        assert w.adverts_lost / sent == pytest.approx(0.2, abs=0.05)
        times = np.array([a.t for a in adverts if a.wrap_id == w.wrap_id])
        # Advertising events 1 s apart plus the 0..10 ms advDelay, multiples of that when lost.
        residual = np.diff(times) - np.round(np.diff(times))
        assert residual.min() >= 0.0 and residual.max() < 0.01 * np.round(np.diff(times)).max() + 1e-9
        assert 0.0 < residual.mean() < 0.01


def measurements(sim: WardSimulator, until_s: float) -> list[SimMeasurement]:
    """The ward's physiology alone (no radio, nothing encrypted): fast enough for days."""
    return [m for w in sim.wraps for m in w.measure_until(until_s)]


def test_physiology_is_plausible_over_a_day() -> None:
    config = SimConfig(loose_sensor_per_h=0.5, measure_s=10.0, chunk_s=3600.0)
    sim = WardSimulator(8, start_s=T0, seed=11, config=config)
    ms = measurements(sim, T0 + 24 * 3600)
    labels = {m.label for m in ms}
    assert {"contact", "apart", "ramp", "detached", "reattach"} <= labels
    skin = np.array([m.skin_temp_c for m in ms if m.label not in ("detached", "reattach")])
    assert 30.0 < skin.min() and skin.max() < 38.5
    for w in sim.wraps:
        mine = [m for m in ms if m.wrap_id == w.wrap_id]
        battery = np.array([m.battery_pct for m in mine])
        assert (np.diff(battery) <= 0).all() and battery[0] > battery[-1]
        contact = np.array([m.contact_level for m in mine])
        in_kmc = (contact >= 60).mean()
        assert 0.2 < in_kmc < 0.95, w.wrap_id  # sessions and breaks, not one or the other
        # The wrap's own contact flag follows its level with hysteresis.
        flags = np.array([m.contact for m in mine])
        assert flags[contact >= 60].all() and not flags[contact <= 40].any()
    detached = [m for m in ms if m.label == "detached"]
    # A loose sensor reads the air: it drifts to within a degree or so of ambient.
    assert min(m.skin_temp_c - m.ambient_temp_c for m in detached) < 1.5


def test_cooling_out_of_kmc_and_rewarming_in_it() -> None:
    sim = WardSimulator(20, start_s=T0, seed=12, config=SimConfig(measure_s=10.0, chunk_s=3600.0))
    ms = measurements(sim, T0 + 12 * 3600)
    ramps = [m for m in ms if m.label == "ramp"]
    cooling = [m for m in ramps if m.contact_level < 40]
    rewarming = [m for m in ramps if m.contact_level >= 60]
    assert cooling and rewarming


def test_power_off_silences_a_wrap_but_not_its_baby() -> None:
    sim = WardSimulator(2, start_s=T0, seed=9)
    run(sim, T0 + 60)
    w = sim.wrap("W01")
    w.power_off()
    quiet = run(sim, T0 + 120)
    assert not [e for e in quiet if e.wrap_id == "W01"]
    assert w.current is not None and w.current.t > T0 + 110  # still measuring
    w.power_on()
    assert [e for e in run(sim, T0 + 130) if isinstance(e, SimAdvert) and e.wrap_id == "W01"]


def test_registry_matches_the_wraps_and_round_trips_through_a_file(tmp_path: object) -> None:
    from pathlib import Path

    sim = WardSimulator(4, start_s=T0, seed=1)
    path = Path(str(tmp_path)) / "ward.toml"
    path.write_text(sim.registry_toml(), encoding="utf-8")
    path.chmod(0o600)  # it holds keys: readable by its owner only
    loaded = WrapRegistry.load(path)
    for reg in (sim.registry(), loaded):
        assert not reg.allow_unencrypted
        assert [(e.wrap_id, e.mac, e.key) for e in reg] == [
            (i.wrap_id, i.mac, i.key) for i in sim.identities()
        ]
    plain = WardSimulator(2, start_s=T0, seed=1, config=SimConfig(encrypted=False))
    assert plain.registry().allow_unencrypted
    assert all(e.key is None for e in plain.registry())
    adv = next(e for e in run(plain, T0 + 10) if isinstance(e, SimAdvert))
    assert not decode_service_data(adv.service_data).encrypted


def test_attack_packets() -> None:
    sim = WardSimulator(1, start_s=T0, seed=2)
    genuine = next(e for e in run(sim, T0 + 10) if isinstance(e, SimAdvert))
    again = replay(genuine, T0 + 50)
    assert again.service_data == genuine.service_data and again.t == T0 + 50 and again.wrap_id is None
    forged = sim.forged_advert("W01", T0 + 20)
    assert forged.mac == genuine.mac and forged.service_data != genuine.service_data
    foreign = sim.foreign_advert(T0 + 30)
    assert decode_service_data(foreign.service_data).skin_temp_c == 21.5


@pytest.mark.parametrize(
    "kwargs",
    [{"measure_s": 0.0}, {"adv_delay_max_s": 1.0}, {"loss_prob": 1.0}, {"connected_every": -1}],
)
def test_config_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SimConfig(**kwargs)  # type: ignore[arg-type]


def test_ward_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        WardSimulator(-1, start_s=T0)
    with pytest.raises(ValueError):
        WardSimulator(1, start_s=float("nan"))
