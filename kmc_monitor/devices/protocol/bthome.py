"""BTHome v2: the passive-mode wire format, decoded and encoded from one table of object specs.

A wrap broadcasts its readings as BTHome v2 service data under the 16-bit UUID 0xFCD2::

    byte 0       device information: bits 5-7 version (= 2), bit 2 trigger-based (sends on change),
                 bit 1 MAC address included (legacy), bit 0 encrypted
    bytes 1-6    the MAC address, least significant byte first (only when bit 1 is set)
    then         objects: an object id byte, then a value whose length the id alone determines
                 (text 0x53 and raw 0x54 carry a length byte first)

An encrypted advertisement (bit 0) replaces the objects by their AES-CCM ciphertext, followed by a
4-byte little-endian counter and a 4-byte message integrity code (MIC). The 13-byte nonce is
``MAC (6 bytes, most significant first) + b"\\xd2\\xfc" + device-information byte + counter``, with no
associated data; the MIC is the 4-byte CCM tag. Decryption is ``cryptography``'s AES-CCM, which checks
the tag before returning a single byte, so a forged or corrupted advertisement never yields values.

A kmc wrap sends, in this order (all optional, ids ascending as BTHome recommends):

====  =================  ===========================================================
id    object             wrap field
====  =================  ===========================================================
0x00  packet id uint8    ``packet_id`` (duplicate suppression)
0x01  battery uint8 %    ``battery_pct``
0x02  temperature s16    first occurrence ``skin_temp_c``, second ``ambient_temp_c`` (0.01 °C)
0x09  count uint8        ``contact_level``: skin-contact level 0..100 %
0x25  presence 0/1       ``contact``: the wrap's own contact decision
====  =================  ===========================================================

Skin and ambient share one id and are told apart only by order, so a wrap always sends both: a
thermistor with no value is sent as 0x8000 (-327.68 °C), the firmware's "not available" sentinel
(``KMC_TEMP_NOT_AVAILABLE``), which decodes to ``None`` in the wrap fields (the object list keeps the
raw value). :func:`wrap_objects` writes the sentinel the same way.

Every other BTHome v2 object in :data:`OBJECT_SPECS` decodes too, so a standard BTHome thermometer can
be inspected with ``kmc-monitor decode``. An object id not in the table stops decoding with
:class:`~kmc_monitor.devices.errors.UnknownObject`: its length is unknowable, and a half-read packet
is not a reading.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType
from typing import Final, NamedTuple, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from kmc_monitor.devices.errors import (
    AuthenticationFailed,
    CredentialError,
    EncodeError,
    MalformedPayload,
    MissingKey,
    TruncatedPayload,
    UnknownObject,
    UnsupportedFormat,
)

__all__ = [
    "BTHOME_UUID16",
    "KEY_BYTES",
    "OBJECT_SPECS",
    "TEMP_NOT_AVAILABLE_C",
    "BthomeAdvert",
    "BthomeObject",
    "ObjectKind",
    "ObjectSpec",
    "ObjectValue",
    "decode_objects",
    "decode_service_data",
    "encode_objects",
    "encode_service_data",
    "format_mac",
    "parse_key",
    "parse_mac",
    "wrap_objects",
]

#: The 16-bit service UUID BTHome v2 advertises under.
BTHOME_UUID16: Final = 0xFCD2
#: BTHome keys are AES-128.
KEY_BYTES: Final = 16

_VERSION_SHIFT: Final = 5
_ENCRYPTED: Final = 0x01
_MAC_INCLUDED: Final = 0x02
_TRIGGER_BASED: Final = 0x04
_MAC_BYTES: Final = 6
_COUNTER_BYTES: Final = 4
_MIC_BYTES: Final = 4
_NONCE_UUID: Final = BTHOME_UUID16.to_bytes(2, "little")  # b"\xd2\xfc"

# Object ids the wrap profile gives a meaning.
_PACKET_ID: Final = 0x00
_BATTERY: Final = 0x01
_TEMPERATURE: Final = 0x02
_CONTACT_LEVEL: Final = 0x09
_CONTACT: Final = 0x25
#: 0x8000 in a wrap temperature: the thermistor has no value (firmware_stubs/src/kmc_wrap.h).
TEMP_NOT_AVAILABLE_C: Final = -32768 / 100

ObjectValue = int | float | bool | str | bytes


class ObjectKind(Enum):
    """How an object's bytes become a value."""

    #: A little-endian integer times a decimal factor: ``int`` when the factor is 1, else ``float``.
    NUMBER = "number"
    #: One byte, 0 or 1, as ``bool`` (anything else is refused as malformed).
    BINARY = "binary"
    #: An event (button press, dimmer turn): its bytes as ``bytes``, interpreted by no one here.
    EVENT = "event"
    #: Length-prefixed UTF-8 text, as ``str``.
    TEXT = "text"
    #: Length-prefixed opaque bytes, as ``bytes``.
    RAW = "raw"


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One row of the BTHome v2 object table.

    ``length`` is the value's size in bytes, 0 for length-prefixed objects (text, raw). A NUMBER's
    value is ``raw * multiplier / divisor``: the decimal factor kept as an exact ratio (0.01 is 1/100,
    0.35 is 7/20) so that decoding is one correctly rounded division, the same value bthome-ble and
    the C stubs compute.
    """

    object_id: int
    name: str
    kind: ObjectKind
    length: int
    signed: bool = False
    factor: str = "1"
    unit: str | None = None
    multiplier: int = field(init=False, repr=False, compare=False)
    divisor: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ratio = Fraction(Decimal(self.factor))
        object.__setattr__(self, "multiplier", ratio.numerator)
        object.__setattr__(self, "divisor", ratio.denominator)


def _n(oid: int, name: str, length: int, factor: str = "1", unit: str | None = None) -> ObjectSpec:
    return ObjectSpec(oid, name, ObjectKind.NUMBER, length, False, factor, unit)


def _s(oid: int, name: str, length: int, factor: str = "1", unit: str | None = None) -> ObjectSpec:
    return ObjectSpec(oid, name, ObjectKind.NUMBER, length, True, factor, unit)


def _b(oid: int, name: str) -> ObjectSpec:
    return ObjectSpec(oid, name, ObjectKind.BINARY, 1)


# The BTHome v2 object table (bthome.io/format). Ids 0x30-0x39 and 0x3B are unassigned or not
# implemented here and decode as unknown.
_TABLE: Final[tuple[ObjectSpec, ...]] = (
    _n(0x00, "packet_id", 1),
    _n(0x01, "battery", 1, unit="%"),
    _s(0x02, "temperature", 2, "0.01", "°C"),
    _n(0x03, "humidity", 2, "0.01", "%"),
    _n(0x04, "pressure", 3, "0.01", "hPa"),
    _n(0x05, "illuminance", 3, "0.01", "lx"),
    _n(0x06, "mass", 2, "0.01", "kg"),
    _n(0x07, "mass", 2, "0.01", "lb"),
    _s(0x08, "dew_point", 2, "0.01", "°C"),
    _n(0x09, "count", 1),
    _n(0x0A, "energy", 3, "0.001", "kWh"),
    _n(0x0B, "power", 3, "0.01", "W"),
    _n(0x0C, "voltage", 2, "0.001", "V"),
    _n(0x0D, "pm2_5", 2, unit="µg/m³"),
    _n(0x0E, "pm10", 2, unit="µg/m³"),
    _b(0x0F, "generic_boolean"),
    _b(0x10, "power_on"),
    _b(0x11, "opening"),
    _n(0x12, "co2", 2, unit="ppm"),
    _n(0x13, "tvoc", 2, unit="µg/m³"),
    _n(0x14, "moisture", 2, "0.01", "%"),
    _b(0x15, "battery_low"),
    _b(0x16, "battery_charging"),
    _b(0x17, "carbon_monoxide"),
    _b(0x18, "cold"),
    _b(0x19, "connectivity"),
    _b(0x1A, "door"),
    _b(0x1B, "garage_door"),
    _b(0x1C, "gas"),
    _b(0x1D, "heat"),
    _b(0x1E, "light"),
    _b(0x1F, "lock"),
    _b(0x20, "moisture_detected"),
    _b(0x21, "motion"),
    _b(0x22, "moving"),
    _b(0x23, "occupancy"),
    _b(0x24, "plug"),
    _b(0x25, "presence"),
    _b(0x26, "problem"),
    _b(0x27, "running"),
    _b(0x28, "safety"),
    _b(0x29, "smoke"),
    _b(0x2A, "sound"),
    _b(0x2B, "tamper"),
    _b(0x2C, "vibration"),
    _b(0x2D, "window"),
    _n(0x2E, "humidity", 1, unit="%"),
    _n(0x2F, "moisture", 1, unit="%"),
    ObjectSpec(0x3A, "button", ObjectKind.EVENT, 1),
    ObjectSpec(0x3C, "dimmer", ObjectKind.EVENT, 2),
    _n(0x3D, "count", 2),
    _n(0x3E, "count", 4),
    _s(0x3F, "rotation", 2, "0.1", "°"),
    _n(0x40, "distance", 2, unit="mm"),
    _n(0x41, "distance", 2, "0.1", "m"),
    _n(0x42, "duration", 3, "0.001", "s"),
    _n(0x43, "current", 2, "0.001", "A"),
    _n(0x44, "speed", 2, "0.01", "m/s"),
    _s(0x45, "temperature", 2, "0.1", "°C"),
    _n(0x46, "uv_index", 1, "0.1"),
    _n(0x47, "volume", 2, "0.1", "L"),
    _n(0x48, "volume", 2, unit="mL"),
    _n(0x49, "volume_flow_rate", 2, "0.001", "m³/h"),
    _n(0x4A, "voltage", 2, "0.1", "V"),
    _n(0x4B, "gas", 3, "0.001", "m³"),
    _n(0x4C, "gas", 4, "0.001", "m³"),
    _n(0x4D, "energy", 4, "0.001", "kWh"),
    _n(0x4E, "volume", 4, "0.001", "L"),
    _n(0x4F, "water", 4, "0.001", "L"),
    _n(0x50, "timestamp", 4, unit="s"),
    _n(0x51, "acceleration", 2, "0.001", "m/s²"),
    _n(0x52, "gyroscope", 2, "0.001", "°/s"),
    ObjectSpec(0x53, "text", ObjectKind.TEXT, 0),
    ObjectSpec(0x54, "raw", ObjectKind.RAW, 0),
    _n(0x55, "volume_storage", 4, "0.001", "L"),
    _n(0x56, "conductivity", 2, unit="µS/cm"),
    _s(0x57, "temperature", 1, unit="°C"),
    _s(0x58, "temperature", 1, "0.35", "°C"),
    _s(0x59, "count", 1),
    _s(0x5A, "count", 2),
    _s(0x5B, "count", 4),
    _s(0x5C, "power", 4, "0.01", "W"),
    _s(0x5D, "current", 2, "0.001", "A"),
    _n(0x5E, "direction", 2, "0.01", "°"),
    _n(0x5F, "precipitation", 2, "0.1", "mm"),
    _n(0x60, "channel", 1),
    _n(0x61, "rotational_speed", 2, unit="rpm"),
    _s(0x62, "speed", 4, "0.000001", "m/s"),
    _s(0x63, "acceleration", 4, "0.000001", "m/s²"),
    _n(0x64, "light_level", 1),
    _n(0x65, "settings_revision", 1),
    _n(0xF0, "device_type_id", 2),
    _n(0xF1, "firmware_version", 4),
    _n(0xF2, "firmware_version", 3),
)

#: Every object this decoder knows, by id (read-only).
OBJECT_SPECS: Final[Mapping[int, ObjectSpec]] = MappingProxyType({s.object_id: s for s in _TABLE})

_KIND_NUMBER: Final = 0
_KIND_BINARY: Final = 1
_KIND_BYTES: Final = 2  # events and raw
_KIND_TEXT: Final = 3
_KIND_CODE: Final = {
    ObjectKind.NUMBER: _KIND_NUMBER,
    ObjectKind.BINARY: _KIND_BINARY,
    ObjectKind.EVENT: _KIND_BYTES,
    ObjectKind.RAW: _KIND_BYTES,
    ObjectKind.TEXT: _KIND_TEXT,
}


class _Row(NamedTuple):
    """A table row flattened for the decoding loop (tuple indexing is the cheapest lookup)."""

    name: str
    kind: int
    length: int
    signed: bool
    multiplier: int
    divisor: int


_ROWS: Final[tuple[_Row | None, ...]] = tuple(
    _Row(s.name, _KIND_CODE[s.kind], s.length, s.signed, s.multiplier, s.divisor)
    if (s := OBJECT_SPECS.get(i)) is not None
    else None
    for i in range(256)
)


class BthomeObject(NamedTuple):
    """One decoded object: its id, the table's name for it and its value in the table's unit."""

    object_id: int
    name: str
    value: ObjectValue

    @property
    def unit(self) -> str | None:
        """The value's unit from the object table (``None`` for counts, booleans, text...)."""
        return OBJECT_SPECS[self.object_id].unit


