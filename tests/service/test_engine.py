"""The live engine against the batch analysis: any delivery order inside the reorder window, any
tick rhythm and a crash with restore must give the alarms and timers ``analyze_series`` gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kmc_monitor.devices.reading import Reading, readings_to_series
from kmc_monitor.devices.simulation.synthetic import Delivery, TraceBuilder
from kmc_monitor.service import LiveEngine
from kmc_monitor.service.engine import TickResult
from kmc_monitor.service.persistence import checkpoint, layout_of, restore, write_readings
from kmc_monitor.service.store import Store
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import AdmissionDetails, GestationalAge
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import AlarmKind
from kmc_monitor.signal.stream import WrapStream, analyze_series

#: 2026-01-01 00:00 UTC.
T0 = 1767225600.0
T0_US = round(T0 * US)
#: Ticks every 5 s with a 10 s reorder window keep the tests fast; the logic is the same at 1 s / 2 s.
TICK_S = 5
REORDER_S = 10.0


def readings_of(b: TraceBuilder, rssi: float = -60.0) -> list[Reading]:
    return b.rows().readings(rssi)


def cooling(wrap: str = "W1", seed: int = 1) -> TraceBuilder:
    """Warm in KMC, then out of contact and cooling to moderate hypothermia."""
    return TraceBuilder(wrap, T0, seed=seed).contact(1800).ramp_skin(3600, to_c=35.6, contact=0.1).apart(600)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.in_data_dir(tmp_path / "data", busy_timeout_s=0.2) as s:
        yield s


def make_ward(store: Store, site_offset_c: float = 0.0) -> Ward:
    w = Ward(store, base_url="http://localhost:8000")
    for pos, bed in enumerate(("1", "2")):
        w.add_bed(bed, f"Bed {bed}", position=pos, now=T0 - 86400)
    for wrap, mac in (("W1", "54:48:E6:8F:80:A5"), ("W2", "54:48:E6:8F:80:A6")):
        store.add_wrap(wrap, mac, now=T0 - 86400)
    details = AdmissionDetails("Baby A", 1500, GestationalAge(31), site_offset_c=site_offset_c)
    w.admit("1", details, now=T0 - 3600, who="nurse")
    w.assign_wrap("W1", "1", now=T0 - 3600, who="nurse")
    return w


@pytest.fixture
def ward(store: Store) -> Ward:
    return make_ward(store)


def run(
    engine: LiveEngine,
    readings: list[Reading],
    end_s: float,
    *,
    start_s: float = T0,
    delay_s: float = 0.0,
    seed: int = 0,
    store: Store | None = None,
    tick_s: float = TICK_S,
) -> list[TickResult]:
    """Deliver each reading at ``t + delay`` (random delay below ``delay_s``) and tick every
    ``tick_s``; with a ``store``, write what each tick says to write, as the ward's runtime does."""
    rng = np.random.default_rng(seed)
    arrival = np.array([r.t for r in readings]) + rng.uniform(0, delay_s, len(readings))
    order = np.argsort(arrival, kind="stable")
    k = 0
    out = []
    now = start_s
    while now <= end_s:
        batch = []
        while k < len(order) and arrival[order[k]] <= now:
            batch.append(readings[order[k]])
            k += 1
        engine.ingest(batch)
        res = engine.tick(round(now * US))
        if store is not None and res.persist is not None:
            write_readings(store, res.persist.readings, res.now_us, None)
        out.append(res)
        now += tick_s
    return out


def board_conditions(results: list[TickResult], wrap: str = "W1") -> set[tuple[str, int]]:
    """(kind, condition start) of every alarm the board raised for the wrap."""
    return {
        (str(e.alarm.key[1]), int(e.alarm.key[2]))
        for res in results
        for e in res.events
        if e.alarm is not None and e.alarm.wrap_id == wrap and e.action.value == "raised"
    }


def batch_conditions(
    readings: list[Reading], until_s: float, site_offset_mc: int = 0
) -> set[tuple[str, int]]:
    (series,) = readings_to_series(readings)
    report = analyze_series(series, until_us=round(until_s * US), site_offset_mc=site_offset_mc)
    return {(a.kind.value, a.start_us) for a in report.alarms if a.kind is not AlarmKind.LOW_DAILY_CONTACT}


