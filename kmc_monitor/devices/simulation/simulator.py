"""Virtual wraps on a virtual ward: plausible babies, real radio packets, known truth.

The simulator is the radio of the tests and the embedded default source of the demo ward. Each
:class:`SimWrap` carries a baby through KMC sessions with repositioning breaks, spells out of KMC in
which it cools slowly, rewarming back in KMC, the occasional skin sensor coming loose, and a draining
battery. Physiology is planned online, a chunk at a time, and rendered by
:class:`~kmc_monitor.devices.simulation.synthetic.TraceBuilder` (the same builder the scenario tests trust),
so a simulated ward can run for days without planning them up front.

What leaves a wrap is what the firmware sends: a new measurement every ``measure_s`` becomes a BTHome
v2 advertisement (:func:`~kmc_monitor.devices.protocol.bthome.encode_service_data`, AES-CCM with the wrap's
own key, the packet id and the encryption counter raised for every new measurement) that is
repeated at every advertising event until the next measurement, with the BLE advertising delay of a
few milliseconds and packets lost on air. A wrap in connected mode advertises only until a gateway
connects to it; then it hands each measurement to the link instead (see ``backends.py``).

The simulator never reads a clock: :meth:`WardSimulator.events_until` is told up to when to run,
and every random draw comes from ``np.random.default_rng`` seeded per wrap, so the same seed gives
the same ward, packet for packet, whatever pace it is driven at.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Final, Literal

import numpy as np

from kmc_monitor.devices.protocol.bthome import encode_service_data, format_mac, wrap_objects
from kmc_monitor.devices.protocol.verify import WrapEntry, WrapRegistry
from kmc_monitor.devices.simulation.synthetic import (
    APART_LEVEL,
    CONTACT_LEVEL,
    WARD_NOISE,
    Noise,
    TraceBuilder,
)

__all__ = [
    "SimAdvert",
    "SimConfig",
    "SimMeasurement",
    "SimWrap",
    "WardSimulator",
    "replay",
]

Mode = Literal["advert", "connected"]

# The wrap firmware decides "contact" with the same hysteresis the clinical rules use.
_CONTACT_ON: Final = 0.6
_CONTACT_OFF: Final = 0.4
_HOUR_S: Final = 3600.0


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How the simulated wraps behave on air and at the bedside.

    Attributes
    ----------
    measure_s
        A wrap takes a measurement (and starts advertising it) this often.
    adv_interval_s
        Advertising interval: every measurement is sent about ``measure_s / adv_interval_s`` times,
        so one lost packet does not lose the measurement.
    adv_delay_max_s
        The random 0..10 ms the BLE link layer adds to every advertising event (``advDelay``).
    loss_prob
        Probability that an advertisement is lost on air (collisions, a wrap under the mother).
    encrypted
        Whether wraps encrypt their advertisements (each with its own key).
    connected_every
        Every n-th wrap (1-based: wraps n, 2n, ...) runs in connected mode; 0 for none.
    loose_sensor_per_h
        Rate of a skin sensor coming loose during KMC (episodes per hour of KMC).
    noise
        Thermistor and contact measurement noise.
    chunk_s
        Physiology is planned and rendered this much at a time.
    history
        How many recent measurements each wrap keeps as ground truth for tests and diagnostics.
    """

    measure_s: float = 2.0
    adv_interval_s: float = 1.0
    adv_delay_max_s: float = 0.010
    loss_prob: float = 0.05
    encrypted: bool = True
    connected_every: int = 0
    loose_sensor_per_h: float = 0.15
    noise: Noise = WARD_NOISE
    chunk_s: float = 600.0
    history: int = 4096

    def __post_init__(self) -> None:
        for name in ("measure_s", "adv_interval_s", "chunk_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"SimConfig.{name} must be a positive number of seconds")
        if not 0.0 <= self.adv_delay_max_s < self.adv_interval_s:
            raise ValueError("SimConfig.adv_delay_max_s must be in [0, adv_interval_s)")
        if not 0.0 <= self.loss_prob < 1.0:
            raise ValueError("SimConfig.loss_prob must be in [0, 1)")
        if self.connected_every < 0 or self.history < 1:
            raise ValueError("SimConfig.connected_every must be >= 0 and history >= 1")
        if not (math.isfinite(self.loose_sensor_per_h) and self.loose_sensor_per_h >= 0.0):
            raise ValueError("SimConfig.loose_sensor_per_h must be zero or positive")


@dataclass(frozen=True, slots=True)
class SimMeasurement:
    """One measurement a wrap took: the ground truth behind the packets that carry it.

    Values are as sent on air (temperatures in hundredths, contact level in whole percent), so a
    reading decoded from any packet of this measurement equals these values exactly.
    """

    t: float
    wrap_id: str
    packet_id: int
    counter: int
    skin_temp_c: float
    ambient_temp_c: float
    contact_level: int
    contact: bool
    battery_pct: int
    label: str

    @property
    def contact_fraction(self) -> float:
        """The contact level as a reading carries it (0..1)."""
        return self.contact_level / 100.0


@dataclass(frozen=True, slots=True)
class SimAdvert:
    """One advertisement on air: who sent it, when, how strong, and its BTHome service data.

    ``wrap_id`` is the simulated sender, ``None`` for packets that belong to no simulated wrap
    (injected foreign, forged or replayed ones); a receiver never sees it.
    """

    t: float
    mac: str
    rssi_dbm: int
    service_data: bytes
    wrap_id: str | None = None
    local_name: str | None = None
    connectable: bool = False


@dataclass(slots=True)
class _Chunk:
    """Rendered measurements of one planning chunk, consumed in time order."""

    t: np.ndarray
    skin: np.ndarray
    ambient: np.ndarray
    contact: np.ndarray
    battery: np.ndarray
    labels: list[str]
    pos: int = 0


@dataclass(slots=True)
class _Planner:
    """Online KMC day planner of one baby (the plan of ``synthetic.fleet``, one chunk at a time).

    KMC sessions of 1.5-5 h with short repositioning breaks alternate with 0.3-1.5 h out of KMC in
    which the baby cools (0.05-0.3 °C/h, fast coolers 0.8-1.6 °C/h) and is rewarmed at the start of
    the next session. During KMC a skin sensor comes loose at ``loose_per_h`` and is put back after
    3-15 minutes.
    """

    rng: np.random.Generator
    step_s: float
    loose_per_h: float
    baseline_c: float
    fast_cooler: bool
    in_kmc: bool
    phase_end_s: float

    def _q(self, duration_s: float) -> float:
        """A duration rounded up to whole measurement periods, so chunk grids line up."""
        return max(1, math.ceil(duration_s / self.step_s - 1e-9)) * self.step_s

    def extend(self, b: TraceBuilder, until_s: float) -> None:
        """Append segments to ``b`` until it reaches ``until_s``."""
        rng = self.rng
        while b.end_s < until_s:
            if b.end_s >= self.phase_end_s:
                self.in_kmc = not self.in_kmc
                hours = rng.uniform(1.5, 5.0) if self.in_kmc else rng.uniform(0.3, 1.5)
                self.phase_end_s = b.end_s + self._q(float(hours) * _HOUR_S)
                continue
            left_s = self.phase_end_s - b.end_s
            if not self.in_kmc:
                # Out of KMC, in a cot: cooling slowly, in pieces so the plan stays near the present.
                d = min(left_s, self._q(600.0))
                rate = rng.uniform(0.8, 1.6) if self.fast_cooler else rng.uniform(0.05, 0.3)
                b.ramp_skin(d, b.skin_c - float(rate) * d / _HOUR_S, contact=float(rng.uniform(0.03, 0.2)))
            elif b.skin_c < self.baseline_c - 0.05:
                rate = float(rng.uniform(1.0, 1.5))
                d = min(left_s, self._q((self.baseline_c - b.skin_c) / rate * _HOUR_S))
                b.ramp_skin(d, min(self.baseline_c, b.skin_c + rate * d / _HOUR_S), contact=CONTACT_LEVEL)
            else:
                d = min(left_s, self._q(float(rng.exponential(2400.0)) + 300.0))
                if rng.random() < -math.expm1(-self.loose_per_h * d / _HOUR_S):
                    # The thermistor slips off the skin part way into the stretch, reads the air, and
                    # is put back by a nurse a few minutes later.
                    b.contact(self._q(d / 2), level=float(rng.uniform(0.82, 0.97)))
                    b.detached(self._q(float(rng.uniform(180.0, 900.0))))
                    b.reattach(self._q(600.0), self.baseline_c)
                    continue
                b.contact(d, level=float(rng.uniform(0.82, 0.97)))
                if b.end_s < self.phase_end_s:
                    b.apart(self._q(float(rng.uniform(20.0, 110.0))), level=float(rng.uniform(0.03, 0.2)))


class SimWrap:
    """One simulated wrap: a baby, a sensor, a battery and a BLE radio.

    Use :class:`WardSimulator` to create them. :meth:`power_off`/:meth:`power_on` script a wrap
    that goes silent; loose sensors, sessions and cooling come from the planner.
    """

    def __init__(
        self,
        identity: WrapEntry,
        mode: Mode,
        config: SimConfig,
        start_s: float,
        seed: np.random.SeedSequence,
    ) -> None:
        self.identity = identity
        self.mode: Mode = mode
        self.config = config
        # Two independent streams: the baby's (planning, noise) and the radio's (jitter, losses,
        # RSSI). Their draws then never interleave, so the ward is the same packet for packet
        # however finely the caller steps it.
        phys_seed, radio_seed = seed.spawn(2)
        rng = self._rng = np.random.default_rng(phys_seed)
        self._radio_rng = np.random.default_rng(radio_seed)
        self.rssi_base_dbm = float(self._radio_rng.uniform(-85.0, -55.0))
        baseline_c = float(rng.uniform(36.7, 37.2))
        in_kmc = bool(rng.random() < 0.7)
        phase_s = float(rng.uniform(1.5, 5.0) if in_kmc else rng.uniform(0.3, 1.5)) * _HOUR_S
        self._planner = _Planner(
            rng=rng,
            step_s=config.measure_s,
            loose_per_h=config.loose_sensor_per_h,
            baseline_c=baseline_c,
            fast_cooler=bool(rng.random() < 0.15),
            in_kmc=in_kmc,
            phase_end_s=start_s + float(rng.uniform(0.05, 1.0)) * phase_s,
        )
        low_battery = rng.random() < 0.05
        # A wrap's first measurement and advertising event fall at random offsets: wraps are not in step.
        first_s = start_s + float(rng.uniform(0.0, config.measure_s))
        self._builder_state = {
            "skin_c": baseline_c - (0.0 if in_kmc else float(rng.uniform(0.0, 0.6))),
            "ambient_c": float(rng.uniform(24.0, 28.0)),
            "contact": CONTACT_LEVEL if in_kmc else APART_LEVEL,
            "battery_pct": float(rng.uniform(18.0, 30.0) if low_battery else rng.uniform(45.0, 100.0)),
            "drain_pct_per_h": float(rng.uniform(1.0, 2.0) if low_battery else rng.uniform(0.3, 1.2)),
        }
        self._next_chunk_s = first_s
        self._chunk: _Chunk | None = None
        self._next_adv_s = start_s + float(self._radio_rng.uniform(0.0, config.adv_interval_s))
        self.packet_id = int(rng.integers(0, 256))
        self.counter = int(rng.integers(0, 1 << 20))
        self._contact_on = in_kmc
        self._payload: bytes | None = None
        self.current: SimMeasurement | None = None
        self.history: deque[SimMeasurement] = deque(maxlen=config.history)
        self.powered = True
        self.linked = False  # a gateway holds a connection (connected mode): no advertising
        self.adverts_sent = 0
        self.adverts_lost = 0

    @property
    def wrap_id(self) -> str:
        return self.identity.wrap_id

    @property
    def mac(self) -> str:
        return self.identity.mac

    def power_off(self) -> None:
        """The wrap goes silent (battery pulled, out of range): nothing is sent, while the baby's
        physiology carries on underneath (so the truth is known when it comes back)."""
        self.powered = False

    def power_on(self) -> None:
        """The wrap is back on air."""
        self.powered = True

    # Physiology --------------------------------------------------------------------------------
    def _render_chunk(self) -> _Chunk:
        """Plan and render the next chunk of measurements."""
        cfg = self.config
        state = self._builder_state
        b = TraceBuilder(
            self.wrap_id,
            self._next_chunk_s,
            1.0 / cfg.measure_s,
            seed=int(self._rng.integers(2**63)),
            skin_c=state["skin_c"],
            ambient_c=state["ambient_c"],
            contact=state["contact"],
            battery_pct=state["battery_pct"],
            drain_pct_per_h=state["drain_pct_per_h"],
            noise=cfg.noise,
        )
        self._planner.extend(b, self._next_chunk_s + cfg.chunk_s)
        rows = b.rows()
        last = b.segments[-1]
        state["skin_c"] = b.skin_c
        state["ambient_c"] = last.ambient_c
        state["contact"] = last.contact
        state["battery_pct"] = last.battery_end_pct
        # Nominal sample times of this builder, to find which segment each measurement belongs to.
        starts = np.array([s.start_s for s in b.segments])
        nominal = self._next_chunk_s + np.arange(len(rows)) * cfg.measure_s
        seg_index = np.searchsorted(starts, nominal + 1e-9, side="right") - 1
        labels = [b.segments[i].label for i in seg_index.tolist()]
        self._next_chunk_s = b.end_s
        return _Chunk(rows.t_s, rows.skin_c, rows.ambient_c, rows.contact, rows.battery_pct, labels)

    def measure_until(self, t_s: float) -> list[SimMeasurement]:
        """Take every measurement due up to ``t_s``; those of a wrap switched off are kept in
        :attr:`history` but not returned (the baby carries on, nothing is sent).

        The physiology without the radio: :meth:`events_until` calls it for every advertising event.
        """
        out: list[SimMeasurement] = []
        while True:
            chunk = self._chunk
            if chunk is None or chunk.pos >= len(chunk.t):
                chunk = self._chunk = self._render_chunk()
                if len(chunk.t) == 0:
                    continue
            t = float(chunk.t[chunk.pos])
            if t > t_s:
                return out
            i = chunk.pos
            chunk.pos += 1
            level = int(round(float(chunk.contact[i]) * 100.0))
            if self._contact_on and level <= _CONTACT_OFF * 100:
                self._contact_on = False
            elif not self._contact_on and level >= _CONTACT_ON * 100:
                self._contact_on = True
            self.packet_id = (self.packet_id + 1) & 0xFF
            self.counter = (self.counter + 1) & 0xFFFFFFFF
            m = SimMeasurement(
                t=t,
                wrap_id=self.wrap_id,
                packet_id=self.packet_id,
                counter=self.counter,
                skin_temp_c=round(float(chunk.skin[i]), 2),
                ambient_temp_c=round(float(chunk.ambient[i]), 2),
                contact_level=level,
                contact=self._contact_on,
                battery_pct=int(chunk.battery[i]),
                label=chunk.labels[i],
            )
            self.current = m
            self.history.append(m)
            self._payload = None
            if self.powered:
                out.append(m)

    def payload(self) -> bytes | None:
        """The BTHome service data of the current measurement (encrypted once, then repeated)."""
        m = self.current
        if m is None:
            return None
        if self._payload is None:
            self._payload = self.seal(m)
        return self._payload

    def seal(self, m: SimMeasurement) -> bytes:
        """The BTHome service data that carries measurement ``m`` on air (sealed with the wrap's
        key when it has one): byte for byte what a scanner hears, as AES-CCM is deterministic."""
        objects = wrap_objects(
            packet_id=m.packet_id,
            battery_pct=m.battery_pct,
            skin_temp_c=m.skin_temp_c,
            ambient_temp_c=m.ambient_temp_c,
            contact_level=m.contact_level,
            contact=m.contact,
        )
        key = self.identity.key
        if key is None:
            return encode_service_data(objects)
        return encode_service_data(objects, key=key, mac=self.mac, counter=m.counter)

    def events_until(self, t_s: float) -> list[SimAdvert | SimMeasurement]:
        """Everything this wrap does up to ``t_s``: measurements taken and advertisements sent."""
        cfg = self.config
        rng = self._radio_rng
        out: list[SimAdvert | SimMeasurement] = []
        while self._next_adv_s <= t_s:
            adv_t = self._next_adv_s
            self._next_adv_s = adv_t + cfg.adv_interval_s + float(rng.uniform(0.0, cfg.adv_delay_max_s))
            out.extend(self.measure_until(adv_t))
            if not self.powered or self.linked:
                continue
            data = self.payload()
            if data is None:
                continue
            # Loss and RSSI are drawn for every event, lost or not, so that changing the loss rate
            # does not change the rest of the radio's random stream.
            lost = rng.random() < cfg.loss_prob
            rssi = int(round(self.rssi_base_dbm + float(rng.normal(0.0, 3.0))))
            if lost:
                self.adverts_lost += 1
                continue
            self.adverts_sent += 1
            name = f"KMC-{self.wrap_id}" if self.mode == "connected" else None
            out.append(SimAdvert(adv_t, self.mac, rssi, data, self.wrap_id, name, self.mode == "connected"))
        out.extend(self.measure_until(t_s))
        return out


class WardSimulator:
    """A ward of simulated wraps, advanced by whoever owns the clock.

    Parameters
    ----------
    n_wraps
        How many wraps; their ids are ``W01``, ``W02``, ... (``W001`` from 100 wraps on).
    start_s
        Simulated time at which the ward starts (seconds since the epoch).
    seed
        Fixes everything: identities, keys, physiology, jitter and losses.
    config
        Radio and bedside behaviour (:class:`SimConfig`).
    """

    def __init__(
        self,
        n_wraps: int,
        *,
        start_s: float,
        seed: int = 0,
        config: SimConfig | None = None,
    ) -> None:
        if n_wraps < 0:
            raise ValueError("n_wraps must not be negative")
        if not math.isfinite(start_s):
            raise ValueError("start_s must be a finite time")
        self.config = config or SimConfig()
        self.start_s = float(start_s)
        self._now_s = self.start_s
        width = max(2, len(str(n_wraps)))
        seq = np.random.SeedSequence(seed)
        wraps: list[SimWrap] = []
        macs: set[str] = set()
        # One seed per wrap: wrap i (identity, key, baby, radio) is the same whatever n_wraps is.
        for i, child in enumerate(seq.spawn(n_wraps)):
            id_seed, wrap_seed = child.spawn(2)
            id_rng = np.random.default_rng(id_seed)
            mac = _random_mac(id_rng)
            while mac in macs:
                mac = _random_mac(id_rng)
            macs.add(mac)
            key = id_rng.bytes(16) if self.config.encrypted else None
            identity = WrapEntry(f"W{i + 1:0{width}d}", mac, key)
            every = self.config.connected_every
            mode: Mode = "connected" if every and (i + 1) % every == 0 else "advert"
            wraps.append(SimWrap(identity, mode, self.config, self.start_s, wrap_seed))
        self.wraps: tuple[SimWrap, ...] = tuple(wraps)
        self._by_id = {w.wrap_id: w for w in wraps}
        self._by_mac = {w.mac: w for w in wraps}

    @property
    def now_s(self) -> float:
        """How far the ward has been run."""
        return self._now_s

    def wrap(self, wrap_id: str) -> SimWrap:
        """The wrap with this id (``KeyError`` if none)."""
        return self._by_id[wrap_id]

    def by_mac(self, mac: str) -> SimWrap | None:
        """The wrap with this Bluetooth address, if any."""
        return self._by_mac.get(format_mac(mac))

    def identities(self) -> list[WrapEntry]:
        """What the ward's registry must hold for these wraps: ids, addresses and keys."""
        return [w.identity for w in self.wraps]

    def registry(self) -> WrapRegistry:
        """The ward's wrap registry for a gateway that listens to these wraps."""
        return WrapRegistry(self.identities(), allow_unencrypted=not self.config.encrypted)

    def registry_toml(self) -> str:
        """The same registry as the text of a registry file (``WrapRegistry.load`` reads it back)."""
        lines = [
            "# kmc-monitor wrap registry of a simulated ward",
            f"allow_unencrypted = {'false' if self.config.encrypted else 'true'}",
        ]
        for i in self.identities():
            lines += ["", "[[wraps]]", f'wrap_id = "{i.wrap_id}"', f'mac = "{i.mac}"']
            if i.key is not None:
                lines.append(f'key = "{i.key.hex()}"')
        return "\n".join(lines) + "\n"

    def events_until(self, t_s: float) -> list[SimAdvert | SimMeasurement]:
        """Run the ward up to ``t_s`` and return what happened, in time order.

        Calls must not go back in time; a ``t_s`` at or before the last one returns nothing.
        """
        if t_s <= self._now_s:
            return []
        events: list[SimAdvert | SimMeasurement] = []
        for w in self.wraps:
            events.extend(w.events_until(t_s))
        self._now_s = t_s
        # Stable sort: a wrap's measurement stays before the advertisement that carries it.
        events.sort(key=_event_time)
        return events

    def adverts_until(self, t_s: float) -> list[SimAdvert]:
        """Only the advertisements of :meth:`events_until` (what a scanner could hear)."""
        return [e for e in self.events_until(t_s) if isinstance(e, SimAdvert)]

    def forged_advert(self, wrap_id: str, t_s: float, *, skin_temp_c: float = 37.0) -> SimAdvert:
        """An advertisement with a wrap's address and plausible values but sealed with a wrong key:
        what an attacker (or a wrap re-flashed with another ward's key) would send."""
        w = self.wrap(wrap_id)
        objects = wrap_objects(packet_id=(w.packet_id + 1) & 0xFF, skin_temp_c=skin_temp_c, contact_level=90)
        wrong_key = bytes(reversed(w.identity.key)) if w.identity.key else bytes(range(16))
        data = encode_service_data(objects, key=wrong_key, mac=w.mac, counter=(w.counter + 1000) & 0xFFFFFFFF)
        return SimAdvert(t_s, w.mac, int(w.rssi_base_dbm), data)

    def foreign_advert(self, t_s: float, *, mac: str = "A4:C1:38:00:00:01") -> SimAdvert:
        """A plain BTHome thermometer that is not one of the ward's wraps (a neighbour's sensor)."""
        data = encode_service_data(wrap_objects(packet_id=1, skin_temp_c=21.5, battery_pct=80))
        return SimAdvert(t_s, format_mac(mac), -90, data)


def _event_time(e: SimAdvert | SimMeasurement) -> float:
    return e.t


def _random_mac(rng: np.random.Generator) -> str:
    """A random static device address (the two top bits set, as BLE requires of static addresses)."""
    raw = rng.integers(0, 256, 6, dtype=np.uint8).tolist()
    raw[0] |= 0xC0
    return format_mac(bytes(raw))


def replay(advert: SimAdvert, t_s: float) -> SimAdvert:
    """The same packet heard again at ``t_s``: a recorded advertisement sent by an attacker later."""
    return replace(advert, t=t_s, wrap_id=None)
