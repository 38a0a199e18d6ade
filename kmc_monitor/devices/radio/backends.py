"""Simulated bleak backends: the simulator's ward on the other side of bleak's own front ends.

bleak lets a program choose the backend behind :class:`bleak.BleakScanner` and
:class:`bleak.BleakClient` (``backend=``). The classes here put :class:`SimRadio`, the air of a
:class:`~kmc_monitor.devices.simulation.simulator.WardSimulator`, behind those front ends, so the gateway, the
tests and the demo ward run the *same* code as on a real adapter: the real front end, the real
``bleak_retry_connector.establish_connection``, callbacks with real ``BLEDevice`` and
``AdvertisementData`` values. Only the radio is simulated.

The radio is also the clock of a simulated ward: :meth:`SimRadio.advance_to` runs the ward up to a
time and delivers each event stamped at its own time (:meth:`SimRadio.now` reads that time), so a
gateway that takes ``clock=radio.now`` stamps readings exactly when they were sent, whether the ward
runs in real time (the demo) or a hundred times faster (``kmc-monitor record --simulate``, tests).

Faults to test against are injected on the radio: foreign, forged and replayed packets
(:meth:`SimRadio.inject`), a scanner that stops hearing anything without an error
(:meth:`SimRadio.stall_scanners`), scanner start failures, refused connections and links dropped
mid-stream (:meth:`SimRadio.fail_connections`, :meth:`SimRadio.drop_link`).
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError

from kmc_monitor.devices.protocol.bthome import format_mac
from kmc_monitor.devices.protocol.gatt import (
    BATTERY_LEVEL_UUID,
    BATTERY_SERVICE_UUID,
    BTHOME_SERVICE_UUID,
    CONTACT_CHAR_UUID,
    CONTACT_SERVICE_UUID,
    HTS_SERVICE_UUID,
    TEMPERATURE_MEASUREMENT_UUID,
    TEMPERATURE_TYPE_UUID,
    encode_contact_value,
)
from kmc_monitor.devices.protocol.hts import TemperatureType, encode_temperature_measurement
from kmc_monitor.devices.simulation.simulator import (
    SimAdvert,
    SimMeasurement,
    SimWrap,
    WardSimulator,
)

__all__ = ["SimClient", "SimHandle", "SimRadio", "SimScanner"]

logger = logging.getLogger(__name__)

#: Default MTU of a BLE link before any exchange (what BlueZ reports too).
_DEFAULT_MTU = 23


@dataclass(frozen=True, slots=True)
class SimHandle:
    """What a simulated ``BLEDevice.details`` holds: the radio the device was heard on, and its address.

    Real backends keep their OS handle (a D-Bus path, a CoreBluetooth peripheral) in ``details``;
    :class:`SimClient` finds its radio the same way, so ``BleakClient(device, backend=SimClient)``
    needs nothing else.
    """

    radio: SimRadio
    mac: str


class SimRadio:
    """The air between simulated wraps and simulated adapters, and the simulated ward's clock.

    Parameters
    ----------
    ward
        The wraps on air; ``None`` for an empty ward (only injected packets).
    start_s
        The radio's time before the first :meth:`advance_to`; defaults to the ward's start.
    air_log
        How many delivered advertisements to remember (:attr:`air`), e.g. for replay attacks in tests.
    """

    def __init__(
        self, ward: WardSimulator | None = None, *, start_s: float | None = None, air_log: int = 10_000
    ) -> None:
        if start_s is None:
            if ward is None:
                raise ValueError("SimRadio needs a ward or a start time")
            start_s = ward.start_s
        self.ward = ward
        self._now_s = float(start_s)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._scanners: list[SimScanner] = []
        self._links: dict[str, SimClient] = {}
        self._injected: list[tuple[float, int, SimAdvert]] = []
        self._seq = 0
        self._connect_failures: dict[str, int] = {}
        self._scanner_start_failures = 0
        #: False while the adapter is away (:meth:`remove_adapter`).
        self.adapter_present = True
        #: Advertisements delivered to at least one scanner, most recent last.
        self.air: deque[SimAdvert] = deque(maxlen=air_log)
        #: How many times any scanner was started (tests watch the watchdog restart it).
        self.scanner_starts = 0
        #: Successful connections made (tests watch reconnections).
        self.connections = 0
        # Backends bound to this radio: pass them as ``backend=`` to the bleak front ends.
        self.scanner_backend: type[SimScanner] = type("BoundSimScanner", (SimScanner,), {"radio": self})
        self.client_backend: type[SimClient] = type("BoundSimClient", (SimClient,), {"radio": self})

    # Clock ------------------------------------------------------------------------------------------
    def now(self) -> float:
        """The radio's current time: the time of the event being delivered, or of the last advance."""
        return self._now_s

    async def sleep(self, delay_s: float) -> None:
        """Sleep on the radio's clock: return once the ward has been advanced ``delay_s`` further.

        Give it as ``sleep=`` to the gateway next to ``clock=radio.now``, so that its housekeeping
        and reconnection back-off run on simulated time too.
        """
        if delay_s <= 0.0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self._now_s + delay_s, self._seq, future))
        await future

    def _wake(self, t_s: float) -> None:
        while self._sleepers and self._sleepers[0][0] <= t_s:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():  # a cancelled sleeper is simply dropped
                future.set_result(None)

    async def run_until(self, t_s: float, *, step_s: float = 0.5, yields: int = 4) -> None:
        """Advance to ``t_s`` in steps of ``step_s``, yielding to the event loop after each, so that
        tasks woken by the step (the gateway's housekeeping, reconnections) run in simulated time."""
        while self._now_s < t_s:
            self.advance_to(min(t_s, self._now_s + step_s))
            for _ in range(yields):
                await asyncio.sleep(0)

    def advance(self, dt_s: float) -> int:
        """Run the air for ``dt_s`` more seconds; see :meth:`advance_to`."""
        return self.advance_to(self._now_s + dt_s)

    def advance_to(self, t_s: float) -> int:
        """Run the ward up to ``t_s`` and deliver every event in time order; return how many adverts
        reached at least one scanner.

        Callbacks run synchronously, each with :meth:`now` set to its event's time, exactly as a
        real backend calls them from the event loop when a packet arrives. Work they schedule on the
        loop (a disconnect callback, a coroutine callback) runs when the caller next yields.
        """
        if t_s < self._now_s:
            return 0
        events: list[SimAdvert | SimMeasurement] = []
        if self.ward is not None:
            events = self.ward.events_until(t_s)
        cut = bisect.bisect_right(self._injected, (t_s, float("inf")))
        injected = [a for _, _, a in self._injected[:cut]]
        del self._injected[:cut]
        if injected:
            events.extend(injected)
            events.sort(key=lambda e: e.t)
        delivered = 0
        for ev in events:
            self._now_s = max(self._now_s, ev.t)
            if isinstance(ev, SimAdvert):
                delivered += self._broadcast(ev)
            else:
                self._serve_link(ev)
        self._now_s = t_s
        self._wake(t_s)
        return delivered

    # Advertising ---------------------------------------------------------------------------------
    def inject(self, advert: SimAdvert) -> None:
        """Put a packet on air at ``advert.t`` (now, if that is already past): foreign, forged, replayed."""
        t = max(advert.t, self._now_s)
        self._seq += 1
        bisect.insort(self._injected, (t, self._seq, replace(advert, t=t)))

    def _broadcast(self, advert: SimAdvert) -> int:
        heard = 0
        for scanner in list(self._scanners):
            heard |= scanner._hear(advert)
        if heard:
            self.air.append(advert)
        return heard

    def stall_scanners(self) -> None:
        """Every running scanner stops hearing anything, without an error, until it is restarted:
        what a BlueZ discovery that silently ended or a reset USB dongle looks like."""
        for scanner in self._scanners:
            scanner.stalled = True

    def remove_adapter(self) -> None:
        """The adapter vanishes (USB dongle pulled, BlueZ restarted, adapter powered off): running
        scanners hear nothing, stopping one raises ``BleakError`` and every start raises
        ``BleakError`` until :meth:`return_adapter`."""
        self.adapter_present = False
        for scanner in self._scanners:
            scanner.stalled = True

    def return_adapter(self) -> None:
        """The adapter is back: scanners can be started again (those started before stay deaf)."""
        self.adapter_present = True

    def fail_scanner_starts(self, n: int) -> None:
        """The next ``n`` scanner starts fail with ``BleakError`` (adapter busy or powered off)."""
        self._scanner_start_failures = n

    @property
    def scanners(self) -> tuple[SimScanner, ...]:
        """The scanners currently started."""
        return tuple(self._scanners)

    def _start_scanner(self, scanner: SimScanner) -> None:
        if not self.adapter_present:
            raise BleakError("simulated adapter: org.bluez.Error.NotReady (no Bluetooth adapter found)")
        if self._scanner_start_failures > 0:
            self._scanner_start_failures -= 1
            raise BleakError("simulated adapter: org.bluez.Error.InProgress (injected scanner start failure)")
        self.scanner_starts += 1
        if scanner not in self._scanners:
            self._scanners.append(scanner)

    def _stop_scanner(self, scanner: SimScanner) -> None:
        if scanner in self._scanners:
            self._scanners.remove(scanner)
        if not self.adapter_present:
            raise BleakError("simulated adapter: org.freedesktop.DBus.Error.UnknownObject (adapter gone)")

    # Connections ---------------------------------------------------------------------------------
    def fail_connections(self, wrap_id: str, n: int) -> None:
        """The next ``n`` connection attempts to ``wrap_id`` fail (out of range, busy, interference)."""
        self._connect_failures[wrap_id] = n

    def drop_link(self, wrap_id: str) -> bool:
        """Drop the connection to ``wrap_id`` now, as the wrap going out of range would; return
        whether there was one. The client's disconnected callback is scheduled on the event loop."""
        client = self._links.pop(wrap_id, None)
        if client is None:
            return False
        self._wrap(wrap_id).linked = False
        client._lost()
        return True

    def send_on_link(self, wrap_id: str, char_uuid: str, data: bytes) -> bool:
        """Send arbitrary bytes as a notification of ``char_uuid`` on ``wrap_id``'s link (a corrupted
        or misbehaving wrap); return whether there was a link to send on."""
        client = self._links.get(wrap_id)
        if client is None:
            return False
        client._notify_uuid(char_uuid, data)
        return True

    def linked(self, wrap_id: str) -> bool:
        """Whether a client holds a connection to ``wrap_id``."""
        return wrap_id in self._links

    def _wrap(self, wrap_id: str) -> SimWrap:
        if self.ward is None:
            raise KeyError(wrap_id)
        return self.ward.wrap(wrap_id)

    def _connect(self, client: SimClient) -> SimWrap:
        wrap = self.ward.by_mac(client.address) if self.ward is not None else None
        if wrap is None or not wrap.powered:
            # bleak-retry-connector treats "Disconnected" as a normal disconnect: retried without a
            # wall-clock back-off, which keeps tests fast.
            raise BleakError(f"Disconnected: simulated device {client.address} does not answer")
        if wrap.mode != "connected":
            raise BleakError(f"simulated wrap {wrap.wrap_id} does not accept connections (passive mode)")
        left = self._connect_failures.get(wrap.wrap_id, 0)
        if left > 0:
            self._connect_failures[wrap.wrap_id] = left - 1
            raise BleakError(f"Disconnected: connection to simulated wrap {wrap.wrap_id} failed (injected)")
        if wrap.wrap_id in self._links:
            raise BleakError(f"simulated wrap {wrap.wrap_id} is already connected to another client")
        self._links[wrap.wrap_id] = client
        wrap.linked = True
        self.connections += 1
        return wrap

    def _disconnect(self, client: SimClient) -> None:
        for wrap_id, held in list(self._links.items()):
            if held is client:
                del self._links[wrap_id]
                self._wrap(wrap_id).linked = False

    def _serve_link(self, m: SimMeasurement) -> None:
        client = self._links.get(m.wrap_id)
        if client is None:
            return
        # Contact and battery first, then the temperature indication that completes the measurement.
        client._notify_uuid(
            CONTACT_CHAR_UUID, encode_contact_value(m.contact_level, m.contact, m.ambient_temp_c, m.counter)
        )
        client._notify_uuid(BATTERY_LEVEL_UUID, bytes((m.battery_pct,)))
        client._notify_uuid(TEMPERATURE_MEASUREMENT_UUID, encode_temperature_measurement(m.skin_temp_c))


