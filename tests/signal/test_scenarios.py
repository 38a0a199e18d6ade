"""Edge cases of the signal core that are not clinical stories.

The clinical scenarios (cold stress, hypothermia, detachment, no data, sessions, daily totals, ...)
are scenario files in ``tests/scenarios/scenario_*.yaml``, run through both the batch analysis and
the live engine by the ``kmc_scenarios`` pytest plugin. What stays here compares whole reports or
builds series that a trace generator cannot express (no temperature at all, one reading, none).
"""

from __future__ import annotations

import numpy as np

from kmc_monitor.devices.simulation.synthetic import Delivery, Noise, TraceBuilder
from kmc_monitor.signal import analyze_series, build_series
from kmc_monitor.signal.params import US

T0 = 1_767_254_400.0  # 2026-01-01 08:00 UTC
QUIET = Noise(skin_sd_c=0.02, ambient_sd_c=0.05, contact_sd=0.01)


def test_unsorted_duplicated_delivery_gives_the_clean_answer() -> None:
    clean = TraceBuilder("W", T0, seed=18, noise=QUIET).contact(1800).ramp_skin(1800, 35.8, contact=0.1)
    messy = (
        TraceBuilder("W", T0, seed=18, noise=QUIET, delivery=Delivery(duplicate_prob=0.2, shuffle=True))
        .contact(1800)
        .ramp_skin(1800, 35.8, contact=0.1)
    )
    report = analyze_series(messy.build())
    assert report.alarms  # the comparison below is about a trace where something happens
    assert report == analyze_series(clean.build())


def test_one_reading() -> None:
    r = analyze_series(build_series("W", [T0], [36.8], [26.0], [0.9], [80.0]))
    assert (r.readings, r.observed_us, r.contact_us, r.unknown_us) == (1, 0, 0, 0)
    assert r.sessions == () and r.alarms == ()
    assert len(r.days) == 1


def test_empty_series() -> None:
    r = analyze_series(build_series("W", []))
    assert r.readings == 0 and r.first_us is None and r.alarms == ()


def test_all_temperatures_missing_raises_no_temperature_alarm_but_counts_contact() -> None:
    n = 3600
    t = T0 + np.arange(n)
    r = analyze_series(build_series("W", t, None, None, np.full(n, 0.9), None))
    assert r.alarms == ()
    assert r.contact_us / US == n - 1
    assert len(r.sessions) == 1
