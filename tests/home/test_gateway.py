"""The home gateway's core with a scripted baby: what it forwards, the cold alarm, a restart."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import numpy as np

from kmc_monitor.devices.protocol.bthome import encode_service_data, wrap_objects
from kmc_monitor.devices.protocol.verify import AdvertVerifier
from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulation.simulator import WardSimulator
from kmc_monitor.home.gateway import AlarmChange, HomeGateway
from kmc_monitor.home.runner import AlarmCommand
from kmc_monitor.home.sources import registry_of
from kmc_monitor.home.store import HomeStore
from kmc_monitor.signal.report import AlarmKind
from kmc_monitor.station.wire import PairingCode
from tests.home.station import pairing_for
from tests.timing import wait_until

T0 = 1_767_600_000.0  # 2026-01-05T08:00Z
MIN = 60.0


def _cold_spell() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every 2 s for two hours: warm in KMC, out of KMC cooling to 36.2 °C, back in and rewarmed."""
    t = T0 + np.arange(0, 120 * MIN, 2.0)
    m = (t - T0) / MIN
    skin = np.select(
        [m < 30, m < 60, m < 90],
        [36.8, 36.8 - 0.6 * (m - 30) / 30, 36.2],
        36.2 + np.minimum(0.7, 0.7 * (m - 90) / 10),
    )
    contact = np.where((m >= 30) & (m < 90), 10, 90)
    return t, np.round(skin, 2), contact


def _readings(code: PairingCode, t: np.ndarray, skin: np.ndarray, contact: np.ndarray) -> list[Reading]:
    """The wrap's sealed adverts for these measurements, through the home's verifier."""
    verifier = AdvertVerifier(registry_of(code))
    (entry,) = verifier.registry
    out = []
    for i, (ti, si, ci) in enumerate(zip(t.tolist(), skin.tolist(), contact.tolist(), strict=True)):
        objects = wrap_objects(
            packet_id=i & 0xFF,
            battery_pct=80,
            skin_temp_c=si,
            ambient_temp_c=27.0,
            contact_level=ci,
            contact=ci > 50,
        )
        data = encode_service_data(objects, key=entry.key, mac=entry.mac, counter=1000 + i)
        got = verifier.process(entry.mac, data, ti, -60.0)
        assert isinstance(got, Reading), got
        out.append(got)
    return out


def _paired(tmp_path: Path) -> tuple[HomeStore, PairingCode]:
    code = pairing_for(WardSimulator(1, start_s=T0, seed=5), "http://127.0.0.1:9")
    store = HomeStore(tmp_path / "home")
    store.set_pairing(code)
    return store, code


def _queued(store: HomeStore) -> list[dict[str, object]]:
    rows = store.outbox_head(100_000, 100_000)
    return [json.loads(r.body) | {"seq": r.seq, "kind": r.kind} for r in rows]


def test_cold_spell_alarms_at_home_and_forwards_every_reading_of_it(tmp_path: Path) -> None:
    store, code = _paired(tmp_path)
    script = tmp_path / "buzzer.sh"
    log = tmp_path / "buzzer.log"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    changes: list[AlarmChange] = []
    buzzer = AlarmCommand(str(script))

    def on_alarm(change: AlarmChange) -> None:
        changes.append(change)
        buzzer(change)

    gateway = HomeGateway(store, on_alarm=on_alarm)
    t, skin, contact = _cold_spell()
    readings = _readings(code, t, skin, contact)
    for k in range(0, len(readings), 15):  # a step every 30 s
        chunk = readings[k : k + 15]
        gateway.step(chunk, chunk[-1].t)

    assert [c.kind for c in changes] == [AlarmKind.COLD_STRESS, None]
    wait_until(
        "the buzzer ran for the alarm and its end",
        lambda: log.exists() and len(log.read_text().splitlines()) == 2,
        10,
    )
    buzzer.close()
    assert log.read_text().splitlines() == ["cold W01 cold_stress", "clear W01"]

    start, end = changes[0].t, changes[1].t
    queued = [x for x in _queued(store) if x["kind"] == "reading"]
    assert all(isinstance(x["t"], float) for x in queued)
    sent_t = np.array([x["t"] for x in queued], dtype=np.float64)
    # Outside the cold spell: one reading a minute; inside: every one (a reading every 2 s).
    before = sent_t[sent_t < T0 + 30 * MIN]
    assert len(before) == 30 and np.all(np.diff(np.floor(before / MIN)) == 1)
    episode = [a for a in gateway.streams["W01"].closed_alarms() if a.kind is AlarmKind.COLD_STRESS][0]
    lo, hi = episode.start_us / 1e6, (episode.end_us or 0) / 1e6
    heard_in = t[(t >= lo) & (t <= hi)]
    sent_in = sent_t[(sent_t >= lo) & (sent_t <= hi)]
    # Every reading from the step that opened the condition to the one that closed it
    assert start - lo < 120 and hi <= end
    in_steps = heard_in[(heard_in > start - 30) & (heard_in <= hi)]
    assert set(in_steps.tolist()) <= set(sent_in.tolist())
    assert len(sent_in) > 600, "an hour of cold at full resolution"
    assert len(sent_t) == len(set(sent_t.tolist()))


