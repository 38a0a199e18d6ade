"""The wrap's wire formats and the verifier: bytes in, values out, no I/O.

:mod:`.bthome` (BTHome v2 advertisements, AES-CCM sealed), :mod:`.hts` (the Health Thermometer
measurement), :mod:`.ieee11073` (its FLOAT and SFLOAT numbers), :mod:`.gatt` (the wrap's GATT
UUIDs and its contact value) and :mod:`.verify` (MAC to wrap, authenticity, replay counter,
duplicates). Decoding is driven by tables of object specs; every decoder raises a
:class:`~kmc_monitor.devices.errors.DecodeError` for what it cannot read.
"""

from kmc_monitor.devices.protocol.bthome import BthomeAdvert, decode_service_data, encode_service_data
from kmc_monitor.devices.protocol.gatt import ContactValue, decode_contact_value, encode_contact_value
from kmc_monitor.devices.protocol.hts import (
    HtsMeasurement,
    decode_temperature_measurement,
    encode_temperature_measurement,
)
from kmc_monitor.devices.protocol.ieee11073 import MderFloat, decode_float, encode_float
from kmc_monitor.devices.protocol.verify import AdvertVerifier, Rejection, WrapEntry, WrapRegistry

__all__ = [
    "AdvertVerifier",
    "BthomeAdvert",
    "ContactValue",
    "HtsMeasurement",
    "MderFloat",
    "Rejection",
    "WrapEntry",
    "WrapRegistry",
    "decode_contact_value",
    "decode_float",
    "decode_service_data",
    "decode_temperature_measurement",
    "encode_contact_value",
    "encode_float",
    "encode_service_data",
    "encode_temperature_measurement",
]
