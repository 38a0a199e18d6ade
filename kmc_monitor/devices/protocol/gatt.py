"""The Bluetooth UUIDs of a wrap and its connected-mode GATT profile: which services and
characteristics, and the one wrap-specific value (the "KMC contact" characteristic).

In passive mode a wrap's BTHome data arrives as service data under :data:`BTHOME_SERVICE_UUID`
(0xFCD2 in the 128-bit form bleak uses as the key of ``AdvertisementData.service_data``).

A wrap in connected mode exposes the standard Health Thermometer Service (temperature measurement
indications, :mod:`kmc_monitor.devices.protocol.hts` decodes them), the standard Battery Service, and a
custom service whose one characteristic carries what HTS has no field for: the skin-contact level,
the wrap's own contact decision, the ambient (outer) temperature and a packet counter. Both ends use
this module: the gateway to subscribe and decode, the simulated wrap (``backends.py``) to serve and
encode, so the two cannot drift apart. Layout as in ``firmware_stubs/src/kmc_contact.h``::

    byte 0      contact level    uint8   0..100 %
    byte 1      contact          uint8   0 or 1
    bytes 2-3   ambient temp     sint16  0.01 °C, little-endian; 0x8000 = not available
    bytes 4-7   packet counter   uint32  little-endian, raised for every new measurement

Parsers are bytes in, values out: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from kmc_monitor.devices.errors import EncodeError, MalformedPayload, TruncatedPayload
from kmc_monitor.devices.protocol.bthome import BTHOME_UUID16

__all__ = [
    "BATTERY_LEVEL_UUID",
    "BTHOME_SERVICE_UUID",
    "BATTERY_SERVICE_UUID",
    "CONTACT_CHAR_UUID",
    "CONTACT_SERVICE_UUID",
    "CONTACT_VALUE_BYTES",
    "HTS_SERVICE_UUID",
    "TEMPERATURE_MEASUREMENT_UUID",
    "TEMPERATURE_TYPE_UUID",
    "ContactValue",
    "decode_battery_level",
    "decode_contact_value",
    "encode_contact_value",
    "sig_uuid",
]


def sig_uuid(uuid: int) -> str:
    """A 16-bit SIG UUID in bleak's normalised form (128-bit, lower-case), as
    ``bleak.uuids.normalize_uuid_16`` gives it: written out here so that the codec needs no bleak."""
    return f"0000{uuid:04x}-0000-1000-8000-00805f9b34fb"


# UUIDs in bleak's normalised (128-bit, lower-case) form.
BTHOME_SERVICE_UUID: Final = sig_uuid(BTHOME_UUID16)
HTS_SERVICE_UUID: Final = sig_uuid(0x1809)
TEMPERATURE_MEASUREMENT_UUID: Final = sig_uuid(0x2A1C)
TEMPERATURE_TYPE_UUID: Final = sig_uuid(0x2A1D)
BATTERY_SERVICE_UUID: Final = sig_uuid(0x180F)
BATTERY_LEVEL_UUID: Final = sig_uuid(0x2A19)
CONTACT_SERVICE_UUID: Final = "118b434b-4ea7-415a-8edf-dd9cfc4e1027"
CONTACT_CHAR_UUID: Final = "fbfa18c5-f4c9-40d1-8420-f917c28c28e0"

CONTACT_VALUE_BYTES: Final = 8
_NOT_AVAILABLE: Final = -0x8000


@dataclass(frozen=True, slots=True)
class ContactValue:
    """A decoded KMC contact characteristic value."""

    contact_level: int
    contact: bool
    ambient_temp_c: float | None
    counter: int

    @property
    def contact_fraction(self) -> float:
        """The contact level as a reading carries it (0..1)."""
        return self.contact_level / 100.0


def decode_contact_value(data: bytes | bytearray) -> ContactValue:
    """Decode a KMC contact value; a wrong length or an impossible field refuses the whole value."""
    raw = bytes(data)
    if len(raw) < CONTACT_VALUE_BYTES:
        raise TruncatedPayload(f"KMC contact value is {len(raw)} bytes; expected {CONTACT_VALUE_BYTES}")
    if len(raw) > CONTACT_VALUE_BYTES:
        raise MalformedPayload(f"KMC contact value is {len(raw)} bytes; expected {CONTACT_VALUE_BYTES}")
    level, contact = raw[0], raw[1]
    if level > 100:
        raise MalformedPayload(f"KMC contact level {level} is above 100 %")
    if contact > 1:
        raise MalformedPayload(f"KMC contact flag {contact} is neither 0 nor 1")
    ambient_raw = int.from_bytes(raw[2:4], "little", signed=True)
    ambient = None if ambient_raw == _NOT_AVAILABLE else ambient_raw / 100
    return ContactValue(level, bool(contact), ambient, int.from_bytes(raw[4:8], "little"))


def encode_contact_value(
    contact_level: int, contact: bool, ambient_temp_c: float | None, counter: int
) -> bytes:
    """Encode a KMC contact value as the wrap firmware sends it."""
    if not 0 <= contact_level <= 100:
        raise EncodeError(f"contact level is 0..100 %; got {contact_level}")
    if not 0 <= counter <= 0xFFFFFFFF:
        raise EncodeError(f"the packet counter is 32 bits; got {counter}")
    if ambient_temp_c is None:
        ambient_raw = _NOT_AVAILABLE
    else:
        if not math.isfinite(ambient_temp_c):
            raise EncodeError("ambient temperature must be a number or None (not available)")
        ambient_raw = round(ambient_temp_c * 100)
        if not _NOT_AVAILABLE < ambient_raw <= 0x7FFF:
            raise EncodeError(f"ambient temperature {ambient_temp_c} °C does not fit 0.01 °C sint16")
    return (
        bytes((contact_level, int(contact)))
        + ambient_raw.to_bytes(2, "little", signed=True)
        + counter.to_bytes(4, "little")
    )


def decode_battery_level(data: bytes | bytearray) -> int:
    """Decode a Battery Level (0x2A19) value: one byte, 0..100 %."""
    raw = bytes(data)
    if len(raw) != 1:
        raise (TruncatedPayload if not raw else MalformedPayload)(
            f"battery level is one byte; got {len(raw)}"
        )
    if raw[0] > 100:
        raise MalformedPayload(f"battery level {raw[0]} is above 100 %")
    return raw[0]
