"""Where the home gateway's readings come from: simulated wraps, or the board's Bluetooth adapter.

Both are :class:`~kmc_monitor.sources.ReadingSource` subclasses, as the ward's sources are, and both
run the ward's one :class:`~kmc_monitor.devices.protocol.verify.AdvertVerifier` with the keys from the
pairing code and the replay counters from the home's disk, so a packet accepted before a power cut
is refused as ``replayed`` after it. Neither reads a clock of its own: the caller says up to when.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from kmc_monitor.devices.protocol.verify import AdvertVerifier, WrapEntry, WrapRegistry
from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulation.simulator import SimAdvert, SimConfig, SimWrap
from kmc_monitor.sources import ReadingSource, WrapIdentity
from kmc_monitor.station.wire import PairingCode

if TYPE_CHECKING:
    from bleak.backends.scanner import BaseBleakScanner

__all__ = ["BleWraps", "SimulatedWraps", "registry_of"]


def registry_of(code: PairingCode) -> WrapRegistry:
    """The home's wrap registry: the wraps the station granted, each with its key."""
    entries = [
        WrapEntry(g.wrap_id, g.mac, None if g.key is None else bytes.fromhex(g.key)) for g in code.wraps
    ]
    return WrapRegistry(entries, allow_unencrypted=False)


class SimulatedWraps(ReadingSource):
    """The pairing's wraps simulated (for demos and tests): real sealed packets through the verifier.

    A restarted home resumes each wrap's counter after the last one it accepted, as a real wrap
    (which did not lose power with the board) keeps counting; the baby's physiology restarts.
    """

    def __init__(
        self,
        code: PairingCode,
        *,
        start_s: float,
        seed: int = 0,
        config: SimConfig | None = None,
        last_counters: Mapping[str, int] | None = None,
    ) -> None:
        counters = dict(last_counters or {})
        registry = registry_of(code)
        self.verifier = AdvertVerifier(registry, last_counters=counters)
        cfg = config or SimConfig()
        seeds = np.random.SeedSequence(seed).spawn(len(registry))
        self.registry = registry
        self.sim_wraps = tuple(
            SimWrap(e, "advert", cfg, start_s, s) for e, s in zip(registry, seeds, strict=True)
        )
        for w in self.sim_wraps:
            if w.wrap_id in counters:
                w.counter = counters[w.wrap_id]
        self.rejected = 0

    def wraps(self) -> list[WrapIdentity]:
        return [(e.wrap_id, e.mac, e.key) for e in self.registry]

    def readings_until(self, t_s: float) -> list[Reading]:
        """Run the wraps up to ``t_s``; the verified readings of what was heard, in time order."""
        adverts = [e for w in self.sim_wraps for e in w.events_until(t_s) if isinstance(e, SimAdvert)]
        adverts.sort(key=_t_of)
        out: list[Reading] = []
        for a in adverts:
            got = self.verifier.process(a.mac, a.service_data, a.t, a.rssi_dbm)
            if isinstance(got, Reading):
                out.append(got)
            else:
                self.rejected += 1
        return out


class BleWraps(ReadingSource):
    """The board's Bluetooth adapter through the ward's gateway front end (bleak, passive scan).

    ``clock``, ``sleep`` and ``scanner_backend`` are the ward gateway's: the wall clock and the
    platform's bleak backend on a board, a :class:`~kmc_monitor.devices.radio.backends.SimRadio`'s in tests.
    """

    def __init__(
        self,
        code: PairingCode,
        *,
        last_counters: Mapping[str, int],
        adapter: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
    ) -> None:
        from kmc_monitor.devices.radio.gateway import Gateway

        self._heard: list[Reading] = []
        self.registry = registry_of(code)
        self.gateway = Gateway(
            self.registry,
            clock=clock,
            sleep=sleep or asyncio.sleep,
            scanner_backend=scanner_backend,
            adapter=adapter,
            last_counters=last_counters,
            on_reading=self._heard.append,
        )

    def wraps(self) -> list[WrapIdentity]:
        return [(e.wrap_id, e.mac, e.key) for e in self.registry]

    async def start(self) -> None:
        await self.gateway.start()

    async def stop(self) -> None:
        await self.gateway.stop()

    def readings_until(self, t_s: float) -> list[Reading]:
        """Everything heard up to ``t_s``; later readings wait for the next call."""
        out = [r for r in self._heard if r.t <= t_s]
        self._heard[:] = [r for r in self._heard if r.t > t_s]
        return out


def _t_of(a: SimAdvert) -> float:
    return a.t