def test_running_and_complete_day_summaries(tmp_path: Path) -> None:
    store, code = _paired(tmp_path)
    gateway = HomeGateway(store, summary_every_s=1800)
    t, skin, contact = _cold_spell()
    readings = _readings(code, t, skin, contact)
    for k in range(0, len(readings), 30):
        chunk = readings[k : k + 30]
        gateway.step(chunk, chunk[-1].t)
    gateway.step([], T0 + 86400)  # the next day: the day is complete
    days = [x for x in _queued(store) if x["kind"] == "day"]
    running = [d for d in days if not d["complete"]]
    (done,) = [d for d in days if d["complete"]]
    assert 3 <= len(running) <= 5, "the running day at most every half hour"
    assert done["day"] == "2026-01-05" and done["cold_episodes"] == 1
    assert done["coldest_c"] is not None and 36.0 <= float(str(done["coldest_c"])) < 36.5
    assert abs(float(str(done["contact_s"])) - 60 * MIN) < 5 * MIN, "an hour in KMC out of two"
    gateway.step([], T0 + 86400 + 7200)
    assert len([x for x in _queued(store) if x["kind"] == "day" and x["complete"]]) == 1, "once"


def test_a_power_cut_rebuilds_the_timer_and_today_from_disk(tmp_path: Path) -> None:
    store, code = _paired(tmp_path)
    gateway = HomeGateway(store)
    t, skin, contact = _cold_spell()
    readings = _readings(code, t, skin, contact)
    gateway.step(readings[:1800], readings[1799].t)  # one hour heard
    now = readings[1799].t + 1
    (before,) = gateway.statuses(now)
    store.close()  # the plug is pulled
    again = HomeGateway(HomeStore(tmp_path / "home"))
    (after,) = again.statuses(now)
    assert after.contact_today_us == before.contact_today_us > 0
    assert after.timer == before.timer and after.band == before.band
    assert again.counters == {"W01": 1000 + 1799}, "the replay window stays closed after the cut"


def test_a_failing_disk_does_not_silence_the_alarm(tmp_path: Path) -> None:
    store, code = _paired(tmp_path)
    changes: list[AlarmChange] = []
    gateway = HomeGateway(store, on_alarm=changes.append)
    t, skin, contact = _cold_spell()
    readings = _readings(code, t, skin, contact)
    gateway.step(readings[:600], readings[599].t)  # stored while the disk was well
    store._db.execute("PRAGMA query_only = ON")  # the card now refuses every write
    failed = 0
    for k in range(600, 1800, 15):
        chunk = readings[k : k + 15]
        try:
            gateway.step(chunk, chunk[-1].t)
        except sqlite3.Error:
            failed += 1
    assert failed == 80
    assert [c.kind for c in changes] == [AlarmKind.COLD_STRESS]
    assert gateway.cold_alarm("W01") is AlarmKind.COLD_STRESS
