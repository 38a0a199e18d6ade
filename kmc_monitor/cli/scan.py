"""``kmc-monitor scan``: the wraps a Bluetooth adapter hears."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from kmc_monitor.cli.common import (
    NO_ADAPTER_EXIT,
    Subparsers,
    err,
    number,
    positive_float,
    radio_arguments,
    sim_start,
)

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    import asyncio

    from kmc_monitor.devices.protocol.verify import WrapRegistry
    from kmc_monitor.devices.radio.gateway import AdapterUnavailableError

    registry = WrapRegistry.load(args.registry) if args.registry else None
    try:
        heard = asyncio.run(_scan(args, registry))
    except AdapterUnavailableError as exc:
        err(str(exc))
        return NO_ADAPTER_EXIT
    if not heard:
        sys.stdout.write(f"no BTHome advertisements heard in {number(args.seconds, 1)} s\n")
        return 0
    head = ("MAC", "WRAP", "RSSI", "ADVERTS", "SKIN_C", "AMBIENT_C", "CONTACT", "BATTERY", "STATUS")
    rows = [head] + [
        (
            mac,
            h["wrap_id"] or "-",
            str(h["rssi"]),
            str(h["adverts"]),
            number(h["skin"], 2),
            number(h["ambient"], 2),
            number(h["contact"], 2),
            number(h["battery"], 0),
            h["status"],
        )
        for mac, h in sorted(heard.items(), key=lambda kv: (kv[1]["wrap_id"] or "~", kv[0]))
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n")
    return 0


async def _scan(args: argparse.Namespace, registry: Any) -> dict[str, dict[str, Any]]:
    """Listen for ``--seconds`` and return what each BTHome advertiser last sent, by MAC address."""
    import asyncio

    from kmc_monitor.devices.errors import DecodeError, MissingKey
    from kmc_monitor.devices.protocol.bthome import decode_service_data
    from kmc_monitor.devices.protocol.gatt import BTHOME_SERVICE_UUID
    from kmc_monitor.devices.protocol.verify import AdvertVerifier
    from kmc_monitor.devices.radio.gateway import start_scanner
    from kmc_monitor.devices.reading import Reading

    radio = None
    backend = None
    clock: Callable[[], float] = time.time
    if args.simulate:
        from kmc_monitor.devices.radio.backends import SimRadio
        from kmc_monitor.devices.simulation.simulator import WardSimulator

        ward = WardSimulator(args.simulate, start_s=sim_start(args), seed=args.seed)
        radio = SimRadio(ward)
        backend, clock = radio.scanner_backend, radio.now
        registry = registry or ward.registry()
    verifier = AdvertVerifier(registry) if registry is not None else None
    heard: dict[str, dict[str, Any]] = {}

    def on_advert(device: Any, adv: Any) -> None:
        data = adv.service_data.get(BTHOME_SERVICE_UUID)
        if data is None:
            return
        mac = str(device.address)
        h = heard.get(mac)
        if h is None:
            h = heard[mac] = dict.fromkeys(("wrap_id", "skin", "ambient", "contact", "battery"))
            h.update(rssi=0, adverts=0, status="")
        h["rssi"] = adv.rssi
        h["adverts"] += 1
        values: Any = None
        if verifier is not None and registry.by_mac(mac) is not None:
            result = verifier.process(mac, data, clock(), adv.rssi)
            h["wrap_id"] = registry.by_mac(mac).wrap_id
            if isinstance(result, Reading):
                values = result
                h["status"] = "ok"
            elif not h["status"]:
                h["status"] = result.reason.value
        else:
            try:
                advert = decode_service_data(data, mac=mac)
            except MissingKey:
                h["status"] = "encrypted, not in the registry"
            except DecodeError as exc:
                h["status"] = exc.reason.value
            else:
                h["status"] = "plain BTHome, not in the registry" if verifier else "plain BTHome"
                level = advert.contact_level
                values = Reading(
                    clock(),
                    "-",
                    advert.skin_temp_c,
                    advert.ambient_temp_c,
                    None if level is None else level / 100,
                    advert.battery_pct,
                )
        if values is not None:
            h["skin"], h["ambient"] = values.skin_temp_c, values.ambient_temp_c
            h["contact"], h["battery"] = values.contact, values.battery_pct

    scanner, _mode = await start_scanner(on_advert, backend=backend, adapter=args.adapter)
    try:
        if radio is not None:
            await radio.run_until(radio.now() + args.seconds)
        else:
            await asyncio.sleep(args.seconds)
    finally:
        try:
            await scanner.stop()
        except Exception:  # the adapter went away while scanning: nothing left to stop
            pass
    return heard


def add_parser(sub: Subparsers) -> None:
    """The ``scan`` command's arguments."""
    scan = sub.add_parser(
        "scan",
        help="list the wraps a Bluetooth adapter hears",
        description="Listen for BTHome advertisements and list every advertiser heard: MAC address, "
        "wrap id (with --registry), signal strength and the last values it sent. Without a usable "
        f"Bluetooth adapter: one line on stderr and exit status {NO_ADAPTER_EXIT}.",
    )
    scan.add_argument("--seconds", type=positive_float, default=10.0, help="how long to listen (default 10)")
    radio_arguments(scan)
    scan.set_defaults(func=run)