@dataclass(frozen=True, slots=True)
class BthomeAdvert:
    """A decoded (and, if encrypted, authenticated) BTHome v2 advertisement.

    ``objects`` lists every object in packet order; the remaining fields read it through the wrap
    profile (see the module docstring) and are ``None`` when the packet does not carry them.
    ``counter`` is the encryption counter (``None`` for plaintext), ``mac`` the address carried inside
    the payload when the legacy "MAC included" flag is set.
    """

    objects: tuple[BthomeObject, ...]
    encrypted: bool
    trigger_based: bool = False
    counter: int | None = None
    mac: str | None = None
    packet_id: int | None = None
    battery_pct: int | None = None
    skin_temp_c: float | None = None
    ambient_temp_c: float | None = None
    contact_level: int | None = None
    contact: bool | None = None

    @property
    def has_measurement(self) -> bool:
        """True if the packet carries skin, ambient, contact or battery (not just a packet id)."""
        return not (
            self.skin_temp_c is None
            and self.ambient_temp_c is None
            and self.contact_level is None
            and self.contact is None
            and self.battery_pct is None
        )


# --- addresses and keys -------------------------------------------------------------------------

_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


def parse_mac(mac: str | bytes) -> bytes:
    """A MAC address as its 6 bytes, most significant first.

    Accepts ``"54:48:E6:8F:80:A5"``, ``"54-48-e6-8f-80-a5"``, ``"5448E68F80A5"`` or 6 bytes as
    written; raises :class:`CredentialError` for anything else.
    """
    if isinstance(mac, bytes | bytearray | memoryview):
        raw = bytes(mac)
        if len(raw) != _MAC_BYTES:
            raise CredentialError(f"a MAC address is 6 bytes; got {len(raw)}")
        return raw
    text = mac.strip()
    digits = text.replace(":", "").replace("-", "")
    if len(digits) != 2 * _MAC_BYTES or not set(digits) <= _HEX_DIGITS:
        raise CredentialError(f"{mac!r} is not a MAC address: expected six hex pairs like 54:48:E6:8F:80:A5")
    if digits != text and not (len(text) == 17 and text[2::3] in (":" * 5, "-" * 5)):
        raise CredentialError(f"{mac!r} is not a MAC address: expected six hex pairs like 54:48:E6:8F:80:A5")
    return bytes.fromhex(digits)


