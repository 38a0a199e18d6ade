"""Clinical scenarios with the truth built into synthetic traces.

Expected times come from the trace's own geometry (when a ramp crosses a threshold), plus the rule's
delay and the smoothing lag, within named tolerances; nothing is copied from the engine's output.
"""

from __future__ import annotations

import numpy as np
import pytest

from kmc_monitor.devices.synthetic import Delivery, Noise, TraceBuilder
from kmc_monitor.signal import (
    Alarm,
    AlarmKind,
    Priority,
    RuleParams,
    WrapReport,
    analyze_series,
    build_series,
)
from kmc_monitor.signal.params import US

T0 = 1_767_254_400.0  # 2026-01-01 08:00 UTC
P = RuleParams()
#: A 30 s rolling median of a steady ramp lags the ramp by half the window.
MEDIAN_LAG_S = P.smooth_s / 2
#: Readings come once a second, and a smoothed threshold crossing moves with the last bit of noise.
TOL_S = 8.0
#: Quantisation (0.01 °C) plus the median's residual noise, in °C: on a slow ramp it is many seconds.
TOL_C = 0.02
QUIET = Noise(skin_sd_c=0.02, ambient_sd_c=0.05, contact_sd=0.01)


def kinds(r: WrapReport) -> list[AlarmKind]:
    return [a.kind for a in r.alarms]


def only(r: WrapReport, kind: AlarmKind) -> Alarm:
    found = [a for a in r.alarms if a.kind is kind]
    assert len(found) == 1, f"expected one {kind}, got {r.alarms}"
    return found[0]


def rel(us: int | None) -> float:
    assert us is not None
    return us / US - T0


def tol(duration_s: float, from_c: float, to_c: float) -> float:
    """The time tolerance on a ramp: a fixed part plus how long the ramp takes to move TOL_C."""
    return TOL_S + TOL_C * duration_s / abs(to_c - from_c)


def crossing(start_s: float, duration_s: float, from_c: float, to_c: float, level_c: float) -> float:
    """When a linear ramp passes ``level_c`` (seconds after T0)."""
    return start_s - T0 + duration_s * (level_c - from_c) / (to_c - from_c)


def test_clean_session() -> None:
    b = TraceBuilder("W", T0, seed=1, noise=QUIET).apart(300).contact(5400).apart(300)
    r = analyze_series(b.build())
    assert len(r.sessions) == 1
    s = r.sessions[0]
    assert rel(s.start_us) == pytest.approx(300, abs=1)
    assert rel(s.end_us) == pytest.approx(5700, abs=1)
    assert s.contact_us == s.duration_us
    assert not s.short
    assert r.alarms == ()
    assert r.contact_us / US == pytest.approx(5400, abs=2)
    assert r.unknown_us == 0


@pytest.mark.parametrize(("break_s", "sessions"), [(60, 1), (119, 1), (120, 1), (121, 2), (300, 2)])
def test_repositioning_breaks_bridge_up_to_two_minutes(break_s: int, sessions: int) -> None:
    b = TraceBuilder("W", T0, seed=2).contact(1800).apart(break_s).contact(1800)
    r = analyze_series(b.build())
    assert len(r.sessions) == sessions
    assert r.contact_us / US == pytest.approx(3600, abs=1)
    if sessions == 1:
        assert r.sessions[0].duration_us / US == pytest.approx(3600 + break_s, abs=1)
        assert r.sessions[0].contact_us / US == pytest.approx(3600, abs=1)


def test_a_lift_shorter_than_a_minute_is_not_a_session_but_counts() -> None:
    b = TraceBuilder("W", T0, seed=3).apart(600).contact(45).apart(600)
    r = analyze_series(b.build())
    assert r.sessions == ()
    assert r.contact_us / US == pytest.approx(45, abs=1)


def test_short_session_flag() -> None:
    r = analyze_series(TraceBuilder("W", T0, seed=4).contact(3000).apart(600).contact(4000).build())
    assert [s.short for s in r.sessions] == [True, False]


