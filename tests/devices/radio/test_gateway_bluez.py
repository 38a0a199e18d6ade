"""The gateway on bleak's real BlueZ backend, against a mocked bluetoothd on a private D-Bus.

No project backend here: ``Gateway`` builds plain ``BleakScanner``s, bleak picks its BlueZ backend
(``bleak.backends.bluezdbus``), which talks D-Bus to python-dbusmock's ``bluez5`` template through
``DBUS_SYSTEM_BUS_ADDRESS`` (tests/bluez.py). The adverts are the simulator's real encrypted BTHome
packets; what reaches the readings went through bleak's manager (``GetManagedObjects``,
``InterfacesAdded``, ``PropertiesChanged`` with ``ServiceData``) and the project's verifier.

What the mock covers of passive scanning: the gateway asks for it (``or_patterns`` on BTHome's
service data UUID), bleak registers its ``AdvertisementMonitor1`` with the adapter's
``AdvertisementMonitorManager1.RegisterMonitor`` and the mock accepts it, so the gateway runs in
passive mode; adverts then arrive as ``PropertiesChanged``, as with BlueZ. The mock does not call
the monitor's ``Activate``/``DeviceFound`` nor filter by the pattern (bluetoothd and the controller
do); that part is only covered on real hardware.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from kmc_monitor.devices.radio.gateway import Gateway
from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulation.simulator import SimAdvert, SimConfig, SimMeasurement, WardSimulator
from tests.bluez import MockBluez

pytestmark = pytest.mark.timeout(90)


class Air:
    """The simulated ward on the mocked adapter: every advert of the simulator, sent as it falls due."""

    def __init__(self, bluez: MockBluez, sim: WardSimulator) -> None:
        self.bluez = bluez
        self.sim = sim
        self.measured: dict[tuple[str, int], SimMeasurement] = {}
        #: The first advert each wrap sent (to replay it later).
        self.first: dict[str, SimAdvert] = {}
        self.adapter = "hci0"

    def until(self, t_s: float) -> int:
        sent = 0
        for e in self.sim.events_until(t_s):
            if isinstance(e, SimMeasurement):
                self.measured[(e.wrap_id, e.counter)] = e
            elif self.adapter:
                self.first.setdefault(e.mac, e)
                self.bluez.advertise(e.mac, e.service_data, e.rssi_dbm, self.adapter)
                sent += 1
        return sent


async def collect(gateway: Gateway, air: Air, n: int, timeout_s: float) -> list[Reading]:
    """Run the air in real time until the gateway has ``n`` readings more."""
    got: list[Reading] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n:
        assert time.monotonic() < deadline, f"only {len(got)} readings of {n}"
        await asyncio.to_thread(air.until, time.time())
        await asyncio.sleep(0.1)
        got += gateway.drain()
    return got


def config() -> SimConfig:
    return SimConfig(measure_s=0.5, adv_interval_s=0.25, loss_prob=0.0)


@pytest.mark.asyncio
async def test_encrypted_adverts_become_verified_readings_through_bleaks_bluez_backend(
    bluez: MockBluez,
) -> None:
    sim = WardSimulator(2, start_s=time.time(), seed=7, config=config())
    air = Air(bluez, sim)
    gateway = Gateway(sim.registry(), clock=time.time, watchdog_silence_s=30.0, tick_s=0.2)
    async with gateway:
        # Passive where BlueZ offers it: bleak registered an advertisement monitor on hci0.
        assert gateway.scanning_mode == "passive"
        assert len(bluez.calls("RegisterMonitor")) == 1
        readings = await collect(gateway, air, 8, 30)
        # A packet recorded earlier and sent again is refused by the verifier (its counter is old).
        wrap = sim.wraps[0]
        recorded = air.first[wrap.mac]
        before = gateway.stats().wraps[wrap.wrap_id]
        await asyncio.to_thread(bluez.advertise, recorded.mac, recorded.service_data, recorded.rssi_dbm)
        await asyncio.sleep(0.5)
        # A wrap nobody registered is heard but never becomes a reading either.
        foreign = sim.foreign_advert(time.time())
        await asyncio.to_thread(bluez.advertise, foreign.mac, foreign.service_data, foreign.rssi_dbm)
        await asyncio.sleep(0.5)
        late = gateway.drain()
        stats = gateway.stats()
    assert {r.wrap_id for r in readings} == {"W01", "W02"}
    for r in readings:
        # Each reading is exactly what the simulated wrap measured (values as sent on air).
        m = air.measured[(r.wrap_id, r.counter)] if r.counter is not None else None
        assert m is not None, r
        sent = (m.skin_temp_c, m.ambient_temp_c, m.battery_pct)
        assert (r.skin_temp_c, r.ambient_temp_c, r.battery_pct) == sent
        assert r.rssi_dbm is not None and -110 < r.rssi_dbm < -20
    first_counter = min(c for (w, c) in air.measured if w == wrap.wrap_id)
    assert not [r for r in late if r.wrap_id == wrap.wrap_id and r.counter == first_counter]
    assert stats.wraps[wrap.wrap_id].replayed == before.replayed + 1
    assert stats.unknown_devices >= 1
    assert stats.scanning_mode == "passive"


@pytest.mark.asyncio
async def test_an_adapter_that_disappears_and_comes_back_is_listened_to_again(bluez: MockBluez) -> None:
    sim = WardSimulator(1, start_s=time.time(), seed=11, config=config())
    air = Air(bluez, sim)
    gateway = Gateway(sim.registry(), clock=time.time, watchdog_silence_s=1.5, tick_s=0.2)
    async with gateway:
        await collect(gateway, air, 3, 30)
        # The dongle is pulled: the adapter and its devices leave the bus; nothing is heard.
        await asyncio.to_thread(bluez.remove_adapter, "hci0")
        air.adapter = ""
        deadline = time.monotonic() + 20
        while gateway.stats().scanner_failures == 0:
            assert time.monotonic() < deadline, "the gateway never noticed the adapter was gone"
            await asyncio.to_thread(air.until, time.time())
            await asyncio.sleep(0.2)
        assert not gateway.stats().scanning
        gateway.drain()
        # It is plugged back in: the gateway starts a scanner on it again by itself.
        await asyncio.to_thread(bluez.add_adapter, "hci0")
        air.adapter = "hci0"
        back = await collect(gateway, air, 3, 30)
        stats = gateway.stats()
    assert {r.wrap_id for r in back} == {"W01"}
    assert stats.scanning and stats.scanner_restarts >= 1 and stats.scanning_mode == "passive"
    # The returned adapter is a new object on the bus: the new scanner registered its own monitor.
    assert len(bluez.calls("RegisterMonitor")) == 1