def format_mac(mac: str | bytes) -> str:
    """The canonical spelling of a MAC address: ``"54:48:E6:8F:80:A5"``."""
    return ":".join(f"{b:02X}" for b in parse_mac(mac))


def parse_key(key: str | bytes) -> bytes:
    """A BTHome key as 16 bytes, from 16 bytes or 32 hex digits; raises :class:`CredentialError`."""
    if isinstance(key, bytes | bytearray | memoryview):
        raw = bytes(key)
        if len(raw) != KEY_BYTES:
            raise CredentialError(f"a BTHome key is 16 bytes (AES-128); got {len(raw)}")
        return raw
    text = key.strip()
    if len(text) != 2 * KEY_BYTES or not set(text) <= _HEX_DIGITS:
        raise CredentialError(
            f"a BTHome key is 32 hex digits (16 bytes); got {len(text)} character(s)"
            + ("" if set(text) <= _HEX_DIGITS else " including non-hex ones")
        )
    return bytes.fromhex(text)


@lru_cache(maxsize=4096)
def _cipher(key: bytes) -> AESCCM:
    # Building the AES key schedule costs more than decrypting one advertisement: keep one per key.
    return AESCCM(key, tag_length=_MIC_BYTES)


# --- decoding -------------------------------------------------------------------------------------