def test_slow_cooling_out_of_contact_then_rewarming_in_kmc() -> None:
    b = TraceBuilder("W", T0, seed=5, noise=QUIET)
    b.contact(1200, skin_c=36.9)
    cool = b.end_s
    b.ramp_skin(3600, to_c=35.4, contact=0.1)  # -1.5 °C/h out of KMC
    b.apart(600)
    warm = b.end_s
    b.ramp_skin(3000, to_c=37.0, contact=0.9).contact(1800)
    r = analyze_series(b.build())

    assert kinds(r).count(AlarmKind.COLD_STRESS) == 1
    cs = only(r, AlarmKind.COLD_STRESS)
    mod = only(r, AlarmKind.HYPOTHERMIA_MODERATE)
    assert AlarmKind.HYPOTHERMIA_SEVERE not in kinds(r)
    t365 = crossing(cool, 3600, 36.9, 35.4, 36.5)
    t360 = crossing(cool, 3600, 36.9, 35.4, 36.0)
    down = tol(3600, 36.9, 35.4)
    assert rel(cs.start_us) == pytest.approx(t365 + MEDIAN_LAG_S + 60, abs=down)
    assert rel(mod.start_us) == pytest.approx(t360 + MEDIAN_LAG_S + 60, abs=down)
    assert cs.end_us == mod.start_us  # the milder condition ends when the worse one starts
    assert cs.priority is Priority.LOW and mod.priority is Priority.MEDIUM
    # Never steps down to cold stress while rewarming through 36.0-36.5; ends 60 s after >= 36.6.
    t366 = crossing(warm, 3000, 35.4, 37.0, 36.6)
    assert rel(mod.end_us) == pytest.approx(t366 + MEDIAN_LAG_S + 60, abs=tol(3000, 35.4, 37.0))
    assert mod.extreme_c == pytest.approx(35.4, abs=0.05)
    assert cs.extreme_c == pytest.approx(36.0, abs=0.05)
    # The cooling trend: a 0.5 °C fall over 30 min is reached 20 min into a 1.5 °C/h ramp.
    trend = only(r, AlarmKind.COOLING_TREND)
    assert rel(trend.start_us) == pytest.approx(cool - T0 + 1200 + MEDIAN_LAG_S + 60, abs=down)


def test_cooling_trend_warns_before_cold_stress_from_a_warm_start() -> None:
    b = TraceBuilder("W", T0, seed=20, noise=QUIET).contact(2400, skin_c=37.3)
    b.ramp_skin(3600, to_c=35.8, contact=0.1)
    r = analyze_series(b.build())
    trend, cs = only(r, AlarmKind.COOLING_TREND), only(r, AlarmKind.COLD_STRESS)
    assert trend.start_us < cs.start_us
    assert trend.category.value == "advisory"


def test_detached_sensor_raises_technical_alarm_and_no_hypothermia() -> None:
    b = TraceBuilder("W", T0, seed=6, noise=QUIET).contact(1200)
    off = b.end_s
    b.detached(900)
    on = b.end_s
    b.reattach(1800)
    r = analyze_series(b.build())
    assert not any(k.is_cold for k in kinds(r))
    det = only(r, AlarmKind.SENSOR_DETACHED)
    assert det.priority is Priority.MEDIUM
    # Detected from the fall within about a minute (30 s alarm delay on top).
    assert 30 <= rel(det.start_us) - (off - T0) <= 90
    # Re-attached once the skin is 4 °C above ambient again: within a few minutes of going back on.
    assert 0 <= rel(det.end_us) - (on - T0) <= 180


def test_detached_sensor_without_ambient_reattaches_on_rise() -> None:
    b = TraceBuilder("W", T0, seed=7, noise=QUIET, ambient_sensor=False).contact(1200)
    b.detached(900)
    on = b.end_s
    b.reattach(1800)
    r = analyze_series(b.build())
    assert not any(k.is_cold for k in kinds(r))
    det = only(r, AlarmKind.SENSOR_DETACHED)
    assert 0 <= rel(det.end_us) - (on - T0) <= 120