# Tests ---------------------------------------------------------------------------------------------
def test_closed_alarms_accessor_gives_only_new_episodes() -> None:
    b = TraceBuilder("W1", T0).contact(600).gap(120).contact(600)
    stream = WrapStream("W1")
    stream.feed(b.build())
    closed = stream.closed_alarms()
    assert [a.kind for a in closed] == [AlarmKind.NO_DATA]
    assert stream.closed_alarms(len(closed)) == []


def test_cooling_baby_raises_cold_stress_then_moderate_at_batch_times(ward: Ward) -> None:
    readings = readings_of(cooling())
    end = T0 + 6000 + 60
    engine = LiveEngine(layout_of(ward), reorder_s=REORDER_S)
    results = run(engine, readings, end)
    live = board_conditions(results)
    batch = batch_conditions(readings, end - REORDER_S)
    kinds = {k for k, _ in batch}
    assert {"cold_stress", "hypothermia_moderate"} <= kinds
    assert live == batch
    active = {v.kind for v in engine.board.visible(round(end * US), bed_id="1")}
    assert AlarmKind.HYPOTHERMIA_MODERATE in active
    view = engine.views(round((T0 + 6000) * US))[0]
    assert view.band == "hypothermia_moderate" and view.judging == "judged"
    assert view.display_name == "Baby A" and view.wrap_id == "W1" and view.rssi_dbm == -60.0
    assert view.daily_goal_s == 20 * 3600.0
    assert any(a.kind is AlarmKind.HYPOTHERMIA_MODERATE for a in view.alarms)


def test_out_of_order_and_duplicates_match_in_order(store: Store, ward: Ward) -> None:
    clean = cooling()
    messy = cooling()
    messy.delivery = Delivery(duplicate_prob=0.2, shuffle=True)
    end = T0 + 6000 + 60
    a = LiveEngine(layout_of(ward), reorder_s=REORDER_S)
    res_a = run(a, readings_of(clean), end)
    b = LiveEngine(layout_of(ward), reorder_s=REORDER_S)
    # shuffled within the trace, then delivered with delays well inside the reorder window
    res_b = run(b, readings_of(messy), end, delay_s=REORDER_S - 1, seed=3)
    assert b.duplicates > 0 and b.late == 0
    assert board_conditions(res_a) == board_conditions(res_b)
    now = round(end * US)
    assert a.views(now) == b.views(now)
    sa, sb = a.stream("W1"), b.stream("W1")
    assert sa is not None and sb is not None
    assert sa.report(now) == sb.report(now)
    (series,) = readings_to_series(readings_of(clean))
    assert sa.report(now) == analyze_series(series, until_us=now)


def test_late_readings_are_counted_and_dropped(ward: Ward) -> None:
    readings = readings_of(TraceBuilder("W1", T0).contact(120))
    engine = LiveEngine(layout_of(ward), reorder_s=2.0)
    engine.ingest(readings[:100])
    engine.tick(round((T0 + 110) * US))
    assert engine.ingest([readings[10], readings[99]]) == 0
    assert engine.late == 2
    assert engine.ingest([readings[100], readings[100]]) == 1
    assert engine.duplicates == 1


def test_detached_sensor_alarms_detached_not_cold(ward: Ward) -> None:
    b = TraceBuilder("W1", T0, seed=2).contact(1800).detached(900)
    readings = readings_of(b)
    end = T0 + 2700 + 20
    engine = LiveEngine(layout_of(ward), reorder_s=REORDER_S)
    results = run(engine, readings, end)
    live = board_conditions(results)
    assert {k for k, _ in live} == {"sensor_detached"}
    assert live == batch_conditions(readings, end - REORDER_S)
    view = engine.views(round(end * US))[0]
    assert view.judging == "detached" and view.band is None


def test_unassigned_wraps_listed_not_judged(ward: Ward) -> None:
    engine = LiveEngine(layout_of(ward), reorder_s=2.0)
    readings = readings_of(TraceBuilder("W2", T0).contact(60), rssi=-80.0)
    engine.ingest(readings)
    res = engine.tick(round((T0 + 120) * US))
    assert [(u.wrap_id, u.last_heard_us, u.rssi_dbm) for u in res.unassigned_wraps] == [
        ("W2", round(readings[-1].t * US), -80.0)
    ]
    assert engine.stream("W2") is None and not res.events
    bed2 = engine.views(round((T0 + 120) * US))[1]
    assert bed2.wrap_id is None and bed2.judging == "no wrap"


