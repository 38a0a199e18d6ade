"""``kmc-monitor gateway``: a room gateway publishing the wraps' readings to the hospital's broker."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from kmc_monitor import __version__
from kmc_monitor.cli.common import (
    NO_ADAPTER_EXIT,
    Subparsers,
    broker_error,
    err,
    positive_float,
    positive_int,
)
from kmc_monitor.devices.trace import TraceWriter

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import math
    import signal

    from kmc_monitor.mqtt.broker import BrokerUrl
    from kmc_monitor.mqtt.buffer import Outbox
    from kmc_monitor.mqtt.publisher import GatewayPublisher, simulated_ward
    from kmc_monitor.mqtt.topics import TopicError, check_id
    from kmc_monitor.service.config import Settings
    from kmc_monitor.sources import ReadingSource

    if args.simulate is None and (
        args.seed is not None or args.wrap_prefix is not None or args.speed is not None
    ):
        err("error: --seed, --wrap-prefix and --speed are for --simulate")
        return 2
    if args.speed is not None and args.seconds is None:
        err("error: --speed needs --seconds: the simulated time it compresses, ending now")
        return 2
    if args.simulate is not None and (args.registry or args.adapter):
        err("error: --registry and --adapter are for the Bluetooth adapter, not --simulate")
        return 2
    overrides: dict[str, Any] = {}
    if args.mqtt is not None:
        problem = broker_error(args.mqtt)
        if problem is not None:
            err(f"error: {problem}")
            return 2
        overrides["mqtt_url"] = args.mqtt
    if args.site is not None:
        overrides["mqtt_site"] = args.site
    if args.outbox_rows is not None:
        overrides["mqtt_outbox_max_rows"] = args.outbox_rows
    try:
        check_id("gateway", args.gateway_id)
        if args.site is not None:
            check_id("site", args.site)
        if args.wrap_prefix:
            check_id("wrap", args.wrap_prefix + "W01")
    except TopicError as exc:
        err(f"error: {exc}")
        return 2
    settings = Settings.load(args.config, **overrides)
    if settings.mqtt_url is None:
        err("error: no broker: give --mqtt mqtt://HOST[:PORT] (or set mqtt_url / KMC_MQTT_URL)")
        return 2
    broker = BrokerUrl.parse(settings.mqtt_url.get_secret_value())
    data_dir = args.data_dir or "kmc-gateway-data"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    source: ReadingSource
    wall0 = time.time()
    # --speed X --seconds D: D simulated seconds ending now, run X times faster than the wall
    # clock; readings are stamped with their simulated times, so never ahead of the ward's clock.
    start_s = wall0 - args.seconds if args.speed is not None else wall0
    end_s = math.inf if args.seconds is None else start_s + args.seconds
    run_clock: Callable[[], float] = time.time
    if args.speed is not None:
        from kmc_monitor.sources import ReplayClock

        run_clock = ReplayClock(start_s, args.speed)

    def clock() -> float:
        return min(run_clock(), end_s)

    if args.simulate is not None:
        source = simulated_ward(
            args.simulate,
            start_s=start_s,
            seed=args.seed or 0,
            measure_s=settings.simulate_measure_s,
            prefix=args.wrap_prefix,
        )
    else:
        from kmc_monitor.mqtt.gateway_store import GatewayStore
        from kmc_monitor.sources import GatewaySource

        book = GatewayStore.in_data_dir(data_dir)
        source = GatewaySource(book, registry_file=args.registry, adapter=args.adapter, demo=False)
    outbox = Outbox.in_data_dir(data_dir, max_rows=settings.mqtt_outbox_max_rows)
    trace = None
    if args.record:
        trace = TraceWriter(
            args.record, f"kmc-monitor {__version__} gateway {args.gateway_id}: readings produced"
        )

    def produced(readings: list[Any]) -> None:
        if trace is not None:
            trace.write(readings)
            trace.flush()

    publisher = GatewayPublisher(
        source,
        outbox,
        broker,
        site=settings.mqtt_site,
        gateway_id=args.gateway_id,
        on_produced=produced,
        clock=clock,
        # With --seconds everything produced is meant to arrive: wait for the broker's PUBACKs.
        drain_s=5.0 if args.seconds is None else 120.0,
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, publisher.stop)
        if args.seconds is not None:
            loop.call_later(args.seconds / (args.speed or 1.0), publisher.stop)
        print(
            f"gateway {args.gateway_id} of site {settings.mqtt_site} publishing {len(source.wraps())} "
            f"wrap(s) to {broker} (outbox in {data_dir})",
            flush=True,
        )
        await publisher.run()

    from kmc_monitor.devices.radio.gateway import AdapterUnavailableError

    try:
        asyncio.run(run())
    except AdapterUnavailableError as exc:
        err(str(exc))
        return NO_ADAPTER_EXIT
    finally:
        left = len(outbox)
        outbox.close()
        if trace is not None:
            trace.close()
    print(
        f"gateway {args.gateway_id} stopped: {publisher.produced} reading(s) produced, "
        f"{publisher.published} published, {left} left on disk",
        flush=True,
    )
    return 0


def add_parser(sub: Subparsers) -> None:
    """The ``gateway`` command's arguments."""
    gateway = sub.add_parser(
        "gateway",
        help="run a room gateway: publish the wraps' readings to the hospital's MQTT broker",
        description="Listen to the wraps (the Bluetooth adapter, or --simulate N) and publish every "
        "verified reading to an MQTT 5 broker on kmc/SITE/GATEWAY/wrap/WRAP/reading (QoS 1), with "
        "the gateway's presence retained on kmc/SITE/GATEWAY/status (its Last Will says offline). "
        "While the broker is unreachable, readings wait on disk (bounded; the oldest are dropped "
        "past the bound, counted) and are sent in order once it is back. A bad URL or id: one "
        f"line and exit status 2; no usable Bluetooth adapter: exit status {NO_ADAPTER_EXIT}.",
    )
    gateway.add_argument("--mqtt", metavar="URL", help="the broker (default: mqtt_url of the settings)")
    gateway.add_argument(
        "--gateway-id",
        dest="gateway_id",
        required=True,
        metavar="ID",
        help="this gateway's id, unique on the site",
    )
    gateway.add_argument(
        "--site", metavar="ID", help="the ward's id in the topics (default: mqtt_site, 'ward')"
    )
    gateway.add_argument(
        "--simulate",
        type=positive_int,
        metavar="N",
        help="N simulated wraps in real time instead of the adapter",
    )
    gateway.add_argument("--seed", type=int, help="with --simulate: the simulated ward's seed (default 0)")
    gateway.add_argument(
        "--wrap-prefix",
        dest="wrap_prefix",
        metavar="TEXT",
        help="with --simulate: put TEXT before the simulated wrap ids (W01 becomes TEXTW01), so two "
        "simulated rooms have different wraps",
    )
    gateway.add_argument(
        "--speed",
        type=positive_float,
        metavar="X",
        help="with --simulate and --seconds: run the simulated ward X times faster than real time, "
        "over the --seconds of simulated time that end now (readings keep their simulated times: "
        "a backlog delivered fast, for soak tests)",
    )
    gateway.add_argument(
        "--seconds",
        type=positive_float,
        metavar="S",
        help="stop after S seconds (simulated seconds with --speed), once what was produced is sent",
    )
    gateway.add_argument("--registry", metavar="FILE", help="the wraps' registry (TOML or JSON) to import")
    gateway.add_argument(
        "--adapter", metavar="NAME", help="Bluetooth adapter, e.g. hci0 (default: the system's)"
    )
    gateway.add_argument(
        "--data-dir",
        dest="data_dir",
        help="the gateway's data directory: outbox, registry, replay counters (default kmc-gateway-data)",
    )
    gateway.add_argument(
        "--outbox-rows",
        dest="outbox_rows",
        type=positive_int,
        metavar="N",
        help="keep at most N unacknowledged readings on disk (default: mqtt_outbox_max_rows, 1000000)",
    )
    gateway.add_argument(
        "--record", metavar="TRACE.csv", help="also write every reading produced to this trace"
    )
    gateway.add_argument("--config", metavar="FILE", help="a TOML configuration file (the mqtt_* settings)")
    gateway.set_defaults(func=run)
