"""The ward's MQTT source: what it accepts, what it refuses (counted), and a real broker round trip."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from pathlib import Path

import aiomqtt
import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt import subscriber
from kmc_monitor.mqtt.broker import BrokerUrl
from kmc_monitor.mqtt.payload import encode_reading, encode_status
from kmc_monitor.mqtt.subscriber import MqttSource
from kmc_monitor.service.engine import LiveEngine
from kmc_monitor.service.persistence import checkpoint, layout_of, write_readings
from kmc_monitor.service.store import ReadingWriter, Store
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import AdmissionDetails, GestationalAge
from tests.clock import Clock
from tests.mqtt.conftest import Mosquitto

NOW = 1_718_000_000.0
TOPIC = "kmc/ward/room-1/wrap/W01/reading"


def source(**kw: object) -> MqttSource:
    """A source on the lab setting: these tests are about transport, the seal is test_sealed.py's."""
    kw.setdefault("allow_unsealed", True)
    return MqttSource(BrokerUrl("127.0.0.1", 1), clock=lambda: NOW, **kw)  # type: ignore[arg-type]


def reading(t: float = NOW - 1, wrap: str = "W01") -> Reading:
    return Reading(t, wrap, 36.8, 25.0, 0.9, 80.0)


def test_a_valid_reading_reaches_the_ward_once() -> None:
    src = source()
    assert src.demo is False and src.reorder_s == 0.0 and src.wraps() == []
    data = encode_reading("room-1", 1, reading())
    assert src.handle(TOPIC, data) == reading()
    assert src.handle(TOPIC, data) is None  # QoS 1 redelivery
    assert src.duplicates == 1
    assert src.readings_until(NOW) == [reading()]
    assert src.readings_until(NOW) == []
    assert src.gateway_of("W01") == "room-1"


def test_refusals_are_counted_by_reason_and_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    src = source(site="ward")
    good = encode_reading("room-1", 1, reading())
    assert src.handle("kmc/ward/room-1/wrap/W02/reading", good) is None  # forged topic
    assert src.handle("kmc/icu/room-1/wrap/W01/reading", good) is None  # another ward
    assert src.handle("kmc/ward/room-1/wrap/W01", good) is None
    assert src.handle(TOPIC, b"{") is None
    assert src.handle(TOPIC, "text") is None
    assert src.handle(TOPIC, None) is None
    assert src.handle(TOPIC, encode_reading("room-1", 2, reading(t=NOW + 3600))) is None
    assert dict(src.rejected) == {
        "topic_mismatch": 1,
        "wrong_site": 1,
        "bad_topic": 1,
        "not_json": 3,
        "future": 1,
    }
    assert src.readings_until(NOW + 10_000) == []
    assert "check the gateway's clock" in caplog.text


def test_readings_stamped_ahead_wait_for_their_time() -> None:
    src = source()
    src.handle(TOPIC, encode_reading("room-1", 1, reading(t=NOW + 5)))
    src.handle(TOPIC, encode_reading("room-1", 2, reading(t=NOW - 5)))
    assert src.readings_until(NOW) == [reading(t=NOW - 5)]
    assert src.readings_until(NOW + 5) == [reading(t=NOW + 5)]


def test_sequence_gaps_are_counted() -> None:
    src = source()
    for seq, t in ((1, 1.0), (2, 2.0), (5, 3.0), (4, 4.0), (6, 5.0)):
        src.handle(TOPIC, encode_reading("room-1", seq, reading(t=NOW - 10 + t)))
    assert src.seq_gaps == 2  # 3 and 4 were missing when 5 came; 4 came late (gaps stay counted)


def test_last_will_is_logged_with_the_gateways_wraps(caplog: pytest.LogCaptureFixture) -> None:
    src = source()
    src.handle("kmc/ward/room-1/wrap/A/reading", encode_reading("room-1", 1, reading(wrap="A")))
    with caplog.at_level(logging.INFO):
        src.handle("kmc/ward/room-1/status", encode_status("room-1", "offline"))
    assert "room-1 is offline (its Last Will)" in caplog.text and "(A)" in caplog.text
    assert src.stats().gateways == {"room-1": False}


