"""``kmc-monitor serve``: the ward service (web API and WebSocket streams)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kmc_monitor.cli.common import (
    NO_ADAPTER_EXIT,
    Subparsers,
    broker_error,
    err,
    positive_float,
    positive_int,
)

if TYPE_CHECKING:
    from kmc_monitor.mqtt.subscriber import MqttSource

__all__ = ["add_parser", "run"]


#: How long ``serve`` waits for a Bluetooth adapter to start scanning before deciding it has none.
_PROBE_S = 2.0


def _probe_adapter(adapter: str | None) -> str | None:
    """Whether a Bluetooth adapter can scan: ``None`` if it can, else one line saying why not.

    The probe starts and stops a scanner, bounded by :data:`_PROBE_S`: without BlueZ it fails at
    once; an adapter that hangs (a wedged USB dongle) must not hold up the ward's start either.
    """
    import asyncio
    import contextlib

    from kmc_monitor.devices.radio.gateway import AdapterUnavailableError, start_scanner

    async def probe() -> None:
        scanner, _mode = await asyncio.wait_for(
            start_scanner(lambda _device, _adv: None, adapter=adapter), _PROBE_S
        )
        with contextlib.suppress(Exception):
            await scanner.stop()

    try:
        asyncio.run(probe())
    except AdapterUnavailableError as exc:
        return str(exc)
    except TimeoutError:
        where = f" {adapter}" if adapter else ""
        return f"the Bluetooth adapter{where} did not start scanning within {_PROBE_S:g} s"
    return None


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from kmc_monitor.service.app import create_app
    from kmc_monitor.service.auth import install_log_redaction
    from kmc_monitor.service.config import Settings
    from kmc_monitor.service.connections import guarded_h11
    from kmc_monitor.service.runtime import WardRuntime
    from kmc_monitor.service.wrap_book import WardWrapBook
    from kmc_monitor.sources import (
        DEFAULT_SIMULATED_WRAPS,
        GatewaySource,
        ReadingSource,
        ReplayClock,
        ReplaySource,
        simulated_source,
    )

    ble = args.ble or args.ble_simulated is not None
    if ble and args.speed != 1.0:
        err("error: --speed is for --simulate and --replay: a radio runs in real time")
        return 2
    if (args.registry or args.adapter) and (args.simulate or args.replay or args.ble_simulated or args.mqtt):
        err("error: --registry and --adapter are for the Bluetooth adapter (--ble, or no source named)")
        return 2
    if args.mqtt is not None and args.speed != 1.0:
        err("error: --speed is for --simulate and --replay: a broker's readings come in real time")
        return 2
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.mqtt is not None:
        problem = broker_error(args.mqtt)
        if problem is not None:
            err(f"error: {problem}")
            return 2
        overrides["mqtt_url"] = args.mqtt
    if args.hl7 is not None:
        from kmc_monitor.service.mllp import MllpError, MllpUrl

        try:
            MllpUrl.parse(args.hl7)
        except MllpError as exc:
            err(f"error: {exc}")
            return 2
        overrides["hl7_url"] = args.hl7
    settings = Settings.load(args.config, **overrides)
    demo_token: str | None = None
    if not settings.all_staff_tokens:
        # The ward's own staff credential, kept hashed in the data directory across restarts
        # (made on the first start and shown once below; service/credential.py).
        from kmc_monitor.service import credential

        _, demo_token = credential.ensure(settings.data_dir)
    # JSON logs (--log-format json, or KMC_LOG_FORMAT=json): configured before
    # anything below says something, so every line on stderr is one JSON object.
    log_format = args.log_format or settings.log_format
    log_config: dict[str, Any] | None = None
    if log_format == "json":
        import logging.config

        from kmc_monitor.service.jsonlog import json_log_config

        log_config = json_log_config()
        logging.config.dictConfig(log_config)

    def say(msg: str, level: int = logging.INFO) -> None:
        """A notice on stderr: a plain line, or a JSON log line with --log-format json."""
        if log_config is None:
            err(msg)
        else:
            logging.getLogger("kmc_monitor.serve").log(level, msg)

    named = args.simulate or args.replay or ble or args.station
    mqtt = args.mqtt is not None or (not named and settings.mqtt_url is not None and args.speed == 1.0)
    if mqtt:
        if not settings.mqtt_gateways and not settings.mqtt_allow_unsealed:
            say(
                "error: serve --mqtt needs the ward's room gateways: set KMC_MQTT_GATEWAYS=room-1,room-2 "
                "(mqtt_gateways in the configuration file); readings of other gateway ids are refused",
                logging.ERROR,
            )
            return 2
        # A hospital ward: its room gateways publish to the broker (a configured broker wins over
        # the adapter probe when no source is named).
        runtime = WardRuntime(settings, source=_mqtt_source(settings, say))
    elif args.ble or (not named and not settings.simulate and args.speed == 1.0):
        # A ward with a Bluetooth adapter listens to it; without one, --ble is an error and a
        # command that named no source runs the simulated ward instead (a laptop demo).
        why = _probe_adapter(args.adapter)
        if why is None:
            ble = True
        elif args.ble:
            say(why, logging.ERROR)
            return NO_ADAPTER_EXIT
        else:
            n = settings.simulate or DEFAULT_SIMULATED_WRAPS
            say(f"{why}; running a simulated ward of {n} wraps instead", logging.WARNING)
    if args.station:
        # issue-17b: a health station with no live ward of its own (the station routes and page run
        # on every service; here nothing else does).
        from kmc_monitor.station.service import NoWard

        runtime = WardRuntime(settings, source=NoWard())
        say("running a health station with no live ward")
    elif mqtt:
        pass
    elif ble:
        if args.ble_simulated is not None:
            book = WardWrapBook.in_data_dir(settings.data_dir)
            gateway: ReadingSource = GatewaySource.simulated(args.ble_simulated, book)
            say(f"listening to {args.ble_simulated} simulated wrap(s) through the Bluetooth gateway")
        else:
            book = WardWrapBook.in_data_dir(settings.data_dir)
            gateway = GatewaySource(book, registry_file=args.registry, adapter=args.adapter)
            n_wraps = len(gateway.wraps())
            say(
                f"listening to {n_wraps} registered wrap(s) on the Bluetooth adapter "
                f"{args.adapter or '(default)'}"
                + ("" if n_wraps else ": none registered, give the ward's registry with --registry FILE")
            )
        runtime = WardRuntime(settings, source=gateway)
    elif args.replay:
        source = ReplaySource(args.replay, settings.rule_params())
        clock = ReplayClock(source.start_s, args.speed)
        runtime = WardRuntime(settings, source=source, clock=clock)
    else:
        n = args.simulate or settings.simulate
        if args.speed != 1.0:
            clock = ReplayClock(time.time(), args.speed)
            runtime = WardRuntime(
                settings,
                source=simulated_source(n, start_s=clock(), measure_s=settings.simulate_measure_s),
                clock=clock,
            )
        else:
            runtime = WardRuntime(
                settings,
                source=simulated_source(n, start_s=time.time(), measure_s=settings.simulate_measure_s),
            )
    if args.new_ward and runtime.source is not None:
        # Simulated wraps on a ward set up as a real one: empty beds and the first-run page.
        runtime.source.demo = False
    app = create_app(settings, runtime=runtime)
    # permessage-deflate off: it compresses every message again for every connection (the hub
    # encodes each message once, and the updates are small deltas on a ward's LAN), which costs the
    # service CPU per screen and delays the screens served last.
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        lifespan="on",
        ws_per_message_deflate=False,
        # The streams only send: a client has nothing to say beyond a close, so a frame of more
        # than 64 KiB is refused (1009) before it is buffered.
        ws_max_size=64 * 1024,
        # Slow or idle connections cannot hold the sockets a ward screen needs (docs/security.md).
        http=guarded_h11(
            header_timeout_s=settings.header_timeout_s, max_connections=settings.max_connections
        ),
        timeout_keep_alive=int(max(1, round(settings.keep_alive_s))),
        limit_concurrency=settings.max_connections,
        h11_max_incomplete_event_size=16 * 1024,
        ssl_certfile=None if settings.tls_certfile is None else str(settings.tls_certfile),
        ssl_keyfile=None if settings.tls_keyfile is None else str(settings.tls_keyfile),
        log_config=LOGGING_CONFIG if log_config is None else log_config,
    )
    server = uvicorn.Server(config)
    install_log_redaction()

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            port = settings.port
            for s in server.servers:
                for sock in s.sockets:
                    port = sock.getsockname()[1]
            host = f"[{settings.host}]" if ":" in settings.host else settings.host
            scheme = "http" if settings.tls_certfile is None else "https"
            base = f"{scheme}://{host}:{port}"
            print(f"ward service listening on {base}", flush=True)
            from kmc_monitor.service import firstrun
            from kmc_monitor.service.credential import announce

            if settings.public_url is None:
                # The bound port, not the "0" that asked for any; the LAN address on 0.0.0.0.
                base = firstrun.public_base(settings.host, port, public_url=None, tls=scheme == "https")
                runtime.set_base_url(base)
                print(f"links and QR codes point to {base}", flush=True)
            warning = firstrun.loopback_warning(settings.host, settings.public_url)
            if warning is not None:
                say(f"WARNING: {warning}", logging.WARNING)
            if demo_token is not None:
                # On the console (stdout), never in the log (stderr may go to a log collector).
                print(announce(demo_token, base, settings.data_dir), flush=True)
                print(f"ward screen: {base}/ward?token={demo_token}", flush=True)
                print(f"health station: {base}/station?token={demo_token}", flush=True)
            elif not settings.all_staff_tokens:
                say(f"staff credential: kept in {settings.data_dir} (replace: kmc-monitor credential rotate)")
            link = next(iter(runtime.family_links.values()), None)
            demo = runtime.source is None or runtime.source.demo
            if link is None and demo and runtime.ward.current_admissions():
                # Family tokens are kept hashed, so a restarted service has none to show. A demo
                # ward makes bed 1 a fresh one; a real ward never does (it would cut off a parent's
                # open page): the nurse prints a new link from the bed's page when one is needed.
                adm = runtime.ward.current_admissions()[0]
                link = runtime.renew_family_link_now(adm.admission_id, "serve")
            if link is not None:
                token = link.url.rsplit("#", 1)[-1]
                print(f"bedside link: {base}/family#{token}", flush=True)
            elif runtime.ward.current_admissions():
                print(f"bedside links: print a new one from a bed's page ({base}/bed/<bed>)", flush=True)
        await task

    asyncio.run(run())
    return 0


def _mqtt_source(settings: Any, say: Callable[[str], None] = err) -> MqttSource:
    """The ward's MQTT source as the settings describe it; says on stderr where it subscribes."""
    from kmc_monitor.mqtt.broker import BrokerUrl
    from kmc_monitor.mqtt.subscriber import MqttSource

    broker = BrokerUrl.parse(settings.mqtt_url.get_secret_value())
    say(f"subscribing to the gateways of site {settings.mqtt_site} on broker {broker}")
    return MqttSource(
        broker,
        site=settings.mqtt_site,
        client_id=settings.mqtt_client_id,
        share_group=settings.mqtt_share_group or None,
        session_expiry_s=settings.mqtt_session_expiry_s,
        gateways=settings.mqtt_gateways or None,
        allow_unsealed=settings.mqtt_allow_unsealed,
    )