def test_detachment_ends_an_active_cold_alarm_and_settling_delays_a_new_one() -> None:
    """A cold baby whose sensor comes off: the alarm ends (it would be judging air), the technical
    alarm takes over, and after re-attachment the baby is judged again once settled."""
    b = TraceBuilder("W", T0, seed=8, noise=QUIET).contact(600, skin_c=35.5)
    off = b.end_s
    b.detached(600)
    on = b.end_s
    b.reattach(2400, skin_c=35.5)
    r = analyze_series(b.build())
    mods = [a for a in r.alarms if a.kind is AlarmKind.HYPOTHERMIA_MODERATE]
    assert len(mods) == 2
    assert off - T0 < rel(mods[0].end_us) < off - T0 + 60
    # Switch-on settling (300 s) then 60 s delay for the first; re-attachment settling for the second.
    assert rel(mods[0].start_us) == pytest.approx(P.settle_s + 60, abs=TOL_S)
    assert rel(mods[1].start_us) >= on - T0 + P.settle_s
    assert AlarmKind.SENSOR_DETACHED in kinds(r)


def test_gap_raises_no_data_and_counts_unknown_time() -> None:
    b = TraceBuilder("W", T0, seed=9).contact(600)
    gap_start = b.end_s
    b.gap(300).contact(600)
    r = analyze_series(b.build())
    nd = only(r, AlarmKind.NO_DATA)
    last_before = gap_start - 1  # 1 Hz: the last reading is one second before the gap
    assert rel(nd.start_us) == pytest.approx(last_before - T0 + P.stale_after_s, abs=1e-6)
    assert rel(nd.end_us) == pytest.approx(gap_start + 300 - T0, abs=1e-6)
    assert r.unknown_us / US == pytest.approx(301, abs=1e-6)
    assert r.contact_us / US == pytest.approx(1200 - 2, abs=1e-6)
    assert len(r.sessions) == 2  # a 301 s break is longer than the bridge


def test_trailing_silence_is_no_data_when_the_recording_went_on() -> None:
    series = TraceBuilder("W", T0, seed=10).contact(600).build()
    until = int(series.t_us[-1]) + 3600 * US
    r = analyze_series(series, until_us=until)
    nd = only(r, AlarmKind.NO_DATA)
    assert nd.end_us is None
    assert nd.start_us == int(series.t_us[-1]) + 30 * US


def test_temperature_noise_at_a_threshold_does_not_flap() -> None:
    b = TraceBuilder("W", T0, seed=11, noise=Noise(skin_sd_c=0.08)).contact(600, skin_c=36.8)
    b.contact(3 * 3600, skin_c=36.5)
    r = analyze_series(b.build())
    assert kinds(r).count(AlarmKind.COLD_STRESS) <= 1


def test_temperature_noise_at_the_recovery_threshold_does_not_flap() -> None:
    b = TraceBuilder("W", T0, seed=12, noise=Noise(skin_sd_c=0.06)).contact(600, skin_c=36.2)
    b.contact(3 * 3600, skin_c=36.6)
    r = analyze_series(b.build())
    assert kinds(r).count(AlarmKind.COLD_STRESS) == 1


def test_contact_noise_near_half_does_not_flap() -> None:
    # Noise of 0.025 keeps the level inside (0.4, 0.6): only the hysteresis stands between it and flapping.
    b = TraceBuilder("W", T0, seed=13, noise=Noise(contact_sd=0.025))
    b.contact(3600, level=0.9).contact(3600, level=0.5).apart(600)
    r = analyze_series(b.build())
    assert len(r.sessions) == 1
    assert r.sessions[0].duration_us / US == pytest.approx(7200, abs=2)


def test_hyperthermia() -> None:
    b = TraceBuilder("W", T0, seed=14, noise=QUIET).contact(600, skin_c=37.0)
    up = b.end_s
    b.ramp_skin(900, to_c=38.2).contact(1200)
    down = b.end_s
    b.ramp_skin(900, to_c=37.0).contact(1200)
    r = analyze_series(b.build())
    h = only(r, AlarmKind.HYPERTHERMIA)
    assert h.priority is Priority.MEDIUM
    slack = tol(900, 37.0, 38.2)
    assert rel(h.start_us) == pytest.approx(
        crossing(up, 900, 37.0, 38.2, 37.5) + MEDIAN_LAG_S + 60, abs=slack
    )
    assert rel(h.end_us) == pytest.approx(
        crossing(down, 900, 38.2, 37.0, 37.4) + MEDIAN_LAG_S + 60, abs=slack
    )
    assert h.extreme_c == pytest.approx(38.2, abs=0.05)
    assert not any(k.is_cold for k in kinds(r))