def decode_objects(payload: bytes) -> tuple[BthomeObject, ...]:
    """Decode a plaintext BTHome v2 object sequence (the part after the device-information byte).

    Raises :class:`UnknownObject` at an id not in :data:`OBJECT_SPECS`, :class:`TruncatedPayload`
    when an object runs past the end, and :class:`MalformedPayload` for a binary value other than 0/1
    or text that is not UTF-8.
    """
    out: list[BthomeObject] = []
    append = out.append
    rows = _ROWS
    from_bytes = int.from_bytes
    n = len(payload)
    i = 0
    while i < n:
        oid = payload[i]
        row = rows[oid]
        if row is None:
            raise UnknownObject(
                f"unknown BTHome object id {oid:#04x} at byte {i} of the objects: its length is not "
                "known, so the advertisement cannot be read (is this device sending a newer BTHome "
                "object, or is the packet corrupted?)",
                oid,
            )
        length = row.length
        start = i + 1
        if length == 0:  # length-prefixed text or raw
            if start >= n:
                raise TruncatedPayload(f"BTHome {row.name} object {oid:#04x} at byte {i} has no length byte")
            length = payload[start]
            start += 1
        end = start + length
        if end > n:
            raise TruncatedPayload(
                f"BTHome {row.name} object {oid:#04x} at byte {i} needs {length} byte(s) but only "
                f"{n - start} remain: the advertisement was cut off"
            )
        kind = row.kind
        value: ObjectValue
        if kind == _KIND_NUMBER:
            raw = from_bytes(payload[start:end], "little", signed=row.signed)
            if row.divisor == 1:
                value = raw * row.multiplier
            else:
                # One correctly rounded division: 2506 / 100 is the double nearest 25.06.
                value = raw * row.multiplier / row.divisor
        elif kind == _KIND_BINARY:
            b = payload[start]
            if b > 1:
                raise MalformedPayload(
                    f"BTHome {row.name} object {oid:#04x} is a binary sensor (0 or 1) but holds {b}"
                )
            value = b == 1
        elif kind == _KIND_TEXT:
            try:
                value = payload[start:end].decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedPayload(f"BTHome text object at byte {i} is not valid UTF-8") from None
        else:
            value = payload[start:end]
        append(BthomeObject(oid, row.name, value))
        i = end
    return tuple(out)


