"""Topic names: build, parse, and refuse anything that is not exactly one of ours."""

from __future__ import annotations

import pytest

from kmc_monitor.mqtt.topics import (
    ReadingTopic,
    StatusTopic,
    TopicError,
    TopicReason,
    check_id,
    parse_topic,
    reading_filter,
    reading_topic,
    shared,
    status_filter,
    status_topic,
)


def test_round_trip() -> None:
    assert reading_topic("ward", "room-1", "W01") == "kmc/ward/room-1/wrap/W01/reading"
    assert parse_topic("kmc/ward/room-1/wrap/W01/reading") == ReadingTopic("ward", "room-1", "W01")
    assert status_topic("ward", "room_1.a") == "kmc/ward/room_1.a/status"
    assert parse_topic("kmc/ward/room_1.a/status", "ward") == StatusTopic("ward", "room_1.a")


def test_filters() -> None:
    assert reading_filter("nicu") == "kmc/nicu/+/wrap/+/reading"
    assert status_filter("nicu") == "kmc/nicu/+/status"
    assert shared("grp", reading_filter("nicu")) == "$share/grp/kmc/nicu/+/wrap/+/reading"


@pytest.mark.parametrize(
    "bad", ["", "+", "#", "a/b", "$SYS", "-lead", ".lead", "has space", "x" * 33, "é", "a\x00", "a+b", "W#1"]
)
def test_ids_that_could_widen_or_forge_a_topic_are_refused(bad: str) -> None:
    with pytest.raises(TopicError) as info:
        check_id("wrap", bad)
    assert info.value.reason is TopicReason.BAD_ID
    with pytest.raises(TopicError):
        reading_topic("ward", "room-1", bad)
    with pytest.raises(TopicError):
        status_topic("ward", bad)


def test_longest_id_is_fine() -> None:
    assert check_id("wrap", "W" * 32) == "W" * 32


@pytest.mark.parametrize(
    "topic",
    [
        "kmc/ward/room-1/wrap/W01",
        "kmc/ward/room-1/wrap/W01/reading/extra",
        "kmc/ward/room-1/wraps/W01/reading",
        "other/ward/room-1/wrap/W01/reading",
        "kmc/ward/room-1/state",
        "kmc/ward/status",
        "",
        "/kmc/ward/room-1/status",
    ],
)
def test_unknown_shapes_are_bad_topics(topic: str) -> None:
    with pytest.raises(TopicError) as info:
        parse_topic(topic)
    assert info.value.reason is TopicReason.BAD_TOPIC


@pytest.mark.parametrize(
    "topic", ["kmc/ward/room 1/status", "kmc/ward/room-1/wrap/+/reading", "kmc/w#/g/status"]
)
def test_bad_ids_in_received_topics(topic: str) -> None:
    with pytest.raises(TopicError) as info:
        parse_topic(topic)
    assert info.value.reason is TopicReason.BAD_ID


def test_other_site_is_refused() -> None:
    with pytest.raises(TopicError) as info:
        parse_topic("kmc/icu/room-1/status", "ward")
    assert info.value.reason is TopicReason.WRONG_SITE


def test_long_topic_is_shortened_in_the_message() -> None:
    with pytest.raises(TopicError) as info:
        parse_topic("x" * 5000)
    assert len(str(info.value)) < 200
