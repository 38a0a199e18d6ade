"""The wrap registry and the advertisement verifier: nothing forged, replayed or unknown becomes a reading."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmc_monitor.devices.errors import RegistryError, RejectReason
from kmc_monitor.devices.protocol.bthome import decode_service_data, encode_service_data, wrap_objects
from kmc_monitor.devices.protocol.verify import AdvertVerifier, Rejection, WrapEntry, WrapRegistry, WrapStats
from kmc_monitor.devices.reading import Reading, readings_to_series
from kmc_monitor.errors import KmcError
from tests.firmware.test_stubs_build import stub_vectors

KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
OTHER_KEY = bytes.fromhex("814aac74c4f17b6c1581e1ab87816b99")
MAC = "54:48:E6:8F:80:A5"
PLAIN_MAC = "A4:C1:38:8D:18:B2"
T0 = 1_767_225_600.0


def registry(*, allow_unencrypted: bool = False) -> WrapRegistry:
    return WrapRegistry(
        [WrapEntry("W01", MAC, KEY), WrapEntry("W02", PLAIN_MAC)], allow_unencrypted=allow_unencrypted
    )


def advert(counter: int, packet_id: int, *, key: bytes = KEY, mac: str = MAC, skin: float = 36.5) -> bytes:
    objects = wrap_objects(
        packet_id=packet_id,
        battery_pct=80,
        skin_temp_c=skin,
        ambient_temp_c=26.0,
        contact_level=90,
        contact=True,
    )
    return encode_service_data(objects, key=key, mac=mac, counter=counter)


def plain(packet_id: int, skin: float = 36.5) -> bytes:
    objects = wrap_objects(
        packet_id=packet_id,
        battery_pct=80,
        skin_temp_c=skin,
        ambient_temp_c=26.0,
        contact_level=90,
        contact=True,
    )
    return encode_service_data(objects)


def rejected(result: Reading | Rejection, reason: RejectReason) -> bool:
    return isinstance(result, Rejection) and result.reason is reason


# --- registry -------------------------------------------------------------------------------------

TOML = """
allow_unencrypted = true

[[wraps]]
wrap_id = "W01"
mac = "54:48:e6:8f:80:a5"
key = "231D39C1D7CC1AB1AEE224CD096DB932"