def decode_service_data(
    data: bytes,
    *,
    mac: str | bytes | None = None,
    key: str | bytes | None = None,
) -> BthomeAdvert:
    """Decode the BTHome v2 service data (UUID 0xFCD2) of one advertisement.

    ``mac`` is the advertiser's address and ``key`` its 16-byte key (or 32 hex digits); both are
    needed only for an encrypted advertisement, whose MIC is checked before anything is decoded.
    A key given for a plaintext advertisement is not used: whether plaintext is acceptable is policy,
    decided by :class:`~kmc_monitor.devices.protocol.verify.AdvertVerifier`, not here.

    Raises a :class:`~kmc_monitor.devices.errors.DecodeError` subclass for anything that is not a
    complete, authentic BTHome v2 advertisement: :class:`UnsupportedFormat` (not version 2),
    :class:`TruncatedPayload`, :class:`MissingKey`, :class:`AuthenticationFailed`,
    :class:`UnknownObject` or :class:`MalformedPayload`.
    """
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if n == 0:
        raise TruncatedPayload("empty BTHome service data: expected at least a device-information byte")
    info = data[0]
    version = info >> _VERSION_SHIFT
    if version != 2:
        raise UnsupportedFormat(
            f"BTHome device-information byte {info:#04x} says version {version}; only version 2 is "
            "supported (set bits 5-7 of the first byte to 2, i.e. 0x40)"
        )
    pos = 1
    embedded_mac: bytes | None = None
    if info & _MAC_INCLUDED:
        if n < 1 + _MAC_BYTES:
            raise TruncatedPayload("BTHome flags announce a MAC address but the advertisement is too short")
        embedded_mac = data[1 : 1 + _MAC_BYTES][::-1]
        pos = 1 + _MAC_BYTES
    counter: int | None = None
    encrypted = bool(info & _ENCRYPTED)
    if encrypted:
        if n < pos + _COUNTER_BYTES + _MIC_BYTES:
            raise TruncatedPayload(
                f"encrypted BTHome advertisement is {n} bytes: too short for the 4-byte counter and "
                "4-byte MIC it must end with"
            )
        if key is None:
            raise MissingKey(
                "the advertisement is encrypted: give the wrap's 16-byte BTHome key (--key HEX) to read it"
            )
        nonce_mac = embedded_mac
        if nonce_mac is None:
            if mac is None:
                raise MissingKey(
                    "the advertisement is encrypted: the sender's MAC address (--mac) is part of the "
                    "nonce and is needed to read it"
                )
            nonce_mac = mac if type(mac) is bytes and len(mac) == _MAC_BYTES else parse_mac(mac)
        raw_key = key if type(key) is bytes and len(key) == KEY_BYTES else parse_key(key)
        counter_bytes = data[n - 8 : n - 4]
        nonce = nonce_mac + _NONCE_UUID + data[0:1] + counter_bytes
        try:
            payload = _cipher(raw_key).decrypt(nonce, data[pos : n - 8] + data[n - 4 :], None)
        except InvalidTag:
            raise AuthenticationFailed(
                "BTHome message integrity check failed: wrong key or MAC address for this wrap, or a "
                "forged or corrupted advertisement"
            ) from None
        counter = int.from_bytes(counter_bytes, "little")
    else:
        payload = data[pos:]
    objects = decode_objects(payload)
    return _advert(objects, encrypted, bool(info & _TRIGGER_BASED), counter, embedded_mac)


