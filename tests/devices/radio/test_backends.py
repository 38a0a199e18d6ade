"""The simulated radio behind bleak's real front ends: BleakScanner, BleakClient, establish_connection."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import BleakConnectionError, establish_connection

from kmc_monitor.devices.protocol.bthome import decode_service_data
from kmc_monitor.devices.protocol.gatt import (
    BATTERY_LEVEL_UUID,
    BTHOME_SERVICE_UUID,
    CONTACT_CHAR_UUID,
    HTS_SERVICE_UUID,
    TEMPERATURE_MEASUREMENT_UUID,
    TEMPERATURE_TYPE_UUID,
    decode_contact_value,
)
from kmc_monitor.devices.protocol.hts import decode_temperature_measurement
from kmc_monitor.devices.radio.backends import SimClient, SimHandle, SimRadio, SimScanner
from kmc_monitor.devices.simulation.simulator import SimConfig, WardSimulator

T0 = 1_767_225_600.0

Heard = list[tuple[float, BLEDevice, AdvertisementData]]


def ward(n: int = 3, *, connected_every: int = 0, seed: int = 1) -> tuple[WardSimulator, SimRadio]:
    sim = WardSimulator(n, start_s=T0, seed=seed, config=SimConfig(connected_every=connected_every))
    return sim, SimRadio(sim)


def listener(radio: SimRadio, heard: Heard) -> BleakScanner:
    return BleakScanner(
        detection_callback=lambda d, a: heard.append((radio.now(), d, a)), backend=radio.scanner_backend
    )


@pytest.mark.asyncio
async def test_scanner_front_end_delivers_real_advertisements(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        sim, radio = ward()
        heard: Heard = []
        scanner = listener(radio, heard)
        assert scanner.backend_id == "BoundSimScanner"
        radio.advance(10)
        assert heard == []  # not started: nothing heard
        async with scanner:
            radio.advance(20)
        radio.advance(10)  # stopped again
        assert heard
        assert {t for t, _, _ in heard} <= {a.t for a in radio.air}
        assert all(T0 + 10 <= t <= T0 + 30 for t, _, _ in heard)
        keys = {i.mac: i.key for i in sim.identities()}
        assert {d.address for _, d, _ in heard} == set(keys)
        for _, device, adv in heard:
            assert isinstance(device.details, SimHandle)
            assert set(adv.service_data) == {BTHOME_SERVICE_UUID}
            assert -100 < adv.rssi < -40
            decoded = decode_service_data(
                adv.service_data[BTHOME_SERVICE_UUID], mac=device.address, key=keys[device.address]
            )
            assert decoded.skin_temp_c is not None
        assert {d.address for d in scanner.discovered_devices} == set(keys)


@pytest.mark.asyncio
async def test_scanner_honours_the_service_filter_and_clears_on_start(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        _, radio = ward()
        heard: Heard = []
        other = BleakScanner(
            lambda d, a: heard.append((0.0, d, a)),
            ["0000180f-0000-1000-8000-00805f9b34fb"],
            backend=radio.scanner_backend,
        )
        async with other:
            radio.advance(5)
        assert heard == []
        bthome = BleakScanner(lambda d, a: None, [BTHOME_SERVICE_UUID], backend=radio.scanner_backend)
        async with bthome:
            radio.advance(5)
        assert len(bthome.discovered_devices) == 3
        await bthome.start()  # a fresh start forgets what the last scan saw
        assert bthome.discovered_devices == []
        await bthome.stop()


@pytest.mark.asyncio
async def test_advertisement_data_iterator_of_the_front_end(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        _, radio = ward(1)
        async with BleakScanner(backend=radio.scanner_backend) as scanner:
            stream = scanner.advertisement_data()
            next_item = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0)
            radio.advance(3)
            device, adv = await next_item
            await stream.aclose()
        assert BTHOME_SERVICE_UUID in adv.service_data and device.address


@pytest.mark.asyncio
async def test_stalled_scanner_is_deaf_until_restarted(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        _, radio = ward()
        heard: Heard = []
        scanner = listener(radio, heard)
        await scanner.start()
        radio.stall_scanners()
        radio.advance(10)
        assert heard == []
        await scanner.stop()
        await scanner.start()
        radio.advance(10)
        assert heard
        assert radio.scanner_starts == 2
        await scanner.stop()


@pytest.mark.asyncio
async def test_injected_scanner_start_failure(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        _, radio = ward()
        radio.fail_scanner_starts(1)
        scanner = BleakScanner(lambda d, a: None, backend=radio.scanner_backend)
        with pytest.raises(BleakError, match="injected"):
            await scanner.start()
        await scanner.start()
        assert radio.scanners
        await scanner.stop()
        assert not radio.scanners


def test_unbound_backends_say_how_to_bind_them() -> None:
    with pytest.raises(BleakError, match="scanner_backend"):
        BleakScanner(lambda d, a: None, backend=SimScanner)
    with pytest.raises(BleakError, match="client_backend"):
        BleakClient("C0:00:00:00:00:01", backend=SimClient)


def test_radio_needs_a_time() -> None:
    with pytest.raises(ValueError):
        SimRadio()
    assert SimRadio(start_s=T0).now() == T0


async def first_device(radio: SimRadio, wrap_mac: str) -> BLEDevice:
    found = asyncio.get_running_loop().create_future()

    def cb(device: BLEDevice, _adv: AdvertisementData) -> None:
        if device.address == wrap_mac and not found.done():
            found.set_result(device)

    async with BleakScanner(cb, backend=radio.scanner_backend):
        while not found.done():
            radio.advance(1)
    device: BLEDevice = found.result()
    return device


@pytest.mark.asyncio
async def test_client_front_end_indications_and_reads(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        sim, radio = ward(2, connected_every=1)
        wrap = sim.wrap("W01")
        device = await first_device(radio, wrap.mac)
        got: dict[str, list[bytearray]] = {
            TEMPERATURE_MEASUREMENT_UUID: [],
            CONTACT_CHAR_UUID: [],
            BATTERY_LEVEL_UUID: [],
        }

        def on_value(char: BleakGATTCharacteristic, data: bytearray) -> None:
            got[char.uuid].append(data)

        async with BleakClient(device, backend=SimClient) as client:
            assert client.is_connected and radio.linked("W01")
            assert client.services.get_service(HTS_SERVICE_UUID) is not None
            assert client.name == "KMC-W01" and client.mtu_size == 23
            for uuid in got:
                await client.start_notify(uuid, on_value)
            heard: Heard = []
            async with listener(radio, heard):  # while linked the wrap does not advertise
                radio.advance(20)
            assert {d.address for _, d, _ in heard} == {sim.wrap("W02").mac}
            assert (await client.read_gatt_char(TEMPERATURE_TYPE_UUID)) == bytearray(b"\x02")
            battery = await client.read_gatt_char(BATTERY_LEVEL_UUID)
            with pytest.raises(BleakError):
                await client.write_gatt_char(CONTACT_CHAR_UUID, b"\x00", response=True)
        assert not radio.linked("W01")
        assert len(got[TEMPERATURE_MEASUREMENT_UUID]) == pytest.approx(10, abs=1)  # one per 2 s measurement
        assert len(got[CONTACT_CHAR_UUID]) == len(got[TEMPERATURE_MEASUREMENT_UUID])
        last = wrap.history[-1]
        assert decode_temperature_measurement(
            bytes(got[TEMPERATURE_MEASUREMENT_UUID][-1])
        ).temperature_c == pytest.approx(last.skin_temp_c)
        contact = decode_contact_value(got[CONTACT_CHAR_UUID][-1])
        assert (contact.contact_level, contact.counter) == (last.contact_level, last.counter)
        assert battery == bytearray((last.battery_pct,))
        heard = []
        async with listener(radio, heard):  # free again: advertising again
            radio.advance(5)
        assert wrap.mac in {d.address for _, d, _ in heard}


@pytest.mark.asyncio
async def test_unsolicited_disconnect_calls_back_and_drops_subscriptions(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        sim, radio = ward(1, connected_every=1)
        device = await first_device(radio, sim.wrap("W01").mac)
        dropped = asyncio.Event()
        values: list[bytearray] = []
        client = BleakClient(device, lambda _c: dropped.set(), backend=SimClient)
        await client.connect()
        await client.start_notify(TEMPERATURE_MEASUREMENT_UUID, lambda _c, d: values.append(d))
        radio.advance(5)
        assert values
        assert radio.drop_link("W01") and not radio.drop_link("W01")
        await dropped.wait()
        assert not client.is_connected
        n = len(values)
        radio.advance(10)
        assert len(values) == n
        with pytest.raises(BleakError):
            await client.start_notify(TEMPERATURE_MEASUREMENT_UUID, lambda _c, d: None)
        await client.connect()  # the same client connects again; subscriptions must be renewed
        radio.advance(5)
        assert len(values) == n
        await client.disconnect()


@pytest.mark.asyncio
async def test_connection_failures_through_establish_connection(async_timeout_s: float) -> None:
    async with asyncio.timeout(async_timeout_s):
        sim, radio = ward(2, connected_every=2)
        device = await first_device(radio, sim.wrap("W02").mac)
        radio.fail_connections("W02", 2)
        client = await establish_connection(BleakClient, device, "W02", max_attempts=3, backend=SimClient)
        assert client.is_connected and radio.connections == 1
        await client.disconnect()
        radio.fail_connections("W02", 5)
        with pytest.raises(BleakConnectionError):
            await establish_connection(BleakClient, device, "W02", max_attempts=3, backend=SimClient)
        # A passive-mode wrap refuses connections outright.
        passive = await first_device(radio, sim.wrap("W01").mac)
        with pytest.raises(BleakError):
            await BleakClient(passive, backend=SimClient).connect()
