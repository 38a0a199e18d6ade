"""The Bluetooth gateway as a reading source: the verified readings of the wraps on air.

The source keeps its registry (ids, MAC addresses, keys) and the verifier's replay counters in a
:class:`WrapBook`: the ward's database for ``serve --ble`` (``service/wrap_book.py``), the room
gateway's own small store for ``kmc-monitor gateway`` (``mqtt/gateway_store.py``). Nothing here
knows which.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kmc_monitor.devices.protocol.verify import WrapEntry, WrapRegistry
from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulation.simulator import WardSimulator
from kmc_monitor.errors import KmcError
from kmc_monitor.sources.base import ReadingSource, WrapIdentity

if TYPE_CHECKING:  # bleak is imported only by a ward that uses the radio (it costs ~0.3 s)
    from kmc_monitor.devices.radio.backends import SimRadio
    from kmc_monitor.devices.radio.gateway import Gateway

__all__ = ["COUNTERS_EVERY_S", "RADIO_STEP_S", "GatewaySource", "RegistryConflictError", "WrapBook"]

logger = logging.getLogger(__name__)

#: How often the gateway source saves the replay counters while running (and once more at stop).
COUNTERS_EVERY_S = 5.0
#: How often a simulated radio on the wall clock is advanced (``GatewaySource.simulated``).
RADIO_STEP_S = 0.1


class RegistryConflictError(KmcError):
    """A wrap of a registry (file or simulated ward) contradicts the one the book holds (another
    MAC address for the same id)."""


class WrapBook(Protocol):
    """Where a Bluetooth source keeps its registry and replay counters between runs.

    Failures to read or write raise :class:`~kmc_monitor.errors.KmcError` (a conflict:
    :class:`RegistryConflictError`). The book belongs to the source from then on: :meth:`close` is
    called by :meth:`GatewaySource.stop` (or when the source cannot be built).
    """

    @property
    def path(self) -> Path:
        """The database file (its directory names the data directory in messages)."""
        ...

    def fresh(self) -> bool:
        """Nothing set up yet (a demo ward then registers its simulated wraps itself)."""
        ...

    def import_registry(self, registry: WrapRegistry, *, now: float) -> int:
        """Register the wraps not yet known (a known wrap's key is updated); how many were added."""
        ...

    def wrap_registry(self) -> Iterable[WrapEntry]:
        """The registered wraps, retired ones left out."""
        ...

    def wrap_counters(self) -> dict[str, int]:
        """The last accepted replay counter per wrap."""
        ...

    def save_wrap_counters(self, counters: Mapping[str, int]) -> None:
        """Keep the verifier's counters (all of them: a wrap left out is reset)."""
        ...

    def close(self) -> None: ...


class GatewaySource(ReadingSource):
    """The ward's Bluetooth gateway as a source: verified readings of the wraps on air.

    The readings are the :class:`~kmc_monitor.devices.radio.gateway.Gateway`'s: only advertisements that
    :class:`~kmc_monitor.devices.protocol.verify.AdvertVerifier` accepts (registered wrap, authentic, new)
    reach the ward, stamped when they were heard. The source is polled like the others: the gateway
    queues what it hears and :meth:`readings_until` drains the queue on the runtime's tick.

    The ``book`` is the registry: the wraps registered in it (ids, MAC addresses, keys), plus those
    of ``registry_file``, which are imported into it first (so the ward's wrap list, the verifier
    and the next start agree). The registry is read once, here: a wrap registered
    later is heard after a restart.

    Replay protection survives restarts: the verifier's last accepted counter per wrap is loaded from
    the book here, saved every ``counters_every_s`` while running and once more by :meth:`stop`.
    Without that, a restart would accept any packet recorded before it. After a crash (``kill -9``)
    the saved counters can be up to ``counters_every_s`` old: packets of those last seconds could be
    replayed once, nothing older.

    Why the source keeps its own book (on a ward, a second connection to the ward's database): the
    runtime opens its store only after it has started its source, and the counters must be in the
    verifier before the first advertisement is heard. The database is SQLite in WAL mode, so two
    connections of one process are fine; the source writes one small row set every few seconds.
    Reading it here (not in :meth:`start`) also means a bad registry file or a conflicting database
    fails the command before the web server starts, with a plain message rather than a failed
    lifespan.

    Parameters
    ----------
    book
        Where the registry and the counters are kept (:class:`WrapBook`); the source closes it at
        :meth:`stop`.
    registry_file
        A registry file (``WrapRegistry.load``) to import; its ``allow_unencrypted`` applies.
    adapter
        BlueZ adapter name (``hci0``); ``None`` for the default.
    radio
        A :class:`~kmc_monitor.devices.radio.backends.SimRadio` to listen to instead of an adapter: the
        real ``BleakScanner``/``BleakClient`` front ends then run on the simulated backends, the
        simulated wraps are part of the registry, and readings are stamped on the radio's clock.
    realtime
        With ``radio``: advance the radio to ``wall_clock()`` every :data:`RADIO_STEP_S` from
        :meth:`start` to :meth:`stop`, so the simulated ward runs in real time on its own. Without it
        the owner advances the radio (a test on simulated time).
    demo
        What the runtime does with a fresh data directory: ``False`` (a real ward) sets up empty
        beds, ``True`` gives each wrap of :meth:`wraps` its own bed and an admitted baby. In demo
        mode the runtime registers the wraps itself, so a fresh database is left untouched here.
    counters_every_s
        How often the replay counters are saved while running.
    wall_clock
        Seconds since the epoch: registration times, and the time a ``realtime`` radio is run to.
    """

    #: The gateway stamps readings on arrival, so they come in time order: no reordering hold.
    reorder_s = 0.0

    def __init__(
        self,
        book: WrapBook,
        *,
        registry_file: str | os.PathLike[str] | None = None,
        adapter: str | None = None,
        radio: SimRadio | None = None,
        realtime: bool = False,
        demo: bool = False,
        counters_every_s: float = COUNTERS_EVERY_S,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        from kmc_monitor.devices.radio.gateway import Gateway

        if not counters_every_s > 0:
            raise ValueError("counters_every_s must be positive")
        self.demo = demo
        self.radio = radio
        self._realtime = realtime and radio is not None
        self._counters_every_s = counters_every_s
        self._wall = wall_clock
        self._store = book
        try:
            registry, counters = self._load_registry(registry_file)
            clock: Callable[[], float] = time.time
            sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
            connected: list[str] = []
            if radio is not None:
                clock, sleep = radio.now, radio.sleep
                for w in radio.ward.wraps if radio.ward is not None else ():
                    if w.mode == "connected":
                        connected.append(w.wrap_id)
                    # A real wrap's counter lives in flash and keeps counting across a gateway
                    # restart; a simulated ward starts afresh, so it continues from the saved one
                    # (or every packet would be refused as a replay until it caught up).
                    saved = counters.get(w.wrap_id)
                    if saved is not None and w.counter <= saved:
                        w.counter = saved
            self.gateway: Gateway = Gateway(
                registry,
                clock=clock,
                sleep=sleep,
                scanner_backend=None if radio is None else radio.scanner_backend,
                client_backend=None if radio is None else radio.client_backend,
                connected=connected,
                adapter=adapter,
                last_counters=counters,
            )
        except BaseException:
            self._store.close()
            raise
        self._clock = clock
        self._saved: dict[str, int] = dict(counters)
        self._last_save_s = -math.inf
        self._pending: list[Reading] = []
        self._driver: asyncio.Task[None] | None = None

    @classmethod
    def simulated(
        cls,
        n_wraps: int,
        book: WrapBook,
        *,
        seed: int = 0,
        demo: bool = True,
        wall_clock: Callable[[], float] = time.time,
    ) -> GatewaySource:
        """N simulated wraps on a :class:`SimRadio` heard through the real bleak front ends, in real
        time: the whole radio path of a ward (encryption, verification, replay counters, scanner
        watchdog) on a machine without Bluetooth.

        ``demo=True`` (the default) admits each wrap to its own bed on a fresh data directory, as
        ``serve --simulate`` does, so an engineer sees a working ward at once; with ``False`` the
        wraps are registered and the beds are left empty, as on a real ward. The wraps are those of
        :class:`SimulatedSource` with the same seed (ids, addresses, keys), so both kinds of
        simulated ward can continue from one data directory.
        """
        from kmc_monitor.devices.radio.backends import SimRadio

        ward = WardSimulator(n_wraps, start_s=wall_clock(), seed=seed)
        return cls(book, radio=SimRadio(ward), realtime=True, demo=demo, wall_clock=wall_clock)

    def _load_registry(
        self, registry_file: str | os.PathLike[str] | None
    ) -> tuple[WrapRegistry, dict[str, int]]:
        """The verifier's registry and saved counters, after importing what must be in the database."""
        store = self._store
        now = self._wall()
        allow_unencrypted = False
        if registry_file is not None:
            from_file = WrapRegistry.load(registry_file)
            allow_unencrypted = from_file.allow_unencrypted
            store.import_registry(from_file, now=now)
        simulated: list[WrapEntry] = []
        if self.radio is not None and self.radio.ward is not None:
            ward = self.radio.ward
            simulated = ward.identities()
            allow_unencrypted = allow_unencrypted or not ward.config.encrypted
            # A demo ward on a fresh database is registered by the runtime's demo set-up (which
            # refuses wraps that exist already); otherwise the simulated wraps are registered here.
            if not self.demo or not store.fresh():
                try:
                    store.import_registry(WrapRegistry(simulated), now=now)
                except RegistryConflictError as exc:
                    raise KmcError(
                        f"the simulated wraps do not match the wraps of {store.path.parent} ({exc}): "
                        "use another data directory"
                    ) from None
        entries = {e.wrap_id: e for e in store.wrap_registry()}
        for e in simulated:
            known = entries.setdefault(e.wrap_id, e)
            if (known.mac, known.key) != (e.mac, e.key):
                raise KmcError(
                    f"wrap {e.wrap_id} of {store.path.parent} is not the simulated wrap {e.wrap_id}: "
                    "use another data directory"
                )
        registry = WrapRegistry(entries.values(), allow_unencrypted=allow_unencrypted)
        # A retired wrap keeps its counter in the database but is no longer heard.
        counters = {w: n for w, n in store.wrap_counters().items() if registry.by_id(w) is not None}
        if not len(registry):
            logger.warning(
                "no wraps are registered in %s: nothing will be heard (import the ward's registry file)",
                store.path.parent,
            )
        return registry, counters

    # Source ---------------------------------------------------------------------------------------
    def wraps(self) -> list[WrapIdentity]:
        """The wraps this source can hear: in demo mode the simulated ones (the runtime admits each
        to its own bed), otherwise every registered wrap."""
        if self.demo and self.radio is not None and self.radio.ward is not None:
            entries = self.radio.ward.identities()
        else:
            entries = list(self.gateway.registry)
        return [(e.wrap_id, e.mac, e.key) for e in entries]

    def readings_until(self, t_s: float) -> list[Reading]:
        """Verified readings heard up to ``t_s`` (later ones wait for the next call); saves the
        replay counters when they are due."""
        self._pending.extend(self.gateway.drain())
        out = [r for r in self._pending if r.t <= t_s]
        if len(out) == len(self._pending):
            self._pending = []
        else:
            self._pending = [r for r in self._pending if r.t > t_s]
        if self._clock() - self._last_save_s >= self._counters_every_s:
            self.save_counters()
        return out

    def reset_counter(self, wrap_id: str) -> None:
        """Accept the wrap's restarted counter (an audited admin action: the runtime's)."""
        try:
            self.gateway.verifier.reset_counter(wrap_id)
        except KeyError:
            return
        self._saved.pop(wrap_id, None)

    def save_counters(self) -> bool:
        """Save the verifier's counters if they moved; whether they were written.

        A database error is logged, not raised: the readings already drained must still reach the
        ward, and the next save tries again (the replay window stays as wide as the failure lasts).
        """
        self._last_save_s = self._clock()
        counters = self.gateway.verifier.last_counters()
        if counters == self._saved:
            return False
        try:
            self._store.save_wrap_counters(counters)
        except KmcError as exc:
            logger.error("the wraps' replay counters could not be saved: %s", exc)
            return False
        self._saved = counters
        return True

    # Lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the gateway (raises ``AdapterUnavailableError`` without a usable adapter) and, for a
        real-time simulated radio, the task that runs the radio to the wall clock."""
        await self.gateway.start()
        if self._realtime and self._driver is None:
            self._driver = asyncio.create_task(self._drive(), name="kmc-sim-radio")

    async def stop(self) -> None:
        """Stop the radio and the gateway, save the replay counters and close the database."""
        driver, self._driver = self._driver, None
        if driver is not None:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        try:
            await self.gateway.stop()
            self.save_counters()
        finally:
            self._store.close()

    async def _drive(self) -> None:
        """Advance the simulated radio to the wall clock, so its wraps send in real time."""
        radio = self.radio
        assert radio is not None
        while True:
            try:
                radio.advance_to(self._wall())
            except Exception:  # a simulation fault must not silence the ward for good
                logger.exception("the simulated radio failed to advance")
            await asyncio.sleep(RADIO_STEP_S)
