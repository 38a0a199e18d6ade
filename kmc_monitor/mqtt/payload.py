"""The JSON payloads gateways publish: readings and presence. Versioned, strict, pure (no I/O).

A reading (topic ``kmc/<site>/<gateway>/wrap/<wrap_id>/reading``)::

    {"v": 3, "gateway": "room-1", "seq": 4711, "t": 1718000000.25, "wrap_id": "W01", "counter": 90211,
     "skin_temp_c": 36.81, "ambient_temp_c": 27.4, "contact": 0.92, "battery_pct": 81, "rssi_dbm": -63,
     "sealed": "41a4..."}

``seq`` is the gateway's outbox sequence number: it grows by one per reading the gateway keeps, never
repeats (across restarts too), so the service can count gaps. ``counter`` (version 2, optional) is
the wrap's own measurement id, the BTHome encryption counter (0..2**32-1): two gateways that hear
the same advertisement send the same ``counter`` with different receive times ``t``, and the service
keeps the first copy only. Measured values may be ``null`` or left out (not measured).

Version 3 adds ``sealed``: the wrap's own packet the reading was decoded from, in hex (BTHome
service data sealed with the wrap's key, ``counter`` its AES-CCM counter). The ward service checks
its MIC and counter with the wrap's key and takes the measured values from it, so a reading a
rogue publisher, a compromised gateway or the broker made up or replayed is refused
(:mod:`kmc_monitor.mqtt.sealed`). The measured fields beside it are for people reading the broker
(``mosquitto_sub``); the service refuses a message whose fields disagree with its packet.

Versions: gateways send version 3; the service decodes 1 (no ``counter``), 2 (no ``sealed``) and 3,
but accepts readings without ``sealed`` only where a lab setting allows plain readings. A presence
message (topic ``kmc/<site>/<gateway>/status``, retained; the same in both versions)::

    {"v": 2, "gateway": "room-1", "state": "online", "t": 1718000000.0, "wraps": ["W01", "W02"],
     "buffered": 0, "dropped": 0}

``state`` is ``online`` or ``offline``; the Last Will is an ``offline`` message without ``t`` (the
broker sends it later, at a time the gateway cannot know).

Why so strict: a payload comes over a network from another machine. Anything that is not exactly a
version-1 or version-2 message is refused with a :class:`PayloadReason` (the subscriber counts
them), never half used: not UTF-8 JSON, ``NaN``/``Infinity``, a key given twice, an unknown key or
version, a wrong type (``true`` is not a number), a value outside what a sensor can report, a
payload over :data:`MAX_READING_BYTES`, or a topic that disagrees with the payload (a forged or
misrouted message: the wrap or gateway in the topic is not the one in the payload).

Plausibility (a skin temperature of 12 °C) is not judged here:
:func:`~kmc_monitor.signal.series.build_series` blanks implausible values and counts them, as for
every source.

Unknown keys are refused rather than ignored so that a mismatch between gateway and service versions
shows up at once as counted rejections instead of silently lost fields: a new field comes with a new
``v``, and the service is upgraded before the gateways.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from kmc_monitor.devices.reading import Reading
from kmc_monitor.errors import KmcError
from kmc_monitor.mqtt.topics import ReadingTopic, StatusTopic, TopicError, check_id

__all__ = [
    "MAX_READING_BYTES",
    "MAX_STATUS_BYTES",
    "VERSION",
    "VERSIONS",
    "PayloadError",
    "PayloadReason",
    "ReadingMessage",
    "StatusMessage",
    "decode_reading",
    "decode_status",
    "encode_reading",
    "encode_status",
]

#: What gateways send.
VERSION = 3
#: What the service decodes: version 1 is version 2 without ``counter``, 2 is 3 without ``sealed``.
VERSIONS = (1, 2, 3)
#: A BTHome advertisement's service data is at most 31 bytes on air; room for an extended one.
MAX_SEALED_BYTES = 64
#: A reading is about 200 bytes; anything much larger is not one.
MAX_READING_BYTES = 1024
#: A presence message lists the gateway's wraps (a room has a few; 200 fit easily).
MAX_STATUS_BYTES = 16 * 1024
#: Readings from before 2000 or from 2100 on are a broken clock, not a measurement.
_T_MIN_S = 946_684_800.0
_T_MAX_S = 4_102_444_800.0
_SEQ_MAX = 2**63 - 1
#: The BTHome encryption counter is 32 bits (firmware_stubs/PROTOCOL.md).
_COUNTER_MAX = 2**32 - 1
_COUNT_MAX = 2**63 - 1

#: Measured fields: name -> inclusive bounds of what the sensors can report at all.
_MEASURED: Mapping[str, tuple[float, float]] = {
    "skin_temp_c": (-40.0, 125.0),  # the thermistors' operating range
    "ambient_temp_c": (-40.0, 125.0),
    "contact": (0.0, 1.0),
    "battery_pct": (0.0, 100.0),
    "rssi_dbm": (-127.0, 20.0),  # Bluetooth Core: RSSI is reported in -127..+20 dBm
}
_READING_KEYS_V1 = frozenset({"v", "gateway", "seq", "t", "wrap_id", *_MEASURED})
_READING_KEYS = {
    1: _READING_KEYS_V1,
    2: _READING_KEYS_V1 | {"counter"},
    3: _READING_KEYS_V1 | {"counter", "sealed"},
}
_STATUS_KEYS_V1 = frozenset({"v", "gateway", "state", "t", "wraps", "buffered", "dropped"})
_STATUS_KEYS = {1: _STATUS_KEYS_V1, 2: _STATUS_KEYS_V1, 3: _STATUS_KEYS_V1}


class PayloadReason(StrEnum):
    """Why a payload was refused (the metric label of the subscriber's ``rejected`` counter)."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    UNKNOWN_VERSION = "unknown_version"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    BAD_TYPE = "bad_type"
    OUT_OF_RANGE = "out_of_range"
    TOPIC_MISMATCH = "topic_mismatch"


class PayloadError(KmcError, ValueError):
    """A payload that is not a valid message of a known version; ``reason`` says which rule it broke."""

    def __init__(self, message: str, reason: PayloadReason) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ReadingMessage:
    """A decoded reading with the gateway that sent it and its outbox sequence number (the wrap's
    own measurement id, when the payload had one, is ``reading.counter``)."""

    gateway: str
    seq: int
    reading: Reading


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """A gateway's presence. ``t`` is None for a Last Will (sent by the broker, later)."""

    gateway: str
    state: Literal["online", "offline"]
    t: float | None = None
    wraps: tuple[str, ...] = ()
    buffered: int | None = None
    dropped: int | None = None


# Encoding -------------------------------------------------------------------------------------------
def encode_reading(gateway: str, seq: int, reading: Reading) -> bytes:
    """A reading as its version-2 payload. Raises :class:`PayloadError` (or ``TopicError`` for an id)
    for a reading the service would refuse, so a gateway finds out before publishing it."""
    doc: dict[str, Any] = {
        "v": VERSION,
        "gateway": check_id("gateway", gateway),
        "seq": _count("seq", seq, 1, _SEQ_MAX),
        "t": _time(reading.t),
        "wrap_id": check_id("wrap", reading.wrap_id),
    }
    if reading.counter is not None:
        doc["counter"] = _count("counter", reading.counter, 0, _COUNTER_MAX)
    if reading.sealed is not None:
        if not 0 < len(reading.sealed) <= MAX_SEALED_BYTES:
            raise PayloadError(
                f"sealed packet of {len(reading.sealed)} bytes is not 1..{MAX_SEALED_BYTES}",
                PayloadReason.OUT_OF_RANGE,
            )
        doc["sealed"] = bytes(reading.sealed).hex()
    for name in _MEASURED:
        value = getattr(reading, name)
        if value is not None:
            doc[name] = _measured(name, value)
    data = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    if len(data) > MAX_READING_BYTES:  # pragma: no cover - bounded ids and numbers cannot get here
        raise PayloadError("reading payload too large", PayloadReason.TOO_LARGE)
    return data


def encode_status(
    gateway: str,
    state: Literal["online", "offline"],
    *,
    t: float | None = None,
    wraps: Sequence[str] = (),
    buffered: int | None = None,
    dropped: int | None = None,
) -> bytes:
    """A presence message as its version-2 payload (``t=None`` for the Last Will)."""
    doc: dict[str, Any] = {"v": VERSION, "gateway": check_id("gateway", gateway), "state": state}
    if state not in ("online", "offline"):
        raise PayloadError(f"state must be online or offline, not {state!r}", PayloadReason.OUT_OF_RANGE)
    if t is not None:
        doc["t"] = _time(t)
    if wraps:
        doc["wraps"] = [check_id("wrap", w) for w in wraps]
    if buffered is not None:
        doc["buffered"] = _count("buffered", buffered, 0, _COUNT_MAX)
    if dropped is not None:
        doc["dropped"] = _count("dropped", dropped, 0, _COUNT_MAX)
    data = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    if len(data) > MAX_STATUS_BYTES:
        raise PayloadError(
            f"status payload of {len(data)} bytes is over {MAX_STATUS_BYTES}: too many wraps listed",
            PayloadReason.TOO_LARGE,
        )
    return data


# Decoding -------------------------------------------------------------------------------------------
def decode_reading(payload: bytes, topic: ReadingTopic) -> ReadingMessage:
    """The reading in ``payload`` received on ``topic``; :class:`PayloadError` if it is not exactly a
    version-1 or version-2 reading of that topic's gateway and wrap."""
    doc = _load(payload, MAX_READING_BYTES, _READING_KEYS)
    for key in ("gateway", "seq", "t", "wrap_id"):
        if key not in doc:
            raise PayloadError(f"reading without {key!r}", PayloadReason.MISSING_FIELD)
    gateway = _id("gateway", doc["gateway"])
    wrap_id = _id("wrap", doc["wrap_id"])
    if gateway != topic.gateway:
        raise PayloadError(
            f"gateway {gateway!r} in the payload, {topic.gateway!r} in the topic",
            PayloadReason.TOPIC_MISMATCH,
        )
    if wrap_id != topic.wrap_id:
        raise PayloadError(
            f"wrap {wrap_id!r} in the payload, {topic.wrap_id!r} in the topic", PayloadReason.TOPIC_MISMATCH
        )
    values: dict[str, float | None] = {}
    for name in _MEASURED:
        raw = doc.get(name)
        values[name] = None if raw is None else _measured(name, raw)
    raw_counter = doc.get("counter")
    counter = None if raw_counter is None else _count("counter", raw_counter, 0, _COUNTER_MAX)
    raw_sealed = doc.get("sealed")
    sealed = None if raw_sealed is None else _hex("sealed", raw_sealed, MAX_SEALED_BYTES)
    reading = Reading(t=_time(doc["t"]), wrap_id=wrap_id, **values, counter=counter, sealed=sealed)
    return ReadingMessage(gateway, _count("seq", doc["seq"], 1, _SEQ_MAX), reading)


def decode_status(payload: bytes, topic: StatusTopic) -> StatusMessage:
    """The presence message in ``payload`` received on ``topic`` (see :func:`decode_reading`)."""
    doc = _load(payload, MAX_STATUS_BYTES, _STATUS_KEYS)
    for key in ("gateway", "state"):
        if key not in doc:
            raise PayloadError(f"status without {key!r}", PayloadReason.MISSING_FIELD)
    gateway = _id("gateway", doc["gateway"])
    if gateway != topic.gateway:
        raise PayloadError(
            f"gateway {gateway!r} in the payload, {topic.gateway!r} in the topic",
            PayloadReason.TOPIC_MISMATCH,
        )
    state = doc["state"]
    if not isinstance(state, str):
        raise PayloadError("state must be a string", PayloadReason.BAD_TYPE)
    if state not in ("online", "offline"):
        raise PayloadError(f"state must be online or offline, not {state[:20]!r}", PayloadReason.OUT_OF_RANGE)
    wraps = doc.get("wraps", [])
    if not isinstance(wraps, list):
        raise PayloadError("wraps must be a list of wrap ids", PayloadReason.BAD_TYPE)
    t = doc.get("t")
    buffered, dropped = doc.get("buffered"), doc.get("dropped")
    return StatusMessage(
        gateway,
        "online" if state == "online" else "offline",
        None if t is None else _time(t),
        tuple(_id("wrap", w) for w in wraps),
        None if buffered is None else _count("buffered", buffered, 0, _COUNT_MAX),
        None if dropped is None else _count("dropped", dropped, 0, _COUNT_MAX),
    )


# Checks ---------------------------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise PayloadError(f"{name} is not a number JSON allows", PayloadReason.NOT_JSON)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # Two parsers could each believe a different one: refuse the ambiguity.
            raise PayloadError(f"key {key[:40]!r} given twice", PayloadReason.NOT_JSON)
        out[key] = value
    return out


def _load(payload: bytes, limit: int, keys: Mapping[int, frozenset[str]]) -> dict[str, Any]:
    if not isinstance(payload, bytes | bytearray):
        raise PayloadError("payload is not bytes", PayloadReason.NOT_JSON)
    if len(payload) > limit:
        raise PayloadError(f"payload of {len(payload)} bytes is over {limit}", PayloadReason.TOO_LARGE)
    try:
        text = bytes(payload).decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise PayloadError("payload is not UTF-8 text", PayloadReason.NOT_JSON) from None
    except RecursionError:
        raise PayloadError("payload nests too deeply", PayloadReason.NOT_JSON) from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"payload is not JSON ({exc.msg} at {exc.pos})", PayloadReason.NOT_JSON) from None
    if not isinstance(doc, dict):
        raise PayloadError("payload is not a JSON object", PayloadReason.NOT_OBJECT)
    if "v" not in doc:
        raise PayloadError("payload without a version ('v')", PayloadReason.MISSING_FIELD)
    if type(doc["v"]) is not int or doc["v"] not in keys:
        raise PayloadError(
            f"payload version {str(doc['v'])[:20]!r} is not one of {', '.join(map(str, keys))}: "
            "upgrade the ward service",
            PayloadReason.UNKNOWN_VERSION,
        )
    extra = sorted(set(doc) - keys[doc["v"]])
    if extra:
        shown = ", ".join(repr(k[:40]) for k in extra[:5])
        raise PayloadError(f"unknown field(s) {shown}", PayloadReason.UNKNOWN_FIELD)
    return doc