[[wraps]]
wrap_id = "W02"
mac = "A4-C1-38-8D-18-B2"
"""


def test_registry_from_toml_and_json(tmp_path: Path) -> None:
    toml_path = tmp_path / "ward.toml"
    toml_path.write_text(TOML)
    json_path = tmp_path / "ward.json"
    json_path.write_text(
        json.dumps(
            {
                "allow_unencrypted": True,
                "wraps": [
                    {"wrap_id": "W01", "mac": MAC, "key": KEY.hex()},
                    {"wrap_id": "W02", "mac": PLAIN_MAC},
                ],
            }
        )
    )
    for path in (toml_path, json_path):
        path.chmod(0o600)  # they hold keys: readable by their owner only
        reg = WrapRegistry.load(path)
        assert reg.allow_unencrypted and len(reg) == 2
        w01 = reg.by_id("W01")
        assert w01 is not None and w01.mac == MAC and w01.key == KEY
        assert reg.by_mac("54:48:e6:8f:80:a5") is w01 and reg.by_mac(bytes.fromhex("5448e68f80a5")) is w01
        w02 = reg.by_mac(PLAIN_MAC)
        assert w02 is not None and w02.key is None
        assert reg.by_mac("00:00:00:00:00:00") is None and reg.by_mac("nonsense") is None


def test_the_key_never_appears_in_repr() -> None:
    assert KEY.hex() not in repr(WrapEntry("W01", MAC, KEY)) and "key" not in repr(WrapEntry("W01", MAC, KEY))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[[wraps]]\nwrap_id = "W01"\nmac = "54:48:E6:8F:80"\n', r"wrap #1 \(W01\).*not a MAC address"),
        ('[[wraps]]\nwrap_id = "W01"\nmac = "54:48:E6:8F:80:A5"\nkey = "abcd"\n', r"wrap #1 \(W01\).*32 hex"),
        ('[[wraps]]\nwrap_id = "W01"\nmac = "54:48:E6:8F:80:A5"\nkey = 12\n', "must be 32 hex digits"),
        ('[[wraps]]\nmac = "54:48:E6:8F:80:A5"\n', "'wrap_id' is required"),
        ('[[wraps]]\nwrap_id = "W01"\nmac = "54:48:E6:8F:80:A5"\nbindkey = "x"\n', "unknown field.*bindkey"),
        (
            '[[wraps]]\nwrap_id = "W01"\nmac = "54:48:E6:8F:80:A5"\n'
            '[[wraps]]\nwrap_id = "W01"\nmac = "54:48:E6:8F:80:A6"\n',
            "registered twice",
        ),
        (
            '[[wraps]]\nwrap_id = "W01"\nmac = "54:48:E6:8F:80:A5"\n'
            '[[wraps]]\nwrap_id = "W02"\nmac = "54-48-e6-8f-80-a5"\n',
            "registered for both",
        ),
        ('allow_unencrypted = "yes"\n', "true or false"),
        ("allow_plaintext = true\n", "unknown setting"),
        ("wraps = 3\n", "must be a list"),
        ("[[wraps]\n", "invalid TOML"),
    ],
)
def test_registry_errors_name_the_file_and_entry(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "ward.toml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=match) as info:
        WrapRegistry.load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, KmcError)


def test_registry_file_problems(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        WrapRegistry.load(tmp_path / "missing.toml")
    bad_json = tmp_path / "ward.json"
    bad_json.write_text("{")
    with pytest.raises(RegistryError, match="invalid JSON at line 1"):
        WrapRegistry.load(bad_json)
    binary = tmp_path / "ward.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(RegistryError, match="not a text file"):
        WrapRegistry.load(binary)
    top = tmp_path / "list.json"
    top.write_text("[]")
    with pytest.raises(RegistryError, match="expected a table"):
        WrapRegistry.load(top)


# --- verifier: the happy path ----------------------------------------------------------------------


def test_an_authentic_new_advertisement_becomes_a_reading() -> None:
    v = AdvertVerifier(registry())
    r = v.process(MAC, advert(1, 1), T0, rssi=-61)
    assert r == Reading(T0, "W01", 36.5, 26.0, 0.9, 80, -61)
    assert v.stats("W01") == WrapStats(decoded=1)


def test_mac_spelling_does_not_matter() -> None:
    v = AdvertVerifier(registry())
    assert isinstance(v.process("54:48:e6:8f:80:a5", advert(1, 1), T0), Reading)
    assert isinstance(v.process(bytes.fromhex("5448e68f80a5"), advert(2, 2), T0), Reading)


def test_binary_contact_is_used_when_no_level_is_sent() -> None:
    v = AdvertVerifier(registry(), wrap_layout_only=False)
    data = encode_service_data([(0x00, 1), (0x25, True)], key=KEY, mac=MAC, counter=1)
    r = v.process(MAC, data, T0)
    assert isinstance(r, Reading) and r.contact == 1.0 and r.skin_temp_c is None


# --- verifier: everything that must not become a reading ------------------------------------------


def test_security_rejections_are_counted_by_reason_and_produce_no_reading() -> None:
    v = AdvertVerifier(registry())
    good = advert(10, 10)
    flipped = bytearray(good)
    flipped[5] ^= 0x01
    outcomes = [
        v.process(MAC, advert(9, 9, key=OTHER_KEY), T0),  # wrong key
        v.process(MAC, bytes(flipped), T0),  # one flipped byte
        v.process("11:22:33:44:55:66", good, T0),  # unknown MAC
        v.process(MAC, good, T0),  # accepted
        v.process(MAC, advert(10, 11), T0),  # same counter, new content
        v.process(MAC, advert(5, 12), T0),  # old counter
        v.process(MAC, plain(13), T0),  # plaintext from a wrap with a key
    ]
    assert [type(o).__name__ for o in outcomes].count("Reading") == 1
    reasons = [o.reason for o in outcomes if isinstance(o, Rejection)]
    assert reasons == [
        RejectReason.AUTHENTICATION_FAILED,
        RejectReason.AUTHENTICATION_FAILED,
        RejectReason.UNKNOWN_DEVICE,
        RejectReason.REPLAYED,
        RejectReason.REPLAYED,
        RejectReason.DOWNGRADE,
    ]
    stats = v.stats("W01")
    assert stats.decoded == 1 and stats.replayed == 2 and stats.duplicate == 0
    assert dict(stats.rejected) == {RejectReason.AUTHENTICATION_FAILED: 2, RejectReason.DOWNGRADE: 1}
    assert stats.total_rejected == 5
    assert v.unknown_devices == 1


def test_every_single_bit_flip_is_rejected() -> None:
    v = AdvertVerifier(registry())
    good = advert(100, 1)
    for i in range(len(good)):
        for bit in range(8):
            forged = bytearray(good)
            forged[i] ^= 1 << bit
            assert isinstance(v.process(MAC, bytes(forged), T0), Rejection)
    assert v.stats("W01").decoded == 0
    # ... and none of them moved the replay window: the genuine packet is still accepted.
    assert isinstance(v.process(MAC, good, T0), Reading)


def test_replay_of_published_counter_vectors() -> None:
    # bthome-ble tests/test_parser_v2.py: counters 1122867, then 1122868 (new), then 1122866 (old).
    first = b"\x41\xe4\x45\xf3\xc9\x96\x2b\x33\x22\x11\x00\x6c\x7c\x45\x19"
    newer = b"\x41\x3e\x93\x2c\xc7\x17\x5f\x34\x22\x11\x00\x55\x38\x76\xaf"
    older = b"\x41\x72\x3d\x30\x35\xfb\x88\x32\x22\x11\x00\x9e\x74\x14\xc0"
    v = AdvertVerifier(WrapRegistry([WrapEntry("W01", MAC, KEY)]), wrap_layout_only=False)
    results = [v.process(MAC, d, T0 + i) for i, d in enumerate((first, newer, older, first))]
    # These vectors carry a temperature (not the full wrap layout), so the first two are readings.
    assert [type(r).__name__ for r in results] == ["Reading", "Reading", "Rejection", "Rejection"]
    assert all(rejected(r, RejectReason.REPLAYED) for r in results[2:])
    assert v.last_counters() == {"W01": 1122868}


def test_repeated_advertisements_are_duplicates_not_replays() -> None:
    v = AdvertVerifier(registry())
    data = advert(1, 7)
    assert isinstance(v.process(MAC, data, T0), Reading)
    assert rejected(v.process(MAC, data, T0 + 0.1), RejectReason.DUPLICATE)  # same bytes again
    assert rejected(v.process(MAC, advert(2, 7), T0 + 0.2), RejectReason.DUPLICATE)  # same packet id
    assert isinstance(v.process(MAC, advert(3, 8), T0 + 1), Reading)
    stats = v.stats("W01")
    assert (stats.decoded, stats.duplicate, stats.replayed) == (2, 2, 0)


def test_plaintext_policy() -> None:
    strict = AdvertVerifier(registry())
    assert rejected(strict.process(PLAIN_MAC, plain(1), T0), RejectReason.UNENCRYPTED)
    relaxed = AdvertVerifier(registry(allow_unencrypted=True))
    assert isinstance(relaxed.process(PLAIN_MAC, plain(1), T0), Reading)
    assert rejected(relaxed.process(PLAIN_MAC, plain(1), T0), RejectReason.DUPLICATE)
    # A wrap with a key may never send plaintext, whatever the ward allows.
    assert rejected(relaxed.process(MAC, plain(2), T0), RejectReason.DOWNGRADE)
    # A keyless wrap's encrypted advertisement cannot be checked.
    assert rejected(relaxed.process(PLAIN_MAC, advert(1, 3, mac=PLAIN_MAC), T0), RejectReason.MISSING_KEY)


def test_a_plaintext_steady_value_without_packet_id_is_not_a_duplicate() -> None:
    v = AdvertVerifier(registry(allow_unencrypted=True), wrap_layout_only=False)
    data = encode_service_data(wrap_objects(skin_temp_c=36.5, ambient_temp_c=26.0))
    assert isinstance(v.process(PLAIN_MAC, data, T0), Reading)
    assert isinstance(v.process(PLAIN_MAC, data, T0 + 1), Reading)


def test_mac_inside_payload_must_match_the_sender() -> None:
    v = AdvertVerifier(registry(allow_unencrypted=True), wrap_layout_only=False)
    claims_other = b"\x42" + bytes.fromhex("A5808FE64854") + b"\x02\x00\x0e"  # claims 54:48:E6:8F:80:A5
    assert rejected(v.process(PLAIN_MAC, claims_other, T0), RejectReason.MAC_MISMATCH)
    own = b"\x42" + bytes.fromhex("B2188D38C1A4") + b"\x02\x00\x0e"
    assert isinstance(v.process(PLAIN_MAC, own, T0), Reading)


def test_decode_failures_are_counted_under_their_reason() -> None:
    v = AdvertVerifier(registry(allow_unencrypted=True))
    cases = {
        RejectReason.TRUNCATED: b"\x40\x02\xca",
        RejectReason.UNKNOWN_OBJECT: b"\x40\xfe\x00",
        RejectReason.UNSUPPORTED_FORMAT: b"\x20\x02\xca\x09",
        RejectReason.MALFORMED: b"\x40\x25\x07",
        RejectReason.UNEXPECTED_LAYOUT: b"\x40\x00\x01",
    }
    for reason, data in cases.items():
        assert rejected(v.process(PLAIN_MAC, data, T0), reason)
    assert dict(v.stats("W02").rejected) == dict.fromkeys(cases, 1)
    lenient = AdvertVerifier(registry(allow_unencrypted=True), wrap_layout_only=False)
    assert rejected(lenient.process(PLAIN_MAC, b"\x40\x00\x01", T0), RejectReason.NO_MEASUREMENT)


def test_a_garbled_layout_cannot_pass_ambient_off_as_skin() -> None:
    # Plaintext wrap packet whose skin object id 0x02 was corrupted into 0x03 (humidity, same size):
    # it still decodes, with the ambient 26.10 degC as the first 0x02, i.e. as "skin".
    good = bytes.fromhex("40000e015802620e02320a095d2501")
    garbled = good[:5] + b"\x03" + good[6:]
    assert decode_service_data(garbled).skin_temp_c == 26.1
    v = AdvertVerifier(registry(allow_unencrypted=True))
    assert rejected(v.process(PLAIN_MAC, garbled, T0), RejectReason.UNEXPECTED_LAYOUT)
    # ... and it did not take the packet id: the genuine packet is still accepted.
    r = v.process(PLAIN_MAC, good, T0 + 0.1)
    assert isinstance(r, Reading) and r.skin_temp_c == 36.82


def test_counters_survive_a_restart_and_can_be_reset() -> None:
    v = AdvertVerifier(registry())
    assert isinstance(v.process(MAC, advert(50, 1), T0), Reading)
    restarted = AdvertVerifier(registry(), last_counters=v.last_counters())
    assert rejected(restarted.process(MAC, advert(50, 2), T0), RejectReason.REPLAYED)
    assert isinstance(restarted.process(MAC, advert(51, 3), T0), Reading)
    # The wrap was reflashed and counts from 0 again: refused until an engineer resets it.
    assert rejected(restarted.process(MAC, advert(0, 4), T0), RejectReason.REPLAYED)
    restarted.reset_counter("W01")
    assert isinstance(restarted.process(MAC, advert(0, 4), T0), Reading)
    with pytest.raises(RegistryError, match="W99"):
        AdvertVerifier(registry(), last_counters={"W99": 3})


def test_counter_wraps_at_32_bits_only_with_a_reset() -> None:
    v = AdvertVerifier(registry())
    assert isinstance(v.process(MAC, advert(0xFFFFFFFF, 1), T0), Reading)
    assert rejected(v.process(MAC, advert(0, 2), T0), RejectReason.REPLAYED)


@settings(max_examples=300)
@given(st.binary(max_size=40))
def test_random_bytes_never_become_a_reading_from_a_keyed_wrap(data: bytes) -> None:
    v = AdvertVerifier(registry())
    assert isinstance(v.process(MAC, data, T0), Rejection)


def test_nothing_rejected_reaches_the_signal_core() -> None:
    """A mixed stream through the verifier into build_series: only accepted readings arrive."""
    v = AdvertVerifier(registry())
    stream = [
        advert(1, 1, skin=36.5),
        advert(1, 1, skin=36.5),  # duplicate
        advert(2, 2, skin=36.6),
        advert(2, 3, key=OTHER_KEY, skin=20.0),  # forged "baby is cold"
        advert(1, 4, skin=20.0),  # replay with a cold value (sealed with the right key but old counter)
        plain(5, skin=20.0),  # downgrade
        advert(3, 6, skin=36.7),
    ]
    readings = [r for i, d in enumerate(stream) if isinstance(r := v.process(MAC, d, T0 + i), Reading)]
    (series,) = readings_to_series(readings)
    assert series.wrap_id == "W01"
    assert series.skin_mc.tolist() == [36500.0, 36600.0, 36700.0]
    assert v.stats("W01").total_rejected == 4


def test_firmware_stub_vectors_pass_the_verifier_in_file_order() -> None:
    vectors = [v for v in stub_vectors() if v["kind"] == "bthome"]
    keys: dict[str, str | None] = {}
    for vec in vectors:
        keys.setdefault(vec["mac"], vec["key"])
    # One key per wrap; a MAC seen both with and without a key keeps its first (the test data's choice).
    entries = [
        WrapEntry(f"W{i:02d}", mac, None if key is None else bytes.fromhex(key))
        for i, (mac, key) in enumerate(sorted(keys.items()))
    ]
    v = AdvertVerifier(WrapRegistry(entries, allow_unencrypted=True))
    for i, vec in enumerate(vectors):
        if vec["key"] != keys[vec["mac"]]:
            continue
        result = v.process(vec["mac"], bytes.fromhex(vec["hex"]), T0 + i)
        if isinstance(result, Rejection):
            assert result.reason is RejectReason.DUPLICATE, (result, vec)
            continue
        assert result.skin_temp_c == vec["skin_temp_c"] and result.contact == vec["contact_level"] / 100


# --- readings to series --------------------------------------------------------------------------


def test_readings_to_series_groups_orders_and_validates() -> None:
    readings = [
        Reading(T0 + 2, "W02", 36.0, 25.0, 0.5, 50),
        Reading(T0 + 1, "W01", 36.1, None, 0.9, 80, -60),
        Reading(T0, "W01", 36.2, 25.5, None, None),
        Reading(T0 + 3, "W01", 99.0, 25.5, 1.5, 80),  # implausible skin, impossible contact
    ]
    w01, w02 = readings_to_series(readings)
    assert (w01.wrap_id, w02.wrap_id) == ("W01", "W02")
    assert w01.t_us.tolist() == [int(T0 * 1e6), int((T0 + 1) * 1e6), int((T0 + 3) * 1e6)]
    assert w01.skin_mc[:2].tolist() == [36200.0, 36100.0] and math.isnan(w01.skin_mc[2])
    assert np.isnan(w01.ambient_mc[1]) and np.isnan(w01.contact[0]) and np.isnan(w01.contact[2])
    assert w01.invalid == 1 and w02.invalid == 0
    assert readings_to_series([]) == []


def test_a_key_file_others_can_read_is_refused_and_a_group_readable_one_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Finding 12: a world-readable registry holding keys was read without a word.
    path = tmp_path / "ward.toml"
    path.write_text(TOML)
    path.chmod(0o644)
    with pytest.raises(RegistryError, match="chmod 600"):
        WrapRegistry.load(path)
    path.chmod(0o640)
    with caplog.at_level("WARNING"):
        assert len(WrapRegistry.load(path)) == 2
    assert "group can read it" in caplog.text
    keyless = tmp_path / "bench.toml"
    keyless.write_text('[[wraps]]\nwrap_id = "W02"\nmac = "A4-C1-38-8D-18-B2"\n')
    keyless.chmod(0o644)
    assert len(WrapRegistry.load(keyless)) == 1  # no key, nothing to protect
