"""The synthetic builder renders exactly the ground truth it is given, plus only the noise asked for."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmc_monitor.devices.simulation.synthetic import (
    APART_LEVEL,
    CONTACT_LEVEL,
    Delivery,
    Noise,
    TraceBuilder,
    fleet,
    iter_fleet,
)
from kmc_monitor.signal.params import US

T0 = 1767225600.0
#: Sample mean / sd of n gaussian draws: allow 5 standard errors, plus the 0.01 quantisation.
SIGMAS = 5.0
QUANTUM_C = 0.01


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


# Durations, rates, ground truth -------------------------------------------------------------------
@pytest.mark.parametrize(("rate_hz", "period_s"), [(1.0, 1.0), (0.2, 5.0), (4.0, 0.25)])
def test_rate_and_duration(rate_hz: float, period_s: float) -> None:
    r = TraceBuilder("W", T0, rate_hz).contact(600).apart(300).rows()
    assert len(r) == round(900 * rate_hz)
    assert r.t_s[0] == T0
    assert r.t_s[-1] == pytest.approx(T0 + 900 - period_s)
    assert np.allclose(np.diff(r.t_s), period_s)


def test_segments_are_contiguous_ground_truth() -> None:
    b = TraceBuilder("W", T0).contact(100).gap(30).ramp_skin(200, 36.0).detached(50)
    segs = b.segments
    assert [s.label for s in segs] == ["contact", "gap", "ramp", "detached"]
    assert segs[0].start_s == T0
    for prev, nxt in zip(segs, segs[1:], strict=False):
        assert nxt.start_s == prev.end_s
        assert nxt.skin_from_c == pytest.approx(prev.skin_end_c)
    assert b.end_s == T0 + 380


def test_contact_and_apart_levels_without_noise_are_exact() -> None:
    r = TraceBuilder("W", T0, skin_c=36.8, ambient_c=26.0).contact(60).apart(60).rows()
    assert np.all(r.contact[:60] == CONTACT_LEVEL)
    assert np.all(r.contact[60:] == APART_LEVEL)
    assert np.all(r.skin_c == 36.8)
    assert np.all(r.ambient_c == 26.0)


def test_step_and_hold_of_skin_temperature() -> None:
    r = TraceBuilder("W", T0, skin_c=36.8).contact(10).contact(10, skin_c=36.2).apart(10).rows()
    assert np.all(r.skin_c[:10] == 36.8)
    assert np.all(r.skin_c[10:] == 36.2)  # apart() carries the current temperature on


def test_ramp_is_linear_to_its_target() -> None:
    b = TraceBuilder("W", T0, skin_c=37.0).ramp_skin(3600, 36.0)
    r = b.rows()
    expected = np.round(37.0 - np.arange(3600) / 3600.0, 2)
    assert np.allclose(r.skin_c, expected, atol=1e-9)
    assert b.skin_c == 36.0


def test_detached_sensor_falls_to_ambient_with_its_time_constant() -> None:
    b = TraceBuilder("W", T0, skin_c=36.8, ambient_c=26.0).detached(400, tau_s=40.0, above_ambient_c=0.5)
    r = b.rows()
    floor = 26.5
    assert np.all(np.diff(r.skin_c) <= 0.0)
    # After one time constant 1/e of the distance is left; after ten, nothing measurable.
    assert r.skin_c[40] == pytest.approx(floor + (36.8 - floor) / math.e, abs=QUANTUM_C)
    assert r.skin_c[-1] == pytest.approx(floor, abs=QUANTUM_C)
    # Far faster than a baby can cool: more than 1.5 C within the first 60 s (the detach rule).
    assert r.skin_c[0] - r.skin_c[60] > 1.5


def test_reattach_warms_back_towards_skin() -> None:
    b = TraceBuilder("W", T0, skin_c=36.8, ambient_c=26.0).detached(600).reattach(600, 36.8, tau_s=60.0)
    r = b.rows()
    assert r.skin_c[599] < 27.0
    assert r.skin_c[-1] == pytest.approx(36.8, abs=QUANTUM_C)
    assert np.all(np.diff(r.skin_c[600:]) >= 0.0)


def test_gap_has_no_readings() -> None:
    r = TraceBuilder("W", T0).contact(100).gap(60).contact(100).rows()
    assert len(r) == 200
    assert not np.any((r.t_s >= T0 + 100) & (r.t_s < T0 + 160))
    assert np.max(np.diff(r.t_s)) == 61.0


def test_battery_drains_and_is_replaced() -> None:
    r = TraceBuilder("W", T0, battery_pct=30.0, drain_pct_per_h=10.0).contact(3600).battery(100.0).contact(60)
    b = r.rows()
    assert b.battery_pct[0] == 30.0
    assert b.battery_pct[3599] == 20.0
    assert np.all(np.diff(b.battery_pct[:3600]) <= 0.0)
    assert np.all(b.battery_pct == np.round(b.battery_pct))  # whole percent
    assert b.battery_pct[3600] == pytest.approx(100.0, abs=1.0)


def test_no_ambient_sensor() -> None:
    r = TraceBuilder("W", T0, ambient_sensor=False).contact(30).rows()
    assert np.all(np.isnan(r.ambient_c))
    assert not np.any(np.isnan(r.skin_c))


def test_empty_builder() -> None:
    b = TraceBuilder("W", T0)
    assert len(b.rows()) == 0
    assert len(b.build()) == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: TraceBuilder("W", T0, 0.0),
        lambda: TraceBuilder("W", T0, 1.0, delivery=Delivery(jitter_s=0.5)),
        lambda: TraceBuilder("W", T0).contact(0.0),
        lambda: TraceBuilder("W", T0).contact(math.nan),
        lambda: TraceBuilder("W", T0).approach_skin(10, 30.0, tau_s=0.0),
        lambda: Delivery(drop_prob=1.0),
        lambda: Noise(skin_sd_c=-0.1),
    ],
)
def test_invalid_arguments_are_rejected(make: object) -> None:
    with pytest.raises(ValueError, match=r"must"):
        make()  # type: ignore[operator]


@settings(max_examples=40, deadline=None)
@given(
    durations=st.lists(st.integers(min_value=1, max_value=500), min_size=1, max_size=8),
    rate_hz=st.sampled_from([0.2, 0.5, 1.0, 2.0]),
)
def test_sample_count_matches_the_grid(durations: list[int], rate_hz: float) -> None:
    b = TraceBuilder("W", T0, rate_hz)
    for i, d in enumerate(durations):
        (b.contact if i % 2 == 0 else b.apart)(d)
    r = b.rows()
    total = sum(durations)
    assert len(r) == math.ceil(total * rate_hz - 1e-9)
    assert np.all(np.diff(r.t_s) > 0.0)
    assert r.t_s[-1] < T0 + total


# Randomness ---------------------------------------------------------------------------------------
NOISY = Noise(skin_sd_c=0.05, ambient_sd_c=0.1, contact_sd=0.03)
FAULTY = Delivery(jitter_s=0.2, drop_prob=0.05, duplicate_prob=0.05, shuffle=True)


def noisy(seed: int, delivery: Delivery | None = FAULTY) -> TraceBuilder:
    return TraceBuilder("W", T0, seed=seed, noise=NOISY, delivery=delivery).contact(600).detached(300).gap(60)


def test_same_seed_same_rows_different_seed_different_rows() -> None:
    a, b, c = noisy(7).rows(), noisy(7).rows(), noisy(8).rows()
    for f in ("t_s", "skin_c", "ambient_c", "contact", "battery_pct"):
        assert same(getattr(a, f), getattr(b, f))
    assert not same(a.skin_c, c.skin_c)
    assert not same(a.t_s, c.t_s)
    builder = noisy(7)
    assert same(builder.rows().skin_c, builder.rows().skin_c)  # rendering twice re-seeds


def test_noise_statistics() -> None:
    n = 40_000
    b = TraceBuilder("W", T0, seed=3, noise=Noise(skin_sd_c=0.1, ambient_sd_c=0.2, contact_sd=0.03))
    r = b.contact(n, skin_c=36.8, ambient_c=26.0, level=0.5).rows()
    for values, mean, sd in ((r.skin_c, 36.8, 0.1), (r.ambient_c, 26.0, 0.2), (r.contact, 0.5, 0.03)):
        assert abs(values.mean() - mean) < SIGMAS * sd / math.sqrt(n)
        # Quantising to 0.01 adds variance 0.01**2 / 12; the sd of a sample sd is about sd / sqrt(2n).
        expected_sd = math.sqrt(sd**2 + QUANTUM_C**2 / 12)
        assert abs(values.std() - expected_sd) < SIGMAS * expected_sd / math.sqrt(2 * n)
    assert np.allclose(r.skin_c * 100, np.round(r.skin_c * 100))  # 0.01 C like a real wrap


def test_contact_noise_is_clipped_to_its_range() -> None:
    b = (
        TraceBuilder("W", T0, seed=1, noise=Noise(contact_sd=0.2))
        .contact(2000, level=0.95)
        .apart(2000, level=0.02)
    )
    r = b.rows()
    assert r.contact.min() == 0.0
    assert r.contact.max() == 1.0


def test_jitter_stays_within_bounds_and_keeps_order() -> None:
    r = TraceBuilder("W", T0, seed=2, delivery=Delivery(jitter_s=0.3)).contact(5000).rows()
    offsets = r.t_s - (T0 + np.arange(5000))
    assert np.all(np.abs(offsets) <= 0.3 + 1e-6)
    assert offsets.std() > 0.1  # really irregular: uniform on +-0.3 has sd 0.17
    assert np.all(np.diff(r.t_s) > 0.0)
    assert np.allclose(r.t_s * 1000, np.round(r.t_s * 1000))  # millisecond stamps


def test_dropped_readings() -> None:
    r = TraceBuilder("W", T0, seed=4, delivery=Delivery(drop_prob=0.1)).contact(20_000).rows()
    kept = len(r) / 20_000
    assert abs(kept - 0.9) < SIGMAS * math.sqrt(0.09 / 20_000)
    assert np.all(np.isin(r.t_s, T0 + np.arange(20_000)))


def test_shuffled_duplicated_rows_build_to_the_clean_series() -> None:
    clean_rows = noisy(11, Delivery(jitter_s=0.2, drop_prob=0.05)).rows()
    messy_rows = noisy(11).rows()
    assert np.any(np.diff(messy_rows.t_s) < 0.0)  # out of order
    n_dupes = len(messy_rows) - len(np.unique(messy_rows.t_s))
    assert n_dupes > 0
    assert len(messy_rows) == len(clean_rows) + n_dupes

    clean, messy = noisy(11, Delivery(jitter_s=0.2, drop_prob=0.05)).build(), noisy(11).build()
    assert len(messy) == len(clean) == len(clean_rows)
    assert np.all(np.diff(messy.t_us) > 0)
    for f in ("t_us", "skin_mc", "ambient_mc", "contact", "battery_pct"):
        assert same(getattr(messy, f), getattr(clean, f))
    assert messy.invalid == 0


def test_build_converts_to_core_units() -> None:
    s = TraceBuilder("W07", T0, skin_c=36.81, ambient_c=25.5, battery_pct=64.0).contact(3).build()
    assert s.wrap_id == "W07"
    assert s.t_us.tolist() == [int(T0) * US + i * US for i in range(3)]
    assert s.skin_mc.tolist() == [36810.0] * 3
    assert s.ambient_mc.tolist() == [25500.0] * 3
    assert s.battery_pct.tolist() == [64.0] * 3


# A ward --------------------------------------------------------------------------------------------
def test_fleet_shapes_and_determinism() -> None:
    wraps = fleet(6, hours=3.0, rate_hz=1.0, seed=5)
    assert [w.wrap_id for w in wraps] == [f"W000{i}" for i in range(1, 7)]
    for w in wraps:
        assert 0 < len(w) <= 3 * 3600
        assert w.t_us[0] == int(T0) * US
        assert w.t_us[-1] < (int(T0) + 3 * 3600) * US
        assert np.all(np.diff(w.t_us) > 0)
        assert w.invalid == 0
        assert np.all((w.contact >= 0.0) & (w.contact <= 1.0))
    again = fleet(6, hours=3.0, rate_hz=1.0, seed=5, workers=1)
    for a, b in zip(wraps, again, strict=True):
        assert same(a.skin_mc, b.skin_mc) and same(a.t_us, b.t_us)
    # Wrap i does not depend on how many wraps were asked for.
    first = next(iter_fleet(1, hours=3.0, rate_hz=1.0, seed=5))
    assert same(first.skin_mc, wraps[0].skin_mc)
    assert not same(fleet(1, hours=3.0, seed=6)[0].skin_mc, wraps[0].skin_mc)


def test_fleet_day_has_the_promised_mix() -> None:
    wraps = fleet(40, hours=24.0, rate_hz=0.2, seed=0)
    assert all(abs(len(w) - 24 * 720) < 24 * 720 * 0.02 for w in wraps)  # a few gaps at most
    in_contact = np.array([np.mean(w.contact >= 0.6) for w in wraps])
    assert 0.4 < float(np.median(in_contact)) < 0.95  # most of the day in KMC, not all of it
    detached = sum(bool(np.any(w.skin_mc - w.ambient_mc < 2000.0)) for w in wraps)
    low_battery = sum(bool(np.nanmin(w.battery_pct) < 20.0) for w in wraps)
    cold = sum(bool(np.nanmin(w.skin_mc) < 36000.0) for w in wraps)
    gaps = sum(bool(np.max(np.diff(w.t_us)) > 30 * US) for w in wraps)
    assert detached >= 1 and low_battery >= 1 and cold >= 1 and gaps >= 1
    assert detached < 20 and low_battery < 10
