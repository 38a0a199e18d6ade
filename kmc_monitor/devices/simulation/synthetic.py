"""Seeded synthetic wrap traces with known ground truth.

Scenario tests, the example traces and the benchmarks all need readings whose truth is known by
construction: "the baby was out of contact from here to here and cooled at 1.2 °C/h". A
:class:`TraceBuilder` describes a trace as a list of :class:`Segment` values (contact, apart, a skin
temperature ramp, a sensor lifted off the skin, radio silence, ...) and renders it in one vectorised
pass: no per-sample Python loop, so :func:`fleet` can build a ward of 1,000 wraps × 24 h at 1 Hz in
seconds.

Imperfections of real wraps are opt-in and separate from the truth: measurement noise
(:class:`Noise`) and delivery faults such as jittered, dropped, duplicated and shuffled readings
(:class:`Delivery`). Every random draw comes from ``np.random.default_rng(seed)``, so a builder with
the same seed renders byte-identical arrays every time. Draws happen in a fixed order (skin noise,
ambient noise, contact noise, jitter, drops, duplicates, shuffle) and are skipped when an option is
off, so switching on a later fault never changes the values an earlier one produced: a shuffled,
duplicated trace orders and de-duplicates back to exactly the clean one.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

from kmc_monitor.devices.reading import Reading
from kmc_monitor.signal.params import RuleParams
from kmc_monitor.signal.series import WrapSeries, build_series

__all__ = [
    "CONTACT_LEVEL",
    "APART_LEVEL",
    "Delivery",
    "Noise",
    "Segment",
    "Shape",
    "TraceBuilder",
    "TraceRows",
    "WARD_NOISE",
    "fleet",
    "iter_fleet",
]

FloatArray = npt.NDArray[np.float64]

#: Contact level a wrap reports with the baby skin-to-skin on the mother's chest.
CONTACT_LEVEL = 0.9
#: Contact level a wrap reports with no skin contact (baby in a cot, wrap open).
APART_LEVEL = 0.1

#: How a segment's skin temperature evolves: held, linear ramp, exponential approach, or no readings.
Shape = Literal["hold", "ramp", "approach", "gap"]

# Real wraps report temperatures in hundredths of a degree and contact in hundredths.
_TEMP_DECIMALS = 2
_CONTACT_DECIMALS = 2
# Wraps stamp readings to the millisecond.
_TIME_DECIMALS = 3


@dataclass(frozen=True, slots=True)
class Noise:
    """Gaussian measurement noise, added before quantisation.

    Attributes
    ----------
    skin_sd_c, ambient_sd_c
        Standard deviation of the thermistor noise in °C.
    contact_sd
        Standard deviation of the contact-level noise; the result is clipped to 0..1.
    """

    skin_sd_c: float = 0.0
    ambient_sd_c: float = 0.0
    contact_sd: float = 0.0

    def __post_init__(self) -> None:
        for name in ("skin_sd_c", "ambient_sd_c", "contact_sd"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"Noise.{name} must be zero or positive")


@dataclass(frozen=True, slots=True)
class Delivery:
    """How readings reach the monitor: the radio's faults, not the baby's.

    Attributes
    ----------
    jitter_s
        Each timestamp moves by a uniform amount in ``[-jitter_s, +jitter_s]``; must stay below half
        the sampling period so that jitter alone never reorders readings.
    drop_prob
        Probability that a reading is lost.
    duplicate_prob
        Probability that a reading arrives twice (an identical copy right after it).
    shuffle
        Deliver the rows in a random order.
    """

    jitter_s: float = 0.0
    drop_prob: float = 0.0
    duplicate_prob: float = 0.0
    shuffle: bool = False

    def __post_init__(self) -> None:
        if not self.jitter_s >= 0.0:
            raise ValueError("Delivery.jitter_s must be zero or positive")
        for name in ("drop_prob", "duplicate_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"Delivery.{name} must be in [0, 1)")


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of a trace with its ground truth.

    Attributes
    ----------
    label
        What the stretch represents (``contact``, ``apart``, ``ramp``, ``detached``, ``gap``, ...).
    start_s, duration_s
        Where it lies, seconds since the epoch and seconds; readings fall in ``[start_s, end_s)``.
    shape
        How the skin temperature evolves inside it.
    skin_from_c
        Skin temperature at ``start_s``.
    skin_to_c
        End value of a ramp, asymptote of an approach, the held value otherwise.
    tau_s
        Time constant of an approach (unused by other shapes).
    ambient_c, contact
        Ambient temperature and contact level, constant over the segment.
    battery_from_pct, drain_pct_per_h
        Battery at ``start_s`` and its linear drain.
    """

    label: str
    start_s: float
    duration_s: float
    shape: Shape
    skin_from_c: float
    skin_to_c: float
    tau_s: float
    ambient_c: float
    contact: float
    battery_from_pct: float
    drain_pct_per_h: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def skin_end_c(self) -> float:
        """Skin temperature at ``end_s``, where the next segment carries on from."""
        if self.shape == "ramp":
            return self.skin_to_c
        if self.shape == "approach":
            decay = math.exp(-self.duration_s / self.tau_s)
            return self.skin_to_c + (self.skin_from_c - self.skin_to_c) * decay
        return self.skin_from_c

    @property
    def battery_end_pct(self) -> float:
        return self.battery_from_pct - self.drain_pct_per_h * self.duration_s / 3600.0


