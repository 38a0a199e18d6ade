"""Hypothesis strategies for wrap traces that exercise every rule.

Traces are built from segments whose levels sit on and around the clinical thresholds, with random
sampling intervals, data gaps, noise, missing and invalid fields, duplicates and disorder, so that a
few hundred examples visit every branch of the rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from kmc_monitor.signal import RuleParams, WrapSeries, build_series

T0 = 1_767_225_600.0

#: Skin temperatures on, just below and just above every threshold (°C).
SKIN_LEVELS = (
    25.0,
    27.0,
    30.0,
    31.9,
    32.0,
    33.5,
    35.5,
    35.99,
    36.0,
    36.2,
    36.49,
    36.5,
    36.55,
    36.59,
    36.6,
    36.8,
    36.99,
    37.0,
    37.2,
    37.4,
    37.41,
    37.5,
    37.51,
    38.0,
    39.5,
)
AMBIENT_LEVELS = (24.0, 26.0, 30.0, 33.0, 34.5, 35.0)
CONTACT_LEVELS = (0.0, 0.1, 0.4, 0.41, 0.5, 0.59, 0.6, 0.9, 1.0)
BATTERY_LEVELS = (90.0, 30.0, 25.0, 24.0, 20.0, 19.9, 10.0)


@dataclass(frozen=True)
class Segment:
    duration_s: float
    dt_s: float
    skin_to: float
    ramp: bool
    ambient: float | None
    contact: float
    battery: float
    noise_c: float
    gap_after_s: float


segments = st.builds(
    Segment,
    duration_s=st.sampled_from((5.0, 20.0, 45.0, 70.0, 130.0, 320.0, 700.0, 1900.0)),
    dt_s=st.sampled_from((0.5, 1.0, 1.0, 2.0, 5.0, 10.0, 29.0)),
    skin_to=st.sampled_from(SKIN_LEVELS),
    ramp=st.booleans(),
    ambient=st.one_of(st.none(), st.sampled_from(AMBIENT_LEVELS)),
    contact=st.sampled_from(CONTACT_LEVELS),
    battery=st.sampled_from(BATTERY_LEVELS),
    noise_c=st.sampled_from((0.0, 0.0, 0.02, 0.08, 0.5)),
    # Around stale_after (30 s) and gap_tolerance (120 s): silences that are and are not recovery.
    gap_after_s=st.sampled_from((0.0, 0.0, 0.0, 31.0, 45.0, 90.0, 119.0, 120.0, 121.0, 150.0, 400.0)),
)


@st.composite
def traces(draw: st.DrawFn, max_segments: int = 8) -> WrapSeries:
    """One wrap's readings, already validated, sorted and de-duplicated."""
    segs = draw(st.lists(segments, min_size=1, max_size=max_segments))
    seed = draw(st.integers(0, 2**32 - 1))
    jitter = draw(st.sampled_from((0.0, 0.0, 0.2)))
    p_missing = draw(st.sampled_from((0.0, 0.0, 0.05, 0.3)))
    p_invalid = draw(st.sampled_from((0.0, 0.0, 0.02)))
    p_dup = draw(st.sampled_from((0.0, 0.0, 0.05)))
    # Wraps or recorders that send contact in one reading out of k (held for stale_after).
    contact_every = draw(st.sampled_from((1, 1, 1, 5, 40)))
    shuffle = draw(st.booleans())
    rng = np.random.default_rng(seed)
    ts, skin, amb, con, bat = [], [], [], [], []
    t = T0 + float(rng.uniform(0, 86_400))
    level = draw(st.sampled_from(SKIN_LEVELS))
    for s in segs:
        n = max(1, int(s.duration_s / s.dt_s))
        tt = t + np.arange(n) * s.dt_s + rng.uniform(-jitter, jitter, n) * min(s.dt_s, 1.0)
        base = np.linspace(level, s.skin_to, n) if s.ramp else np.full(n, s.skin_to)
        ts.append(tt)
        skin.append(np.round(base + rng.normal(0, 1, n) * s.noise_c, 2))
        amb.append(
            np.full(n, np.nan) if s.ambient is None else np.round(s.ambient + rng.normal(0, 0.05, n), 2)
        )
        con.append(np.clip(s.contact + rng.normal(0, 1, n) * (0.05 if s.noise_c else 0.0), 0, 1))
        bat.append(np.full(n, s.battery))
        level = s.skin_to
        t = float(tt[-1]) + s.dt_s + s.gap_after_s
    cols = [np.concatenate(x) for x in (ts, skin, amb, con, bat)]
    n = cols[0].size
    for k in range(1, 5):
        cols[k][rng.random(n) < p_missing] = np.nan
    if contact_every > 1:
        cols[3][np.arange(n) % contact_every != 0] = np.nan
    bad = rng.random(n) < p_invalid
    cols[1][bad] = 99.0
    cols[3][rng.random(n) < p_invalid] = 1.7
    if p_dup:
        dup = np.flatnonzero(rng.random(n) < p_dup)
        cols = [np.concatenate((c, c[dup] + (0.01 if k > 0 else 0.0))) for k, c in enumerate(cols)]
    if shuffle:
        order = rng.permutation(cols[0].size)
        cols = [c[order] for c in cols]
    return build_series("W", cols[0], cols[1], cols[2], cols[3], cols[4], params=RuleParams())


@st.composite
def chunkings(draw: st.DrawFn, n: int) -> list[int]:
    """Sorted cut points splitting ``n`` readings into consecutive chunks."""
    if n <= 1:
        return []
    cuts = draw(st.lists(st.integers(1, n - 1), max_size=12, unique=True))
    return sorted(cuts)
