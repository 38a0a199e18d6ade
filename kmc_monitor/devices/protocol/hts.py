"""Bluetooth Health Thermometer Service (0x1809): the connected-mode wire format.

A Temperature Measurement (characteristic 0x2A1C, indicated) or Intermediate Temperature (0x2A1E,
notified: readings while the value settles) has the same layout::

    byte 0      flags: bit 0 Fahrenheit, bit 1 time stamp present, bit 2 temperature type present,
                bits 3-7 reserved (must be 0)
    bytes 1-4   temperature, IEEE-11073 32-bit FLOAT, little-endian
    next 7      time stamp (if bit 1): year uint16 LE, month, day, hours, minutes, seconds
    next 1      temperature type (if bit 2): where on the body it was measured (4 = finger)

Decoding is exact: the length must be what the flags announce, reserved bits must be clear and the
date must exist, otherwise the measurement is refused (a garbled flags byte would otherwise shift every
field after it). Fahrenheit is converted to Celsius with exact rational arithmetic, so 98.6 °F is
exactly 37.0 °C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from fractions import Fraction
from typing import Final

from kmc_monitor.devices.errors import (
    EncodeError,
    MalformedPayload,
    TruncatedPayload,
    UnsupportedFormat,
)
from kmc_monitor.devices.protocol.ieee11073 import MderFloat, Special, encode_float, unpack_float

__all__ = [
    "HTS_SERVICE_UUID",
    "INTERMEDIATE_TEMPERATURE_UUID",
    "TEMPERATURE_MEASUREMENT_UUID",
    "HtsMeasurement",
    "TemperatureType",
    "decode_temperature_measurement",
    "encode_temperature_measurement",
]

HTS_SERVICE_UUID: Final = 0x1809
TEMPERATURE_MEASUREMENT_UUID: Final = 0x2A1C
INTERMEDIATE_TEMPERATURE_UUID: Final = 0x2A1E

_FAHRENHEIT: Final = 0x01
_TIMESTAMP: Final = 0x02
_TYPE: Final = 0x04
_RESERVED: Final = 0xF8
_TIMESTAMP_BYTES: Final = 7
# The Bluetooth Date Time characteristic: years 1582..9999, 0 = "not known" (as are month 0, day 0).
_MIN_YEAR: Final = 1582
_MAX_YEAR: Final = 9999


class TemperatureType(IntEnum):
    """Where the temperature was taken (Bluetooth Temperature Type characteristic 0x2A1D)."""

    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTROINTESTINAL_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


@dataclass(frozen=True, slots=True)
class HtsMeasurement:
    """One decoded temperature measurement.

    Attributes
    ----------
    temperature_c
        Degrees Celsius, converted if the device sent Fahrenheit; ``nan`` when the device sent NaN,
        NRes or the reserved value, ``±inf`` for the infinities (``special`` says which).
    fahrenheit
        True when the device measured in Fahrenheit (the unit on the wire, not of ``temperature_c``).
    timestamp
        The device's wall-clock time of the measurement (naive: HTS carries no time zone), or ``None``
        when absent or sent as "not known" (year, month or day 0).
    temperature_type
        Body site code (see :class:`TemperatureType`; other values are reserved but kept), or ``None``.
    intermediate
        True for an Intermediate Temperature (0x2A1E): a value still settling, not a final reading.
    special
        The IEEE-11073 special value sent instead of a number, or ``None``.
    """

    temperature_c: float
    fahrenheit: bool
    timestamp: datetime | None = None
    temperature_type: int | None = None
    intermediate: bool = False
    special: Special | None = None


def _to_celsius(measured: MderFloat, fahrenheit: bool) -> float:
    if not fahrenheit or not measured.is_number:
        return measured.value
    exact = Fraction(measured.mantissa) * Fraction(10) ** measured.exponent
    return float((exact - 32) * 5 / 9)


def _decode_timestamp(data: bytes, offset: int) -> datetime | None:
    year = int.from_bytes(data[offset : offset + 2], "little")
    month, day, hours, minutes, seconds = data[offset + 2 : offset + 7]
    if hours > 23 or minutes > 59 or seconds > 59 or month > 12 or day > 31:
        raise MalformedPayload(
            f"time stamp {year:04d}-{month:02d}-{day:02d} {hours:02d}:{minutes:02d}:{seconds:02d} is "
            "not a valid date and time: the packet is corrupted or the thermometer's clock is unset"
        )
    if year == 0 or month == 0 or day == 0:
        return None
    if year < _MIN_YEAR:
        raise MalformedPayload(f"time stamp year {year} is outside the Bluetooth range {_MIN_YEAR}..9999")
    try:
        return datetime(year, month, day, hours, minutes, seconds)
    except ValueError as exc:
        raise MalformedPayload(
            f"time stamp {year:04d}-{month:02d}-{day:02d} does not exist ({exc})"
        ) from None


def decode_temperature_measurement(data: bytes, *, intermediate: bool = False) -> HtsMeasurement:
    """Decode a Temperature Measurement (or, with ``intermediate=True``, an Intermediate Temperature).

    Raises :class:`TruncatedPayload` when the value is shorter than its flags announce (e.g. a time
    stamp cut off), :class:`UnsupportedFormat` for reserved flag bits, and :class:`MalformedPayload`
    for bytes left over after the last field or a date that does not exist.
    """
    data = bytes(data)
    if not data:
        raise TruncatedPayload("empty temperature measurement: expected a flags byte and a 4-byte FLOAT")
    flags = data[0]
    if flags & _RESERVED:
        raise UnsupportedFormat(
            f"temperature measurement flags {flags:#04x} set reserved bits 3-7: not a Health "
            "Thermometer measurement, or a corrupted one"
        )
    has_timestamp = bool(flags & _TIMESTAMP)
    has_type = bool(flags & _TYPE)
    expected = 5 + (_TIMESTAMP_BYTES if has_timestamp else 0) + (1 if has_type else 0)
    if len(data) < expected:
        parts = ["temperature"]
        if has_timestamp:
            parts.append("time stamp")
        if has_type:
            parts.append("temperature type")
        raise TruncatedPayload(
            f"temperature measurement is {len(data)} bytes but its flags ({flags:#04x}) announce "
            f"{' + '.join(parts)} = {expected} bytes: the value was cut off"
        )
    if len(data) > expected:
        raise MalformedPayload(
            f"temperature measurement has {len(data) - expected} unexpected byte(s) after the fields its "
            f"flags ({flags:#04x}) announce ({expected} bytes)"
        )
    fahrenheit = bool(flags & _FAHRENHEIT)
    measured = unpack_float(data, 1)
    timestamp = _decode_timestamp(data, 5) if has_timestamp else None
    temperature_type = data[expected - 1] if has_type else None
    return HtsMeasurement(
        _to_celsius(measured, fahrenheit),
        fahrenheit,
        timestamp,
        temperature_type,
        intermediate,
        measured.special,
    )


def encode_temperature_measurement(
    temperature: float | Special,
    *,
    fahrenheit: bool = False,
    timestamp: datetime | None = None,
    temperature_type: int | None = None,
    exponent: int | None = -2,
) -> bytes:
    """Encode a Temperature Measurement as a thermometer sends it.

    ``temperature`` is in the unit on the wire: degrees Fahrenheit when ``fahrenheit`` is true,
    Celsius otherwise. It is rounded to ``10**exponent`` (hundredths by default; ``None`` picks the
    shortest exact form). ``timestamp`` is written as its wall-clock fields (seconds truncated, no time
    zone). Raises :class:`EncodeError` for a value, year or type that does not fit.
    """
    flags = _FAHRENHEIT if fahrenheit else 0
    if isinstance(temperature, float) and math.isnan(temperature):
        temperature = Special.NAN
    out = bytearray(b"\x00")
    out += encode_float(temperature, exponent).to_bytes(4, "little")
    if timestamp is not None:
        if not _MIN_YEAR <= timestamp.year <= _MAX_YEAR:
            raise EncodeError(f"time stamp year {timestamp.year} is outside the Bluetooth range 1582..9999")
        flags |= _TIMESTAMP
        out += timestamp.year.to_bytes(2, "little")
        out += bytes((timestamp.month, timestamp.day, timestamp.hour, timestamp.minute, timestamp.second))
    if temperature_type is not None:
        if not 0 <= temperature_type <= 0xFF:
            raise EncodeError(f"temperature type is one byte (0..255); got {temperature_type}")
        flags |= _TYPE
        out.append(temperature_type)
    out[0] = flags
    return bytes(out)