@dataclass(frozen=True, slots=True, eq=False)
class TraceRows:
    """A rendered trace as plain columns, in delivery order (NaN = missing), ready to write to a file."""

    wrap_id: str
    t_s: FloatArray
    skin_c: FloatArray
    ambient_c: FloatArray
    contact: FloatArray
    battery_pct: FloatArray

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def readings(self, rssi_dbm: float | None = None) -> list[Reading]:
        """The rows as a source delivers them, one :class:`Reading` each (NaN → None), in order:
        what the live engine is fed in the scenario runner and the tests."""

        def opt(x: float) -> float | None:
            return None if math.isnan(x) else x

        return [
            Reading(t, self.wrap_id, opt(s), opt(a), opt(c), opt(p), rssi_dbm)
            for t, s, a, c, p in zip(
                self.t_s.tolist(),
                self.skin_c.tolist(),
                self.ambient_c.tolist(),
                self.contact.tolist(),
                self.battery_pct.tolist(),
                strict=True,
            )
        ]


class TraceBuilder:
    """Fluent builder of one wrap's trace from segments with known truth.

    Every segment method appends a stretch of ``duration_s`` seconds starting where the previous one
    ended and returns the builder. Arguments left ``None`` carry on the current value (skin and
    ambient temperature, contact level), so temperatures stay continuous unless a step is asked for.
    Nothing random happens until :meth:`rows` or :meth:`build`, which re-seed each time.

    Example
    -------
    >>> b = TraceBuilder("W01", 1767225600.0, seed=1)
    >>> series = b.apart(300).contact(5400).ramp_skin(1800, to_c=36.0, contact=0.1).build()
    """

    def __init__(
        self,
        wrap_id: str,
        start_s: float,
        rate_hz: float = 1.0,
        *,
        seed: int = 0,
        skin_c: float = 36.8,
        ambient_c: float = 26.0,
        contact: float = CONTACT_LEVEL,
        battery_pct: float = 90.0,
        drain_pct_per_h: float = 0.0,
        noise: Noise | None = None,
        delivery: Delivery | None = None,
        ambient_sensor: bool = True,
    ) -> None:
        if not (math.isfinite(rate_hz) and rate_hz > 0.0):
            raise ValueError("rate_hz must be a positive number")
        self.delivery = delivery or Delivery()
        if self.delivery.jitter_s >= 0.5 / rate_hz:
            raise ValueError("Delivery.jitter_s must be below half the sampling period")
        self.wrap_id = wrap_id
        self.start_s = float(start_s)
        self.rate_hz = float(rate_hz)
        self.seed = seed
        self.noise = noise or Noise()
        self.ambient_sensor = ambient_sensor
        self._segments: list[Segment] = []
        self._end_s = self.start_s
        self._skin_c = skin_c
        self._ambient_c = ambient_c
        self._contact = contact
        self._battery_pct = battery_pct
        self._drain = drain_pct_per_h

    # State -----------------------------------------------------------------------------------------
    @property
    def end_s(self) -> float:
        """Where the next segment will start (seconds since the epoch)."""
        return self._end_s

    @property
    def skin_c(self) -> float:
        """The skin temperature the next segment starts from."""
        return self._skin_c

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The ground truth: every segment so far, in order."""
        return tuple(self._segments)

    # Segments --------------------------------------------------------------------------------------
    def _add(
        self,
        label: str,
        duration_s: float,
        shape: Shape,
        skin_to_c: float | None,
        *,
        tau_s: float = math.inf,
        ambient_c: float | None = None,
        contact: float | None = None,
    ) -> Self:
        if not (math.isfinite(duration_s) and duration_s > 0.0):
            raise ValueError(f"{label}: duration_s must be a positive number of seconds")
        if not tau_s > 0.0:
            raise ValueError(f"{label}: tau_s must be positive")
        if ambient_c is not None:
            self._ambient_c = ambient_c
        if contact is not None:
            self._contact = contact
        skin_from = self._skin_c
        if shape == "hold" and skin_to_c is not None:
            skin_from = skin_to_c  # a step: the held value starts at once
        seg = Segment(
            label=label,
            start_s=self._end_s,
            duration_s=float(duration_s),
            shape=shape,
            skin_from_c=skin_from,
            skin_to_c=skin_from if skin_to_c is None else skin_to_c,
            tau_s=tau_s,
            ambient_c=self._ambient_c,
            contact=self._contact,
            battery_from_pct=self._battery_pct,
            drain_pct_per_h=self._drain,
        )
        self._segments.append(seg)
        self._end_s = seg.end_s
        self._skin_c = seg.skin_end_c
        self._battery_pct = seg.battery_end_pct
        return self

    def contact(
        self,
        duration_s: float,
        skin_c: float | None = None,
        ambient_c: float | None = None,
        *,
        level: float = CONTACT_LEVEL,
    ) -> Self:
        """Skin-to-skin contact with a steady skin temperature (a step to ``skin_c`` if given)."""
        return self._add("contact", duration_s, "hold", skin_c, ambient_c=ambient_c, contact=level)

    def apart(
        self,
        duration_s: float,
        skin_c: float | None = None,
        ambient_c: float | None = None,
        *,
        level: float = APART_LEVEL,
    ) -> Self:
        """No skin contact, skin temperature steady (a short break, or a baby kept warm elsewhere)."""
        return self._add("apart", duration_s, "hold", skin_c, ambient_c=ambient_c, contact=level)

    def ramp_skin(
        self,
        duration_s: float,
        to_c: float,
        *,
        contact: float | None = None,
        ambient_c: float | None = None,
    ) -> Self:
        """A linear skin temperature change to ``to_c``: a baby cooling out of KMC, or rewarming in it."""
        return self._add("ramp", duration_s, "ramp", to_c, ambient_c=ambient_c, contact=contact)

    def approach_skin(
        self,
        duration_s: float,
        to_c: float,
        tau_s: float,
        *,
        contact: float | None = None,
        ambient_c: float | None = None,
        label: str = "approach",
    ) -> Self:
        """Skin temperature relaxes exponentially towards ``to_c`` with time constant ``tau_s``."""
        return self._add(
            label, duration_s, "approach", to_c, tau_s=tau_s, ambient_c=ambient_c, contact=contact
        )

    def detached(
        self,
        duration_s: float,
        *,
        tau_s: float = 40.0,
        above_ambient_c: float = 0.5,
        contact: float | None = None,
    ) -> Self:
        """The skin thermistor is lifted off the skin and reads the air under the wrap.

        It falls towards ambient (plus ``above_ambient_c``) with a thermistor-in-air time constant of
        about 40 s, far faster than a baby can cool. The contact level is kept by default: the wrap
        may still sense the baby while only the thermistor has slipped.
        """
        return self.approach_skin(
            duration_s,
            self._ambient_c + above_ambient_c,
            tau_s,
            contact=contact,
            label="detached",
        )

    def reattach(
        self,
        duration_s: float,
        skin_c: float = 36.8,
        *,
        tau_s: float = 60.0,
        contact: float | None = None,
    ) -> Self:
        """The thermistor is back on the skin and warms towards ``skin_c`` (time constant ~60 s)."""
        return self.approach_skin(duration_s, skin_c, tau_s, contact=contact, label="reattach")

    def gap(self, duration_s: float) -> Self:
        """Radio silence: no readings at all; the baby's state carries on unchanged underneath."""
        return self._add("gap", duration_s, "gap", None)

    def battery(self, pct: float) -> Self:
        """Set the battery level from here on (a fresh or swapped battery)."""
        self._battery_pct = pct
        return self

    def drain(self, pct_per_h: float) -> Self:
        """Set the battery drain rate from here on."""
        self._drain = pct_per_h
        return self

    # Rendering -------------------------------------------------------------------------------------
    def rows(self) -> TraceRows:
        """Render the segments as columns in delivery order, with noise and delivery faults applied."""
        segs = self._segments
        empty = np.empty(0, dtype=np.float64)
        if not segs:
            return TraceRows(self.wrap_id, empty, empty, empty, empty, empty)
        rng = np.random.default_rng(self.seed)
        rate = self.rate_hz

        # Per-segment parameters expanded to samples with np.repeat: the per-sample work is all NumPy.
        seg_off = np.array([s.start_s - self.start_s for s in segs] + [self._end_s - self.start_s])
        # Sample k (nominal offset k / rate) belongs to the segment whose [start, end) holds it; the
        # small tolerance keeps 0.2 Hz boundaries like 300.0 s from drifting to the next sample.
        k_edges = np.ceil(seg_off * rate - 1e-9).astype(np.int64)
        counts = np.diff(k_edges)
        n = int(k_edges[-1])

        def per_sample(values: npt.ArrayLike) -> npt.NDArray[Any]:
            return np.repeat(np.asarray(values), counts)

        def field(name: str) -> FloatArray:
            return per_sample([getattr(s, name) for s in segs])

        offset = np.arange(n, dtype=np.float64) / rate
        u = offset - per_sample(seg_off[:-1])
        skin_from = field("skin_from_c")
        slope = [(s.skin_to_c - s.skin_from_c) / s.duration_s if s.shape == "ramp" else 0.0 for s in segs]
        skin = skin_from + per_sample(slope) * u
        if any(s.shape == "approach" for s in segs):
            idx = np.flatnonzero(per_sample([s.shape == "approach" for s in segs]))
            src, dst, tau = skin_from[idx], field("skin_to_c")[idx], field("tau_s")[idx]
            skin[idx] = dst + (src - dst) * np.exp(-u[idx] / tau)
        ambient = field("ambient_c")
        contact = field("contact")
        battery = field("battery_from_pct") - field("drain_pct_per_h") * (u / 3600.0)

        noise = self.noise
        if noise.skin_sd_c > 0.0:
            skin += rng.normal(0.0, noise.skin_sd_c, n)
        if noise.ambient_sd_c > 0.0:
            ambient = ambient + rng.normal(0.0, noise.ambient_sd_c, n)
        if noise.contact_sd > 0.0:
            contact = contact + rng.normal(0.0, noise.contact_sd, n)
        skin = np.round(skin, _TEMP_DECIMALS)
        ambient = np.round(ambient, _TEMP_DECIMALS) if self.ambient_sensor else np.full(n, np.nan)
        contact = np.round(np.clip(contact, 0.0, 1.0, out=contact), _CONTACT_DECIMALS)
        battery = np.round(np.clip(battery, 0.0, 100.0, out=battery))

        delivery = self.delivery
        t = self.start_s + offset
        if delivery.jitter_s > 0.0:
            t = t + rng.uniform(-delivery.jitter_s, delivery.jitter_s, n)
        t = np.round(t, _TIME_DECIMALS)
        cols = [t, skin, ambient, contact, battery]
        keep = per_sample([s.shape != "gap" for s in segs])
        if delivery.drop_prob > 0.0:
            keep &= rng.random(n) >= delivery.drop_prob
        if not keep.all():
            cols = [c[keep] for c in cols]
        if delivery.duplicate_prob > 0.0:
            reps = 1 + (rng.random(cols[0].shape[0]) < delivery.duplicate_prob)
            cols = [np.repeat(c, reps) for c in cols]
        if delivery.shuffle:
            perm = rng.permutation(cols[0].shape[0])
            cols = [c[perm] for c in cols]
        return TraceRows(self.wrap_id, *cols)

    def build(self, params: RuleParams | None = None) -> WrapSeries:
        """Render and hand the rows to :func:`build_series`, which orders and de-duplicates them."""
        r = self.rows()
        return build_series(r.wrap_id, r.t_s, r.skin_c, r.ambient_c, r.contact, r.battery_pct, params=params)