def add_parser(sub: Subparsers) -> None:
    """The ``serve`` command's arguments."""
    serve = sub.add_parser(
        "serve",
        help="run the ward service (web API and WebSocket streams)",
        description="Run the ward service. Its readings come from the Bluetooth adapter (--ble), "
        "simulated wraps (--simulate N, a demo ward with a baby admitted per wrap) or recorded "
        "traces (--replay). With none of these named, it uses the Bluetooth adapter if one can "
        "scan and otherwise says why on stderr and runs 12 simulated wraps. With --ble and no "
        f"usable adapter: one line on stderr and exit status {NO_ADAPTER_EXIT}. Without a "
        "configured staff token it uses the ward's own credential, kept hashed in the data directory "
        "(made and printed once, on the first start; 'kmc-monitor credential rotate' replaces it). "
        "Listens on 127.0.0.1 unless --host says otherwise.",
    )
    sources = serve.add_mutually_exclusive_group()
    sources.add_argument("--simulate", type=positive_int, metavar="N", help="N simulated wraps (default 12)")
    sources.add_argument("--replay", nargs="+", metavar="TRACE", help="replay recorded trace files instead")
    sources.add_argument(
        "--ble",
        action="store_true",
        help="listen to the wraps on the Bluetooth adapter: the wraps registered in the data "
        "directory (and --registry); a new ward starts with empty beds",
    )
    sources.add_argument(
        "--ble-simulated",
        dest="ble_simulated",
        type=positive_int,
        metavar="N",
        help="for engineers and tests: N simulated wraps on a simulated radio, in real time, heard "
        "through the same Bluetooth gateway as --ble (encryption, verification, replay counters); "
        "a new ward admits a baby per wrap, as with --simulate",
    )
    sources.add_argument(
        "--station",
        action="store_true",
        help="a health station with no live ward of its own: the babies at home in its care, their "
        "home gateways' sync, visits (its page is /station; every ward service runs one too)",
    )
    sources.add_argument(
        "--mqtt",
        metavar="URL",
        help="a hospital ward: subscribe to the room gateways' readings on this MQTT 5 broker "
        "(mqtt://[USER:PASSWORD@]HOST[:PORT], mqtts:// for TLS); a new ward starts with empty beds, "
        "and wraps heard appear as unassigned until staff register them and put them on a bed",
    )
    serve.add_argument(
        "--hl7",
        metavar="URL",
        help="send IHE PCD-01 observations and PCD-04 alarms as HL7 v2.6 to the hospital's interface "
        "engine at mllp://HOST:PORT (a durable queue keeps them while it is away; see docs/hl7.md)",
    )
    serve.add_argument(
        "--adapter", metavar="NAME", help="Bluetooth adapter, e.g. hci0 (default: the system's)"
    )
    serve.add_argument(
        "--registry",
        metavar="FILE",
        help="the ward's wrap registry (TOML or JSON): its wraps are added to the data directory's",
    )
    serve.add_argument(
        "--speed", type=positive_float, default=1.0, help="time runs this many times faster (default 1)"
    )
    serve.add_argument(
        "--new-ward",
        dest="new_ward",
        action="store_true",
        help="with --simulate: set up a fresh data directory as a real ward (empty beds, the "
        "first-run page, the simulated wraps registered but on no bed) to try a ward's first day",
    )
    serve.add_argument(
        "--host", help="interface to listen on (default 127.0.0.1; 0.0.0.0 for phones and screens on the LAN)"
    )
    serve.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--data-dir", dest="data_dir", help="where the ward's database lives")
    serve.add_argument("--config", metavar="FILE", help="the service's TOML configuration file")
    serve.add_argument(
        "--log-format",
        dest="log_format",
        choices=("text", "json"),
        help="text (default) or json: one JSON object per line on stderr, for a log collector",
    )
    serve.set_defaults(func=run)