def test_pending_is_bounded() -> None:
    src = source(max_pending=3)
    for i in range(5):
        src.handle(TOPIC, encode_reading("room-1", i + 1, reading(t=NOW + 10 + i)))
    assert src.dropped_pending == 2
    assert [r.t for r in src.readings_until(NOW + 100)] == [NOW + 12, NOW + 13, NOW + 14]


@pytest.mark.asyncio
@pytest.mark.parametrize("group", [None, "kmc-ward"])
async def test_real_broker_round_trip(
    mosquitto: Mosquitto, group: str | None, async_timeout_s: float
) -> None:
    src = MqttSource(
        BrokerUrl("127.0.0.1", mosquitto.port), client_id=f"t-{group}", share_group=group, allow_unsealed=True
    )
    await src.start()
    try:
        async with asyncio.timeout(async_timeout_s):
            while not src.stats().connected:
                await asyncio.sleep(0.05)
            assert src.stats().shared_subscription is (None if group is None else True)
            now = time.time()
            async with aiomqtt.Client(
                "127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
            ) as pub:
                await pub.publish(TOPIC, encode_reading("room-1", 1, reading(t=now)), qos=1)
                await pub.publish(TOPIC, b"garbage", qos=1)
                await pub.publish("kmc/ward/room-1/status", encode_status("room-1", "online", t=now), qos=1)
            got: list[Reading] = []
            while not got or src.stats().received < 3:
                got += src.readings_until(now + 1)
                await asyncio.sleep(0.05)
        assert got == [reading(t=now)]
        assert src.rejected["not_json"] == 1
        assert src.stats().gateways == {"room-1": True}
    finally:
        await src.stop()


def test_two_gateways_copies_of_one_measurement_are_one_reading_with_the_first_time() -> None:
    src = source()
    heard_a = Reading(NOW - 2.0, "W01", 36.8, 25.0, 0.9, 80.0, -60.0, counter=4711)
    heard_b = Reading(NOW - 1.93, "W01", 36.8, 25.0, 0.9, 80.0, -75.0, counter=4711)  # same packet
    assert src.handle(TOPIC, encode_reading("room-1", 1, heard_a)) is not None
    assert src.handle("kmc/ward/room-2/wrap/W01/reading", encode_reading("room-2", 1, heard_b)) is None
    assert src.duplicates == 1
    (got,) = src.readings_until(NOW)
    assert got.t == NOW - 2.0 and got.counter == 4711 and got.rssi_dbm == -60.0
    # The next measurement (a new counter) passes, whichever gateway is first.
    nxt = Reading(NOW - 0.9, "W01", 36.8, 25.0, 0.9, 80.0, counter=4712)
    assert src.handle("kmc/ward/room-2/wrap/W01/reading", encode_reading("room-2", 2, nxt)) is not None
    # Same counter on another wrap: another measurement.
    other = Reading(NOW - 2.0, "W02", 36.8, counter=4711)
    assert src.handle("kmc/ward/room-1/wrap/W02/reading", encode_reading("room-1", 2, other)) is not None
    # A version-1 payload (no counter) is still de-duplicated by time.
    old = json.loads(encode_reading("room-1", 3, Reading(NOW - 0.5, "W03", 36.1)))
    old["v"] = 1
    v1 = json.dumps(old).encode()
    assert src.handle("kmc/ward/room-1/wrap/W03/reading", v1) is not None
    assert src.handle("kmc/ward/room-1/wrap/W03/reading", v1) is None
    assert src.duplicates == 2 and src.readings == 4


def test_the_duplicate_window_is_bounded() -> None:
    src = source()
    for i in range(subscriber._RECENT + 10):
        src.handle(TOPIC, encode_reading("room-1", i + 1, reading(t=NOW - 10_000 + i)))
    order, keys = src._recent["W01"]
    assert len(order) == len(keys) == subscriber._RECENT