class SimScanner(BaseBleakScanner):
    """A :class:`BaseBleakScanner` that hears a :class:`SimRadio`.

    Use the subclass bound to a radio: ``BleakScanner(callback, backend=radio.scanner_backend)``.
    Honours start/stop (nothing is delivered while stopped) and the service-UUID filter; both
    scanning modes are accepted (the simulated air has no scan responses to tell them apart).
    """

    radio: ClassVar[SimRadio | None] = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        radio = type(self).radio
        if radio is None:
            raise BleakError("SimScanner is not bound to a radio: use SimRadio(...).scanner_backend")
        self._radio: SimRadio = radio
        self.scanning_mode = scanning_mode
        self.running = False
        #: Set by :meth:`SimRadio.stall_scanners`: running but deaf until restarted.
        self.stalled = False

    async def start(self) -> None:
        self._radio._start_scanner(self)
        self.seen_devices = {}  # the interface asks for a fresh map on every start
        self.running = True
        self.stalled = False

    async def stop(self) -> None:
        self.running = False
        self._radio._stop_scanner(self)

    def _hear(self, advert: SimAdvert) -> bool:
        """Deliver one advertisement to the registered callbacks; whether this scanner heard it."""
        if not self.running or self.stalled:
            return False
        uuids = [BTHOME_SERVICE_UUID]
        if not self.is_allowed_uuid(uuids):
            return False
        adv = AdvertisementData(
            local_name=advert.local_name,
            manufacturer_data={},
            service_data={BTHOME_SERVICE_UUID: advert.service_data},
            service_uuids=uuids,
            tx_power=None,
            rssi=advert.rssi_dbm,
            platform_data=(advert,),
        )
        device = self.create_or_update_device(
            advert.mac, advert.mac, advert.local_name, SimHandle(self._radio, advert.mac), adv
        )
        self.call_detection_callbacks(device, adv)
        return True


