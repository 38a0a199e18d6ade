"""``kmc-monitor decode``: BTHome advertisements or Health Thermometer measurements given in hex."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from kmc_monitor.cli.common import Subparsers, err
from kmc_monitor.errors import KmcError

__all__ = ["add_parser", "run"]


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _parse_hex(text: str) -> bytes:
    """Hex bytes as an engineer pastes them: ``4002ca09``, ``40 02 CA 09``, ``0x4002ca09``, ``40:02:ca``."""
    digits = "".join(text.split()).replace(":", "").replace("-", "")
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if not digits:
        raise ValueError("empty input: expected hex bytes such as 4002ca09")
    bad = next((c for c in digits if c not in _HEX_DIGITS), None)
    if bad is not None:
        raise ValueError(f"not hex: {bad!r} is not a hex digit")
    if len(digits) % 2:
        raise ValueError(f"odd number of hex digits ({len(digits)}): every byte is two digits")
    return bytes.fromhex(digits)


def _json_number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null (the caller says why alongside)."""
    import math

    return value if value is None or math.isfinite(value) else None


def _bthome_json(advert: Any) -> dict[str, Any]:
    from kmc_monitor.devices.protocol.bthome import OBJECT_SPECS

    objects = []
    temperatures_c = []
    for obj in advert.objects:
        unit = OBJECT_SPECS[obj.object_id].unit
        value = obj.value.hex() if isinstance(obj.value, bytes) else obj.value
        objects.append({"id": f"{obj.object_id:#04x}", "name": obj.name, "value": value, "unit": unit})
        if unit == "°C":
            temperatures_c.append(value)
    return {
        "kind": "bthome",
        "encrypted": advert.encrypted,
        "trigger_based": advert.trigger_based,
        "counter": advert.counter,
        "mac": advert.mac,
        "packet_id": advert.packet_id,
        "battery_pct": advert.battery_pct,
        "skin_temp_c": advert.skin_temp_c,
        "ambient_temp_c": advert.ambient_temp_c,
        "contact_level": advert.contact_level,
        "contact": advert.contact,
        "temperatures_c": temperatures_c,
        "objects": objects,
    }


def _hts_json(m: Any) -> dict[str, Any]:
    from kmc_monitor.devices.protocol.hts import TemperatureType

    site = m.temperature_type
    try:
        site_name = None if site is None else TemperatureType(site).name.lower()
    except ValueError:  # a reserved code: reported as a number only
        site_name = None
    return {
        "kind": "hts",
        "temperature_c": _json_number(m.temperature_c),
        "special": None if m.special is None else m.special.value,
        "fahrenheit": m.fahrenheit,
        "timestamp": None if m.timestamp is None else m.timestamp.isoformat(),
        "temperature_type": site,
        "temperature_site": site_name,
        "intermediate": m.intermediate,
    }


def _decode_inputs(args: argparse.Namespace) -> Iterator[str]:
    for item in args.payloads:
        if item == "-":
            if hasattr(sys.stdin, "reconfigure"):
                # Bytes that are not UTF-8 become U+FFFD and that line a "not hex" error, not a traceback.
                sys.stdin.reconfigure(errors="replace")
            for line in sys.stdin:
                if line.strip():
                    yield line
        else:
            yield item


def run(args: argparse.Namespace) -> int:
    from kmc_monitor.devices.errors import DecodeError
    from kmc_monitor.devices.protocol.bthome import decode_service_data, parse_key, parse_mac
    from kmc_monitor.devices.protocol.hts import decode_temperature_measurement

    if args.kind == "hts" and (args.key is not None or args.mac is not None):
        err("error: --key and --mac apply to BTHome advertisements only, not to --kind hts")
        return 2
    if args.kind == "bthome" and args.intermediate:
        err("error: --intermediate applies to --kind hts only")
        return 2
    # A badly written --key or --mac is reported against every input, so that the output keeps its
    # promise of exactly one JSON object per input, in order.
    setup_error: str | None = None
    key: bytes | None = None
    mac: bytes | None = None
    try:
        key = None if args.key is None else parse_key(args.key)
        mac = None if args.mac is None else parse_mac(args.mac)
    except KmcError as exc:
        setup_error = str(exc)
    failures = 0
    for text in _decode_inputs(args):
        doc: dict[str, Any]
        try:
            if setup_error is not None:
                raise ValueError(setup_error)
            data = _parse_hex(text)
            if args.kind == "hts":
                doc = _hts_json(decode_temperature_measurement(data, intermediate=args.intermediate))
            else:
                doc = _bthome_json(decode_service_data(data, mac=mac, key=key))
        except (DecodeError, ValueError) as exc:
            failures += 1
            doc = {"error": str(exc)}
        sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
        sys.stdout.flush()
    return 1 if failures else 0


def add_parser(sub: Subparsers) -> None:
    """The ``decode`` command's arguments."""
    decode = sub.add_parser(
        "decode",
        help="decode BTHome advertisements or Health Thermometer measurements given in hex",
        description="Decode wire-format payloads given as hex and print one JSON object per input, in "
        "order: the decoded values (temperatures in degrees Celsius, under keys ending in _c) or "
        '{"error": "..."}. Exit status 0 if every input decoded, 1 otherwise.',
    )
    decode.add_argument(
        "payloads",
        nargs="+",
        metavar="HEX",
        help="payload bytes in hex (spaces, colons or a 0x prefix allowed); "
        "'-' reads one per line from stdin",
    )
    decode.add_argument(
        "--kind",
        choices=("bthome", "hts"),
        default="bthome",
        help="bthome: BTHome v2 service data (UUID 0xFCD2), the default; hts: a Health Thermometer "
        "Temperature Measurement (0x2A1C)",
    )
    decode.add_argument("--key", metavar="HEX", help="the wrap's 16-byte BTHome key (32 hex digits)")
    decode.add_argument("--mac", metavar="MAC", help="the advertiser's MAC address, e.g. 54:48:E6:8F:80:A5")
    decode.add_argument(
        "--intermediate",
        action="store_true",
        help="with --kind hts: the payloads are Intermediate Temperature values (0x2A1E)",
    )
    decode.set_defaults(func=run)