def test_site_offset_from_admission_applied(store: Store) -> None:
    ward = make_ward(store, site_offset_c=0.5)
    readings = readings_of(TraceBuilder("W1", T0).contact(1200, skin_c=36.2))
    engine = LiveEngine(layout_of(ward), reorder_s=2.0)
    run(engine, readings, T0 + 1200)
    view = engine.views(round((T0 + 1200) * US))[0]
    assert view.temperature_c == pytest.approx(36.7)
    assert view.band == "normal"
    assert not engine.board.visible(round((T0 + 1200) * US))
    assert engine.trend("W1")[-1].temp_median_c == pytest.approx(36.7)


def test_silence_gives_no_data_view_and_alarm(ward: Ward) -> None:
    readings = readings_of(TraceBuilder("W1", T0).contact(600))
    engine = LiveEngine(layout_of(ward), reorder_s=2.0)
    results = run(engine, readings, T0 + 700)
    view = engine.views(round((T0 + 700) * US))[0]
    assert view.judging == "no data" and view.band is None and view.temperature_c == pytest.approx(36.8)
    assert view.last_heard_s == pytest.approx(700 - 599, abs=0.01)
    assert ("no_data", round((T0 + 599 + 30) * US)) in board_conditions(results)
    # readings resume: the tile shows them at once, and the no_data alarm ends (medium,
    # unacknowledged: it clears) at the reading that completes 60 s of data after the gap
    more = readings_of(TraceBuilder("W1", T0 + 720).contact(120))
    results = run(engine, [r for r in more if r.t <= T0 + 760], T0 + 760, start_s=T0 + 705)
    assert engine.views(round((T0 + 760) * US))[0].judging != "no data"
    assert not [e for r in results for e in r.events if e.action.value == "ended"]
    results = run(engine, [r for r in more if r.t > T0 + 760], T0 + 860, start_s=T0 + 761)
    ended = [e for r in results for e in r.events if e.action.value == "ended"]
    assert [e.alarm.kind for e in ended if e.alarm] == [AlarmKind.NO_DATA]
    # the board learns of the end at the first tick after the reading left the reorder window
    assert ended[0].alarm is not None and ended[0].alarm.ended_us is not None
    assert round((T0 + 780) * US) <= ended[0].alarm.ended_us <= round((T0 + 785) * US)
    assert engine.views(round((T0 + 800) * US))[0].judging != "no data"


def test_bed_views_report_only_changes(ward: Ward) -> None:
    engine = LiveEngine(layout_of(ward), reorder_s=2.0, status_every_s=10.0)
    first = engine.tick(T0_US)
    assert {v.bed_id for v in first.beds} == {"1", "2"}
    again = engine.tick(T0_US + 1 * US)
    assert again.beds == ()


@pytest.mark.parametrize("streams", [True, False], ids=["from-checkpoints", "from-readings"])
def test_restore_after_crash_continues_like_no_crash(store: Store, ward: Ward, streams: bool) -> None:
    readings = readings_of(cooling(seed=5))
    end = T0 + 6000 + 60
    crash = T0 + 3000  # during cold stress, before moderate hypothermia
    first = [r for r in readings if r.t <= crash]
    rest = [r for r in readings if r.t > crash]

    never = LiveEngine(layout_of(ward), reorder_s=REORDER_S)
    run(never, readings, end)

    a = LiveEngine(layout_of(ward), reorder_s=REORDER_S)
    run(a, first, crash, store=store)
    checkpoint(a, store, round(crash * US), streams=streams)
    a_active = {v.key for v in a.board.visible(round(crash * US))}
    assert any(k[1] == "cold_stress" for k in a_active)
    del a  # the crash

    b = LiveEngine(layout_of(ward), reorder_s=REORDER_S)
    restored = restore(b, store, round(crash * US))
    assert not [e for e in restored.events if e.action.value in ("raised", "ended")]
    assert {v.key for v in b.board.visible(round(crash * US))} == a_active
    run(b, rest, end, start_s=crash + TICK_S, store=store)

    now = round(end * US)
    keys_b = [v.key for v in b.board.visible(now)]
    assert len(keys_b) == len(set(keys_b))
    assert sorted(keys_b) == sorted(v.key for v in never.board.visible(now))
    assert any(k[1] == "hypothermia_moderate" for k in keys_b)
    assert sorted((v.kind, v.state) for v in b.board.visible(now)) == sorted(
        (v.kind, v.state) for v in never.board.visible(now)
    )
    sb, sn = b.stream("W1"), never.stream("W1")
    assert sb is not None and sn is not None
    assert sb.session_timer(now) == sn.session_timer(now)
    assert sb.report(now) == sn.report(now)
    vb, vn = b.views(now)[0], never.views(now)[0]
    assert (vb.session_state, vb.session_s, vb.contact_today_s, vb.rolling_24h_s) == (
        vn.session_state,
        vn.session_s,
        vn.contact_today_s,
        vn.rolling_24h_s,
    )
    # every condition was raised once on the board, whichever engine raised it
    snap_ids = [al.key for al in b.board.snapshot().alarms]
    assert len(snap_ids) == len({tuple(k) for k in snap_ids})