def _services() -> tuple[BleakGATTServiceCollection, dict[str, BleakGATTCharacteristic]]:
    """The GATT table of a connected-mode wrap (handles as a small GATT server would number them)."""
    services = BleakGATTServiceCollection()
    by_uuid: dict[str, BleakGATTCharacteristic] = {}
    table: list[tuple[str, int, list[tuple[str, int, list[CharacteristicPropertyName]]]]] = [
        (
            HTS_SERVICE_UUID,
            0x0010,
            [(TEMPERATURE_MEASUREMENT_UUID, 0x0012, ["indicate"]), (TEMPERATURE_TYPE_UUID, 0x0015, ["read"])],
        ),
        (BATTERY_SERVICE_UUID, 0x0020, [(BATTERY_LEVEL_UUID, 0x0022, ["read", "notify"])]),
        (CONTACT_SERVICE_UUID, 0x0030, [(CONTACT_CHAR_UUID, 0x0032, ["read", "notify"])]),
    ]
    for service_uuid, service_handle, chars in table:
        service = BleakGATTService(None, service_handle, service_uuid)
        services.add_service(service)
        for char_uuid, handle, props in chars:
            char = BleakGATTCharacteristic(None, handle, char_uuid, props, lambda: _DEFAULT_MTU - 3, service)
            services.add_characteristic(char)
            by_uuid[char_uuid] = char
    return services, by_uuid


