"""IEEE-11073 FLOAT and SFLOAT: golden values, the five specials, exact round trips, refusals."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmc_monitor.devices.errors import DecodeError, EncodeError, TruncatedPayload
from kmc_monitor.devices.protocol.ieee11073 import (
    FLOAT_NAN,
    FLOAT_NEGATIVE_INFINITY,
    FLOAT_NRES,
    FLOAT_POSITIVE_INFINITY,
    FLOAT_RESERVED,
    SFLOAT_NAN,
    SFLOAT_NEGATIVE_INFINITY,
    SFLOAT_NRES,
    SFLOAT_POSITIVE_INFINITY,
    SFLOAT_RESERVED,
    Special,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
    pack_float,
    pack_sfloat,
    unpack_float,
    unpack_sfloat,
)
from tests.firmware.test_stubs_build import stub_vectors

# The special bit patterns as Wireshark's IEEE-11073 field type defines them
# (wireshark/epan/ftypes/ftype-ieee-11073-float.c: FLOAT_VALUE_* and SFLOAT_VALUE_*).
FLOAT_SPECIALS = {
    0x007FFFFF: Special.NAN,
    0x00800000: Special.NRES,
    0x00800001: Special.RESERVED,
    0x007FFFFE: Special.POSITIVE_INFINITY,
    0x00800002: Special.NEGATIVE_INFINITY,
}
SFLOAT_SPECIALS = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x0801: Special.RESERVED,
    0x07FE: Special.POSITIVE_INFINITY,
    0x0802: Special.NEGATIVE_INFINITY,
}


def same_value(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_constants_match_the_published_bit_patterns() -> None:
    assert (FLOAT_NAN, FLOAT_NRES, FLOAT_RESERVED, FLOAT_POSITIVE_INFINITY, FLOAT_NEGATIVE_INFINITY) == (
        0x007FFFFF,
        0x00800000,
        0x00800001,
        0x007FFFFE,
        0x00800002,
    )
    assert (SFLOAT_NAN, SFLOAT_NRES, SFLOAT_RESERVED, SFLOAT_POSITIVE_INFINITY, SFLOAT_NEGATIVE_INFINITY) == (
        0x07FF,
        0x0800,
        0x0801,
        0x07FE,
        0x0802,
    )


def test_nordic_hts_temperature_is_37_60() -> None:
    # Nordic's Health Thermometer example value: bytes B0 0E 00 FE = 3760 x 10^-2.
    f = unpack_float(bytes.fromhex("b00e00fe"))
    assert (f.value, f.mantissa, f.exponent, f.special) == (37.6, 3760, -2, None)
    assert f.is_number
    assert pack_float(37.6, -2) == bytes.fromhex("b00e00fe")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0x00000000, 0.0),
        (0x00000064, 100.0),
        (0x02000001, 100.0),  # 1 x 10^2
        (0xFF000172, 37.0),  # 370 x 10^-1
        (0xFFFFFE8E, -37.0),  # -370 x 10^-1
        (0x807FFFFD, 8388605e-128),  # largest ordinary mantissa, smallest exponent
        (0x7F800003, -8388605e127),  # most negative ordinary mantissa, largest exponent
    ],
)
def test_float_numbers(raw: int, value: float) -> None:
    f = decode_float(raw)
    assert f.value == value and f.special is None


@pytest.mark.parametrize(("raw", "special"), FLOAT_SPECIALS.items())
def test_float_specials(raw: int, special: Special) -> None:
    f = decode_float(raw)
    assert f.special is special and not f.is_number
    expected = {Special.POSITIVE_INFINITY: math.inf, Special.NEGATIVE_INFINITY: -math.inf}.get(
        special, math.nan
    )
    assert same_value(f.value, expected)
    assert encode_float(special) == raw
    assert unpack_float(raw.to_bytes(4, "little")).special is special


@pytest.mark.parametrize(("raw", "special"), SFLOAT_SPECIALS.items())
def test_sfloat_specials(raw: int, special: Special) -> None:
    f = decode_sfloat(raw)
    assert f.special is special
    assert encode_sfloat(special) == raw
    assert unpack_sfloat(raw.to_bytes(2, "little")).special is special


def test_nan_nres_and_reserved_are_nan_but_distinguishable() -> None:
    values = [decode_float(r) for r in (FLOAT_NAN, FLOAT_NRES, FLOAT_RESERVED)]
    assert all(math.isnan(v.value) for v in values)
    assert len({v.special for v in values}) == 3


def test_a_reserved_mantissa_is_never_a_number_whatever_the_exponent() -> None:
    # Specials are sent with exponent 0; a corrupted exponent must not turn one into a number
    # (the wrap firmware's kmc_float_unpack makes the same choice).
    assert decode_float(0x017FFFFF).special is Special.NAN
    assert decode_float(0xFE800000).special is Special.NRES
    assert decode_sfloat(0xF7FE).special is Special.POSITIVE_INFINITY


def test_sfloat_numbers() -> None:
    assert decode_sfloat(0xF172).value == 37.0  # 370 x 10^-1
    assert decode_sfloat(0xFFFF).value == -0.1  # -1 x 10^-1
    assert decode_sfloat(0x0000).value == 0.0
    assert pack_sfloat(36.6, -1) == (0xF16E).to_bytes(2, "little")


def test_python_floats_encode_to_specials() -> None:
    assert encode_float(math.nan) == FLOAT_NAN
    assert encode_float(math.inf) == FLOAT_POSITIVE_INFINITY
    assert encode_float(-math.inf) == FLOAT_NEGATIVE_INFINITY
    assert encode_sfloat(math.nan) == SFLOAT_NAN


def test_encoding_rounds_the_decimal_half_away_from_zero() -> None:
    assert decode_float(encode_float(0.285, -2)).mantissa == 29  # not 28 (0.285 is just below in binary)
    assert decode_float(encode_float(-0.285, -2)).mantissa == -29
    assert decode_float(encode_float(36.125, -2)).mantissa == 3613


def test_automatic_exponent_is_the_shortest_exact_form() -> None:
    for value, mantissa, exponent in [(37.6, 376, -1), (100.0, 1, 2), (0.0, 0, 0), (-12.5, -125, -1)]:
        f = decode_float(encode_float(value))
        assert (f.mantissa, f.exponent, f.value) == (mantissa, exponent, value)


def test_too_many_digits_are_rounded_off_automatically() -> None:
    assert decode_float(encode_float(123456789.0)).value == 123456800.0
    assert decode_sfloat(encode_sfloat(2999.0)).value == 3000.0


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (encode_float, (1e6, -2)),  # mantissa 100,000,000 does not fit 24 bits
        (encode_float, (1.0, 128)),  # exponent out of range
        (encode_float, (1e300, None)),  # no exponent large enough
        (encode_sfloat, (37.61, -2)),  # 3761 > 2045
        (encode_sfloat, (1.0, -9)),
    ],
)
def test_values_that_do_not_fit_are_refused(call: Any, args: tuple[float, int | None]) -> None:
    with pytest.raises(EncodeError):
        call(*args)


def test_short_input_is_truncated() -> None:
    with pytest.raises(TruncatedPayload, match="needs 4 bytes"):
        unpack_float(b"\xb0\x0e\x00")
    with pytest.raises(TruncatedPayload):
        unpack_sfloat(b"\x72", 0)
    with pytest.raises(TruncatedPayload):
        unpack_float(b"\x00" * 8, 6)


def test_out_of_range_raw_values_are_refused() -> None:
    with pytest.raises(DecodeError):
        decode_float(1 << 32)
    with pytest.raises(DecodeError):
        decode_sfloat(-1)


@given(st.integers(0, 0xFFFFFFFF))
def test_every_float_decodes_and_reencodes_bit_exactly(raw: int) -> None:
    f = decode_float(raw)
    if f.special is None:
        assert encode_float(f.value, f.exponent) == raw
        assert f.value == f.mantissa * 10.0**f.exponent or math.isclose(
            f.value, f.mantissa * 10.0**f.exponent, rel_tol=1e-15
        )
    else:
        # The canonical special (exponent 0) reads back as the same special.
        assert decode_float(encode_float(f.special)).special is f.special


@given(st.integers(0, 0xFFFF))
def test_every_sfloat_decodes_and_reencodes_bit_exactly(raw: int) -> None:
    f = decode_sfloat(raw)
    if f.special is None:
        assert encode_sfloat(f.value, f.exponent) == raw
    else:
        assert decode_sfloat(encode_sfloat(f.special)).special is f.special


@given(st.floats(min_value=-1e100, max_value=1e100, allow_nan=False))
def test_any_float_round_trips_to_seven_significant_digits(value: float) -> None:
    back = decode_float(encode_float(value)).value
    assert math.isclose(back, value, rel_tol=1e-6, abs_tol=1e-127)


@given(st.integers(-8388605, 8388605), st.integers(-20, 20))
def test_exact_decimals_round_trip_exactly(mantissa: int, exponent: int) -> None:
    value = float(mantissa * 10**exponent) if exponent >= 0 else mantissa / 10**-exponent
    f = decode_float(encode_float(value, exponent))
    assert (f.mantissa, f.value) == (mantissa, value)


def test_firmware_stub_float_vectors_decode_to_what_they_encode() -> None:
    vectors = [v for v in stub_vectors() if v["kind"] == "float"]
    assert vectors
    for v in vectors:
        f = unpack_float(bytes.fromhex(v["hex"]))
        assert (f.mantissa, f.exponent) == (v["mantissa"], v["exponent"]), v
        if v["special"] is None:
            assert f.special is None and math.isclose(f.value, v["value"], rel_tol=1e-12), v
            assert pack_float(f.value, f.exponent).hex() == v["hex"], v
        else:
            assert f.special is not None and f.special.value == v["special"], v
