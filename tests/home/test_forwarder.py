"""The outbox and its forwarder against the stand-in station: bounded batches, failures, trust."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmc_monitor.devices.simulation.simulator import WardSimulator
from kmc_monitor.home.forwarder import Backoff, Forwarder, SyncError
from kmc_monitor.home.store import HomeStore, HomeStoreError
from kmc_monitor.station.wire import MAX_BATCH_DAYS, MAX_BATCH_READINGS, PairingCode
from tests.home.station import StandInStation, pairing_for

T0 = 1_767_600_000.0


@pytest.fixture
def station() -> Iterator[StandInStation]:
    st = StandInStation()
    st.up()
    yield st
    st.down()


def _reading(i: int) -> tuple[str, str]:
    return "reading", json.dumps({"wrap_id": "W01", "t": T0 + i, "sealed": "00", "rssi_dbm": None})


def _day(i: int) -> tuple[str, str]:
    body = {
        "wrap_id": "W01",
        "day": f"2026-01-{1 + i % 28:02d}",
        "contact_s": 1.0,
        "goal_s": 3600.0,
        "measured_s": 2.0,
        "cold_episodes": 0,
        "complete": False,
    }
    return "day", json.dumps(body)


def _home(tmp_path: Path, code: PairingCode) -> HomeStore:
    store = HomeStore(tmp_path / "home")
    store.set_pairing(code)
    return store


def _code(url: str) -> PairingCode:
    return pairing_for(WardSimulator(1, start_s=T0, seed=5, config=None), url)


def test_batches_are_contiguous_and_bounded_and_only_the_ack_deletes(
    tmp_path: Path, station: StandInStation
) -> None:
    code = station.code = _code(station.url)
    store = _home(tmp_path, code)
    # 2 500 readings with 70 summaries among them: the day limit cuts the first batch short.
    items = [_day(i) if i % 36 == 0 else _reading(i) for i in range(2570)]
    store.commit_step([], items, {}, {})
    head = store.outbox_head(MAX_BATCH_READINGS, MAX_BATCH_DAYS)
    assert [r.seq for r in head] == list(range(1, len(head) + 1))
    assert sum(r.kind == "day" for r in head) <= MAX_BATCH_DAYS
    assert sum(r.kind == "reading" for r in head) <= MAX_BATCH_READINGS
    # The stand-in refuses the fake "00" seals but stores and acknowledges them (counted, logged).
    forwarder = Forwarder(tmp_path / "home", clock=lambda: T0)
    out = forwarder.sync_all()
    assert out.pending == 0 and out.accepted_through == 2570
    assert station.received.batches >= 2 and station.received.max_batch <= MAX_BATCH_READINGS + MAX_BATCH_DAYS
    assert sorted(station.received.items) == list(range(1, 2571))
    days = len([i for i in range(2570) if i % 36 == 0])
    assert forwarder.refused == 2570 - days, "refused items are counted, and still acknowledged"
    # Every item acknowledged and deleted: the next one still gets a new number, never 1 again.
    store.commit_step([], [_reading(9999)], {}, {})
    assert [r.seq for r in store.outbox_head(10, 10)] == [2571]
    forwarder.close()


def test_no_network_keeps_everything_and_backs_off(tmp_path: Path, station: StandInStation) -> None:
    code = station.code = _code(station.url)
    store = _home(tmp_path, code)
    store.commit_step([], [_reading(i) for i in range(10)], {}, {})
    station.down()
    forwarder = Forwarder(tmp_path / "home", clock=lambda: T0, timeout_s=5)
    with pytest.raises(SyncError, match="not reachable"):
        forwarder.sync_once()
    assert store.pending() == 10
    b = Backoff(first_s=5, cap_s=300)
    assert [b.delay_s(n) for n in (1, 2, 3, 7, 50)] == [5, 10, 20, 300, 300]
    station.up()
    assert forwarder.sync_once().pending == 0
    forwarder.close()


def test_a_wrong_token_is_a_clear_error_and_nothing_is_dropped(
    tmp_path: Path, station: StandInStation
) -> None:
    code = _code(station.url)
    station.code = code.model_copy(update={"token": "x" * 32})
    store = _home(tmp_path, code)
    store.commit_step([], [_reading(1)], {}, {})
    forwarder = Forwarder(tmp_path / "home", clock=lambda: T0)
    with pytest.raises(SyncError, match="401.*pair again"):
        forwarder.sync_once()
    assert store.pending() == 1
    forwarder.close()


def test_an_ack_beyond_what_was_sent_deletes_only_what_was_sent(
    tmp_path: Path, station: StandInStation
) -> None:
    code = station.code = _code(station.url)
    store = _home(tmp_path, code)
    for s in range(1, 6):  # the station already holds 1..5 from an earlier life of this home id
        station.received.items[s] = "{}"
    store.commit_step([], [_reading(1), _reading(2)], {}, {})
    forwarder = Forwarder(tmp_path / "home", clock=lambda: T0)
    out = forwarder.sync_once()
    assert out.accepted_through == 2 and out.pending == 0
    store.commit_step([], [_reading(3)], {}, {})
    assert store.pending() == 1, "item 3 is not deleted by the station's claim of 5"
    forwarder.close()


def test_a_data_dir_serves_one_home(tmp_path: Path) -> None:
    code = _code("http://127.0.0.1:9")
    store = _home(tmp_path, code)
    with pytest.raises(HomeStoreError, match="new --data-dir"):
        store.set_pairing(code.model_copy(update={"home_id": "H002"}))
    assert store.begin_run() == 0
    store.close()
    again = HomeStore(tmp_path / "home")
    assert again.begin_run() == 1, "a run that never ended cleanly is a power cut"
    again.end_run()
    assert again.begin_run() == 1
