"""The wrap's measurement id (``Reading.counter``) from the air to the payload: the verifier takes
it from the encrypted packet, the simulated room carries it, and a restarted simulated room does not
reuse the counters the ward remembers."""

from __future__ import annotations

from kmc_monitor.devices.protocol.bthome import encode_service_data, wrap_objects
from kmc_monitor.devices.protocol.verify import AdvertVerifier, WrapEntry, WrapRegistry
from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.publisher import PrefixedSource, simulated_ward

KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
MAC = "54:48:E6:8F:80:A5"
PLAIN_MAC = "A4:C1:38:8D:18:B2"
T0 = 1_767_225_600.0


def test_the_verifier_carries_the_encryption_counter_and_none_for_plaintext() -> None:
    v = AdvertVerifier(
        WrapRegistry([WrapEntry("W01", MAC, KEY), WrapEntry("W02", PLAIN_MAC)], allow_unencrypted=True)
    )
    objects = wrap_objects(
        packet_id=9, battery_pct=80, skin_temp_c=36.5, ambient_temp_c=26.0, contact_level=90, contact=True
    )
    sealed = encode_service_data(objects, key=KEY, mac=MAC, counter=123_456)
    r = v.process(MAC, sealed, T0)
    assert isinstance(r, Reading) and r.counter == 123_456
    # Another gateway's verifier hears the same packet later: same counter, its own time.
    r2 = AdvertVerifier(WrapRegistry([WrapEntry("W01", MAC, KEY)])).process(MAC, sealed, T0 + 0.04)
    assert isinstance(r2, Reading) and (r2.t, r2.counter) == (T0 + 0.04, 123_456)
    plain = v.process(PLAIN_MAC, encode_service_data(objects), T0)
    assert isinstance(plain, Reading) and plain.counter is None


def test_simulated_rooms_carry_counters_that_rise_across_a_restart() -> None:
    room = simulated_ward(3, start_s=T0, seed=4, measure_s=1.0, prefix="R1-")
    assert isinstance(room, PrefixedSource)
    first = room.readings_until(T0 + 60)
    assert {r.wrap_id for r in first} == {"R1-W01", "R1-W02", "R1-W03"}
    last: dict[str, int] = {}
    for r in first:
        assert r.counter is not None and r.counter > last.get(r.wrap_id, -1)
        last[r.wrap_id] = r.counter
    # The same room restarted a minute later with the same seed continues above its old counters.
    again = simulated_ward(3, start_s=T0 + 60, seed=4, measure_s=1.0, prefix="R1-").readings_until(T0 + 62)
    assert again and all(r.counter is not None and r.counter > last[r.wrap_id] for r in again)


def test_reading_equality_ignores_the_counter() -> None:
    assert Reading(T0, "W01", 36.5, counter=1) == Reading(T0, "W01", 36.5)
    assert hash(Reading(T0, "W01", counter=1)) == hash(Reading(T0, "W01", counter=2))