def test_severe_hypothermia_is_high_priority_with_a_short_delay() -> None:
    b = TraceBuilder("W", T0, seed=15, noise=QUIET).contact(600, skin_c=36.8)
    cool = b.end_s
    b.ramp_skin(3 * 3600, to_c=31.0, contact=0.1)  # ~1.9 °C/h: a cold cot, not a detached sensor
    r = analyze_series(b.build())
    sev = only(r, AlarmKind.HYPOTHERMIA_SEVERE)
    assert sev.priority is Priority.HIGH
    t32 = crossing(cool, 3 * 3600, 36.8, 31.0, 32.0)
    assert rel(sev.start_us) == pytest.approx(t32 + MEDIAN_LAG_S + 15, abs=tol(3 * 3600, 36.8, 31.0))
    assert sev.end_us is None  # still cold at the end of the trace
    order = [a.kind for a in r.alarms if a.kind.is_cold]
    assert order == [AlarmKind.COLD_STRESS, AlarmKind.HYPOTHERMIA_MODERATE, AlarmKind.HYPOTHERMIA_SEVERE]


def test_low_battery_and_replacement() -> None:
    b = TraceBuilder("W", T0, seed=16, battery_pct=30.0, drain_pct_per_h=10.0).contact(7200)
    b.battery(95.0).drain(0.0).contact(600)
    r = analyze_series(b.build())
    lb = only(r, AlarmKind.LOW_BATTERY)
    # Battery is reported in whole percent: 19 % first shows when the true level falls below 19.5 %.
    assert rel(lb.start_us) == pytest.approx(3600 * (30 - 19.5) / 10, abs=2)
    assert rel(lb.end_us) == pytest.approx(7200, abs=1)
    assert lb.priority is Priority.LOW


def test_irregular_sampling_and_lost_packets() -> None:
    b = TraceBuilder(
        "W", T0, rate_hz=1.0, seed=17, noise=QUIET, delivery=Delivery(jitter_s=0.3, drop_prob=0.3)
    )
    b.contact(3600).apart(900).contact(3600)
    r = analyze_series(b.build())
    assert len(r.sessions) == 2
    assert r.contact_us / US == pytest.approx(7200, rel=0.01)
    assert AlarmKind.NO_DATA not in kinds(r)


def test_unsorted_duplicated_delivery_gives_the_clean_answer() -> None:
    clean = TraceBuilder("W", T0, seed=18, noise=QUIET).contact(1800).ramp_skin(1800, 35.8, contact=0.1)
    messy = (
        TraceBuilder("W", T0, seed=18, noise=QUIET, delivery=Delivery(duplicate_prob=0.2, shuffle=True))
        .contact(1800)
        .ramp_skin(1800, 35.8, contact=0.1)
    )
    assert analyze_series(messy.build()) == analyze_series(clean.build())


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


def test_implausible_temperatures_are_faults_not_hypothermia() -> None:
    n = 600
    t = T0 + np.arange(n)
    skin = np.full(n, 36.8)
    skin[300:] = 15.0  # below the plausible 20 °C: a broken thermistor, not a frozen baby
    r = analyze_series(build_series("W", t, skin, np.full(n, 26.0), np.full(n, 0.9), None))
    assert r.invalid_readings == 300
    assert not any(k.is_cold for k in kinds(r))


def test_site_offset_shifts_the_bands() -> None:
    series = TraceBuilder("W", T0, seed=19, noise=QUIET).contact(1800, skin_c=36.3).build()
    assert AlarmKind.COLD_STRESS in kinds(analyze_series(series))
    assert AlarmKind.COLD_STRESS not in kinds(analyze_series(series, site_offset_mc=400))
