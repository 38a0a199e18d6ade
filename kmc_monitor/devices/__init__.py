"""Where readings come from and go to, in the order the data flows.

- :mod:`~kmc_monitor.devices.protocol`: the wire formats and the verifier (bytes in, values out, no
  I/O): BTHome, the Health Thermometer measurement, IEEE 11073 FLOAT, the wrap's GATT values.
- :mod:`~kmc_monitor.devices.radio`: what does radio I/O: the bleak gateway, its simulated backend,
  the link tracker and scan watchdog.
- :mod:`~kmc_monitor.devices.simulation`: the simulated ward and scripted synthetic traces.
- :mod:`~kmc_monitor.devices.trace`: recorded traces read (whole, or in time-ordered chunks) and
  written.

The one type they share is :class:`Reading`; errors are in :mod:`.errors`. The names below are the
light, I/O-free parts. The radio side imports bleak and the trace side pyarrow, so they are imported
from their own modules where they are used, as bleak itself keeps platform backends behind lazy
imports; every name listed here is loaded on first use, so that importing a codec never loads
pyarrow, and reading a trace (``kmc-monitor analyze``) never loads the codecs and cryptography.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmc_monitor._lazy import load

if TYPE_CHECKING:
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
    from kmc_monitor.devices.protocol.bthome import BthomeAdvert, decode_service_data, encode_service_data
    from kmc_monitor.devices.protocol.hts import (
        HtsMeasurement,
        decode_temperature_measurement,
        encode_temperature_measurement,
    )
    from kmc_monitor.devices.protocol.verify import AdvertVerifier, Rejection, WrapRegistry
    from kmc_monitor.devices.reading import Reading, readings_to_series
    from kmc_monitor.devices.trace import (
        MAX_REPORTED_LINES,
        TRACE_COLUMNS,
        ReadingChunk,
        ReadingCursor,
        TraceChunks,
        TraceSet,
        TraceWriter,
        read_traces,
        write_trace,
    )

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
    "ReadingChunk",
    "ReadingCursor",
    "RegistryError",
    "RejectReason",
    "Rejection",
    "TraceChunks",
    "TraceSet",
    "TraceWriter",
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

#: Where each name lives; every one is imported on first use, so that importing a subpackage (the
#: trace reader for ``kmc-monitor analyze``, say) does not load the codecs and their cryptography, nor
#: a codec pyarrow.
_HOME: dict[str, str] = {
    **dict.fromkeys(
        (
            "AuthenticationFailed",
            "DecodeError",
            "MalformedPayload",
            "RegistryError",
            "RejectReason",
            "TruncatedPayload",
            "UnknownObject",
            "UnsupportedFormat",
        ),
        "kmc_monitor.devices.errors",
    ),
    **dict.fromkeys(
        ("BthomeAdvert", "decode_service_data", "encode_service_data"), "kmc_monitor.devices.protocol.bthome"
    ),
    **dict.fromkeys(
        ("HtsMeasurement", "decode_temperature_measurement", "encode_temperature_measurement"),
        "kmc_monitor.devices.protocol.hts",
    ),
    **dict.fromkeys(("AdvertVerifier", "Rejection", "WrapRegistry"), "kmc_monitor.devices.protocol.verify"),
    **dict.fromkeys(("Reading", "readings_to_series"), "kmc_monitor.devices.reading"),
    **dict.fromkeys(
        (
            "MAX_REPORTED_LINES",
            "TRACE_COLUMNS",
            "ReadingChunk",
            "ReadingCursor",
            "TraceChunks",
            "TraceSet",
            "TraceWriter",
            "read_traces",
            "write_trace",
        ),
        "kmc_monitor.devices.trace",
    ),
}


def __getattr__(name: str) -> Any:
    """Every name above, imported on first use (the codecs bring cryptography, the traces pyarrow)."""
    return load(__name__, _HOME, globals(), name)
