"""The KMC contact characteristic and Battery Level: the firmware's vectors both ways, bad values refused."""

from __future__ import annotations

import pytest

from kmc_monitor.devices.errors import EncodeError, MalformedPayload, TruncatedPayload
from kmc_monitor.devices.protocol.gatt import (
    ContactValue,
    decode_battery_level,
    decode_contact_value,
    encode_contact_value,
)
from tests.firmware.test_stubs_build import stub_vectors


def test_contact_values_match_the_firmware_vectors() -> None:
    vectors = [v for v in stub_vectors() if v["kind"] == "contact"]
    assert vectors
    for v in vectors:
        raw = bytes.fromhex(v["hex"])
        value = decode_contact_value(raw)
        assert value == ContactValue(
            v["contact_level"], bool(v["contact"]), v["ambient_temp_c"], v["counter"]
        )
        assert (
            encode_contact_value(value.contact_level, value.contact, value.ambient_temp_c, value.counter)
            == raw
        )


def test_protocol_examples() -> None:
    value = decode_contact_value(bytes.fromhex("5d01320a04030201"))
    assert value == ContactValue(93, True, 26.10, 0x01020304)
    assert value.contact_fraction == 0.93
    assert decode_contact_value(bytes.fromhex("00000080ffffffff")) == ContactValue(0, False, None, 0xFFFFFFFF)


@pytest.mark.parametrize(
    ("hex_value", "error"),
    [
        ("5d01320a040302", TruncatedPayload),
        ("5d01320a0403020100", MalformedPayload),
        ("6501320a04030201", MalformedPayload),  # level 101 %
        ("5d02320a04030201", MalformedPayload),  # contact flag 2
    ],
)
def test_bad_contact_values_are_refused(hex_value: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_contact_value(bytes.fromhex(hex_value))


def test_contact_encoder_refuses_what_does_not_fit() -> None:
    for args in [
        (101, True, 20.0, 1),
        (50, True, 400.0, 1),
        (50, True, float("nan"), 1),
        (50, True, None, -1),
    ]:
        with pytest.raises(EncodeError):
            encode_contact_value(*args)


def test_battery_level() -> None:
    assert decode_battery_level(b"\x58") == 88
    with pytest.raises(TruncatedPayload):
        decode_battery_level(b"")
    with pytest.raises(MalformedPayload):
        decode_battery_level(b"\x65")
    with pytest.raises(MalformedPayload):
        decode_battery_level(b"\x01\x02")


def test_sig_uuids_are_in_bleaks_normalised_form() -> None:
    from bleak.uuids import normalize_uuid_16

    from kmc_monitor.devices.protocol.gatt import sig_uuid

    for uuid16 in (0x0000, 0x1809, 0x2A1C, 0x2A1D, 0x180F, 0x2A19, 0xFCD2, 0xFFFF):
        assert sig_uuid(uuid16) == normalize_uuid_16(uuid16)
