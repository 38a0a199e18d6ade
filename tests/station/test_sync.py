"""The station's receiving side below the web layer: ``verify_batch`` (pure), and a
:class:`Station` on a real SQLite file across a restart (tokens, counters, the acknowledged
sequence are what the file says, not what a process remembered)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmc_monitor.devices.protocol.verify import WrapEntry
from kmc_monitor.service.store import DB_FILENAME, Store
from kmc_monitor.station.service import Station
from kmc_monitor.station.store import HomeRecord
from kmc_monitor.station.sync import Invalid, Verified, verify_batch
from kmc_monitor.station.wire import SyncAck
from tests.mqtt.sealing import SealedWrap

KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
MAC = "54:48:E6:8F:80:A5"
T0 = 1767261600.0


def body(home_id: str, readings: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps(
        {"home_id": home_id, "readings": readings, "status": {"sent_t": T0, "pending": 0}, **extra}
    ).encode()


def item(wrap: SealedWrap, seq: int) -> dict[str, Any]:
    r = wrap.reading(T0 + 60 * seq, 36.7)
    assert r.sealed is not None
    return {"seq": seq, "wrap_id": wrap.wrap_id, "t": r.t, "sealed": r.sealed.hex()}


def test_verify_batch_skips_what_is_acknowledged_and_says_why_it_refuses() -> None:
    w = SealedWrap("W1", MAC, KEY)
    items = [item(w, n) for n in range(1, 6)]
    out = verify_batch(body("h1", items), "h1", [("W1", MAC, KEY)], {}, 2)
    assert isinstance(out, Verified)
    assert [i[0] for i in out.items] == [3, 4, 5] and out.repeated == 2
    assert all(i[9] is None for i in out.items)
    assert out.counters == {"W1": w.counter}
    # The counters given are the station's: a packet at or below them is a replay.
    again = verify_batch(body("h1", items), "h1", [("W1", MAC, KEY)], {"W1": w.counter}, 0)
    assert isinstance(again, Verified)
    assert {i[9] for i in again.items} == {"replayed"}
    assert "counter" in again.details["replayed"]


def test_verify_batch_refuses_a_batch_that_is_not_the_contract_without_its_values() -> None:
    out = verify_batch(
        b'{"home_id": "h1", "readings": [], "status": {"sent_t": "soon", "pending": -1}}', "h1", [], {}, 0
    )
    assert isinstance(out, Invalid)
    assert {tuple(e["loc"]) for e in out.errors} == {
        ("body", "status", "sent_t"),
        ("body", "status", "pending"),
    }
    assert "soon" not in json.dumps(out.errors)
    assert isinstance(verify_batch(body("h2", []), "h1", [], {}, 0), Invalid)
    assert isinstance(verify_batch(b"\xff\xfe", "h1", [], {}, 0), Invalid)


def _home(home_id: str) -> HomeRecord:
    return HomeRecord(
        home_id=home_id,
        admission_id=None,
        display_name="Baby",
        daily_goal_s=72000.0,
        language="en",
        tz="UTC",
        discharged_t=T0,
        enrolled_t=T0,
        enrolled_by="nurse",
        consent_by="mother: Lan",
        consent_t=T0,
        accepted_through=0,
        last_sync_t=None,
        status=None,
        refused=0,
        token_t=T0,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    Store.in_data_dir(tmp_path).close()
    return tmp_path / DB_FILENAME


def test_a_restarted_station_keeps_tokens_counters_and_the_sequence(db: Path) -> None:
    w = SealedWrap("W1", MAC, KEY)
    first = [item(w, n) for n in range(1, 4)]
    station = Station(db, visit_days=(1,))
    issued = station.enrol(
        _home("h1"), [WrapEntry("W1", MAC, KEY)], station_url="http://s", now=T0, who="nurse"
    )
    assert station.check_token("h1", issued.code.token)
    assert not station.check_token("h1", issued.code.token + "x")
    assert not station.check_token("h2", issued.code.token)
    assert station.receiver.receive("h1", body("h1", first), now=T0) == SyncAck(accepted_through=3)
    station.close()

    again = Station(db, visit_days=(1,))
    try:
        assert again.check_token("h1", issued.code.token)  # the hash was kept, not the token
        # The same batch after the restart: held already, nothing refused.
        assert again.receiver.receive("h1", body("h1", first), now=T0) == SyncAck(accepted_through=3)
        # An old packet under a new sequence number: the stored counter refuses it.
        replay = {**first[0], "seq": 4}
        assert again.receiver.receive("h1", body("h1", [replay]), now=T0) == SyncAck(
            accepted_through=4, refused=1
        )
        assert again.receiver.receive("h1", body("h1", [item(w, 5)]), now=T0) == SyncAck(accepted_through=5)
        # A new code: the old token stops, the new one works, both in memory and after a restart.
        new = again.reissue("h1", station_url="http://s", now=T0 + 1, who="nurse")
        assert not again.check_token("h1", issued.code.token) and again.check_token("h1", new.code.token)
        assert [a.action for a in again.store.audit("h1")] == [
            "enrolled",
            "pairing_issued",
            "pairing_reissued",
        ]
    finally:
        again.close()
    third = Station(db, visit_days=(1,))
    try:
        assert not third.check_token("h1", issued.code.token) and third.check_token("h1", new.code.token)
    finally:
        third.close()