def test_trend_bins_bounded_and_correct(ward: Ward) -> None:
    engine = LiveEngine(layout_of(ward), reorder_s=0.0, trend_bin_s=60.0, trend_span_s=600.0)
    b = TraceBuilder("W1", T0).contact(300, skin_c=36.8).apart(300, skin_c=36.4).contact(600, skin_c=37.0)
    engine.ingest(readings_of(b))
    engine.tick(round((T0 + 1200) * US))
    bins = engine.trend("W1")
    assert len(bins) <= 11
    assert all(x.start_us % (60 * US) == 0 for x in bins)
    assert bins[-1].start_us == T0_US + 19 * 60 * US and bins[-1].count == 60
    # only the last 600 s (plus the bin still filling) are kept
    assert bins[0].start_us >= T0_US + 1199 * US - 600 * US - 60 * US
    last = bins[-1]
    assert last.temp_min_c == last.temp_max_c == pytest.approx(37.0) and last.contact_fraction == 1.0


def test_trend_apart_bin_has_no_contact(ward: Ward) -> None:
    engine = LiveEngine(layout_of(ward), reorder_s=0.0)
    b = TraceBuilder("W1", T0).contact(120, skin_c=36.8).apart(120, skin_c=36.4)
    engine.ingest(readings_of(b))
    engine.tick(round((T0 + 240) * US))
    bins = engine.trend("W1")
    assert [x.count for x in bins] == [60, 60, 60, 60]
    assert [x.contact_fraction for x in bins] == [1.0, 1.0, 0.0, 0.0]
    assert bins[3].temp_median_c == pytest.approx(36.4)


