"""MQTT between room gateways and the ward service (issue #6).

A hospital runs one gateway per room near the wraps (Bluetooth reaches a few metres); each publishes
the readings it hears to the hospital's MQTT 5 broker (:mod:`~kmc_monitor.mqtt.publisher`, with an
on-disk outbox, :mod:`~kmc_monitor.mqtt.buffer`), and the ward service subscribes
(:mod:`~kmc_monitor.mqtt.subscriber`). Topic names and payloads are pure codecs
(:mod:`~kmc_monitor.mqtt.topics`, :mod:`~kmc_monitor.mqtt.payload`) that the tests exercise without
a broker; :mod:`~kmc_monitor.mqtt.sealed` is the ward's own check of each forwarded wrap packet.
The names below are those light parts; the publisher and subscriber import aiomqtt and are imported
from their own modules.
"""

from kmc_monitor.mqtt.broker import BrokerUrl, BrokerUrlError
from kmc_monitor.mqtt.buffer import Outbox, OutboxError
from kmc_monitor.mqtt.payload import (
    PayloadError,
    PayloadReason,
    ReadingMessage,
    StatusMessage,
    decode_reading,
    decode_status,
    encode_reading,
    encode_status,
)
from kmc_monitor.mqtt.sealed import Checked, SealedReadings, SealReason
from kmc_monitor.mqtt.topics import (
    ReadingTopic,
    StatusTopic,
    TopicError,
    TopicReason,
    parse_topic,
    reading_filter,
    reading_topic,
    shared,
    status_filter,
    status_topic,
)

__all__ = [
    "BrokerUrl",
    "BrokerUrlError",
    "Checked",
    "Outbox",
    "OutboxError",
    "PayloadError",
    "PayloadReason",
    "ReadingMessage",
    "ReadingTopic",
    "SealReason",
    "SealedReadings",
    "StatusMessage",
    "StatusTopic",
    "TopicError",
    "TopicReason",
    "decode_reading",
    "decode_status",
    "encode_reading",
    "encode_status",
    "parse_topic",
    "reading_filter",
    "reading_topic",
    "shared",
    "status_filter",
    "status_topic",
]
