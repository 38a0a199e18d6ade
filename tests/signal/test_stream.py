"""The vectorised, streaming core against the plain reference, and streaming against batch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st

from kmc_monitor.signal import AlarmKind, RuleParams, WrapSeries, WrapStream, analyze_series, build_series
from tests.signal.reference import reference_report
from tests.signal.strategies import chunkings, traces
from tests.tiers import two_tiers

PARAMS = RuleParams()
#: Examples per property: make test's fast tier, and make test-long's thorough run of the same
#: properties (one run of 600 examples in the fast tier before took three quarters of a minute).
FAST_EXAMPLES, THOROUGH_EXAMPLES = 100, 2000
#: Most generated traces are long: Hypothesis's "too slow" and "too large" checks are expected to trip.
_SLOW_OK = (HealthCheck.too_slow, HealthCheck.data_too_large)


def _feed(series: WrapSeries, cuts: list[int], offset_mc: int = 0) -> WrapStream:
    stream = WrapStream(series.wrap_id, PARAMS, site_offset_mc=offset_mc)
    bounds = [0, *cuts, len(series)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        part = series.slice(a, b)
        stream.feed(dataclasses.replace(part, invalid=series.invalid) if a == 0 else part)
    return stream


def _core_equals_reference(series: WrapSeries, extra_s: int, offset: int) -> None:
    until = None if not len(series) else int(series.t_us[-1]) + extra_s * 1_000_000
    got = analyze_series(series, PARAMS, until_us=until, site_offset_mc=offset)
    want = reference_report(series, PARAMS, until_us=until, site_offset_mc=offset)
    assert got.sessions == want.sessions
    assert got.alarms == want.alarms
    assert got.days == want.days
    assert got == want


test_core_equals_reference, test_core_equals_reference_thoroughly = two_tiers(
    FAST_EXAMPLES,
    THOROUGH_EXAMPLES,
    suppress=_SLOW_OK,
    series=traces(),
    extra_s=st.sampled_from((0, 10, 31, 4000, 90_000)),
    offset=st.sampled_from((0, 0, 300)),
)(_core_equals_reference)


def _any_chunking_equals_batch(data: st.DataObject, series: WrapSeries) -> None:
    cuts = data.draw(chunkings(len(series)))
    until = None if not len(series) else int(series.t_us[-1]) + 45_000_000
    batch = analyze_series(series, PARAMS, until_us=until)
    streamed = _feed(series, cuts).report(until)
    assert streamed == batch


test_any_chunking_equals_batch, test_any_chunking_equals_batch_thoroughly = two_tiers(
    FAST_EXAMPLES, THOROUGH_EXAMPLES, suppress=_SLOW_OK, data=st.data(), series=traces()
)(_any_chunking_equals_batch)


def test_one_reading_at_a_time_equals_batch() -> None:
    rng = np.random.default_rng(7)
    n = 900
    t = 1_767_225_600 + np.cumsum(rng.uniform(0.5, 3.0, n))
    skin = np.round(np.linspace(36.9, 35.4, n) + rng.normal(0, 0.05, n), 2)
    contact = np.where(np.arange(n) % 300 < 200, 0.9, 0.1)
    series = build_series("W", t, skin, np.full(n, 26.0), contact, np.linspace(40, 10, n))
    streamed = _feed(series, list(range(1, n)))
    assert streamed.report() == analyze_series(series, PARAMS)
    assert streamed.report() == reference_report(series, PARAMS)


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/Santiago", "Asia/Kolkata"])
def test_multi_day_totals_and_advisory_equal_reference(tz: str) -> None:
    """Three days at 20 s sampling across a DST change: day splits and low_daily_contact agree."""
    params = RuleParams(ward_tz=tz)
    rng = np.random.default_rng(3)
    start = 1_774_656_000.0  # 2026-03-28T00:00Z: Berlin changes clocks the next night
    t = start + np.arange(0, 3 * 86_400, 20.0) + rng.uniform(0, 2, 3 * 4320)
    hours = (t - start) / 3600.0
    # Day 1 a lot of contact, day 2 little, day 3 medium; a radio gap on day 2.
    contact = np.where(np.sin(hours * np.pi / (6 if hours[0] < 24 else 5)) > -0.2, 0.9, 0.1)
    contact[(hours > 24) & (hours < 48)] = np.where(hours[(hours > 24) & (hours < 48)] % 6 < 1, 0.9, 0.1)
    keep = ~((hours > 30) & (hours < 31))
    series = build_series(
        "W", t[keep], np.full(keep.sum(), 36.8), np.full(keep.sum(), 26.0), contact[keep], None, params=params
    )
    for until in (None, int(series.t_us[-1]) + 86_400 * 1_000_000):
        got = analyze_series(series, params, until_us=until)
        want = reference_report(series, params, until_us=until)
        assert got == want
    kinds = [a.kind for a in got.alarms]
    assert AlarmKind.LOW_DAILY_CONTACT in kinds
    assert sum(d.contact_us for d in got.days) == got.contact_us


def _plain_contact_in(series: WrapSeries, lo_us: int, hi_us: int) -> int:
    """Contact time inside [lo, hi], from a plain walk over the intervals."""
    state, total = -1, 0
    measured_at: int | None = None
    t, c = series.t_us.tolist(), series.contact.tolist()
    for i in range(len(t) - 1):
        x = c[i]
        if x == x:  # not NaN: a measurement, held for 30 s (clinical-rules.md)
            measured_at = t[i]
            if state < 0:
                state = 1 if x >= 0.5 else 0
            elif x >= 0.6:
                state = 1
            elif x <= 0.4:
                state = 0
        if state == 1 and measured_at is not None and t[i + 1] - measured_at <= 30_000_000:
            total += max(0, min(t[i + 1], hi_us) - max(t[i], lo_us))
    return total


def _rolling_contact_matches_a_plain_walk(data: st.DataObject, series: WrapSeries) -> None:
    if not len(series):
        return
    span = data.draw(st.sampled_from((600, 3600, 86_400))) * 1_000_000
    stream = _feed(series, data.draw(chunkings(len(series))))
    now = int(series.t_us[-1]) + data.draw(st.sampled_from((0, 20_000_000)))
    assert stream.rolling_contact_us(now, span) == _plain_contact_in(series, now - span, now)


test_rolling_contact_matches_a_plain_walk, test_rolling_contact_matches_a_plain_walk_thoroughly = two_tiers(
    FAST_EXAMPLES, THOROUGH_EXAMPLES, suppress=_SLOW_OK, data=st.data(), series=traces(max_segments=10)
)(_rolling_contact_matches_a_plain_walk)


def test_session_timer_runs_pauses_and_stops() -> None:
    t0 = 1_767_225_600
    n = 600
    t = t0 + np.arange(n, dtype=float)
    contact = np.full(n, 0.9)
    contact[500:] = 0.1  # the baby is lifted at t0 + 500
    stream = WrapStream("W", PARAMS)
    stream.feed(build_series("W", t[:400], None, None, contact[:400], None))
    us = 1_000_000
    running = stream.session_timer((t0 + 405) * us)
    assert running.state == "running" and running.start_us == t0 * us
    assert running.elapsed_us == 405 * us
    # The radio goes quiet for longer than stale_after: the timer is no longer "running".
    assert stream.session_timer((t0 + 399 + 31) * us).state == "paused"
    stream.feed(build_series("W", t[400:], None, None, contact[400:], None))
    paused = stream.session_timer((t0 + 560) * us)
    assert paused.state == "paused" and paused.elapsed_us == 500 * us
    assert stream.session_timer((t0 + 500 + 121) * us).state == "none"
    assert WrapStream("X").session_timer(t0 * us).state == "none"


def test_live_status_tells_what_a_screen_may_show() -> None:
    from kmc_monitor.devices.simulation.synthetic import TraceBuilder

    t0 = 1_767_254_400.0
    us = 1_000_000
    b = TraceBuilder("W", t0, seed=3).contact(200, skin_c=35.5)
    settle_end = b.end_s
    b.contact(400)
    off = b.end_s
    b.detached(300)
    series = b.build()
    stream = WrapStream("W", PARAMS)
    at = int(np.searchsorted(series.t_us, int(settle_end * us)))
    stream.feed(series.slice(0, at))
    early = stream.status(int(settle_end * us))
    assert (early.judging, early.band) == ("settling", None)  # a cold sensor may still be warming up
    assert early.temperature_c == pytest.approx(35.5, abs=0.05)

    cut = int(np.searchsorted(series.t_us, int(off * us)))
    stream.feed(series.slice(at, cut))
    cold = stream.status(int(off * us))
    assert (cold.judging, cold.band) == ("judged", "hypothermia_moderate")
    assert [a.kind for a in cold.active_alarms] == [AlarmKind.HYPOTHERMIA_MODERATE]
    assert cold.contact is True and cold.timer.state == "running"
    assert cold.contact_today_us == cold.rolling_24h_us == int(off * us) - int(t0 * us) - us

    stream.feed(series.slice(cut, len(series)))
    last = int(series.t_us[-1])
    loose = stream.status(last)
    assert (loose.judging, loose.band) == ("detached", None)
    assert AlarmKind.SENSOR_DETACHED in [a.kind for a in loose.active_alarms]

    silent = stream.status(last + 31 * us)
    assert (silent.judging, silent.band) == ("no data", None)
    assert AlarmKind.NO_DATA in [a.kind for a in silent.active_alarms]
    assert WrapStream("X").status(last).judging == "no data"
