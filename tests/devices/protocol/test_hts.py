"""Health Thermometer Temperature Measurement: Nordic's golden value, exact lengths, units, round trips."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmc_monitor.devices.errors import (
    DecodeError,
    EncodeError,
    MalformedPayload,
    TruncatedPayload,
    UnsupportedFormat,
)
from kmc_monitor.devices.protocol.hts import (
    HtsMeasurement,
    TemperatureType,
    decode_temperature_measurement,
    encode_temperature_measurement,
)
from kmc_monitor.devices.protocol.ieee11073 import Special, pack_float
from tests.firmware.test_stubs_build import stub_vectors

# Nordic Semiconductor's Health Thermometer example (nRF5 SDK ble_app_hts / nRF Connect HTS test data):
# flags 0x06 (Celsius, time stamp, type), 37.60 degC, 2012-12-05 11:50:27, type 4 (finger).
NORDIC = bytes.fromhex("06B00E00FEDC070C050B321B04")


def test_nordic_golden_measurement() -> None:
    m = decode_temperature_measurement(NORDIC)
    assert m == HtsMeasurement(
        temperature_c=37.6,
        fahrenheit=False,
        timestamp=datetime(2012, 12, 5, 11, 50, 27),
        temperature_type=TemperatureType.FINGER,
        intermediate=False,
        special=None,
    )
    assert encode_temperature_measurement(37.6, timestamp=m.timestamp, temperature_type=4) == NORDIC


def test_nordic_truncated_to_12_bytes_is_refused() -> None:
    with pytest.raises(TruncatedPayload, match="12 bytes.*13 bytes"):
        decode_temperature_measurement(NORDIC[:12])


@pytest.mark.parametrize("n", range(13))
def test_every_truncation_of_the_golden_value_is_refused(n: int) -> None:
    with pytest.raises(TruncatedPayload):
        decode_temperature_measurement(NORDIC[:n])


def test_intermediate_temperature_has_the_same_layout() -> None:
    m = decode_temperature_measurement(NORDIC, intermediate=True)
    assert m.intermediate and m.temperature_c == 37.6


def test_minimal_measurement_has_no_time_or_type() -> None:
    m = decode_temperature_measurement(bytes.fromhex("00B00E00FE"))
    assert (m.temperature_c, m.timestamp, m.temperature_type) == (37.6, None, None)


def test_fahrenheit_is_converted_exactly() -> None:
    m = decode_temperature_measurement(b"\x01" + pack_float(98.6, -1))
    assert m.fahrenheit and m.temperature_c == 37.0
    m = decode_temperature_measurement(b"\x01" + pack_float(-40.0, 0))
    assert m.temperature_c == -40.0
    m = decode_temperature_measurement(b"\x01" + pack_float(32.0, 0))
    assert m.temperature_c == 0.0


def test_type_without_time_stamp() -> None:
    m = decode_temperature_measurement(bytes.fromhex("04B00E00FE02"))
    assert (m.timestamp, m.temperature_type) == (None, TemperatureType.BODY)


@pytest.mark.parametrize(
    ("float_hex", "special", "expected"),
    [
        ("ffff7f00", Special.NAN, math.nan),
        ("00008000", Special.NRES, math.nan),
        ("feff7f00", Special.POSITIVE_INFINITY, math.inf),
        ("02008000", Special.NEGATIVE_INFINITY, -math.inf),
    ],
)
def test_special_values_survive_in_both_units(float_hex: str, special: Special, expected: float) -> None:
    for flags in (b"\x00", b"\x01"):
        m = decode_temperature_measurement(flags + bytes.fromhex(float_hex))
        assert m.special is special
        assert (math.isnan(m.temperature_c) and math.isnan(expected)) or m.temperature_c == expected


def test_reserved_flag_bits_are_refused() -> None:
    for bit in range(3, 8):
        with pytest.raises(UnsupportedFormat, match="reserved"):
            decode_temperature_measurement(bytes([1 << bit]) + NORDIC[1:5])


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(MalformedPayload, match="unexpected"):
        decode_temperature_measurement(NORDIC + b"\x00")
    with pytest.raises(MalformedPayload):
        decode_temperature_measurement(bytes.fromhex("00B00E00FE04"))  # type byte, flag not set


@pytest.mark.parametrize(
    "stamp",
    [
        "DC070D050B321B",  # month 13
        "DC070C050B3C1B",  # minute 60
        "DC07021E0B321B",  # 30 February
        "0100010100000000"[:14],  # year 1
        "DC070C05180000",  # hour 24
    ],
)
def test_impossible_dates_are_refused(stamp: str) -> None:
    with pytest.raises(MalformedPayload):
        decode_temperature_measurement(bytes.fromhex("02B00E00FE" + stamp))


def test_unknown_date_fields_give_no_time_stamp() -> None:
    # Year, month or day 0 means "not known" in the Bluetooth Date Time characteristic.
    for stamp in ("00000C050B321B", "DC07000500000A", "DC070C000B321B"):
        m = decode_temperature_measurement(bytes.fromhex("02B00E00FE" + stamp))
        assert m.timestamp is None and m.temperature_c == 37.6


def test_empty_input_is_truncated() -> None:
    with pytest.raises(TruncatedPayload, match="empty"):
        decode_temperature_measurement(b"")


def test_encoder_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(EncodeError):
        encode_temperature_measurement(37.6, timestamp=datetime(1500, 1, 1))
    with pytest.raises(EncodeError):
        encode_temperature_measurement(37.6, temperature_type=256)
    with pytest.raises(EncodeError):
        encode_temperature_measurement(1e9)


def test_nan_encodes_as_the_nan_special() -> None:
    m = decode_temperature_measurement(encode_temperature_measurement(math.nan))
    assert m.special is Special.NAN and math.isnan(m.temperature_c)


stamps = st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda d: d.replace(microsecond=0)
)


@given(
    centi=st.integers(-838860, 838860),
    fahrenheit=st.booleans(),
    timestamp=st.none() | stamps,
    temperature_type=st.none() | st.integers(0, 255),
)
def test_round_trip(
    centi: int, fahrenheit: bool, timestamp: datetime | None, temperature_type: int | None
) -> None:
    wire_value = centi / 100
    data = encode_temperature_measurement(
        wire_value, fahrenheit=fahrenheit, timestamp=timestamp, temperature_type=temperature_type
    )
    m = decode_temperature_measurement(data)
    expected_c = (wire_value - 32) * 5 / 9 if fahrenheit else wire_value
    assert math.isclose(m.temperature_c, expected_c, rel_tol=1e-12, abs_tol=1e-12)
    assert (m.fahrenheit, m.timestamp, m.temperature_type) == (fahrenheit, timestamp, temperature_type)


@given(st.binary(max_size=20))
def test_any_bytes_decode_or_raise_a_decode_error(data: bytes) -> None:
    try:
        m = decode_temperature_measurement(data)
    except DecodeError:
        return
    assert isinstance(m, HtsMeasurement)
    assert len(data) == 5 + 7 * bool(data[0] & 2) + bool(data[0] & 4)


def test_firmware_stub_hts_vectors_decode_to_what_they_encode() -> None:
    vectors = [v for v in stub_vectors() if v["kind"] == "hts"]
    assert vectors
    for v in vectors:
        m = decode_temperature_measurement(bytes.fromhex(v["hex"]))
        assert m.fahrenheit is v["fahrenheit"], v
        # The vector's Celsius value is what the firmware measured; in Fahrenheit it went on air rounded
        # to 10**exponent degF, i.e. within half of that times 5/9 degC.
        tol = 10.0 ** v["exponent"] * 5 / 18 if v["fahrenheit"] else 0.0
        assert math.isclose(m.temperature_c, v["temperature_c"], rel_tol=0, abs_tol=tol + 1e-9), v
        assert (None if m.timestamp is None else m.timestamp.isoformat()) == v["timestamp"], v
        assert m.temperature_type == v["temperature_type"], v
        wire = (
            v["mantissa"] / 10 ** -v["exponent"] if v["exponent"] < 0 else v["mantissa"] * 10 ** v["exponent"]
        )
        again = encode_temperature_measurement(
            wire,
            fahrenheit=v["fahrenheit"],
            timestamp=m.timestamp,
            temperature_type=m.temperature_type,
            exponent=v["exponent"],
        )
        assert again.hex() == v["hex"], v