# A ward day ----------------------------------------------------------------------------------------
#: Measurement noise of a typical wrap: thermistors to a few hundredths, contact a little jumpy.
WARD_NOISE = Noise(skin_sd_c=0.03, ambient_sd_c=0.08, contact_sd=0.02)


class _Day:
    """Appends segments to a builder without running past the end of the day."""

    def __init__(self, builder: TraceBuilder, total_s: float) -> None:
        self.b = builder
        self.stop_s = builder.start_s + total_s

    @property
    def left_s(self) -> float:
        return self.stop_s - self.b.end_s

    def fit(self, duration_s: float) -> float:
        """The part of ``duration_s`` that still fits in the day (0 when the day is full)."""
        return max(0.0, min(duration_s, self.left_s))


def _ward_day(b: TraceBuilder, rng: np.random.Generator, total_s: float) -> None:
    """Fill ``total_s`` with a plausible KMC day for one baby.

    Long KMC sessions with short repositioning breaks alternate with time out of KMC, where the baby
    cools slowly (faster for some), and is rewarmed back in KMC. Some wraps have one detached-sensor
    episode or one radio gap; the patterns are drawn from ``rng`` so a seed fixes the whole day.
    """
    day = _Day(b, total_s)
    baseline_c = float(rng.uniform(36.7, 37.2))
    fast_cooler = rng.random() < 0.15
    detach_at_s = float(rng.uniform(0.1, 0.9) * total_s) if rng.random() < 0.10 else math.inf
    gap_at_s = float(rng.uniform(0.1, 0.9) * total_s) if rng.random() < 0.10 else math.inf

    if rng.random() < 0.5:  # half the babies start the day out of KMC
        if (d := day.fit(rng.uniform(600.0, 3600.0))) > 0.0:
            b.apart(d)
    while day.left_s > 0.0:
        # A KMC session: rewarm to baseline if needed, then contact with repositioning breaks.
        session_end_s = b.end_s + float(rng.uniform(1.5, 5.0)) * 3600.0
        if b.skin_c < baseline_c - 0.05:
            rewarm_s = max(60.0, (baseline_c - b.skin_c) / float(rng.uniform(1.0, 1.5)) * 3600.0)
            if (d := day.fit(rewarm_s)) > 0.0:
                b.ramp_skin(d, b.skin_c + (baseline_c - b.skin_c) * d / rewarm_s, contact=CONTACT_LEVEL)
        while (d := day.fit(min(session_end_s - b.end_s, rng.exponential(2400.0) + 300.0))) > 0.0:
            elapsed_s = b.end_s - b.start_s
            if elapsed_s >= detach_at_s:
                detach_at_s = math.inf
                b.detached(day.fit(rng.uniform(180.0, 900.0)))
                if (d := day.fit(600.0)) > 0.0:
                    b.reattach(d, baseline_c)
                continue
            if elapsed_s >= gap_at_s:
                gap_at_s = math.inf
                b.gap(day.fit(rng.uniform(60.0, 300.0)))
                continue
            b.contact(d, level=float(rng.uniform(0.82, 0.97)))
            if b.end_s < session_end_s and (d := day.fit(rng.uniform(20.0, 110.0))) > 0.0:
                b.apart(d, level=float(rng.uniform(0.03, 0.2)))  # repositioning, bridged
        # Out of KMC: in a cot, cooling slowly.
        out_s = day.fit(rng.uniform(0.3, 1.5) * 3600.0)
        if out_s > 0.0:
            rate_c_per_h = rng.uniform(0.8, 1.6) if fast_cooler else rng.uniform(0.05, 0.3)
            b.ramp_skin(out_s, b.skin_c - rate_c_per_h * out_s / 3600.0, contact=APART_LEVEL)


