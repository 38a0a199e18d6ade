"""The ward verifies every forwarded reading with the wrap's own key and counter (mqtt/sealed.py)."""

from __future__ import annotations

import dataclasses

from kmc_monitor.devices.protocol.verify import WrapEntry
from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.broker import BrokerUrl
from kmc_monitor.mqtt.payload import encode_reading
from kmc_monitor.mqtt.sealed import SealedReadings
from kmc_monitor.mqtt.subscriber import MqttSource
from tests.mqtt.sealing import SealedWrap

NOW = 1_718_000_000.0
TOPIC = "kmc/ward/{g}/wrap/W01/reading"
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")


def wrap() -> SealedWrap:
    return SealedWrap("W01", "54:48:E6:8F:80:A5", KEY)


def source(**kw: object) -> MqttSource:
    src = MqttSource(BrokerUrl("127.0.0.1", 1), clock=lambda: NOW, gateways=("room-1", "room-2"), **kw)  # type: ignore[arg-type]
    w = wrap()
    src.set_registry([WrapEntry(w.wrap_id, w.mac, w.key)], last_counters={})
    return src


def send(src: MqttSource, r: Reading, gateway: str = "room-1", seq: int = 1) -> Reading | None:
    return src.handle(TOPIC.format(g=gateway), encode_reading(gateway, seq, r))


def test_a_sealed_reading_is_accepted_with_the_values_of_its_packet() -> None:
    src, w = source(), wrap()
    honest = w.reading(NOW - 1, 33.0)
    # The gateway's fields say 37.0 °C; the packet says 33.0 °C: the packet wins.
    lying = dataclasses.replace(honest, skin_temp_c=37.0)
    got = send(src, lying)
    assert got is not None and got.skin_temp_c == 33.0 and got.counter == w.counter
    assert dict(src.rejected) == {}


def test_forged_unsealed_and_replayed_readings_are_refused_and_counted() -> None:
    src, w = source(), wrap()
    first = w.reading(NOW - 2, 33.0)
    assert send(src, first) is not None
    # A rogue publisher without the key: a plain reading, and one sealed with a wrong key.
    assert send(src, Reading(NOW - 1, "W01", 37.0, 26.0, 0.9, 80.0), seq=2) is None
    forged = SealedWrap("W01", w.mac, KEY, counter=w.counter + 50).reading(NOW - 1, 37.0, key=bytes(16))
    assert send(src, forged, seq=3) is None
    # The honest packet again, later (a replay), from the other gateway: a copy, never new data.
    assert send(src, dataclasses.replace(first, t=NOW - 0.5), gateway="room-2") is None
    # An older packet recorded earlier and sent now: refused as replayed.
    old = SealedWrap("W01", w.mac, KEY, counter=10).reading(NOW - 0.5, 37.0)
    assert send(src, old, seq=4) is None
    # An unregistered gateway id.
    assert send(src, w.reading(NOW - 0.4, 37.0), gateway="room-9") is None
    assert dict(src.rejected) == {
        "unsealed": 1,
        "authentication_failed": 1,
        "replayed": 1,
        "unknown_gateway": 1,
    }
    assert src.duplicates == 1
    assert src.readings_until(NOW) == [first]


def test_the_lab_setting_lets_plain_readings_through_and_counters_survive_a_registry_push() -> None:
    lab = source(allow_unsealed=True)
    assert send(lab, Reading(NOW - 1, "W01", 36.8)) is not None
    sealed = SealedReadings([WrapEntry("W01", "54:48:E6:8F:80:A5", KEY)], last_counters={"W01": 5000})
    w = wrap()  # counter 1001: below what the store says was accepted
    assert sealed.check("room-1", w.reading(NOW, 36.8)).refused == "replayed"
    # Staff register another wrap: W01 keeps its replay state.
    sealed.set_registry(
        [WrapEntry("W01", "54:48:E6:8F:80:A5", KEY), WrapEntry("W02", "54:48:E6:8F:80:A6", bytes(range(16)))]
    )
    assert sealed.last_counters() == {"W01": 5000}
    # An unregistered wrap is heard, but nothing it says is used.
    heard = sealed.check("room-1", Reading(NOW, "W09", 37.0, rssi_dbm=-70.0)).reading
    assert heard == Reading(NOW, "W09", rssi_dbm=-70.0)
