"""The vectorised, streaming core against the plain reference, and streaming against batch."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmc_monitor.signal import RuleParams, WrapSeries, WrapStream, analyze_series
from tests.signal.reference import reference_report
from tests.signal.strategies import chunkings, traces

PARAMS = RuleParams()
SLOW_OK = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _feed(series: WrapSeries, cuts: list[int], offset_mc: int = 0) -> WrapStream:
    stream = WrapStream(series.wrap_id, PARAMS, site_offset_mc=offset_mc)
    bounds = [0, *cuts, len(series)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        part = series.slice(a, b)
        stream.feed(dataclasses.replace(part, invalid=series.invalid) if a == 0 else part)
    return stream


@SLOW_OK
@given(series=traces(), extra_s=st.sampled_from((0, 10, 31, 4000, 90_000)), offset=st.sampled_from((0, 0, 300)))
def test_core_equals_reference(series: WrapSeries, extra_s: int, offset: int) -> None:
    until = None if not len(series) else int(series.t_us[-1]) + extra_s * 1_000_000
    got = analyze_series(series, PARAMS, until_us=until, site_offset_mc=offset)
    want = reference_report(series, PARAMS, until_us=until, site_offset_mc=offset)
    assert got.sessions == want.sessions
    assert got.alarms == want.alarms
    assert got.days == want.days
    assert got == want


@SLOW_OK
@given(data=st.data(), series=traces())
def test_any_chunking_equals_batch(data: st.DataObject, series: WrapSeries) -> None:
    cuts = data.draw(chunkings(len(series)))
    until = None if not len(series) else int(series.t_us[-1]) + 45_000_000
    batch = analyze_series(series, PARAMS, until_us=until)
    streamed = _feed(series, cuts).report(until)
    assert streamed == batch


def test_one_reading_at_a_time_equals_batch() -> None:
    rng = np.random.default_rng(7)
    n = 900
    t = 1_767_225_600 + np.cumsum(rng.uniform(0.5, 3.0, n))
    skin = np.round(np.linspace(36.9, 35.4, n) + rng.normal(0, 0.05, n), 2)
    contact = np.where(np.arange(n) % 300 < 200, 0.9, 0.1)
    from kmc_monitor.signal import build_series

    series = build_series("W", t, skin, np.full(n, 26.0), contact, np.linspace(40, 10, n))
    streamed = _feed(series, list(range(1, n)))
    assert streamed.report() == analyze_series(series, PARAMS)
    assert streamed.report() == reference_report(series, PARAMS)
