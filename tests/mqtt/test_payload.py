"""Payload codec: round trips, and every way a payload is refused (with its reason)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.payload import (
    MAX_READING_BYTES,
    PayloadError,
    PayloadReason,
    StatusMessage,
    decode_reading,
    decode_status,
    encode_reading,
    encode_status,
)
from kmc_monitor.mqtt.topics import ReadingTopic, StatusTopic, TopicError

TOPIC = ReadingTopic("ward", "room-1", "W01")
STATUS = StatusTopic("ward", "room-1")
FULL = Reading(1_718_000_000.25, "W01", 36.81, 27.4, 0.92, 81.0, -63.0, counter=90_211)


def doc(**changes: Any) -> bytes:
    base: dict[str, Any] = json.loads(encode_reading("room-1", 7, FULL))
    for k, v in changes.items():
        if v is ...:
            base.pop(k)
        else:
            base[k] = v
    return json.dumps(base).encode()


def test_round_trip_full_and_sparse() -> None:
    msg = decode_reading(encode_reading("room-1", 7, FULL), TOPIC)
    assert (msg.gateway, msg.seq, msg.reading) == ("room-1", 7, FULL)
    sparse = Reading(1_718_000_001.0, "W01", skin_temp_c=36.5)
    data = encode_reading("room-1", 8, sparse)
    assert b"contact" not in data
    assert decode_reading(data, TOPIC).reading == sparse
    assert decode_reading(doc(contact=None), TOPIC).reading.contact is None


@given(
    t=st.floats(946_684_800.0, 4_102_444_799.0),
    skin=st.none() | st.floats(-40.0, 125.0),
    contact=st.none() | st.floats(0.0, 1.0),
    seq=st.integers(1, 2**63 - 1),
)
def test_any_valid_reading_round_trips_exactly(
    t: float, skin: float | None, contact: float | None, seq: int
) -> None:
    r = Reading(t, "W01", skin_temp_c=skin, contact=contact)
    msg = decode_reading(encode_reading("room-1", seq, r), TOPIC)
    assert msg.reading == r and msg.seq == seq


@given(st.binary(max_size=300))
def test_any_bytes_are_decoded_or_refused_with_a_reason(data: bytes) -> None:
    try:
        decode_reading(data, TOPIC)
    except PayloadError as exc:
        assert isinstance(exc.reason, PayloadReason)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"x" * (MAX_READING_BYTES + 1), PayloadReason.TOO_LARGE),
        (b"\xff\xfe", PayloadReason.NOT_JSON),
        (b"{not json", PayloadReason.NOT_JSON),
        (doc().replace(b'"t": 1718000000.25', b'"t": NaN'), PayloadReason.NOT_JSON),
        (doc().replace(b'"skin_temp_c": 36.81', b'"skin_temp_c": Infinity'), PayloadReason.NOT_JSON),
        (b'{"v": 1, "v": 1}', PayloadReason.NOT_JSON),
        (b"[1, 2]", PayloadReason.NOT_OBJECT),
        (b'"reading"', PayloadReason.NOT_OBJECT),
        (doc(v=...), PayloadReason.MISSING_FIELD),
        (doc(v=4), PayloadReason.UNKNOWN_VERSION),
        (doc(v=0), PayloadReason.UNKNOWN_VERSION),
        (doc(v=1), PayloadReason.UNKNOWN_FIELD),  # version 1 has no counter
        (doc(counter="7"), PayloadReason.BAD_TYPE),
        (doc(counter=7.0), PayloadReason.BAD_TYPE),
        (doc(counter=True), PayloadReason.BAD_TYPE),
        (doc(counter=-1), PayloadReason.OUT_OF_RANGE),
        (doc(counter=2**32), PayloadReason.OUT_OF_RANGE),
        (doc(v="1"), PayloadReason.UNKNOWN_VERSION),
        (doc(v=True), PayloadReason.UNKNOWN_VERSION),
        (doc(extra=1), PayloadReason.UNKNOWN_FIELD),
        (doc(t=...), PayloadReason.MISSING_FIELD),
        (doc(seq=...), PayloadReason.MISSING_FIELD),
        (doc(wrap_id=...), PayloadReason.MISSING_FIELD),
        (doc(gateway=...), PayloadReason.MISSING_FIELD),
        (doc(t="1718000000"), PayloadReason.BAD_TYPE),
        (doc(skin_temp_c=True), PayloadReason.BAD_TYPE),
        (doc(seq=1.0), PayloadReason.BAD_TYPE),
        (doc(wrap_id=1), PayloadReason.BAD_TYPE),
        (doc(t=0), PayloadReason.OUT_OF_RANGE),
        (doc(t=4_102_444_800), PayloadReason.OUT_OF_RANGE),
        (doc(t=10**400), PayloadReason.OUT_OF_RANGE),
        (doc().replace(b'"skin_temp_c": 36.81', b'"skin_temp_c": 1e400'), PayloadReason.OUT_OF_RANGE),
        (doc(skin_temp_c=126), PayloadReason.OUT_OF_RANGE),
        (doc(contact=1.5), PayloadReason.OUT_OF_RANGE),
        (doc(battery_pct=-1), PayloadReason.OUT_OF_RANGE),
        (doc(rssi_dbm=21), PayloadReason.OUT_OF_RANGE),
        (doc(seq=0), PayloadReason.OUT_OF_RANGE),
        (doc(seq=2**63), PayloadReason.OUT_OF_RANGE),
        (doc(wrap_id="W/01"), PayloadReason.OUT_OF_RANGE),
        (doc(wrap_id="W02"), PayloadReason.TOPIC_MISMATCH),
        (doc(gateway="room-2"), PayloadReason.TOPIC_MISMATCH),
    ],
)
def test_every_refusal_has_its_reason(payload: bytes, reason: PayloadReason) -> None:
    with pytest.raises(PayloadError) as info:
        decode_reading(payload, TOPIC)
    assert info.value.reason is reason
    assert len(str(info.value)) < 300


def test_the_wraps_counter_travels_and_version_1_is_still_accepted() -> None:
    data = encode_reading("room-1", 7, FULL)
    assert json.loads(data)["v"] == 3 and json.loads(data)["counter"] == 90_211
    assert decode_reading(data, TOPIC).reading.counter == 90_211
    # A reading without a counter (a plaintext wrap) leaves the field out.
    plain = encode_reading("room-1", 8, Reading(1_718_000_001.0, "W01", 36.5))
    assert b"counter" not in plain and decode_reading(plain, TOPIC).reading.counter is None
    # What gateways sent before the counter existed: version 1, no counter.
    old = decode_reading(doc(v=1, counter=...), TOPIC)
    assert old.seq == 7 and old.reading == FULL and old.reading.counter is None
    # The counter is 32 bits and the gateway refuses what the service would.
    with pytest.raises(PayloadError):
        encode_reading("room-1", 9, Reading(1.7e9, "W01", 36.5, counter=2**32))
    # Status messages of either version.
    assert decode_status(b'{"v":1,"gateway":"room-1","state":"online"}', STATUS).state == "online"
    assert json.loads(encode_status("room-1", "offline"))["v"] == 3


def test_forged_topic_another_wrap_or_gateway() -> None:
    genuine = encode_reading("room-1", 1, FULL)
    with pytest.raises(PayloadError, match="in the topic") as info:
        decode_reading(genuine, ReadingTopic("ward", "room-1", "W02"))
    assert info.value.reason is PayloadReason.TOPIC_MISMATCH
    with pytest.raises(PayloadError) as info:
        decode_reading(genuine, ReadingTopic("ward", "room-9", "W01"))
    assert info.value.reason is PayloadReason.TOPIC_MISMATCH


def test_gateway_refuses_what_the_service_would() -> None:
    with pytest.raises(PayloadError):
        encode_reading("room-1", 1, Reading(float("nan"), "W01"))
    with pytest.raises(PayloadError):
        encode_reading("room-1", 1, Reading(1.7e9, "W01", skin_temp_c=500.0))
    with pytest.raises(TopicError):
        encode_reading("room-1", 1, Reading(1.7e9, "wrap one"))


def test_status_round_trip_and_last_will() -> None:
    online = encode_status("room-1", "online", t=1.7e9, wraps=["W01", "W02"], buffered=3, dropped=0)
    assert decode_status(online, STATUS) == StatusMessage("room-1", "online", 1.7e9, ("W01", "W02"), 3, 0)
    will = decode_status(encode_status("room-1", "offline"), STATUS)
    assert will == StatusMessage("room-1", "offline")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"v":1,"gateway":"room-1","state":"sleeping"}', PayloadReason.OUT_OF_RANGE),
        (b'{"v":1,"gateway":"room-1","state":1}', PayloadReason.BAD_TYPE),
        (b'{"v":1,"gateway":"room-1"}', PayloadReason.MISSING_FIELD),
        (b'{"v":1,"gateway":"room-2","state":"online"}', PayloadReason.TOPIC_MISMATCH),
        (b'{"v":1,"gateway":"room-1","state":"online","wraps":"W01"}', PayloadReason.BAD_TYPE),
        (b'{"v":1,"gateway":"room-1","state":"online","wraps":["W 1"]}', PayloadReason.OUT_OF_RANGE),
        (b'{"v":1,"gateway":"room-1","state":"online","buffered":-1}', PayloadReason.OUT_OF_RANGE),
        (b'{"v":1,"gateway":"room-1","state":"online","x":0}', PayloadReason.UNKNOWN_FIELD),
        (b" " * 20_000, PayloadReason.TOO_LARGE),
    ],
)
def test_status_refusals(payload: bytes, reason: PayloadReason) -> None:
    with pytest.raises(PayloadError) as info:
        decode_status(payload, STATUS)
    assert info.value.reason is reason


def test_status_with_too_many_wraps_is_refused_at_the_gateway() -> None:
    with pytest.raises(PayloadError) as info:
        encode_status("room-1", "online", wraps=[f"W{i:030d}" for i in range(1000)])
    assert info.value.reason is PayloadReason.TOO_LARGE
