"""Which advertisements may become readings: the ward's wrap registry and the advertisement verifier.

Decoding proves a packet is well-formed (and, if encrypted, authentic); it cannot tell whether the
packet comes from one of this ward's wraps, whether it is new, or whether plaintext is acceptable.
:class:`AdvertVerifier` decides that, per wrap, before anything reaches the signal core:

1. the sender's MAC address must be in the :class:`WrapRegistry` (else ``unknown_device``);
2. the service data must decode; an encrypted one must authenticate with the wrap's key
   (``truncated``, ``malformed``, ``unknown_object``, ``authentication_failed``, ...);
3. a wrap with a key must encrypt (plaintext is a ``downgrade``); a wrap without one may send
   plaintext only if the ward allows it (else ``unencrypted``);
4. the encryption counter must be strictly above the last accepted one (else ``replayed``), and the
   packet must not repeat the last accepted one (same bytes or same packet id: ``duplicate``);
5. the objects must be exactly the wrap's layout ``00 01 02 02 09 25`` (firmware_stubs/PROTOCOL.md
   §2.6; else ``unexpected_layout``). Skin and ambient are told apart by position only, so a plaintext
   packet garbled into another shape could otherwise pass an ambient temperature off as skin.

Only then does :meth:`AdvertVerifier.process` return a :class:`~kmc_monitor.devices.reading.Reading`;
every other outcome is a :class:`Rejection` and is counted per wrap by reason. Only authentic, new
packets move the replay state, so a flood of forgeries cannot push the counter forward or backward.

The registry is a small TOML (or JSON) file per ward::

    allow_unencrypted = false          # ward-wide; true only for bench tests with keyless wraps

    [[wraps]]
    wrap_id = "W01"
    mac = "54:48:E6:8F:80:A5"
    key = "231d39c1d7cc1ab1aee224cd096db932"   # 32 hex digits; leave out for a keyless wrap
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from kmc_monitor.devices.errors import CredentialError, DecodeError, RegistryError, RejectReason
from kmc_monitor.devices.protocol.bthome import decode_service_data, format_mac, parse_key, parse_mac
from kmc_monitor.devices.reading import Reading

__all__ = ["WRAP_LAYOUT", "AdvertVerifier", "Rejection", "WrapEntry", "WrapRegistry", "WrapStats"]

logger = logging.getLogger(__name__)

#: The object ids of every wrap advertisement, in order (PROTOCOL.md §2.6 rule 3).
WRAP_LAYOUT: Final = (0x00, 0x01, 0x02, 0x02, 0x09, 0x25)
_ENTRY_KEYS: Final = frozenset(("wrap_id", "mac", "key"))
_TOP_KEYS: Final = frozenset(("allow_unencrypted", "wraps"))
#: Reasons that suggest an attack or a misconfigured wrap: logged as a warning the first time per wrap.
_ALERTING: Final = frozenset(
    (
        RejectReason.AUTHENTICATION_FAILED,
        RejectReason.REPLAYED,
        RejectReason.DOWNGRADE,
        RejectReason.MAC_MISMATCH,
        RejectReason.MISSING_KEY,
        RejectReason.UNENCRYPTED,
        RejectReason.UNEXPECTED_LAYOUT,
    )
)


@dataclass(frozen=True, slots=True)
class WrapEntry:
    """One registered wrap. The MAC is stored in canonical form; the key never appears in ``repr``."""

    wrap_id: str
    mac: str
    key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.wrap_id, str) or not self.wrap_id.strip():
            raise CredentialError(f"a wrap id must be non-empty text; got {self.wrap_id!r}")
        object.__setattr__(self, "mac", format_mac(self.mac))
        if self.key is not None:
            object.__setattr__(self, "key", parse_key(self.key))


class WrapRegistry:
    """The wraps of one ward: wrap id ↔ MAC address ↔ optional BTHome key, plus the plaintext policy."""

    __slots__ = ("_allow_unencrypted", "_by_id", "_by_mac")

    def __init__(self, wraps: Iterable[WrapEntry], *, allow_unencrypted: bool = False) -> None:
        by_id: dict[str, WrapEntry] = {}
        by_mac: dict[str, WrapEntry] = {}
        for entry in wraps:
            if entry.wrap_id in by_id:
                raise RegistryError(f"wrap id {entry.wrap_id!r} is registered twice")
            if entry.mac in by_mac:
                raise RegistryError(
                    f"MAC address {entry.mac} is registered for both {by_mac[entry.mac].wrap_id!r} "
                    f"and {entry.wrap_id!r}"
                )
            by_id[entry.wrap_id] = entry
            by_mac[entry.mac] = entry
        self._by_id: Mapping[str, WrapEntry] = MappingProxyType(by_id)
        self._by_mac: Mapping[str, WrapEntry] = MappingProxyType(by_mac)
        self._allow_unencrypted = bool(allow_unencrypted)

    @property
    def allow_unencrypted(self) -> bool:
        """Whether wraps without a key may send plaintext on this ward (wraps with a key never may)."""
        return self._allow_unencrypted

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[WrapEntry]:
        return iter(self._by_id.values())

    def by_id(self, wrap_id: str) -> WrapEntry | None:
        """The wrap with this id, or ``None``."""
        return self._by_id.get(wrap_id)

    def by_mac(self, mac: str | bytes) -> WrapEntry | None:
        """The wrap with this MAC address (any usual spelling), or ``None``."""
        if isinstance(mac, str):
            hit = self._by_mac.get(mac)
            if hit is not None:
                return hit
        try:
            return self._by_mac.get(format_mac(mac))
        except CredentialError:
            return None

    @classmethod
    def from_dict(cls, data: object, *, source: str = "wrap registry") -> WrapRegistry:
        """Build a registry from parsed TOML/JSON (see the module docstring for the layout)."""
        if not isinstance(data, Mapping):
            raise RegistryError(f"{source}: expected a table with 'wraps' (and 'allow_unencrypted')")
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise RegistryError(
                f"{source}: unknown setting(s) {', '.join(sorted(map(str, unknown)))}; "
                f"expected {', '.join(sorted(_TOP_KEYS))}"
            )
        allow = data.get("allow_unencrypted", False)
        if not isinstance(allow, bool):
            raise RegistryError(f"{source}: allow_unencrypted must be true or false; got {allow!r}")
        wraps = data.get("wraps", [])
        if not isinstance(wraps, list):
            raise RegistryError(f"{source}: 'wraps' must be a list of wrap tables ([[wraps]] in TOML)")
        entries: list[WrapEntry] = []
        for i, item in enumerate(wraps, start=1):
            where = f"{source}: wrap #{i}"
            if not isinstance(item, Mapping):
                raise RegistryError(f"{where}: expected a table with wrap_id, mac and optionally key")
            if isinstance(item.get("wrap_id"), str):
                where += f" ({item['wrap_id']})"
            extra = set(item) - _ENTRY_KEYS
            if extra:
                raise RegistryError(
                    f"{where}: unknown field(s) {', '.join(sorted(map(str, extra)))}; "
                    "expected wrap_id, mac, key"
                )
            for name in ("wrap_id", "mac"):
                if not isinstance(item.get(name), str):
                    raise RegistryError(f"{where}: '{name}' is required and must be text")
            key = item.get("key")
            if key is not None and not isinstance(key, str):
                raise RegistryError(f"{where}: 'key' must be 32 hex digits in quotes")
            try:
                entries.append(
                    WrapEntry(item["wrap_id"], item["mac"], None if key is None else parse_key(key))
                )
            except CredentialError as exc:
                raise RegistryError(f"{where}: {exc}") from None
        try:
            return cls(entries, allow_unencrypted=allow)
        except RegistryError as exc:
            raise RegistryError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WrapRegistry:
        """Read a registry file: ``.json`` as JSON, anything else as TOML."""
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise RegistryError(f"cannot read wrap registry {p}: {exc.strerror or exc}") from None
        try:
            if p.suffix.lower() == ".json":
                data: object = json.loads(raw)
            else:
                data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise RegistryError(f"{p}: not a text file (expected TOML or JSON in UTF-8)") from None
        except json.JSONDecodeError as exc:
            raise RegistryError(
                f"{p}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise RegistryError(f"{p}: invalid TOML: {exc}") from None
        registry = cls.from_dict(data, source=str(p))
        _check_private(p, registry)
        return registry


def _check_private(path: Path, registry: WrapRegistry) -> None:
    """A registry holding keys must be readable by its owner only: whoever reads a wrap's key can
    forge that wrap's readings. Readable by every user: refused; by the group: a warning."""
    if not any(e.key is not None for e in registry):
        return
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return
    if mode & 0o004:
        raise RegistryError(
            f"{path} holds wrap keys and every user of this machine can read it (mode {mode:o}): "
            f"run chmod 600 {path}"
        )
    if mode & 0o040:
        logger.warning("%s holds wrap keys and its group can read it (mode %o): chmod 600 it", path, mode)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An advertisement that did not become a reading, and why (``detail`` is for the engineer)."""

    reason: RejectReason
    mac: str
    wrap_id: str | None
    t: float
    detail: str


@dataclass(frozen=True, slots=True)
class WrapStats:
    """A snapshot of one wrap's counters.

    ``decoded`` counts advertisements that became readings; ``duplicate`` and ``replayed`` count
    those dropped as repeats and as stale replays; ``rejected`` counts every other refusal by reason.
    """

    decoded: int = 0
    duplicate: int = 0
    replayed: int = 0
    rejected: Mapping[RejectReason, int] = field(default_factory=dict)

    @property
    def total_rejected(self) -> int:
        """Every advertisement from this wrap that did not become a reading."""
        return self.duplicate + self.replayed + sum(self.rejected.values())


class _WrapState:
    """Mutable per-wrap state: replay window and counters."""

    __slots__ = (
        "entry",
        "key",
        "last_counter",
        "last_data",
        "last_packet_id",
        "mac_bytes",
        "outcomes",
        "decoded",
        "warned",
    )

    def __init__(self, entry: WrapEntry, last_counter: int | None) -> None:
        self.entry = entry
        self.key = entry.key
        self.mac_bytes = parse_mac(entry.mac)
        self.last_counter = last_counter
        self.last_packet_id: int | None = None
        #: The last accepted *encrypted* service data: a byte-identical copy is the same packet again.
        self.last_data: bytes | None = None
        self.decoded = 0
        self.outcomes: Counter[RejectReason] = Counter()
        self.warned: set[RejectReason] = set()


class AdvertVerifier:
    """Turns BTHome advertisements from registered wraps into readings, refusing everything else.

    One verifier serves one ward's gateway; it is not thread-safe (feed it from one task). Replay
    state lives in memory: pass ``last_counters`` (from :meth:`last_counters` saved at shutdown) so a
    restart does not reopen the window for replaying old packets. ``wrap_layout_only=False`` accepts
    any BTHome object layout that carries at least one wrap measurement (for bench tests with
    standard BTHome sensors registered as wraps); wards keep the default.
    """

    def __init__(
        self,
        registry: WrapRegistry,
        *,
        last_counters: Mapping[str, int] | None = None,
        wrap_layout_only: bool = True,
    ) -> None:
        self._registry = registry
        self._wrap_layout_only = wrap_layout_only
        counters = dict(last_counters or {})
        unknown = set(counters) - {e.wrap_id for e in registry}
        if unknown:
            raise RegistryError(
                f"saved counters name wrap(s) not in the registry: {', '.join(sorted(unknown))}"
            )
        self._states: dict[str, _WrapState] = {}
        self._by_wrap: dict[str, _WrapState] = {}
        for entry in registry:
            state = _WrapState(entry, counters.get(entry.wrap_id))
            self._states[entry.mac] = state
            self._by_wrap[entry.wrap_id] = state
        self._unknown_devices = 0

    @property
    def registry(self) -> WrapRegistry:
        return self._registry

    @property
    def unknown_devices(self) -> int:
        """Advertisements from MAC addresses not in the registry."""
        return self._unknown_devices

    def process(
        self, mac: str | bytes, service_data: bytes, t: float, rssi: float | None = None
    ) -> Reading | Rejection:
        """Verify one advertisement's BTHome service data; a :class:`Reading` only if it passes all checks.

        ``mac`` is the address the radio reported, ``t`` the reception time (seconds since the epoch,
        injected by the caller), ``rssi`` the signal strength in dBm.
        """
        state = self._states.get(mac) if isinstance(mac, str) else None
        if state is None:
            entry = self._registry.by_mac(mac)
            if entry is None:
                self._unknown_devices += 1
                text = mac if isinstance(mac, str) else bytes(mac).hex(":").upper()
                logger.debug("advertisement from unregistered device %s ignored", text)
                return Rejection(
                    RejectReason.UNKNOWN_DEVICE,
                    text,
                    None,
                    t,
                    f"{text} is not in the ward's wrap registry: register it, or ignore a neighbour's device",
                )
            state = self._by_wrap[entry.wrap_id]
        if service_data == state.last_data:
            return self._reject(
                state, RejectReason.DUPLICATE, t, "the same advertisement as the last accepted"
            )
        try:
            advert = decode_service_data(service_data, mac=state.mac_bytes, key=state.key)
        except DecodeError as exc:
            return self._reject(state, exc.reason, t, str(exc))
        if advert.mac is not None and advert.mac != state.entry.mac:
            return self._reject(
                state,
                RejectReason.MAC_MISMATCH,
                t,
                f"the payload claims MAC address {advert.mac} but was received from {state.entry.mac}",
            )
        counter = advert.counter
        if counter is None:
            if state.key is not None:
                return self._reject(
                    state,
                    RejectReason.DOWNGRADE,
                    t,
                    "plaintext advertisement from a wrap that has a key: forged, or the wrap lost its "
                    "key and must be re-provisioned",
                )
            if not self._registry.allow_unencrypted:
                return self._reject(
                    state,
                    RejectReason.UNENCRYPTED,
                    t,
                    "plaintext advertisement and this ward requires encryption: give the wrap a key",
                )
        elif state.last_counter is not None and counter <= state.last_counter:
            return self._reject(
                state,
                RejectReason.REPLAYED,
                t,
                f"counter {counter} is not above the last accepted {state.last_counter}: an old packet "
                "sent again (if the wrap was reset, an engineer must reset its counter)",
            )
        # Checked before any state moves: a garbled plaintext packet must not claim a packet id.
        if self._wrap_layout_only:
            layout = tuple([o.object_id for o in advert.objects])
            if layout != WRAP_LAYOUT:
                shown = " ".join(f"{i:02x}" for i in layout) or "none"
                return self._reject(
                    state,
                    RejectReason.UNEXPECTED_LAYOUT,
                    t,
                    f"objects {shown} are not the wrap layout 00 01 02 02 09 25: a garbled packet, or "
                    "firmware that does not follow PROTOCOL.md",
                )
        elif not advert.has_measurement:
            return self._reject(
                state, RejectReason.NO_MEASUREMENT, t, "the advertisement carries no wrap measurement"
            )
        # From here the packet is authentic (or acceptable plaintext) and new: record it, so that
        # neither it nor anything older can be accepted again.
        if counter is not None:
            state.last_counter = counter
            state.last_data = service_data if type(service_data) is bytes else bytes(service_data)
        if advert.packet_id is not None and advert.packet_id == state.last_packet_id:
            return self._reject(
                state, RejectReason.DUPLICATE, t, f"packet id {advert.packet_id} seen already"
            )
        state.last_packet_id = advert.packet_id
        state.decoded += 1
        level = advert.contact_level
        if level is not None:
            contact: float | None = level / 100
        elif advert.contact is not None:
            contact = 1.0 if advert.contact else 0.0
        else:
            contact = None
        return Reading(
            t,
            state.entry.wrap_id,
            advert.skin_temp_c,
            advert.ambient_temp_c,
            contact,
            advert.battery_pct,
            rssi,
            counter,  # the measurement's identity across gateways (None for plaintext)
            # The sealed packet itself, for a room gateway to forward: the ward re-checks it.
            None if counter is None else bytes(service_data),
        )

    def _reject(self, state: _WrapState, reason: RejectReason, t: float, detail: str) -> Rejection:
        state.outcomes[reason] += 1
        wrap_id = state.entry.wrap_id
        if reason in _ALERTING and reason not in state.warned:
            state.warned.add(reason)
            logger.warning("wrap %s: advertisement rejected (%s): %s", wrap_id, reason.value, detail)
        else:
            logger.debug("wrap %s: advertisement rejected (%s): %s", wrap_id, reason.value, detail)
        return Rejection(reason, state.entry.mac, wrap_id, t, detail)

    def stats(self, wrap_id: str) -> WrapStats:
        """A snapshot of one wrap's counters; raises ``KeyError`` for a wrap not in the registry."""
        state = self._by_wrap[wrap_id]
        outcomes = state.outcomes
        rest: dict[RejectReason, int] = {
            r: n
            for r, n in outcomes.items()
            if r not in (RejectReason.DUPLICATE, RejectReason.REPLAYED) and n
        }
        return WrapStats(
            state.decoded,
            outcomes[RejectReason.DUPLICATE],
            outcomes[RejectReason.REPLAYED],
            MappingProxyType(rest),
        )

    def all_stats(self) -> dict[str, WrapStats]:
        """Every registered wrap's counters, by wrap id."""
        return {wrap_id: self.stats(wrap_id) for wrap_id in self._by_wrap}

    def last_counters(self) -> dict[str, int]:
        """The last accepted encryption counter per wrap: save it and pass it back after a restart."""
        return {w: s.last_counter for w, s in self._by_wrap.items() if s.last_counter is not None}

    def reset_counter(self, wrap_id: str) -> None:
        """Forget a wrap's replay state, after an engineer has confirmed the wrap itself was reset.

        A wrap whose counter restarted (new battery, reflashed) is otherwise refused as ``replayed``
        forever. Raises ``KeyError`` for a wrap not in the registry.
        """
        state = self._by_wrap[wrap_id]
        state.last_counter = None
        state.last_data = None
        state.last_packet_id = None
        logger.warning("wrap %s: replay counter reset by request", wrap_id)