def _advert(
    objects: tuple[BthomeObject, ...],
    encrypted: bool,
    trigger_based: bool,
    counter: int | None,
    embedded_mac: bytes | None,
) -> BthomeAdvert:
    """Read the wrap fields out of the objects (first occurrence wins, except the second 0x02)."""
    packet_id: ObjectValue | None = None
    battery: ObjectValue | None = None
    level: ObjectValue | None = None
    skin: ObjectValue | None = None
    ambient: ObjectValue | None = None
    contact: ObjectValue | None = None
    temperatures = 0
    for oid, _name, value in objects:
        if oid == _TEMPERATURE:
            # Position decides the meaning, so the sentinel still takes its place (as None).
            temperatures += 1
            if temperatures == 1:
                skin = None if value == TEMP_NOT_AVAILABLE_C else value
            elif temperatures == 2:
                ambient = None if value == TEMP_NOT_AVAILABLE_C else value
        elif oid == _PACKET_ID:
            if packet_id is None:
                packet_id = value
        elif oid == _BATTERY:
            if battery is None:
                battery = value
        elif oid == _CONTACT_LEVEL:
            if level is None:
                level = value
        elif oid == _CONTACT and contact is None:
            contact = value
    # The object table fixes these ids' value types (uint8 -> int, 0.01 sint16 -> float, binary -> bool).
    return BthomeAdvert(
        objects,
        encrypted,
        trigger_based,
        counter,
        None if embedded_mac is None else format_mac(embedded_mac),
        cast("int | None", packet_id),
        cast("int | None", battery),
        cast("float | None", skin),
        cast("float | None", ambient),
        cast("int | None", level),
        cast("bool | None", contact),
    )


