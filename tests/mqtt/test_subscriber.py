"""The ward's MQTT source: what it accepts, what it refuses (counted), and a real broker round trip."""

from __future__ import annotations

import asyncio
import logging
import time

import aiomqtt
import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.broker import BrokerUrl
from kmc_monitor.mqtt.payload import encode_reading, encode_status
from kmc_monitor.mqtt.subscriber import MqttSource
from tests.mqtt.conftest import Mosquitto

NOW = 1_718_000_000.0
TOPIC = "kmc/ward/room-1/wrap/W01/reading"


def source(**kw: object) -> MqttSource:
    return MqttSource(BrokerUrl("127.0.0.1", 1), clock=lambda: NOW, **kw)  # type: ignore[arg-type]


def reading(t: float = NOW - 1, wrap: str = "W01") -> Reading:
    return Reading(t, wrap, 36.8, 25.0, 0.9, 80.0)


def test_a_valid_reading_reaches_the_ward_once() -> None:
    src = source()
    assert src.demo is False and src.reorder_s == 2.0 and src.wraps() == []
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
    src = MqttSource(BrokerUrl("127.0.0.1", mosquitto.port), client_id=f"t-{group}", share_group=group)
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
