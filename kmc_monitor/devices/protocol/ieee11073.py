"""IEEE 11073-20601 FLOAT (32-bit) and SFLOAT (16-bit): how Bluetooth health profiles send numbers.

A FLOAT is ``mantissa × 10**exponent`` with a signed 8-bit exponent in the high byte and a signed
24-bit mantissa below it; an SFLOAT packs a signed 4-bit exponent over a signed 12-bit mantissa.
Decimal exponents mean a thermometer's 37.60 °C arrives as exactly 3760 × 10⁻², so this module turns
it into the nearest ``float`` with a single correctly rounded division, never a chain of
multiplications by 0.1.

Five bit patterns (all with exponent 0) are not numbers:

============  ============  ==========  ===========================
special       FLOAT         SFLOAT      decoded ``value``
============  ============  ==========  ===========================
NaN           0x007FFFFF    0x07FF      ``nan``
NRes          0x00800000    0x0800      ``nan`` ("not at this resolution")
reserved      0x00800001    0x0801      ``nan`` (reserved for future use)
+INFINITY     0x007FFFFE    0x07FE      ``inf``
-INFINITY     0x00800002    0x0802      ``-inf``
============  ============  ==========  ===========================

Three of them decode to ``nan``: :class:`MderFloat.special` keeps them apart, so a caller who needs to
tell "the sensor could not measure" (NaN) from "measured, but not representable" (NRes) can.

The specials are sent with exponent 0, but this decoder recognises them by the mantissa alone, as the
wrap firmware (``firmware_stubs/src/kmc_ieee11073.c``) does: a reserved mantissa is never read as a
number, whatever exponent a corrupted packet carries. (Wireshark's dissector treats, say, 0x017FFFFF as
the number 83886070; the two readings differ only for such packets, and neither lets one through as
a plausible temperature.) The encoders keep every ordinary mantissa clear of the reserved range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Final

from kmc_monitor.devices.errors import EncodeError, MalformedPayload, TruncatedPayload

__all__ = [
    "FLOAT_NAN",
    "FLOAT_NEGATIVE_INFINITY",
    "FLOAT_NRES",
    "FLOAT_POSITIVE_INFINITY",
    "FLOAT_RESERVED",
    "SFLOAT_NAN",
    "SFLOAT_NEGATIVE_INFINITY",
    "SFLOAT_NRES",
    "SFLOAT_POSITIVE_INFINITY",
    "SFLOAT_RESERVED",
    "MderFloat",
    "Special",
    "decode_float",
    "decode_sfloat",
    "encode_float",
    "encode_sfloat",
    "pack_float",
    "pack_sfloat",
    "unpack_float",
    "unpack_sfloat",
]


class Special(StrEnum):
    """The non-numbers of IEEE 11073-20601."""

    NAN = "nan"
    NRES = "nres"
    RESERVED = "reserved"
    POSITIVE_INFINITY = "+inf"
    NEGATIVE_INFINITY = "-inf"


FLOAT_NAN: Final = 0x007FFFFF
FLOAT_NRES: Final = 0x00800000
FLOAT_RESERVED: Final = 0x00800001
FLOAT_POSITIVE_INFINITY: Final = 0x007FFFFE
FLOAT_NEGATIVE_INFINITY: Final = 0x00800002

SFLOAT_NAN: Final = 0x07FF
SFLOAT_NRES: Final = 0x0800
SFLOAT_RESERVED: Final = 0x0801
SFLOAT_POSITIVE_INFINITY: Final = 0x07FE
SFLOAT_NEGATIVE_INFINITY: Final = 0x0802

_SPECIAL_VALUE: Final = {
    Special.NAN: math.nan,
    Special.NRES: math.nan,
    Special.RESERVED: math.nan,
    Special.POSITIVE_INFINITY: math.inf,
    Special.NEGATIVE_INFINITY: -math.inf,
}


@dataclass(frozen=True, slots=True)
class _Layout:
    """Bit layout of one of the two formats."""

    name: str
    bits: int
    mantissa_bits: int
    specials: dict[int, Special]

    @property
    def exponent_bits(self) -> int:
        return self.bits - self.mantissa_bits

    @property
    def max_mantissa(self) -> int:
        # The two largest positive and three most negative mantissas are taken by the specials at
        # exponent 0; the encoder keeps clear of them at every exponent so a value never depends on it.
        return (1 << (self.mantissa_bits - 1)) - 3

    @property
    def min_exponent(self) -> int:
        return -(1 << (self.exponent_bits - 1))

    @property
    def max_exponent(self) -> int:
        return (1 << (self.exponent_bits - 1)) - 1


_FLOAT: Final = _Layout(
    "FLOAT",
    32,
    24,
    {
        FLOAT_NAN: Special.NAN,
        FLOAT_NRES: Special.NRES,
        FLOAT_RESERVED: Special.RESERVED,
        FLOAT_POSITIVE_INFINITY: Special.POSITIVE_INFINITY,
        FLOAT_NEGATIVE_INFINITY: Special.NEGATIVE_INFINITY,
    },
)
_SFLOAT: Final = _Layout(
    "SFLOAT",
    16,
    12,
    {
        SFLOAT_NAN: Special.NAN,
        SFLOAT_NRES: Special.NRES,
        SFLOAT_RESERVED: Special.RESERVED,
        SFLOAT_POSITIVE_INFINITY: Special.POSITIVE_INFINITY,
        SFLOAT_NEGATIVE_INFINITY: Special.NEGATIVE_INFINITY,
    },
)


@dataclass(frozen=True, slots=True)
class MderFloat:
    """A decoded FLOAT or SFLOAT.

    Attributes
    ----------
    value
        The number as a ``float``: ``nan`` for NaN, NRes and reserved, ``±inf`` for the infinities.
    mantissa, exponent
        The signed fields as sent (``value == mantissa * 10**exponent`` for numbers).
    special
        Which special value this is, or ``None`` for an ordinary number.
    """

    value: float
    mantissa: int
    exponent: int
    special: Special | None = None

    @property
    def is_number(self) -> bool:
        """True for an ordinary number (not NaN, NRes, reserved or an infinity)."""
        return self.special is None


def _signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if raw >> (bits - 1) else raw


def _decode(raw: int, layout: _Layout) -> MderFloat:
    if not 0 <= raw < (1 << layout.bits):
        raise MalformedPayload(f"an IEEE-11073 {layout.name} is {layout.bits} bits; got {raw:#x}")
    mbits = layout.mantissa_bits
    mantissa = _signed(raw & ((1 << mbits) - 1), mbits)
    exponent = _signed(raw >> mbits, layout.exponent_bits)
    # The special codes have exponent 0, so each equals its own mantissa bits.
    special = layout.specials.get(raw & ((1 << mbits) - 1))
    if special is not None:
        return MderFloat(_SPECIAL_VALUE[special], mantissa, exponent, special)
    if exponent >= 0:
        value = float(mantissa * 10**exponent)
    else:
        # int / int is correctly rounded: 3760 / 100 is the double nearest to 37.6.
        value = mantissa / 10**-exponent
    return MderFloat(value, mantissa, exponent)


def decode_float(raw: int) -> MderFloat:
    """Decode a 32-bit FLOAT given as an unsigned integer (e.g. ``0xFE000EB0`` is 37.60)."""
    return _decode(raw, _FLOAT)


def decode_sfloat(raw: int) -> MderFloat:
    """Decode a 16-bit SFLOAT given as an unsigned integer (e.g. ``0xF172`` is 37.0)."""
    return _decode(raw, _SFLOAT)


def _unpack(data: bytes, offset: int, layout: _Layout) -> MderFloat:
    size = layout.bits // 8
    chunk = data[offset : offset + size]
    if offset < 0 or len(chunk) != size:
        raise TruncatedPayload(
            f"an IEEE-11073 {layout.name} needs {size} bytes at offset {offset}; "
            f"only {max(0, len(data) - offset)} remain"
        )
    return _decode(int.from_bytes(chunk, "little"), layout)


def unpack_float(data: bytes, offset: int = 0) -> MderFloat:
    """Decode the little-endian FLOAT at ``data[offset:offset + 4]`` (as Bluetooth sends it)."""
    return _unpack(data, offset, _FLOAT)


def unpack_sfloat(data: bytes, offset: int = 0) -> MderFloat:
    """Decode the little-endian SFLOAT at ``data[offset:offset + 2]``."""
    return _unpack(data, offset, _SFLOAT)


def _round_half_away(q: Fraction) -> int:
    """Round to the nearest integer, halves away from zero (C's ``lround``, what firmware does)."""
    n = math.floor(abs(q) + Fraction(1, 2))
    return n if q >= 0 else -n


def _special_raw(special: Special, layout: _Layout) -> int:
    return next(raw for raw, s in layout.specials.items() if s is special)


def _encode(value: float | Special, exponent: int | None, layout: _Layout) -> int:
    if isinstance(value, Special):
        return _special_raw(value, layout)
    if math.isnan(value):
        return _special_raw(Special.NAN, layout)
    if math.isinf(value):
        return _special_raw(Special.POSITIVE_INFINITY if value > 0 else Special.NEGATIVE_INFINITY, layout)
    lo, hi, top = layout.min_exponent, layout.max_exponent, layout.max_mantissa
    # The value is taken as the shortest decimal that reads back as the same float (its repr): 0.285
    # means 285/1000, as a person reading it would expect, not the binary fraction just below it.
    decimal = Decimal(repr(float(value)))
    exact = Fraction(decimal)
    if exponent is None:
        # Trailing zeros fold into the exponent; digits beyond the mantissa's capacity are rounded off.
        _sign, digits, exp = decimal.normalize().as_tuple()
        assert isinstance(exp, int)
        exponent = max(lo, exp, exp + len(digits) - len(str(top)))
        mantissa = _round_half_away(exact / Fraction(10) ** exponent)
        if abs(mantissa) > top:
            exponent += 1
            mantissa = _round_half_away(exact / Fraction(10) ** exponent)
        if mantissa == 0:
            exponent = 0
        elif exponent > hi:
            raise EncodeError(f"{value!r} is too large for an IEEE-11073 {layout.name}")
    else:
        if not lo <= exponent <= hi:
            raise EncodeError(f"an IEEE-11073 {layout.name} exponent is {lo}..{hi}; got {exponent}")
        mantissa = _round_half_away(exact / Fraction(10) ** exponent)
        if abs(mantissa) > top:
            raise EncodeError(
                f"{value!r} needs a mantissa of {mantissa} at exponent {exponent}, beyond the "
                f"{layout.name} limit of ±{top}: use a larger exponent"
            )
    mbits = layout.mantissa_bits
    return ((exponent & ((1 << layout.exponent_bits) - 1)) << mbits) | (mantissa & ((1 << mbits) - 1))


def encode_float(value: float | Special, exponent: int | None = None) -> int:
    """Encode a number (or a :class:`Special`) as a 32-bit FLOAT, returned as an unsigned integer.

    With ``exponent`` given the value is rounded (halves away from zero) to that many powers of ten,
    e.g. ``exponent=-2`` for hundredths; ``None`` chooses the shortest exact form. NaN and the
    infinities map to their specials. Raises :class:`EncodeError` when the value does not fit.
    """
    return _encode(value, exponent, _FLOAT)


def encode_sfloat(value: float | Special, exponent: int | None = None) -> int:
    """Encode as a 16-bit SFLOAT (mantissa ±2045, exponent −8..7); see :func:`encode_float`."""
    return _encode(value, exponent, _SFLOAT)


def pack_float(value: float | Special, exponent: int | None = None) -> bytes:
    """:func:`encode_float` as the 4 little-endian bytes Bluetooth sends."""
    return encode_float(value, exponent).to_bytes(4, "little")


def pack_sfloat(value: float | Special, exponent: int | None = None) -> bytes:
    """:func:`encode_sfloat` as the 2 little-endian bytes Bluetooth sends."""
    return encode_sfloat(value, exponent).to_bytes(2, "little")