# --- encoding -------------------------------------------------------------------------------------


def _round_half_away(q: Fraction) -> int:
    """Nearest integer, halves away from zero: what the firmware's ``lround`` does."""
    r = math.floor(abs(q) + Fraction(1, 2))
    return r if q >= 0 else -r


def _encode_number(spec: ObjectSpec, value: ObjectValue) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EncodeError(f"BTHome {spec.name} ({spec.object_id:#04x}) takes a number; got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise EncodeError(
            f"BTHome {spec.name} ({spec.object_id:#04x}) cannot carry {value!r}: BTHome has no NaN or "
            "infinity; leave the object out instead"
        )
    if isinstance(value, int):
        if spec.multiplier == 1:
            raw = value * spec.divisor
        else:
            raw = _round_half_away(Fraction(value * spec.divisor, spec.multiplier))
    else:
        scaled = abs(value) * spec.divisor / spec.multiplier
        frac = scaled - math.floor(scaled)
        if abs(frac - 0.5) > 1e-6 and scaled < 2**52:
            # Clearly not a half: binary rounding error cannot change which integer is nearest.
            raw = math.floor(scaled + 0.5)
            raw = raw if value >= 0 else -raw
        else:
            # The value is read as its shortest decimal (repr), so 36.125 °C is 3612.5 hundredths and
            # rounds to 3613, exactly as an integer-only firmware computing round(x * 100) would.
            raw = _round_half_away(Fraction(Decimal(repr(value))) * spec.divisor / spec.multiplier)
    bits = 8 * spec.length
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if spec.signed else (0, (1 << bits) - 1)
    if not lo <= raw <= hi:
        low = Fraction(lo * spec.multiplier, spec.divisor)
        high = Fraction(hi * spec.multiplier, spec.divisor)
        raise EncodeError(
            f"{value!r} is out of range for BTHome {spec.name} ({spec.object_id:#04x}): "
            f"{float(low):g}..{float(high):g}{' ' + spec.unit if spec.unit else ''}"
        )
    return raw.to_bytes(spec.length, "little", signed=spec.signed)


def encode_objects(objects: Iterable[tuple[int, ObjectValue]]) -> bytes:
    """Encode ``(object_id, value)`` pairs, in the order given, as a BTHome v2 object sequence.

    Values are in the table's units (°C, %, ...) and are rounded to the object's resolution, halves
    away from zero; raises :class:`EncodeError` for an unknown id, a value out of range or of the
    wrong type.
    """
    out = bytearray()
    for oid, value in objects:
        spec = OBJECT_SPECS.get(oid)
        if spec is None:
            raise EncodeError(f"{oid:#04x} is not a BTHome v2 object id this encoder knows")
        out.append(oid)
        if spec.kind is ObjectKind.NUMBER:
            out += _encode_number(spec, value)
        elif spec.kind is ObjectKind.BINARY:
            if not isinstance(value, bool | int) or value not in (0, 1):
                raise EncodeError(
                    f"BTHome {spec.name} ({oid:#04x}) is binary: give True/False; got {value!r}"
                )
            out.append(int(value))
        else:
            if spec.kind is ObjectKind.TEXT:
                if not isinstance(value, str):
                    raise EncodeError(f"BTHome text (0x53) takes a str; got {value!r}")
                blob = value.encode("utf-8")
            else:
                if not isinstance(value, bytes | bytearray):
                    raise EncodeError(f"BTHome {spec.name} ({oid:#04x}) takes bytes; got {value!r}")
                blob = bytes(value)
            if spec.length:
                if len(blob) != spec.length:
                    raise EncodeError(
                        f"BTHome {spec.name} ({oid:#04x}) is {spec.length} byte(s); got {len(blob)}"
                    )
            else:
                if len(blob) > 0xFF:
                    raise EncodeError(
                        f"BTHome {spec.name} ({oid:#04x}) holds at most 255 bytes; got {len(blob)}"
                    )
                out.append(len(blob))
            out += blob
    return bytes(out)


