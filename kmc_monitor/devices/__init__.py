"""Where readings come from and go to: wire formats, gateways, the simulator and recorded traces.

The names below are the light, I/O-free parts (parsers, the verifier, traces). The radio side
(``gateway``, ``backends``, ``simulator``) imports bleak and is imported from its own modules where it
is used, as bleak itself keeps platform backends behind lazy imports.
"""

from kmc_monitor.devices.bthome import BthomeAdvert, decode_service_data, encode_service_data
from kmc_monitor.devices.errors import (
    AuthenticationFailed,
    DecodeError,
    MalformedPayload,
    RegistryError,
    RejectReason,
    TruncatedPayload,
    UnknownObject,
    UnsupportedFormat,
)
from kmc_monitor.devices.hts import (
    HtsMeasurement,
    decode_temperature_measurement,
    encode_temperature_measurement,
)
from kmc_monitor.devices.reading import Reading, readings_to_series
from kmc_monitor.devices.trace import MAX_REPORTED_LINES, TRACE_COLUMNS, TraceSet, read_traces, write_trace
from kmc_monitor.devices.verify import AdvertVerifier, Rejection, WrapRegistry

__all__ = [
    "MAX_REPORTED_LINES",
    "TRACE_COLUMNS",
    "AdvertVerifier",
    "AuthenticationFailed",
    "BthomeAdvert",
    "DecodeError",
    "HtsMeasurement",
    "MalformedPayload",
    "Reading",
    "RegistryError",
    "RejectReason",
    "Rejection",
    "TraceSet",
    "TruncatedPayload",
    "UnknownObject",
    "UnsupportedFormat",
    "WrapRegistry",
    "decode_service_data",
    "decode_temperature_measurement",
    "encode_service_data",
    "encode_temperature_measurement",
    "read_traces",
    "readings_to_series",
    "write_trace",
]