def test_a_gateway_going_offline_silences_the_wraps_only_it_delivered() -> None:
    clock = Clock(NOW)
    src = MqttSource(BrokerUrl("127.0.0.1", 1), clock=clock, allow_unsealed=True)
    seq = iter(range(1, 100))

    def deliver(gateway: str, wrap: str, t: float) -> None:
        data = encode_reading(gateway, next(seq), reading(t=t, wrap=wrap))
        assert src.handle(f"kmc/ward/{gateway}/wrap/{wrap}/reading", data) is not None

    deliver("room-1", "W01", NOW - 3)
    deliver("room-1", "W02", NOW - 2.5)
    deliver("room-2", "W02", NOW - 2)  # W02 lies between the rooms: both hear it
    deliver("room-2", "W03", NOW - 1)
    assert src.silenced() == []
    clock.t = NOW + 5
    src.handle("kmc/ward/room-1/status", encode_status("room-1", "offline"))  # its Last Will
    assert src.silenced() == ["W01"]  # W02 is still heard by room-2
    assert src.silenced() == []  # once
    src.handle("kmc/ward/room-1/status", encode_status("room-1", "offline"), retained=True)
    assert src.silenced() == []  # the same news again (retained) is not news
    clock.t = NOW + 6
    src.handle("kmc/ward/room-2/status", encode_status("room-2", "offline", t=NOW + 6))  # clean stop
    assert src.silenced() == ["W02", "W03"]


def test_a_wrap_the_other_gateway_stopped_hearing_long_ago_is_silenced_too() -> None:
    clock = Clock(NOW)
    src = MqttSource(BrokerUrl("127.0.0.1", 1), clock=clock, allow_unsealed=True)
    src.handle("kmc/ward/room-2/wrap/W01/reading", encode_reading("room-2", 1, reading(t=NOW - 1)))
    clock.t = NOW + 60  # the baby moved to room 1 a minute ago
    src.handle(TOPIC, encode_reading("room-1", 1, reading(t=NOW + 59)))
    src.handle("kmc/ward/room-1/status", encode_status("room-1", "offline"))
    assert src.silenced() == ["W01"]


@pytest.mark.asyncio
async def test_the_same_measurement_from_two_gateways_is_stored_once(
    mosquitto: Mosquitto, tmp_path: Path, async_timeout_s: float
) -> None:
    """Two gateways hear one advertisement and publish it with their own receive times: through a
    real broker, the source, the engine and the store, the ward keeps one reading, the first."""
    store = Store.in_data_dir(tmp_path / "data")
    try:
        ward = Ward(store, base_url="http://localhost")
        ward.add_bed("1", "Bed 1", position=1, now=NOW - 100)
        store.add_wrap("W01", "54:48:E6:8F:80:A5", now=NOW - 100)
        ward.admit("1", AdmissionDetails("Baby", 1500, GestationalAge(32)), now=NOW - 100, who="t")
        ward.assign_wrap("W01", "1", now=NOW - 100, who="t")
        engine = LiveEngine(layout_of(ward), reorder_s=MqttSource.reorder_s)
        writer = ReadingWriter(store)
        src = MqttSource(BrokerUrl("127.0.0.1", mosquitto.port), client_id="t-copies", allow_unsealed=True)
        await src.start()
        try:
            async with asyncio.timeout(async_timeout_s):
                while not src.stats().connected:
                    await asyncio.sleep(0.05)
                now = time.time()
                measurements = [(now - 3 + i, 100 + i) for i in range(3)]
                for gateway, late_s in (("room-1", 0.0), ("room-2", 0.07)):
                    async with aiomqtt.Client(
                        "127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
                    ) as pub:
                        for i, (t, counter) in enumerate(measurements):
                            r = Reading(t + late_s, "W01", 36.8, 26.0, 0.9, 80.0, counter=counter)
                            await pub.publish(
                                f"kmc/ward/{gateway}/wrap/W01/reading",
                                encode_reading(gateway, i + 1, r),
                                qos=1,
                            )
                    # room-2's copies arrive after room-1's were handed to the engine.
                    while src.stats().received < 3 * (1 if gateway == "room-1" else 2):
                        await asyncio.sleep(0.02)
                    engine.ingest(src.readings_until(time.time()))
                    res = engine.tick(round(time.time() * 1e6))
                    assert res.persist is not None
                    write_readings(store, res.persist.readings, res.now_us, writer)
        finally:
            await src.stop()
        checkpoint(engine, store, round(time.time() * 1e6), writer=writer)
        stored = store.readings("W01", 0, math.inf)
        assert [r.t for r in stored] == [t for t, _ in measurements]
        assert src.duplicates == 3 and engine.duplicates == 0 and engine.late == 0
    finally:
        store.close()