def wrap_objects(
    *,
    packet_id: int | None = None,
    battery_pct: float | None = None,
    skin_temp_c: float | None = None,
    ambient_temp_c: float | None = None,
    contact_level: int | None = None,
    contact: bool | None = None,
) -> list[tuple[int, ObjectValue]]:
    """The objects of a kmc wrap advertisement, in protocol order (what the firmware sends).

    ``None`` fields are left out, except that the two temperatures always travel as a pair: when only
    one is known the other is sent as the "not available" sentinel, because the receiver tells skin
    from ambient by position alone (an ambient temperature sent alone would be read as skin).
    """
    if (skin_temp_c is None) != (ambient_temp_c is None):
        if skin_temp_c is None:
            skin_temp_c = TEMP_NOT_AVAILABLE_C
        else:
            ambient_temp_c = TEMP_NOT_AVAILABLE_C
    out: list[tuple[int, ObjectValue]] = []
    if packet_id is not None:
        out.append((_PACKET_ID, packet_id))
    if battery_pct is not None:
        out.append((_BATTERY, battery_pct))
    if skin_temp_c is not None:
        out.append((_TEMPERATURE, skin_temp_c))
    if ambient_temp_c is not None:
        out.append((_TEMPERATURE, ambient_temp_c))
    if contact_level is not None:
        out.append((_CONTACT_LEVEL, contact_level))
    if contact is not None:
        out.append((_CONTACT, contact))
    return out


def encode_service_data(
    objects: Sequence[tuple[int, ObjectValue]] | Iterable[tuple[int, ObjectValue]],
    *,
    key: str | bytes | None = None,
    mac: str | bytes | None = None,
    counter: int | None = None,
    trigger_based: bool = False,
) -> bytes:
    """Encode a complete BTHome v2 service-data payload, encrypted when ``key`` is given.

    Encryption needs the advertiser's ``mac`` and a ``counter`` (0..2**32-1) that the sender must
    raise for every new advertisement: the receiver refuses any counter not above the last it
    accepted. The output is byte-for-byte what the wrap firmware (``firmware_stubs/``) sends.
    """
    info = (2 << _VERSION_SHIFT) | (_TRIGGER_BASED if trigger_based else 0)
    body = encode_objects(objects)
    if key is None:
        if counter is not None:
            raise EncodeError("a counter is only sent in encrypted advertisements: give the key too")
        return bytes((info,)) + body
    if mac is None or counter is None:
        raise EncodeError("an encrypted advertisement needs the sender's MAC address and a counter")
    if not 0 <= counter <= 0xFFFFFFFF:
        raise EncodeError(f"the BTHome counter is 32 bits (0..4294967295); got {counter}")
    info |= _ENCRYPTED
    counter_bytes = counter.to_bytes(_COUNTER_BYTES, "little")
    nonce = parse_mac(mac) + _NONCE_UUID + bytes((info,)) + counter_bytes
    sealed = _cipher(parse_key(key)).encrypt(nonce, body, None)
    return bytes((info,)) + sealed[:-_MIC_BYTES] + counter_bytes + sealed[-_MIC_BYTES:]