def _wrap_day(
    index: int,
    seed_seq: np.random.SeedSequence,
    hours: float,
    rate_hz: float,
    start_s: float,
    noise: Noise | None,
    delivery: Delivery | None,
) -> TraceBuilder:
    """The builder of wrap ``index`` of a fleet: cheap, all Python, nothing rendered yet."""
    rng = np.random.default_rng(seed_seq)
    low_battery = rng.random() < 0.05
    b = TraceBuilder(
        f"W{index + 1:04d}",
        start_s,
        rate_hz,
        seed=int(rng.integers(2**63)),
        skin_c=float(rng.uniform(36.7, 37.2)),
        ambient_c=float(rng.uniform(24.0, 28.0)),
        battery_pct=float(rng.uniform(18.0, 30.0) if low_battery else rng.uniform(45.0, 100.0)),
        drain_pct_per_h=float(rng.uniform(1.0, 2.0) if low_battery else rng.uniform(0.3, 1.2)),
        noise=noise,
        delivery=delivery,
    )
    _ward_day(b, rng, hours * 3600.0)
    return b


def iter_fleet(
    n_wraps: int,
    hours: float = 24.0,
    rate_hz: float = 1.0,
    seed: int = 0,
    *,
    start_s: float = 1767225600.0,
    noise: Noise | None = WARD_NOISE,
    delivery: Delivery | None = None,
    workers: int | None = None,
) -> Iterator[WrapSeries]:
    """Yield the wraps of :func:`fleet` in order, for callers that need not hold them all."""
    if n_wraps < 0:
        raise ValueError("n_wraps must not be negative")
    # One independent stream per wrap: wrap i is the same whatever n_wraps or workers is.
    builders = (
        _wrap_day(i, child, hours, rate_hz, start_s, noise, delivery)
        for i, child in enumerate(np.random.SeedSequence(seed).spawn(n_wraps))
    )
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    if n_workers <= 1:
        yield from (b.build() for b in builders)
        return
    # NumPy releases the GIL in its array loops and random fills, so threads render wraps in parallel.
    # At most two wraps per worker are rendered ahead, so a streaming caller holds only a few.
    with ThreadPoolExecutor(n_workers) as pool:
        pending: deque[Future[WrapSeries]] = deque()
        for b in builders:
            pending.append(pool.submit(b.build))
            if len(pending) >= 2 * n_workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def fleet(
    n_wraps: int,
    hours: float = 24.0,
    rate_hz: float = 1.0,
    seed: int = 0,
    *,
    start_s: float = 1767225600.0,
    noise: Noise | None = WARD_NOISE,
    delivery: Delivery | None = None,
    workers: int | None = None,
) -> list[WrapSeries]:
    """A ward of ``n_wraps`` wraps over ``hours`` with mixed, plausible patterns.

    Most babies have long KMC sessions (1.5-5 h) with short repositioning breaks, and spells out of
    KMC (0.3-1.5 h) in which they cool slowly (0.05-0.3 °C/h) and are rewarmed in the next session.
    About 15 % cool fast out of KMC (0.8-1.6 °C/h) and reach cold stress or moderate hypothermia;
    about 10 % have a detached-sensor episode, 10 % a radio gap of 1-5 min and 5 % a low battery.
    Wrap ids are ``W0001``, ``W0002``, ... ``workers`` threads render the wraps (default: up to 4, by
    CPU count); the result does not depend on it.
    """
    return list(
        iter_fleet(
            n_wraps,
            hours,
            rate_hz,
            seed,
            start_s=start_s,
            noise=noise,
            delivery=delivery,
            workers=workers,
        )
    )