def _number(name: str, value: Any) -> float:
    # bool is an int in Python; in a payload ``true`` for a temperature is a bug, not 1 °C.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{name} must be a number", PayloadReason.BAD_TYPE)
    try:
        out = float(value)
    except OverflowError:  # an integer beyond any float
        raise PayloadError(f"{name} is not a finite number", PayloadReason.OUT_OF_RANGE) from None
    if not math.isfinite(out):  # 1e400 parses as inf
        raise PayloadError(f"{name} is not a finite number", PayloadReason.OUT_OF_RANGE)
    return out


def _time(value: Any) -> float:
    t = _number("t", value)
    if not _T_MIN_S <= t < _T_MAX_S:
        raise PayloadError(
            f"t = {t:.0f} is not a time between 2000 and 2100 (is the gateway's clock set?)",
            PayloadReason.OUT_OF_RANGE,
        )
    return t


def _measured(name: str, value: Any) -> float:
    x = _number(name, value)
    lo, hi = _MEASURED[name]
    if not lo <= x <= hi:
        raise PayloadError(f"{name} = {x:g} is outside {lo:g}..{hi:g}", PayloadReason.OUT_OF_RANGE)
    return x


def _count(name: str, value: Any, lo: int, hi: int) -> int:
    if type(value) is not int:
        raise PayloadError(f"{name} must be a whole number", PayloadReason.BAD_TYPE)
    if not lo <= value <= hi:
        raise PayloadError(f"{name} = {value} is outside {lo}..{hi}", PayloadReason.OUT_OF_RANGE)
    return value


def _hex(name: str, value: Any, max_bytes: int) -> bytes:
    if not isinstance(value, str):
        raise PayloadError(f"{name} must be hex text", PayloadReason.BAD_TYPE)
    if not 0 < len(value) <= 2 * max_bytes:
        raise PayloadError(f"{name} must be 1..{max_bytes} bytes of hex", PayloadReason.OUT_OF_RANGE)
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise PayloadError(f"{name} is not hex", PayloadReason.BAD_TYPE) from None


def _id(kind: str, value: Any) -> str:
    if not isinstance(value, str):
        raise PayloadError(f"{kind} id must be a string", PayloadReason.BAD_TYPE)
    try:
        return check_id(kind, value)
    except TopicError as exc:
        raise PayloadError(str(exc), PayloadReason.OUT_OF_RANGE) from None