def test_trend_bins_say_which_minutes_were_not_judged(ward: Ward) -> None:
    """A detached thermistor reads the air: the chart must be told those minutes are not the
    baby's temperature (unjudged_fraction), while attached, settled minutes are judged."""
    engine = LiveEngine(layout_of(ward), reorder_s=0.0)
    b = TraceBuilder("W1", T0).contact(600, skin_c=36.8).detached(300).contact(60, skin_c=36.8)
    for t in range(0, 960, 30):  # fed live, a little at a time
        engine.ingest([r for r in readings_of(b) if T0 + t <= r.t < T0 + t + 30])
        engine.tick(round((T0 + t + 30) * US))
    bins = engine.trend("W1")
    by_minute = {(x.start_us - T0_US) // (60 * US): x.unjudged_fraction for x in bins}
    # 36.8 °C from switch-on: settled at once (normal band), judged throughout.
    assert all(by_minute[m] == 0.0 for m in range(0, 10)), by_minute
    assert all(by_minute[m] == 1.0 for m in range(11, 15)), by_minute  # detached
    assert all(0.0 <= f <= 1.0 for f in by_minute.values())


def test_reassigned_wrap_starts_afresh(store: Store, ward: Ward) -> None:
    engine = LiveEngine(layout_of(ward), reorder_s=2.0)
    run(engine, readings_of(TraceBuilder("W1", T0).contact(300)), T0 + 300)
    assert engine.trend("W1")
    ward.unassign_wrap("W1", now=T0 + 301, who="nurse")
    engine.relayout(layout_of(ward), round((T0 + 301) * US))
    assert engine.stream("W1") is None and engine.trend("W1") == ()
    res = engine.tick(round((T0 + 302) * US))
    assert [u.wrap_id for u in res.unassigned_wraps] == ["W1"]


def test_readings_before_the_admission_never_reach_the_stream_so_restore_matches(store: Store) -> None:
    """The wrap sends before the baby is admitted (a replay's clock, a nurse admitting late): those
    readings belong to no baby of this bed. If the live stream took them and a restore (which starts
    at the admission) did not, settling would start later after a crash, every condition would get a
    different start, and an acknowledged alarm would come back as a new one."""
    w = Ward(store, base_url="http://localhost:8000")
    w.add_bed("1", "Bed 1", position=0, now=T0 - 86400)
    store.add_wrap("W1", "54:48:E6:8F:80:A5", now=T0 - 86400)
    w.admit("1", AdmissionDetails("Baby A", 1500, GestationalAge(31)), now=T0 + 6, who="nurse")
    w.assign_wrap("W1", "1", now=T0 + 6, who="nurse")
    # Cold from the first reading, so settling runs its full 300 s from the first reading fed.
    readings = readings_of(TraceBuilder("W1", T0, seed=7).contact(1800, skin_c=36.2).ramp_skin(3600, 35.6))
    end = T0 + 5400 + 60
    crash = T0 + 1200
    tick_s = 15.0  # the rule under test is where the stream starts, not the cadence (3 runs of 1.5 h)
    after_admission = [r for r in readings if r.t >= T0 + 6]
    assert batch_conditions(after_admission, end) == board_conditions(
        run(LiveEngine(layout_of(w), reorder_s=REORDER_S), readings, end, tick_s=tick_s)
    )

    never = LiveEngine(layout_of(w), reorder_s=REORDER_S)
    run(never, readings, end, tick_s=tick_s)
    a = LiveEngine(layout_of(w), reorder_s=REORDER_S)
    run(a, [r for r in readings if r.t <= crash], crash, store=store, tick_s=tick_s)
    now = round(crash * US)
    acked = [v for v in a.board.visible(now) if v.kind == "cold_stress"]
    assert acked
    a.board.acknowledge(acked[0].alarm_id, "nurse", now)
    checkpoint(a, store, now, streams=False)  # rebuilt from the readings, from the admission on

    b = LiveEngine(layout_of(w), reorder_s=REORDER_S)
    restore(b, store, now)
    results = run(
        b, [r for r in readings if r.t > crash], end, start_s=crash + tick_s, store=store, tick_s=tick_s
    )
    raised_again = [e for res in results for e in res.events if e.action.value == "raised"]
    assert all(e.alarm is not None and e.alarm.kind != "cold_stress" for e in raised_again)
    end_us = round(end * US)
    assert sorted(v.key for v in b.board.visible(end_us)) == sorted(
        v.key for v in never.board.visible(end_us)
    )


def test_low_daily_contact_is_raised_live_at_midnight_and_ends_a_day_later(ward: Ward) -> None:
    """A finished day with 4 h of contact (< 8 h) raises the low advisory at that midnight; the next
    day (10 h) does not, and the advisory ends at the following midnight — as the batch says."""
    day = 86400.0
    b = (
        TraceBuilder("W1", T0, rate_hz=1 / 30, seed=3)
        .contact(4 * 3600)
        .apart(day - 4 * 3600)
        .contact(10 * 3600)
        .apart(day - 10 * 3600 + 3600)
    )
    readings = readings_of(b)
    engine = LiveEngine(layout_of(ward), reorder_s=REORDER_S)
    # A tick a minute: two days of ticks every 5 s took most of this test's time, and the rule is
    # about the first tick after midnight, whatever the cadence.
    tick_s = 60.0
    results = run(engine, readings, T0 + 2 * day + 1800, start_s=T0, tick_s=tick_s)
    low = [
        e
        for res in results
        for e in res.events
        if e.alarm is not None and e.alarm.kind is AlarmKind.LOW_DAILY_CONTACT
    ]
    raised = [e for e in low if e.action.value == "raised"]
    assert len(raised) == 1
    a = raised[0].alarm
    assert a is not None and a.priority.value == "low"
    assert a.key[2] == round((T0 + day) * US)  # the condition starts at the end of the short day
    assert T0 + day <= raised[0].at_us / US <= T0 + day + tick_s + REORDER_S
    ends = [e for e in low if e.alarm is not None and e.alarm.ended_us is not None]
    assert ends and ends[-1].alarm is not None and ends[-1].alarm.ended_us is not None
    # The board acts when the ward could first know: the first tick after that midnight.
    assert T0 + 2 * day <= ends[-1].alarm.ended_us / US <= T0 + 2 * day + tick_s + REORDER_S
    # The batch analysis of the same readings says the same.
    series = readings_to_series(readings)[0]
    batch = [
        x
        for x in analyze_series(series, until_us=round((T0 + 2 * day + 1800) * US)).alarms
        if x.kind is AlarmKind.LOW_DAILY_CONTACT
    ]
    assert [(x.start_us, x.end_us) for x in batch] == [(round((T0 + day) * US), round((T0 + 2 * day) * US))]


def test_checkpoints_save_sessions_running_then_closed_as_the_batch_finds_them(
    store: Store, ward: Ward
) -> None:
    b = TraceBuilder("W1", T0, seed=5).contact(1800).apart(900).contact(1200).apart(600)
    readings = readings_of(b)
    engine = LiveEngine(layout_of(ward), reorder_s=REORDER_S)
    # Mid-way through the first session: it is saved as running.
    run(engine, [r for r in readings if r.t <= T0 + 1200], T0 + 1200)
    checkpoint(engine, store, round((T0 + 1200) * US))
    saved = store.sessions_for_bed("1", T0 - 60, T0 + 7200)
    assert len(saved) == 1 and saved[0].open and saved[0].session.start_us == round(T0 * US)
    # After the whole trace both sessions are saved closed, exactly as the batch analysis says.
    run(engine, [r for r in readings if r.t > T0 + 1200], T0 + 4600, start_s=T0 + 1205)
    checkpoint(engine, store, round((T0 + 4600) * US))
    saved = store.sessions_for_bed("1", T0 - 60, T0 + 7200)
    batch = analyze_series(readings_to_series(readings)[0]).sessions
    assert [s.session for s in saved] == list(batch) and len(batch) == 2
    # The first ended (the 15 min apart outlasts the bridged break); the second may still be
    # bridged to a return within the break limit, so it stays open as in the batch.
    assert not saved[0].open


def test_a_lost_source_shows_no_data_at_once_and_the_alarm_keeps_the_rules_clock(ward: Ward) -> None:
    # A 2 s hold, so the last readings are still waiting when the gateway's Last Will comes; a
    # slow tile refresh, so only mark_silent can make the tile change at once.
    engine = LiveEngine(layout_of(ward), reorder_s=2.0, status_every_s=60.0)
    readings = readings_of(TraceBuilder("W1", T0).contact(600))  # T0 .. T0 + 599, in contact
    last = readings[-1].t
    engine.ingest(readings)
    engine.tick(round((last + 2.5) * US))  # everything fed
    before = engine.views(round((last + 3) * US))[0]
    assert before.judging == "judged" and before.band == "normal" and before.contact is True

    engine.ingest([Reading(last + 1, "W1", 36.8, 26.0, 0.95, 90.0)])  # in the hold when the will comes
    engine.mark_silent(["W1", "never-heard"], round((last + 3) * US))
    first = engine.tick(round((last + 3.05) * US))
    (tile,) = [v for v in first.beds if v.bed_id == "1"]
    assert tile.judging == "no data" and tile.band is None and tile.contact is None
    # The reading the dead gateway delivered before its will is fed but does not bring the tile back.
    engine.tick(round((last + 4) * US))
    assert engine.views(round((last + 4) * US))[0].judging == "no data"

    # The alarm is the rules': no_data starts stale_after (30 s) after the last reading (judged at
    # the fed horizon, now - 2 s), not when the gateway died.
    silent_from = last + 1
    results = [engine.tick(round((silent_from + s) * US)) for s in (5, 15, 31.9, 32.5)]
    raised = [e.alarm for r in results for e in r.events if e.alarm and e.action.value == "raised"]
    assert [a.kind for a in raised] == [AlarmKind.NO_DATA]
    assert raised[0].key[2] == round((silent_from + 30) * US)
    assert not [e for r in results[:3] for e in r.events if e.action.value == "raised"]

    # Heard again (another gateway, or this one back): judged from the new reading on.
    back = silent_from + 40
    engine.ingest([Reading(back, "W1", 36.8, 26.0, 0.95, 90.0)])
    engine.tick(round((back + 2.1) * US))
    again = engine.views(round((back + 2.1) * US))[0]
    assert again.judging != "no data" and again.contact is True


def test_mark_silent_without_a_later_tick_changes_nothing_and_ignores_unknown_wraps(ward: Ward) -> None:
    engine = LiveEngine(layout_of(ward), reorder_s=0.0, status_every_s=60.0)
    engine.ingest(readings_of(TraceBuilder("W1", T0).contact(60)))
    engine.tick(round((T0 + 60) * US))
    engine.mark_silent([], round((T0 + 60) * US))
    assert engine.tick(round((T0 + 60.05) * US)).beds == ()  # nothing marked: no tile recomputed
    engine.mark_silent(["nobody"], round((T0 + 60.1) * US))
    assert engine.tick(round((T0 + 60.15) * US)).beds == ()
    assert engine.views(round((T0 + 60.2) * US))[0].judging == "judged"


def test_a_backlog_delivered_over_many_ticks_is_one_no_data_alarm(ward: Ward) -> None:
    # Ten minutes heard, then the gateway cut off for ten minutes; when it is back its outbox
    # arrives a minute of readings per tick. One no_data alarm, from the first silence until the
    # ward is caught up; not an end and a new raise on every tick of the catch-up.
    engine = LiveEngine(layout_of(ward), reorder_s=0.0)
    first = readings_of(TraceBuilder("W1", T0).contact(600))
    backlog = readings_of(TraceBuilder("W1", T0 + 600).contact(600))
    engine.ingest(first)
    results = [engine.tick(round((T0 + s) * US)) for s in (600, 640, 900)]
    now = T0 + 1200
    for k in range(10):
        engine.ingest(backlog[60 * k : 60 * (k + 1)])
        results.append(engine.tick(round((now + k) * US)))
    raised = [e.alarm for r in results for e in r.events if e.alarm and e.action.value == "raised"]
    assert [a.kind for a in raised] == [AlarmKind.NO_DATA]
    assert raised[0].key[2] == round((first[-1].t + 30) * US)
    ends = [[e.alarm.kind for e in r.events if e.alarm and e.action.value == "ended"] for r in results]
    # Caught up (the last reading within 30 s of now) at the tenth minute of backlog only.
    assert ends[-1] == [AlarmKind.NO_DATA] and not any(ends[:-1])


def test_clock_faults_are_refused_and_counted(ward: Ward) -> None:
    """A reading stamped in 2096 (or before 2015) never reaches a tile: "heard 0 s ago" for ever
    would be a false all-is-well."""
    engine = LiveEngine(layout_of(ward), reorder_s=0.0, max_clock_lead_s=300.0)
    now = T0_US + 10 * US
    good = Reading(T0 + 5, "W1", 36.8, 26.0, 0.9, 80.0)
    future = Reading(4_000_000_000.0, "W1", 36.8, 26.0, 0.9, 80.0)  # 2096
    ahead = Reading(T0 + 10 + 301, "W1", 36.8, 26.0, 0.9, 80.0)  # just past the allowed lead
    past = Reading(1_400_000_000.0, "W1", 36.8, 26.0, 0.9, 80.0)  # 2014
    assert engine.ingest([good, future, ahead, past], now_us=now) == 1
    assert engine.clock_faults == 3
    engine.tick(now)
    view = engine.views(now + 100 * US)[0]
    assert view.last_heard_us == round((T0 + 5) * US)
    assert view.judging == "no data"  # 105 s of silence, whatever the forged stamp said


def test_an_open_alarm_extreme_follows_the_episode(ward: Ward) -> None:
    """A baby still warming after hyperthermia started: the board's extreme is the highest so far,
    not the value at the raise (the bed page, report and export read it from there)."""
    b = TraceBuilder("W1", T0, seed=3).contact(400).contact(300, skin_c=37.8).ramp_skin(600, 38.3)
    engine = LiveEngine(layout_of(ward), reorder_s=0.0)
    results = run(engine, readings_of(b), T0 + 1300)
    [raised] = [e.alarm for r in results for e in r.events if e.action.value == "raised" and e.alarm]
    assert raised.kind is AlarmKind.HYPERTHERMIA and raised.extreme_c == pytest.approx(37.8, abs=0.02)
    later = engine.board.visible(round((T0 + 1300) * US))
    [now_view] = [v for v in later if v.kind is AlarmKind.HYPERTHERMIA]
    assert now_view.extreme_c is not None and now_view.extreme_c >= 38.2


@pytest.mark.slow(85)  # the whole file, about 85 s on make test's workers
@pytest.mark.parametrize(
    "tick_s",
    [30, pytest.param(TICK_S, marks=pytest.mark.long)],
    ids=lambda t: f"tick-{t}s",
)
def test_a_restart_from_checkpoints_at_random_moments_equals_a_day_without_one(
    ward: Ward, tick_s: int
) -> None:
    """Issue #15's fast restart: replay a day, "kill" the engine at random moments (checkpoint, a
    fresh engine restored from it and the readings stored after it, which runs on until the next
    kill) and the ward restored three times over ends the day exactly as one that never stopped:
    board, tiles, charts, rules. (One chain of restarts, not a run from the start per kill: the
    same three restores at half the cost, and each restore starts from a restored engine.)

    make test ticks every 30 s (three readings of each wrap a tick, the reorder window shorter than
    a tick); make test-long every 5 s as the ward does (more than 17,000 ticks: about a minute)."""
    ward.admit("2", AdmissionDetails("Baby B", 1400, GestationalAge(30)), now=T0 - 3600, who="nurse")
    ward.assign_wrap("W2", "2", now=T0 - 3600, who="nurse")
    day = 43200.0  # half a day keeps it quick; the midnight rules are tested above
    w1 = (
        TraceBuilder("W1", T0, rate_hz=1 / 10, seed=11)
        .contact(3 * 3600)
        .ramp_skin(2 * 3600, to_c=35.4, contact=0.1)
        .apart(3600)
        .contact(4 * 3600)
        .gap(1800)
        .detached(1200)
        .contact(day - 11.5 * 3600)
    )
    w2 = TraceBuilder("W2", T0, rate_hz=1 / 10, seed=12).contact(5 * 3600).apart(2 * 3600)
    w2 = w2.contact(day - 7 * 3600)
    readings = sorted(readings_of(w1) + readings_of(w2), key=lambda r: r.t)
    end = T0 + day
    layout = layout_of(ward)
    never = LiveEngine(layout, reorder_s=REORDER_S)
    run(never, readings, end, delay_s=3.0, seed=1, tick_s=tick_s)

    def state(e: LiveEngine, now: int) -> object:
        board = [
            (v.key, v.kind, v.state, v.priority, v.raised_us, v.ended_us, v.extreme_c)
            for v in e.board.visible(now)
        ]
        streams = [(s.report(now), s.session_timer(now)) for s in (e.stream("W1"), e.stream("W2"))]
        return board, e.views(now), e.trend("W1"), e.trend("W2"), streams

    want = state(never, round(end * US))
    rng = np.random.default_rng(15)
    kills = [T0 + k * tick_s for k in sorted(rng.integers(60, int(day // tick_s) - 60, size=3).tolist())]
    engine = LiveEngine(layout, reorder_s=REORDER_S)
    stored: list[Reading] = []
    pending, start = readings, T0
    for kill in kills:
        for res in run(engine, pending, kill, start_s=start, delay_s=3.0, seed=1, tick_s=tick_s):
            assert res.persist is not None
            stored += res.persist.readings
        batch = engine.checkpoint(round(kill * US), streams=True)
        engine.saved(batch)
        stored += batch.readings
        assert {c.wrap_id for c in batch.checkpoints} == {"W1", "W2"}
        del engine  # kill -9

        restored = LiveEngine(layout, reorder_s=REORDER_S)
        cps = {c.wrap_id: c for c in batch.checkpoints}
        needed = restored.history_needed(round(kill * US), cps)
        history = {
            w: sorted((r for r in stored if r.wrap_id == w and round(r.t * US) >= since), key=lambda r: r.t)
            for w, since in needed.items()
        }
        assert sum(map(len, history.values())) <= 2 * (REORDER_S + 3.0 + tick_s) / 10 + 2  # not the day
        restored.restore(round(kill * US), board=batch.board, history=history, checkpoints=cps)
        delivered = {(r.wrap_id, r.t) for r in stored}
        pending = [r for r in readings if (r.wrap_id, r.t) not in delivered]
        engine, start = restored, kill + tick_s
    run(engine, pending, end, start_s=start, delay_s=3.0, seed=1, tick_s=tick_s)
    moments = ", ".join(f"T0 + {kill - T0:.0f} s" for kill in kills)
    assert state(engine, round(end * US)) == want, f"killed at {moments}"