class SimClient(BaseBleakClient):
    """A :class:`BaseBleakClient` connected over a :class:`SimRadio` to a connected-mode wrap.

    ``BleakClient(device, backend=SimClient)`` works for a ``device`` heard by a :class:`SimScanner`
    (its ``details`` name the radio); for an address, use the radio's bound ``client_backend``.
    An unsolicited disconnect (:meth:`SimRadio.drop_link`) drops every subscription and schedules
    the disconnected callback on the event loop, as real backends do.
    """

    radio: ClassVar[SimRadio | None] = None

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        radio = type(self).radio
        details = getattr(address_or_ble_device, "details", None)
        if isinstance(details, SimHandle):
            radio = details.radio
        if radio is None:
            raise BleakError("SimClient needs a device heard by a SimScanner, or a radio's client_backend")
        self._radio: SimRadio = radio
        self.address = format_mac(self.address)
        self._wrap: SimWrap | None = None
        self._chars: dict[str, BleakGATTCharacteristic] = {}
        self._callbacks: dict[int, NotifyCallback] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def name(self) -> str:
        return f"KMC-{self._wrap.wrap_id}" if self._wrap is not None else self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return _DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._wrap is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        await asyncio.sleep(0)  # connecting is never instantaneous: let other tasks run
        self._loop = asyncio.get_running_loop()
        self._wrap = self._radio._connect(self)
        self.services, self._chars = _services()

    async def disconnect(self) -> None:
        if self._wrap is not None:
            self._radio._disconnect(self)
        self._forget()
        await asyncio.sleep(0)

    def _forget(self) -> None:
        self._wrap = None
        self._callbacks.clear()
        self.services = None

    def _lost(self) -> None:
        """The link dropped under us (called by the radio)."""
        self._forget()
        callback = self._disconnected_callback
        if callback is not None and self._loop is not None:
            self._loop.call_soon(callback)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Wraps use Just Works pairing in the simulation: nothing to do."""

    async def unpair(self) -> None:
        """Nothing is stored by a simulated pairing."""

    def _require(self) -> SimWrap:
        if self._wrap is None:
            raise BleakError("Not connected")
        return self._wrap

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        wrap = self._require()
        m = wrap.current
        if characteristic.uuid == TEMPERATURE_TYPE_UUID:
            return bytearray((TemperatureType.BODY,))
        if m is None:
            raise BleakError(f"{characteristic.uuid}: no value yet (the wrap has not measured)")
        if characteristic.uuid == BATTERY_LEVEL_UUID:
            return bytearray((m.battery_pct,))
        if characteristic.uuid == CONTACT_CHAR_UUID:
            return bytearray(encode_contact_value(m.contact_level, m.contact, m.ambient_temp_c, m.counter))
        raise BleakError(f"characteristic {characteristic.uuid} is not readable")

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        raise BleakError("the simulated wrap exposes no descriptors to read")

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        self._require()
        raise BleakError(f"characteristic {characteristic.uuid} is not writable")

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        raise BleakError("the simulated wrap exposes no descriptors to write")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self._require()
        if not {"notify", "indicate"} & set(characteristic.properties):
            raise BleakError(f"characteristic {characteristic.uuid} does not notify or indicate")
        self._callbacks[characteristic.handle] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._callbacks.pop(characteristic.handle, None)

    def _notify_uuid(self, uuid: str, data: bytes) -> None:
        """Send a value to the subscriber of ``uuid``, if there is one (called by the radio)."""
        char = self._chars.get(uuid)
        if char is None:
            return
        callback = self._callbacks.get(char.handle)
        if callback is not None:
            callback(bytearray(data))
