"""The one base class of every reading source: what the ward runtime and a room gateway poll.

A source is polled: :meth:`ReadingSource.readings_until` returns what arrived up to a time and was
not handed out before, so the owner decides the pace (and a replay's accelerated clock decides what
"up to now" means). Every source hands out the same :class:`~kmc_monitor.devices.reading.Reading`;
nothing after a source knows which kind it was.

The members that only some sources need (a radio's ``start``/``stop``, an MQTT source's registry
and "silenced" wraps) have harmless defaults here, so the runtime calls them on any source instead
of probing for them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kmc_monitor.devices.protocol.verify import WrapEntry, WrapRegistry
    from kmc_monitor.devices.reading import Reading

__all__ = ["ReadingSource", "WrapIdentity"]

#: ``(wrap_id, mac, key)`` of a wrap a source knows.
WrapIdentity = tuple[str, str, bytes | None]


class ReadingSource(ABC):
    """Where readings come from: simulated wraps, a recorded trace, the Bluetooth gateway, MQTT."""

    #: What the runtime does with a fresh data directory: True gives each wrap of :meth:`wraps` its
    #: own bed and an admitted baby (a demo ward); False sets up empty beds (a real ward).
    demo: bool = True
    #: How long (seconds) this source's deliveries may be out of time order: the engine holds
    #: readings that long before judging them (0: the source delivers in order).
    reorder_s: float = 0.0
    #: Whether the source verifies readings with the ward's registry (:meth:`set_registry`); the
    #: runtime then opens its store and hands the registry over before :meth:`start`.
    verifies_with_registry: bool = False

    @abstractmethod
    def wraps(self) -> list[WrapIdentity]:
        """``(wrap_id, mac, key)`` of the wraps this source knows (for the ward's set-up)."""

    @abstractmethod
    def readings_until(self, t_s: float) -> list[Reading]:
        """Readings received up to ``t_s`` not handed out before."""

    async def start(self) -> None:
        """Start listening (a radio, a broker); nothing to do for a source that only computes."""
        return None

    async def stop(self) -> None:
        """Stop listening and keep what must survive a restart."""
        return None

    def silenced(self) -> list[str]:
        """Wraps whose relay (an MQTT gateway) went offline since the last call: their tiles show
        "no data" at once. Polled each step; none by default."""
        return []

    def reset_counter(self, wrap_id: str) -> None:
        """Accept a re-flashed wrap's restarted replay counter (sources that verify counters)."""
        return None

    def set_registry(
        self, registry: WrapRegistry | list[WrapEntry], *, last_counters: dict[str, int] | None = None
    ) -> None:
        """The ward's registered wraps (and stored counters), for a source that
        :attr:`verifies_with_registry`; ignored by the others."""
        return None
