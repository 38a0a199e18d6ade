"""``kmc-monitor replay``: recorded traces sent into a running ward (HTTP) or broker (MQTT)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from kmc_monitor.cli.common import (
    Subparsers,
    broker_error,
    err,
    positive_float,
)

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import socket

    from kmc_monitor.replay import (
        HttpSender,
        MqttSender,
        ReplayRefused,
        ReplayUnreachable,
        TraceReplay,
        replay,
    )

    sender: HttpSender | MqttSender
    if args.to is not None:
        if args.gateway_id is not None or args.site is not None:
            err("error: --gateway-id and --site are for --mqtt")
            return 2
        token = args.token or os.environ.get("KMC_STAFF_TOKEN")
        if not token:
            err("error: --to needs a staff token: --token TOKEN (or KMC_STAFF_TOKEN)")
            return 2
        try:
            sender = HttpSender(args.to, token)
        except ReplayRefused as exc:
            err(f"error: {exc}")
            return 2
    else:
        if args.token is not None:
            err("error: --token is for --to (the broker's credentials go in the --mqtt URL)")
            return 2
        problem = broker_error(args.mqtt)
        if problem is not None:
            err(f"error: {problem}")
            return 2
        gateway_id = args.gateway_id or f"replay-{socket.gethostname().split('.')[0]}"
        sender = MqttSender(args.mqtt, site=args.site or "ward", gateway_id=gateway_id)
    # A day ahead of this machine is a clock fault (a 2096 stamp would stall the replay's pacing).
    traces = TraceReplay(args.traces, latest_us=round((time.time() + 86_400.0) * 1_000_000))
    for warning in traces.warnings:
        err(f"warning: {warning}")
    summary = traces.summary()
    if summary.invalid_readings:
        err(f"warning: {summary.invalid_readings} invalid reading(s); their bad values are sent as missing")
    if summary.first_t is None or summary.last_t is None:
        err("error: the trace(s) hold no readings to replay")
        return 2
    shift = time.time() - summary.first_t if args.retime else 0.0
    n_readings = summary.readings
    span_s = summary.last_t - summary.first_t
    wraps = list(summary.wrap_ids)
    if isinstance(sender, HttpSender):
        where = sender.url
    else:
        where = f"{sender.broker} as gateway {sender.gateway_id}"
    err(
        f"replaying {n_readings} reading(s) of {len(wraps)} wrap(s), {span_s:.0f} s of trace at "
        f"{args.speed:g}x, to {where}"
    )
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=n_readings, unit=" readings", desc="replaying", file=sys.stderr, leave=False)
    sent = 0
    interrupted = False

    async def run() -> None:
        nonlocal sent, interrupted
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            nonlocal interrupted
            interrupted = True
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)

        def advance(k: int) -> None:
            nonlocal sent
            sent += k
            if bar is not None:
                bar.update(k)

        if isinstance(sender, MqttSender):
            await sender.open(wraps)
        try:
            await replay(traces.readings(shift_s=shift), sender, args.speed, stop=stop, progress=advance)
        finally:
            await sender.close()

    started = time.monotonic()
    try:
        asyncio.run(run())
    except ReplayRefused as exc:
        err(f"error: {exc}")
        return 2
    except ReplayUnreachable as exc:
        err(f"error: {exc} (sent {sent} of {n_readings} reading(s))")
        return 1
    finally:
        if bar is not None:
            bar.close()
    took = time.monotonic() - started
    accepted = f", {sender.accepted} accepted" if isinstance(sender, HttpSender) else ""
    if interrupted:
        err(f"replay stopped: sent {sent} of {n_readings} reading(s){accepted} in {took:.1f} s")
        return 130
    err(f"replayed {sent} reading(s){accepted} in {took:.1f} s")
    return 0


def add_parser(sub: Subparsers) -> None:
    """The ``replay`` command's arguments."""
    replay_cmd = sub.add_parser(
        "replay",
        help="send recorded traces into a running ward (HTTP) or broker (MQTT)",
        description="Send the readings of trace files, in time order at --speed times their recorded "
        "pace, to a running ward service (--to URL: POST /api/readings with a staff token) or to an "
        "MQTT broker as a room gateway publishes them (--mqtt URL). Ctrl-C stops after the batch in "
        "flight and says how far it got. Bad input: one line and exit status 2; the service or "
        "broker unreachable: exit status 1.",
    )
    replay_cmd.add_argument("traces", nargs="+", metavar="TRACE", help="trace files (CSV, optionally gzip)")
    replay_to = replay_cmd.add_mutually_exclusive_group(required=True)
    replay_to.add_argument("--to", metavar="URL", help="the ward service, e.g. http://127.0.0.1:8000")
    replay_to.add_argument("--mqtt", metavar="URL", help="the broker, mqtt://[USER:PASSWORD@]HOST[:PORT]")
    replay_cmd.add_argument(
        "--speed", type=positive_float, default=1.0, help="this many times the recorded pace (default 1)"
    )
    replay_cmd.add_argument("--token", help="with --to: a staff token (default: $KMC_STAFF_TOKEN)")
    replay_cmd.add_argument(
        "--gateway-id",
        dest="gateway_id",
        metavar="ID",
        help="with --mqtt: the gateway id (default replay-HOST)",
    )
    replay_cmd.add_argument("--site", metavar="ID", help="with --mqtt: the ward's site id (default 'ward')")
    replay_cmd.add_argument(
        "--retime",
        action="store_true",
        help="shift the trace to start now (for a ward that judges readings in real time)",
    )
    replay_cmd.set_defaults(func=run)
