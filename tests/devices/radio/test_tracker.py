"""Learned advertising intervals, stale detection and the scan watchdog, on explicit times."""

from __future__ import annotations

import pytest

from kmc_monitor.devices.radio.tracker import AdvertTracker, ScanWatchdog, StaleChange

T0 = 1_767_225_600.0


def feed(tracker: AdvertTracker, key: str, times: list[float]) -> None:
    for t in times:
        tracker.seen(key, t)


def test_interval_is_learned_after_enough_advertisements() -> None:
    tr = AdvertTracker(samples_needed=16)
    feed(tr, "W01", [T0 + 2.0 * i for i in range(16)])  # 15 gaps: not yet
    assert tr.interval_s("W01") is None
    assert tr.stale_after_s("W01") == tr.fallback_stale_s
    tr.seen("W01", T0 + 32.0)
    assert tr.interval_s("W01") == pytest.approx(2.0)
    assert tr.stale_after_s("W01") == pytest.approx(12.0)  # 6 intervals


def test_stale_exactly_after_the_learned_multiple() -> None:
    tr = AdvertTracker()
    times = [T0 + 2.0 * i for i in range(20)]
    feed(tr, "W01", times)
    last = times[-1]
    assert tr.check(last + 12.0) == []
    assert not tr.is_stale("W01", last + 12.0)
    assert tr.check(last + 12.001) == [StaleChange("W01", last + 12.0, True)]
    assert tr.is_stale("W01", last + 12.001)
    assert tr.check(last + 100.0) == []  # reported once per silence
    assert tr.seen("W01", last + 120.0) == StaleChange("W01", last + 120.0, False)
    assert not tr.is_stale("W01", last + 121.0)


def test_unlearned_wrap_uses_the_fallback() -> None:
    tr = AdvertTracker(fallback_stale_s=30.0)
    tr.seen("W01", T0)
    assert tr.check(T0 + 30.0) == []
    assert [c.key for c in tr.check(T0 + 30.5)] == ["W01"]


def test_lost_packets_do_not_inflate_the_interval() -> None:
    # 1 s advertising with every fourth packet lost: gaps of 1 s and 2 s; the typical gap is 1 s.
    times = [T0 + i for i in range(40) if i % 4 != 3]
    tr = AdvertTracker()
    feed(tr, "W01", times)
    assert tr.interval_s("W01") == pytest.approx(1.0)


def test_fast_wraps_are_never_stale_sooner_than_the_floor() -> None:
    tr = AdvertTracker(min_stale_s=5.0)
    feed(tr, "W01", [T0 + 0.1 * i for i in range(30)])
    assert tr.interval_s("W01") == pytest.approx(0.1)
    assert tr.stale_after_s("W01") == 5.0


def test_repeats_and_late_arrivals_are_not_intervals() -> None:
    tr = AdvertTracker(samples_needed=4)
    feed(tr, "W01", [T0, T0 + 0.001, T0 + 1.0, T0 + 1.005, T0 + 2.0, T0 + 3.0, T0 + 4.0])
    assert tr.interval_s("W01") == pytest.approx(1.0)
    tr.seen("W01", T0 + 1.5)  # delivered late by a backend: ignored
    state = tr.state("W01", T0 + 4.0)
    assert state is not None and state.last_seen_s == T0 + 4.0


def test_interval_follows_a_wrap_that_slows_down() -> None:
    tr = AdvertTracker(samples_needed=8)
    feed(tr, "W01", [T0 + i for i in range(10)])
    assert tr.interval_s("W01") == pytest.approx(1.0)
    feed(tr, "W01", [T0 + 9 + 5 * i for i in range(1, 10)])
    assert tr.interval_s("W01") == pytest.approx(5.0)


def test_states_and_forget() -> None:
    tr = AdvertTracker()
    tr.seen("W01", T0)
    tr.seen("W02", T0 + 1)
    assert [s.key for s in tr.states(T0 + 2)] == ["W01", "W02"]
    assert tr.state("W03", T0) is None
    assert not tr.is_stale("W03", T0 + 1e6)  # never heard: not tracked
    tr.forget("W01")
    assert [s.key for s in tr.states(T0 + 2)] == ["W02"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"samples_needed": 0},
        {"stale_multiple": 0.0},
        {"min_stale_s": -1.0},
        {"fallback_stale_s": float("nan")},
    ],
)
def test_tracker_rejects_nonsense_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdvertTracker(**kwargs)  # type: ignore[arg-type]


def test_watchdog_counts_silence_from_the_last_thing_heard() -> None:
    wd = ScanWatchdog(silence_s=60.0)
    assert not wd.due(T0 + 1e6)  # not started: nothing to watch
    wd.started(T0)
    wd.heard(T0 + 10.0)
    assert not wd.due(T0 + 69.9)
    assert wd.due(T0 + 70.0)
    wd.restarted(T0 + 70.0)
    assert wd.restarts == 1
    assert not wd.due(T0 + 129.9)
    assert wd.due(T0 + 130.0)
    wd.heard(T0 + 5.0)  # late report of something old: the silence is not shortened backwards
    assert wd.last_heard_s == T0 + 70.0


def test_watchdog_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        ScanWatchdog(silence_s=0.0)
