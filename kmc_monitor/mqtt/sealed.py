"""The ward's own check of readings that crossed the broker: the wrap's seal, verified here.

A room gateway decodes a wrap's advertisement and forwards the reading together with the sealed
packet it came from (:attr:`Reading.sealed`, payload version 3). The broker, the network and the
gateways are then only carriers: :class:`SealedReadings` verifies each packet with the wrap's own
key and counter (the same :class:`~kmc_monitor.devices.protocol.verify.AdvertVerifier` the ward's own radio
uses), and the reading handed to the ward is the one decoded from the packet, never the fields a
publisher wrote beside it. So:

- a rogue publisher (or a compromised gateway, or the broker) cannot forge a reading: it has no
  wrap key, and its packet fails the MIC (``authentication_failed``);
- it cannot replay one either: a packet's counter must be above the wrap's last accepted one
  (``replayed``); two gateways forwarding one advertisement deliver it once (the second copy is a
  ``duplicate``, not a refusal);
- a reading without a packet is refused as ``unsealed``, unless the ward's lab setting
  (``mqtt_allow_unsealed``) allows plain readings (a bench with keyless wraps);
- only gateways registered for the ward are heard (``unknown_gateway``), when the ward lists them.

A wrap that is not registered has no key to check with: its messages only say that it is heard
(the ward lists it for staff to register), with no measured value handed on.

Pure and synchronous: the subscriber calls :meth:`SealedReadings.check` for every reading message;
the runtime pushes the ward's registry with :meth:`SealedReadings.set_registry` when staff change it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from kmc_monitor.devices.errors import RejectReason
from kmc_monitor.devices.protocol.verify import AdvertVerifier, Rejection, WrapEntry, WrapRegistry
from kmc_monitor.devices.reading import Reading

__all__ = ["Checked", "SealReason", "SealedReadings"]

logger = logging.getLogger(__name__)


class SealReason(StrEnum):
    """Refusals of this module's own (the verifier's :class:`RejectReason` values are the others)."""

    UNSEALED = "unsealed"
    UNKNOWN_GATEWAY = "unknown_gateway"


@dataclass(frozen=True, slots=True)
class Checked:
    """What became of one forwarded reading: ``reading`` to hand on (None if refused), ``refused``
    the reason when refused, ``duplicate`` when it was a copy of one already handed on, ``detail``
    what an engineer needs to know."""

    reading: Reading | None
    refused: str | None = None
    duplicate: bool = False
    detail: str = ""


class SealedReadings:
    """Verifies forwarded readings for one ward; see the module docstring.

    Parameters
    ----------
    registry
        The ward's registered wraps (ids, MAC addresses, keys).
    last_counters
        Each wrap's last accepted counter, as stored: a restart opens no replay window.
    gateways
        The gateway ids allowed to deliver readings; None: any gateway the broker lets publish
        (the broker's ACL is then the only gate).
    allow_unsealed
        The lab setting: plain readings (no packet, or a keyless wrap's plaintext) are accepted.
    """

    def __init__(
        self,
        registry: WrapRegistry | Iterable[WrapEntry] = (),
        *,
        last_counters: Mapping[str, int] | None = None,
        gateways: Iterable[str] | None = None,
        allow_unsealed: bool = False,
    ) -> None:
        self.allow_unsealed = allow_unsealed
        self.gateways = None if gateways is None else frozenset(gateways)
        self._verifier = AdvertVerifier(WrapRegistry([]))
        self._signature: tuple[tuple[str, str, bytes | None], ...] = ()
        self.set_registry(registry, last_counters=last_counters)

    def set_registry(
        self, registry: WrapRegistry | Iterable[WrapEntry], *, last_counters: Mapping[str, int] | None = None
    ) -> None:
        """Use the ward's registry from now on; each wrap still registered with the same key keeps
        its replay state (its counter), a new or re-keyed wrap starts from ``last_counters``."""
        entries = list(registry)
        signature = tuple(sorted((e.wrap_id, e.mac, e.key) for e in entries))
        if signature == self._signature and last_counters is None:
            return
        kept = {e.wrap_id: (e.mac, e.key) for e in self._verifier.registry}
        counters = dict(last_counters or {})
        for wrap_id, n in self._verifier.last_counters().items():
            if wrap_id in counters or wrap_id not in kept:
                continue
            counters[wrap_id] = n
        for e in entries:
            old = kept.get(e.wrap_id)
            if old is not None and old != (e.mac, e.key) and last_counters is None:
                counters.pop(e.wrap_id, None)  # re-keyed: its counter restarts
        ids = {e.wrap_id for e in entries}
        counters = {w: n for w, n in counters.items() if w in ids}
        self._verifier = AdvertVerifier(
            WrapRegistry(entries, allow_unencrypted=self.allow_unsealed), last_counters=counters
        )
        self._signature = signature

    def reset_counter(self, wrap_id: str) -> None:
        """Accept a re-flashed wrap's restarted counter (an audited admin action upstream)."""
        try:
            self._verifier.reset_counter(wrap_id)
        except KeyError:
            pass

    def last_counters(self) -> dict[str, int]:
        return self._verifier.last_counters()

    def check(self, gateway: str, reading: Reading) -> Checked:
        """The reading the ward may use for ``reading`` delivered by ``gateway``; see the module."""
        if self.gateways is not None and gateway not in self.gateways:
            return Checked(
                None,
                SealReason.UNKNOWN_GATEWAY.value,
                detail=f"gateway {gateway!r} is not registered for this ward (mqtt_gateways)",
            )
        entry = self._verifier.registry.by_id(reading.wrap_id)
        if entry is None and self.allow_unsealed:
            return Checked(reading)  # the lab: an unregistered wrap's values go on, as before
        if entry is None:
            # Heard, but nothing to verify it with: only the fact that it is heard goes on.
            return Checked(Reading(reading.t, reading.wrap_id, rssi_dbm=reading.rssi_dbm))
        if reading.sealed is None or entry.key is None:
            if self.allow_unsealed:
                return Checked(reading)
            return Checked(
                None,
                SealReason.UNSEALED.value,
                detail=f"reading of wrap {reading.wrap_id} from gateway {gateway} carries no sealed "
                "packet, or the wrap has no key to check it with: upgrade the gateway, register the "
                "wrap's key (plain readings are accepted only with mqtt_allow_unsealed)",
            )
        out = self._verifier.process(entry.mac, reading.sealed, reading.t, reading.rssi_dbm)
        if isinstance(out, Rejection):
            if out.reason is RejectReason.DUPLICATE:
                return Checked(None, duplicate=True)
            return Checked(None, out.reason.value, detail=f"wrap {reading.wrap_id}: {out.detail}")
        return Checked(out)
