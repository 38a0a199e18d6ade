"""Rolling windows by counting: checked against their plain definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kmc_monitor.signal.windows import Window, fall_below, lag_values, lower_median_at, trailing_start

times = st.lists(st.integers(1, 90_000_000), min_size=1, max_size=400).map(
    lambda d: np.cumsum(np.asarray(d, dtype=np.int64)) + 1_767_225_600_000_000
)


def plain_lower_median(window: list[float]) -> float:
    vals = sorted(v for v in window if not np.isnan(v))
    return vals[(len(vals) - 1) // 2] if vals else float("nan")


@settings(max_examples=300, deadline=None)
@given(t=times, span_s=st.sampled_from((1, 30, 60, 1800)), data=st.data())
def test_trailing_start_is_searchsorted(t: np.ndarray, span_s: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(0, t.size - 1))
    got = trailing_start(t, first, span_s * 1_000_000)
    want = np.searchsorted(t, t[first:] - span_s * 1_000_000, side="right")
    np.testing.assert_array_equal(got, want)


def test_trailing_start_on_a_long_regular_series_with_gaps() -> None:
    t = (np.arange(20_000, dtype=np.int64) * 1_000_000) + 5
    t[5000:] += 400_000_000  # a radio gap
    t[12_000:] += 1_234_567  # a clock step
    for span in (30, 60, 1800):
        np.testing.assert_array_equal(
            trailing_start(t, 0, span * 1_000_000), np.searchsorted(t, t - span * 1_000_000, side="right")
        )


@settings(max_examples=200, deadline=None)
@given(
    t=times,
    values=st.lists(
        st.sampled_from([np.nan, 35000.0, 36000.0, 36499.0, 36500.0, 36501.0, 37500.0]), max_size=400
    ),
    threshold=st.sampled_from([36000.0, 36500.0, 36501.0, 37501.0]),
)
def test_median_tests_match_sorting(t: np.ndarray, values: list[float], threshold: float) -> None:
    v = np.resize(np.asarray(values or [np.nan]), t.size).astype(np.float64)
    win = Window.trailing(t, 30_000_000)
    med = win.median(v)
    plain = np.array([plain_lower_median(list(v[lo : i + 1])) for i, lo in enumerate(win.lo)])
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(med.below(threshold), plain < threshold)
        np.testing.assert_array_equal(med.at_least(threshold), plain >= threshold)
    np.testing.assert_array_equal(lower_median_at(v, win.lo, np.arange(t.size)), plain)
    if np.isnan(plain).all():
        assert np.isnan(med.extreme(lowest=True))
    else:
        assert med.extreme(lowest=True) == np.nanmin(plain)
        assert med.extreme(lowest=False) == np.nanmax(plain)


@settings(max_examples=200, deadline=None)
@given(t=times, lag_s=st.sampled_from((60, 1800)))
def test_lag_values(t: np.ndarray, lag_s: int) -> None:
    v = (np.arange(t.size) * 7 % 13).astype(np.float64)
    lag_us, max_age = lag_s * 1_000_000, (lag_s + 30) * 1_000_000
    got = lag_values(t, v, 0, lag_us, max_age)
    for j in range(t.size):
        older = np.flatnonzero(t <= t[j] - lag_us)
        if older.size and t[older[-1]] >= t[j] - max_age:
            assert got[j] == v[j] - v[older[-1]]
        else:
            assert np.isnan(got[j])


@given(hnp.arrays(np.float64, st.integers(1, 50), elements=st.sampled_from([np.nan, 1.0, 2.0, 3.0])))
def test_window_counts(v: np.ndarray) -> None:
    t = np.arange(v.size, dtype=np.int64) * 1_000_000
    win = Window.trailing(t, 5_000_000)
    counts = win.count(~np.isnan(v))
    for i, lo in enumerate(win.lo):
        assert counts[i] == np.count_nonzero(~np.isnan(v[lo : i + 1]))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 4000),
    lag_s=st.sampled_from((60, 1800)),
    fall_mc=st.sampled_from((500, 1501)),
    first_frac=st.floats(0, 0.9),
)
def test_fall_below_screening_gives_the_unscreened_answer(
    seed: int, n: int, lag_s: int, fall_mc: int, first_frac: float
) -> None:
    """Long series with a few falls and gaps: skipping impossible blocks changes nothing."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.choice([1, 1, 1, 2, 45], n) * 1_000_000).astype(np.int64)
    v = np.round(36_800 + np.cumsum(rng.normal(0, 8, n)))
    for _ in range(rng.integers(0, 4)):  # a few sudden falls and recoveries
        at = int(rng.integers(0, n))
        v[at : at + int(rng.integers(10, 400))] -= float(rng.choice([600, 1600, 3000]))
    v[rng.random(n) < 0.05] = np.nan
    first = int(first_frac * n)
    win = Window.trailing(t, 30_000_000, first=first)
    lagged = np.full(n, np.nan)
    lagged[win.base :] = lag_values(t, v, win.base, lag_s * 1_000_000, (lag_s + 30) * 1_000_000)
    want = win.median(lagged).below(-fall_mc + 1)
    got = fall_below(win, t, v, lag_s * 1_000_000, (lag_s + 30) * 1_000_000, fall_mc)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(257, 5000),
    span_s=st.sampled_from((30, 60, 1800)),
    layout=st.sampled_from(("regular", "jitter", "gaps", "rate change")),
    first_frac=st.floats(0, 0.9),
    cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_counts_and_sizes_on_long_series_match_plain_counting(
    seed: int, n: int, span_s: int, layout: str, first_frac: float, cut: tuple[float, float]
) -> None:
    """Long enough for the sampled window search, with its regular-past-the-head slices."""
    rng = np.random.default_rng(seed)
    step = np.full(n, 1_000_000, dtype=np.int64)
    if layout == "jitter":
        step += rng.integers(-200_000, 200_000, n)
    elif layout == "gaps":
        step[rng.random(n) < 0.003] = 120_000_000
    elif layout == "rate change":
        step[n // 2 :] = 2_000_000
    t = np.cumsum(step)
    mask = rng.random(n) < 0.4
    first = int(first_frac * n)
    win = Window.trailing(t, span_s * 1_000_000, first=first)
    np.testing.assert_array_equal(win.lo, np.searchsorted(t, t[first:] - span_s * 1_000_000, side="right"))
    plain = np.array([np.count_nonzero(mask[lo : first + i + 1]) for i, lo in enumerate(win.lo)])
    np.testing.assert_array_equal(win.count(mask), plain)
    np.testing.assert_array_equal(win.sizes(), first + np.arange(win.lo.size) + 1 - win.lo)
    a, b = sorted(int(x * win.lo.size) for x in cut)
    if b > a:
        np.testing.assert_array_equal(win.sub(a, b).count(mask), plain[a:b])
