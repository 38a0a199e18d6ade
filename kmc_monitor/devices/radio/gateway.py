"""The Bluetooth gateway: wraps on air in, verified :class:`Reading` values out.

One :class:`bleak.BleakScanner` listens for the wraps' BTHome advertisements (passively where the
platform allows it: a gateway should not make every wrap answer scan requests, which costs their
batteries) and hands each to the :class:`~kmc_monitor.devices.protocol.verify.AdvertVerifier`; only what it
accepts becomes a reading, so a forged, replayed, duplicated or foreign packet never reaches the
clinical rules. Wraps in connected mode are reached through ``bleak_retry_connector``'s
``establish_connection`` (retries with back-off), re-connected whenever the link drops, and
re-subscribed to their indications on every new link.

Around that, the gateway watches its own health:

- a learned advertising interval and stale detection per wrap (:class:`AdvertTracker`), reported
  through ``on_link`` when a wrap goes quiet and when it is heard again;
- a watchdog that restarts the scanner when *nothing at all* has been heard for a while: adapters
  sometimes stop reporting without an error;
- an adapter that vanishes (USB dongle pulled, BlueZ restarted) makes that restart fail: the
  gateway then retries starting a scanner with a doubling back-off (:data:`SCANNER_RETRY_S`, at most
  the watchdog's silence) until the adapter returns, and never stops for it;
- counters per wrap (decoded, duplicate, replayed, rejected by reason, link events) for metrics.

Time is injected: ``clock`` stamps readings and drives the tracker and watchdog, ``sleep`` paces the
housekeeping and the reconnection back-off. With a simulated radio both come from the radio, so a
test or a recording runs a ward's hour in a second and gives the same answer every time. asyncio
lives here and in the backends only: the signal core never sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from bleak import BleakClient, BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak_retry_connector import establish_connection

from kmc_monitor.devices.errors import DecodeError, RejectReason
from kmc_monitor.devices.protocol.gatt import (
    BATTERY_LEVEL_UUID,
    BTHOME_SERVICE_UUID,
    CONTACT_CHAR_UUID,
    TEMPERATURE_MEASUREMENT_UUID,
    ContactValue,
    decode_battery_level,
    decode_contact_value,
)
from kmc_monitor.devices.protocol.hts import decode_temperature_measurement
from kmc_monitor.devices.protocol.verify import AdvertVerifier, WrapRegistry
from kmc_monitor.devices.radio.tracker import AdvertTracker, LinkState, ScanWatchdog, StaleChange
from kmc_monitor.devices.reading import Reading
from kmc_monitor.errors import KmcError

__all__ = [
    "AdapterUnavailableError",
    "Gateway",
    "GatewayStats",
    "LinkCounters",
    "WrapCounters",
    "start_scanner",
]

logger = logging.getLogger(__name__)

ScanningMode = Literal["auto", "active", "passive"]

#: BlueZ advertisement-monitor pattern for passive scanning: AD type 0x16 (service data, 16-bit
#: UUID) starting with 0xFCD2 little-endian, i.e. every BTHome advertisement and nothing else.
_BTHOME_PATTERN = OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xd2\xfc")

#: Back-off of scanner start retries after a failed (re)start: first and largest, in seconds. The
#: largest is also capped at the watchdog's silence, so a retry is never later than a restart.
SCANNER_RETRY_S = (2.0, 30.0)

#: A contact value older than this does not complete a temperature indication (the wrap sends both
#: for every measurement, contact first; an old one means the contact notification was lost).
_CONTACT_MAX_AGE_S = 10.0


class AdapterUnavailableError(KmcError):
    """No usable Bluetooth adapter: none present, powered off, no BlueZ/D-Bus, or access denied."""


@dataclass(frozen=True, slots=True)
class LinkCounters:
    """Connected-mode counters of one wrap.

    ``indications`` counts temperature measurements received, ``missed`` the contact notifications
    that the contact value's packet counter shows were never received, ``rejected`` the values that
    did not decode (by reason) or repeated the last one (``duplicate``).
    """

    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    indications: int = 0
    missed: int = 0
    rejected: Mapping[RejectReason, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WrapCounters:
    """What an engineer's metrics page shows for one wrap.

    ``decoded`` counts readings from advertisements, ``duplicate``/``replayed`` the repeats and
    replays dropped, ``rejected`` every other refusal by reason; ``link`` the connected-mode side.
    ``interval_s``/``stale`` come from the learned advertising interval.
    """

    wrap_id: str
    decoded: int
    duplicate: int
    replayed: int
    rejected: Mapping[RejectReason, int]
    link: LinkCounters
    last_seen_s: float | None
    interval_s: float | None
    stale: bool
    rssi_dbm: float | None


@dataclass(frozen=True, slots=True)
class GatewayStats:
    """Gateway-wide counters plus one :class:`WrapCounters` per registered wrap."""

    wraps: Mapping[str, WrapCounters]
    adverts_heard: int
    not_bthome: int
    unknown_devices: int
    scanner_restarts: int
    readings: int
    readings_dropped: int
    scanning_mode: str | None
    #: Scanner (re)starts that failed (adapter gone, busy, powered off), and whether a scanner
    #: is running now (False while the adapter is away: nothing can be heard).
    scanner_failures: int = 0
    scanning: bool = True


@dataclass(slots=True)
class _Link:
    """Mutable connected-mode state of one wrap."""

    device: BLEDevice | None = None
    seen: asyncio.Event = field(default_factory=asyncio.Event)
    client: BleakClient | None = None
    contact: ContactValue | None = None
    contact_t: float = -math.inf
    battery_pct: int | None = None
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    indications: int = 0
    missed: int = 0
    rejected: Counter[RejectReason] = field(default_factory=Counter)


class Gateway:
    """Scanner, verifier, connected-mode links, tracker and watchdog for one ward's wraps.

    Parameters
    ----------
    registry
        The ward's wraps, or the path of a registry file (``WrapRegistry.load``).
    clock
        Seconds since the epoch: stamps readings and drives stale detection and the watchdog.
    sleep
        Waits that long (``asyncio.sleep`` on a real ward, ``SimRadio.sleep`` in simulation).
    scanner_backend, client_backend
        bleak backends (``None``: the platform's own). A simulated ward passes the radio's.
    connected
        Wrap ids to reach in connected mode (GATT) as well as by their advertisements.
    scanning_mode
        ``"auto"`` scans passively on the platform's own Linux backend (falling back to active if
        BlueZ cannot), actively elsewhere; ``"active"``/``"passive"`` force a mode (passive still
        falls back when refused).
    adapter
        BlueZ adapter name (``hci0``), ``None`` for the default.
    watchdog_silence_s
        Restart the scanner after this long without hearing any device at all.
    tick_s
        How often the housekeeping (stale detection, watchdog) runs.
    housekeeping
        Run the housekeeping in a background task; ``False`` leaves calling :meth:`check` to the owner.
    tracker
        Interval learning and stale detection (default :class:`AdvertTracker`).
    on_reading
        Called with every reading; without it readings queue up for :meth:`readings`.
    on_link
        Called when a wrap goes stale or is heard again.
    last_counters
        Saved encryption counters (``verifier.last_counters()``) so a restart does not reopen replays.
    reconnect_s
        First and largest back-off between connection attempts (doubling in between).
    queue_size
        Readings held for a slow consumer of :meth:`readings`; beyond it the oldest are dropped.
    """

    def __init__(
        self,
        registry: WrapRegistry | str | os.PathLike[str],
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        connected: Collection[str] = (),
        scanning_mode: ScanningMode = "auto",
        adapter: str | None = None,
        watchdog_silence_s: float = 60.0,
        tick_s: float = 1.0,
        housekeeping: bool = True,
        tracker: AdvertTracker | None = None,
        on_reading: Callable[[Reading], None] | None = None,
        on_link: Callable[[StaleChange], None] | None = None,
        last_counters: Mapping[str, int] | None = None,
        reconnect_s: tuple[float, float] = (1.0, 60.0),
        queue_size: int = 10_000,
    ) -> None:
        if not isinstance(registry, WrapRegistry):
            registry = WrapRegistry.load(registry)
        unknown = [w for w in connected if registry.by_id(w) is None]
        if unknown:
            raise KmcError(f"connected-mode wrap(s) not in the registry: {', '.join(sorted(unknown))}")
        if not (tick_s > 0.0 and reconnect_s[0] > 0.0 and reconnect_s[1] >= reconnect_s[0]):
            raise ValueError("tick_s and reconnect_s must be positive, reconnect_s as (first, largest)")
        self.registry = registry
        self.verifier = AdvertVerifier(registry, last_counters=last_counters)
        self.tracker = tracker if tracker is not None else AdvertTracker()
        self.watchdog = ScanWatchdog(watchdog_silence_s)
        self._clock = clock
        self._sleep = sleep
        self._scanner_backend = scanner_backend
        self._client_backend = client_backend
        self._mode = scanning_mode
        self._adapter = adapter
        self._tick_s = tick_s
        self._housekeeping = housekeeping
        self._on_reading = on_reading
        self._on_link = on_link
        self._reconnect_s = reconnect_s
        self._links: dict[str, _Link] = {w: _Link() for w in connected}
        self._links_by_mac = {entry.mac: entry.wrap_id for entry in registry if entry.wrap_id in self._links}
        self._queue: asyncio.Queue[Reading | None] = asyncio.Queue(maxsize=max(1, queue_size))
        self._scanner: BleakScanner | None = None
        self.scanning_mode: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._rssi: dict[str, float] = {}
        self._adverts = 0
        self._not_bthome = 0
        self._readings = 0
        self._dropped = 0
        #: After a failed scanner start: when to try again, and the back-off after that one.
        self._scanner_retry_at: float | None = None
        self._scanner_backoff_s = SCANNER_RETRY_S[0]
        self._scanner_failures = 0

    # Lifecycle -----------------------------------------------------------------------------------
    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        """Start scanning (and connecting to connected-mode wraps).

        Raises :class:`AdapterUnavailableError` when no scanner can be started at all.
        """
        if self._running:
            return
        await self._start_scanner()
        self._running = True
        self.watchdog.started(self._clock())
        for wrap_id in self._links:
            self._spawn(self._link_loop(wrap_id), f"kmc-link-{wrap_id}")
        if self._housekeeping:
            self._spawn(self._housekeeping_loop(), "kmc-gateway-housekeeping")

    async def stop(self) -> None:
        """Stop everything; a consumer of :meth:`readings` sees the end of the stream."""
        if not self._running:
            return
        self._running = False
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for link in self._links.values():
            client, link.client = link.client, None
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.disconnect()
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            await _quietly(scanner.stop(), "stopping the scanner")
        if self._queue.full():
            self._queue.get_nowait()
            self._dropped += 1
        self._queue.put_nowait(None)

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    # Scanning ------------------------------------------------------------------------------------
    async def _start_scanner(self) -> None:
        """Create and start a scanner in the best mode the platform accepts."""
        self._scanner, self.scanning_mode = await start_scanner(
            self._on_advert, backend=self._scanner_backend, adapter=self._adapter, mode=self._mode
        )

    async def _restart_scanner(self, now_s: float) -> None:
        """Stop and start the scanner again; failures are logged and retried at the next silence."""
        self.watchdog.restarted(now_s)
        logger.warning(
            "nothing heard for %.0f s: restarting the Bluetooth scanner (restart %d)",
            self.watchdog.silence_s,
            self.watchdog.restarts,
        )
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            await _quietly(scanner.stop(), "stopping the silent scanner")
        await self._try_start_scanner(now_s)

    async def _try_start_scanner(self, now_s: float) -> bool:
        """Start a scanner; on failure schedule the next try with a doubling back-off (never
        raises: an adapter that is away must not stop the gateway, only be retried and logged)."""
        try:
            await self._start_scanner()
        except AdapterUnavailableError as exc:
            self._scanner_failures += 1
            largest = min(SCANNER_RETRY_S[1], self.watchdog.silence_s)
            delay = min(self._scanner_backoff_s, largest)
            self._scanner_retry_at = now_s + delay
            self._scanner_backoff_s = min(largest, delay * 2)
            logger.error("the Bluetooth scanner could not be started (retrying in %.0f s): %s", delay, exc)
            return False
        if self._scanner_retry_at is not None:
            logger.info("the Bluetooth scanner is running again (%s scanning)", self.scanning_mode)
        self._scanner_retry_at = None
        self._scanner_backoff_s = SCANNER_RETRY_S[0]
        self.watchdog.started(now_s)
        return True

    def _on_advert(self, device: BLEDevice, adv: AdvertisementData) -> None:
        """Detection callback: every advertisement the scanner reports."""
        now = self._clock()
        self._adverts += 1
        self.watchdog.heard(now)
        link_id = self._links_by_mac.get(device.address.upper())
        if link_id is not None:
            link = self._links[link_id]
            link.device = device
            link.seen.set()
        data = adv.service_data.get(BTHOME_SERVICE_UUID)
        if data is None:
            self._not_bthome += 1
            return
        result = self.verifier.process(device.address, data, now, adv.rssi)
        if isinstance(result, Reading):
            self._rssi[result.wrap_id] = adv.rssi
            self._seen(result.wrap_id, now)
            self._emit(result)
        elif result.reason is RejectReason.DUPLICATE and result.wrap_id is not None:
            # An authentic repeat of the last packet: the wrap is alive, and its advertising events
            # are what the interval is learned from.
            self._seen(result.wrap_id, now)

    def _seen(self, wrap_id: str, now: float) -> None:
        change = self.tracker.seen(wrap_id, now)
        if change is not None:
            logger.info("wrap %s heard again", wrap_id)
            if self._on_link is not None:
                self._on_link(change)

    def _emit(self, reading: Reading) -> None:
        self._readings += 1
        if self._on_reading is not None:
            self._on_reading(reading)
            return
        if self._queue.full():
            # A consumer that cannot keep up loses the oldest readings, never the newest: the
            # clinical picture is about now.
            self._queue.get_nowait()
            self._dropped += 1
        self._queue.put_nowait(reading)

    async def readings(self) -> AsyncIterator[Reading]:
        """Readings as they are accepted, until the gateway stops (unused with ``on_reading``)."""
        while True:
            reading = await self._queue.get()
            if reading is None:
                return
            yield reading

    def drain(self) -> list[Reading]:
        """Every reading queued so far, without waiting (for a caller that drives the clock itself)."""
        out: list[Reading] = []
        while not self._queue.empty():
            reading = self._queue.get_nowait()
            if reading is not None:
                out.append(reading)
        return out

    # Housekeeping --------------------------------------------------------------------------------
    async def check(self) -> list[StaleChange]:
        """One round of housekeeping at ``clock()``: report wraps gone stale, restart a silent scanner.

        Returns the wraps that went stale in this round.
        """
        now = self._clock()
        changes = self.tracker.check(now)
        for change in changes:
            logger.warning(
                "wrap %s not heard for %.0f s: signal lost",
                change.key,
                self.tracker.stale_after_s(change.key),
            )
            if self._on_link is not None:
                self._on_link(change)
        if self._running and self._scanner is None and self._scanner_retry_at is not None:
            if now >= self._scanner_retry_at:
                await self._try_start_scanner(now)
        elif self._running and self.watchdog.due(now):
            await self._restart_scanner(now)
        return changes

    async def _housekeeping_loop(self) -> None:
        while True:
            await self._sleep(self._tick_s)
            try:
                await self.check()
            except Exception:
                # Housekeeping must outlive any one bad round: a dead watchdog is worse than a log line.
                logger.exception("gateway housekeeping failed; carrying on")

    def link_states(self) -> list[LinkState]:
        """The learned interval and stale state of every wrap heard so far."""
        return list(self.tracker.states(self._clock()))

    # Connected mode ------------------------------------------------------------------------------
    async def _link_loop(self, wrap_id: str) -> None:
        """Keep one connected-mode wrap connected: connect, subscribe, wait for the drop, back off."""
        link = self._links[wrap_id]
        first_s, largest_s = self._reconnect_s
        backoff_s = first_s
        while True:
            await link.seen.wait()  # its BLEDevice comes from the scanner
            device = link.device
            assert device is not None
            lost = asyncio.Event()
            client: BleakClient | None = None
            try:
                kwargs: dict[str, Any] = {}
                if self._client_backend is not None:
                    kwargs["backend"] = self._client_backend
                client = await establish_connection(
                    BleakClient,
                    device,
                    wrap_id,
                    # Bound to this attempt's event: a late callback of an old client must not
                    # end the new link.
                    disconnected_callback=_setter(lost),
                    max_attempts=3,
                    ble_device_callback=_latest_device(link, device),
                    **kwargs,
                )
                link.client = client
                await self._subscribe(wrap_id, client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # BleakError after retries, a timeout, a D-Bus error
                link.connect_failures += 1
                logger.warning(
                    "wrap %s: connection failed (%s); next attempt in %.0f s",
                    wrap_id,
                    _describe(exc),
                    backoff_s,
                )
                if client is not None:
                    await _quietly(client.disconnect(), f"disconnecting {wrap_id}")
                link.client = None
                await self._sleep(backoff_s)
                backoff_s = min(largest_s, backoff_s * 2)
                continue
            link.connects += 1
            backoff_s = first_s
            logger.info("wrap %s connected (connection %d)", wrap_id, link.connects)
            await lost.wait()
            link.client = None
            link.disconnects += 1
            logger.warning("wrap %s disconnected; reconnecting", wrap_id)

    async def _subscribe(self, wrap_id: str, client: BleakClient) -> None:
        """Subscribe to the wrap's contact, battery and temperature values (again on every link)."""
        link = self._links[wrap_id]
        # A new link starts afresh: values from the last one must not complete this one's readings,
        # and counter gaps across a disconnection are not missed notifications.
        link.contact = None
        link.contact_t = -math.inf

        def on_contact(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            try:
                value = decode_contact_value(data)
            except DecodeError as exc:
                link.rejected[exc.reason] += 1
                return
            if link.contact is not None:
                step = (value.counter - link.contact.counter) & 0xFFFFFFFF  # the counter wraps
                if step == 0:
                    link.rejected[RejectReason.DUPLICATE] += 1
                    return
                if step < 0x80000000:
                    link.missed += step - 1
            link.contact = value
            link.contact_t = self._clock()

        def on_battery(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            try:
                link.battery_pct = decode_battery_level(data)
            except DecodeError as exc:
                link.rejected[exc.reason] += 1

        def on_temperature(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            now = self._clock()
            try:
                m = decode_temperature_measurement(bytes(data))
            except DecodeError as exc:
                link.rejected[exc.reason] += 1
                return
            link.indications += 1
            skin = m.temperature_c if math.isfinite(m.temperature_c) else None
            contact = link.contact if now - link.contact_t <= _CONTACT_MAX_AGE_S else None
            if skin is None and contact is None:
                link.rejected[RejectReason.NO_MEASUREMENT] += 1
                return
            self._seen(wrap_id, now)
            self._emit(
                Reading(
                    now,
                    wrap_id,
                    skin,
                    None if contact is None else contact.ambient_temp_c,
                    None if contact is None else contact.contact_fraction,
                    None if link.battery_pct is None else float(link.battery_pct),
                    None,
                )
            )

        # Values that complete a measurement (contact, battery) before the one that emits it.
        await client.start_notify(CONTACT_CHAR_UUID, on_contact)
        await client.start_notify(BATTERY_LEVEL_UUID, on_battery)
        await client.start_notify(TEMPERATURE_MEASUREMENT_UUID, on_temperature)

    # Metrics -------------------------------------------------------------------------------------
    def stats(self) -> GatewayStats:
        """A snapshot of every counter, for metrics and the engineer's status page."""
        now = self._clock()
        wraps: dict[str, WrapCounters] = {}
        for wrap_id, s in self.verifier.all_stats().items():
            state = self.tracker.state(wrap_id, now)
            link = self._links.get(wrap_id)
            link_counters = (
                LinkCounters(
                    link.connects,
                    link.connect_failures,
                    link.disconnects,
                    link.indications,
                    link.missed,
                    MappingProxyType(dict(link.rejected)),
                )
                if link is not None
                else LinkCounters()
            )
            wraps[wrap_id] = WrapCounters(
                wrap_id,
                s.decoded,
                s.duplicate,
                s.replayed,
                s.rejected,
                link_counters,
                None if state is None else state.last_seen_s,
                None if state is None else state.interval_s,
                False if state is None else state.stale,
                self._rssi.get(wrap_id),
            )
        return GatewayStats(
            MappingProxyType(wraps),
            self._adverts,
            self._not_bthome,
            self.verifier.unknown_devices,
            self.watchdog.restarts,
            self._readings,
            self._dropped,
            self.scanning_mode,
            self._scanner_failures,
            self._scanner is not None,
        )


def _modes(mode: ScanningMode, custom_backend: bool) -> list[Literal["active", "passive"]]:
    """Scanning modes to try, best first."""
    if mode == "active":
        return ["active"]
    if mode == "passive":
        return ["passive", "active"]
    # Passive needs BlueZ's advertisement monitor; other platforms' backends and custom ones scan
    # actively (macOS refuses passive outright).
    if not custom_backend and sys.platform.startswith("linux"):
        return ["passive", "active"]
    return ["active"]


async def start_scanner(
    callback: Callable[[BLEDevice, AdvertisementData], None],
    *,
    backend: type[BaseBleakScanner] | None = None,
    adapter: str | None = None,
    mode: ScanningMode = "auto",
) -> tuple[BleakScanner, Literal["active", "passive"]]:
    """Start a :class:`BleakScanner` for BTHome advertisements in the best mode the platform accepts.

    Passive scanning on BlueZ needs an advertisement-monitor pattern (the BTHome service data
    UUID); where it is refused (no BlueZ experimental features, macOS) the scanner falls back to
    active scanning. Returns the started scanner and its mode.

    Raises :class:`AdapterUnavailableError` when no mode can start: no adapter, BlueZ or D-Bus
    missing, adapter powered off or access denied. Every radio error is caught here, so callers
    (the CLI above all) never show a traceback for a missing adapter.
    """
    errors: list[str] = []
    for m in _modes(mode, backend is not None):
        bluez: BlueZScannerArgs = {}
        if adapter:
            bluez["adapter"] = adapter
        if m == "passive":
            bluez["or_patterns"] = [_BTHOME_PATTERN]
        try:
            if backend is not None:
                scanner = BleakScanner(callback, None, m, bluez=bluez, backend=backend)
            else:
                scanner = BleakScanner(callback, None, m, bluez=bluez)
            await scanner.start()
        except Exception as exc:  # any failure to reach the adapter (BleakError, D-Bus, OSError)
            logger.debug("%s scanning could not start", m, exc_info=True)
            reason = _describe(exc)
            if reason not in errors:
                errors.append(reason)
            continue
        if errors:
            logger.info("scanning %sly (passive scanning refused: %s)", m, "; ".join(errors))
        return scanner, m
    where = f" {adapter}" if adapter else ""
    raise AdapterUnavailableError(f"no Bluetooth adapter{where} can scan: {'; '.join(errors)}")


def _setter(event: asyncio.Event) -> Callable[[BleakClient], None]:
    """A disconnected callback that ends exactly one link: the one ``event`` belongs to."""

    def callback(_client: BleakClient) -> None:
        event.set()

    return callback


def _latest_device(link: _Link, fallback: BLEDevice) -> Callable[[], BLEDevice]:
    """The freshest ``BLEDevice`` the scanner has for a wrap (retries use it, as after a new advert)."""
    return lambda: link.device or fallback


async def _quietly(aw: Awaitable[object], what: str) -> None:
    """Await a clean-up step whose failure must not stop the rest of the clean-up."""
    try:
        await aw
    except Exception:
        logger.debug("%s failed", what, exc_info=True)


def _describe(exc: BaseException) -> str:
    """One line about a radio error, for logs and the CLI (D-Bus errors carry their name)."""
    text = str(exc).strip()
    if isinstance(exc, FileNotFoundError) and not exc.filename:
        # What dbus-fast raises when there is no system bus socket at all.
        return "no D-Bus system bus (BlueZ is not running or not installed)"
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
