"""``kmc-monitor record``: what the wraps send, written as a trace file."""

from __future__ import annotations

import argparse
import contextlib
import signal
import time

from kmc_monitor import __version__
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


#: Readings are flushed to a recording at least this often (seconds of recording), so that a
#: recording cut short by Ctrl-C, a crash or a power cut keeps all but the last moments.
_RECORD_FLUSH_S = 1.0
#: A simulated recording flushes every this many simulated seconds (it runs far faster than real time).
_SIM_FLUSH_S = 60.0


def run(args: argparse.Namespace) -> int:
    import asyncio

    from kmc_monitor.devices.radio.gateway import AdapterUnavailableError

    if args.simulate is None and not args.registry:
        err("error: record needs the ward's wrap registry (--registry FILE), or --simulate N")
        return 2
    if args.seconds is not None and not args.seconds > 0:
        err("error: --seconds must be a positive number")
        return 2
    try:
        rows, stopped_by = asyncio.run(_record(args))
    except AdapterUnavailableError as exc:
        err(str(exc))
        return NO_ADAPTER_EXIT
    except OSError as exc:
        err(f"error: cannot write {args.out}: {exc.strerror or exc}")
        return 2
    if stopped_by is not None:
        err(f"recording stopped by {stopped_by.name}: {rows} reading(s) kept in {args.out}")
        return 128 + stopped_by.value
    err(f"recorded {rows} reading(s) to {args.out}")
    return 0


async def _record(args: argparse.Namespace) -> tuple[int, signal.Signals | None]:
    """Run a gateway and stream its readings into ``--out``; return the rows written and the
    signal that ended the recording (``None``: it ran its time).

    Ctrl-C (SIGINT) and SIGTERM (a service manager stopping it) end the recording between two
    flushes, through the event loop's own signal handling: the loop wakes whichever thread the
    signal reached, the last readings are drained into the file and the gateway is stopped. (The
    handlers go with the loop, which ``asyncio.run`` closes.)
    """
    import asyncio
    import math

    from kmc_monitor.devices.protocol.verify import WrapRegistry
    from kmc_monitor.devices.radio.gateway import Gateway
    from kmc_monitor.devices.trace import TraceWriter

    radio = None
    if args.simulate is not None:
        from kmc_monitor.devices.radio.backends import SimRadio
        from kmc_monitor.devices.simulation.simulator import WardSimulator

        start = sim_start(args)
        ward = WardSimulator(args.simulate, start_s=start, seed=args.seed)
        radio = SimRadio(ward)
        gateway = Gateway(
            WrapRegistry.load(args.registry) if args.registry else ward.registry(),
            clock=radio.now,
            sleep=radio.sleep,
            scanner_backend=radio.scanner_backend,
            client_backend=radio.client_backend,
            connected=[w.wrap_id for w in ward.wraps if w.mode == "connected"],
        )
        source = f"{args.simulate} simulated wrap(s), seed {args.seed}, start {number(start, 3)}"
    else:
        gateway = Gateway(WrapRegistry.load(args.registry), clock=time.time, adapter=args.adapter)
        source = f"the Bluetooth adapter {args.adapter or '(default)'}, registry {args.registry}"
    stop = asyncio.Event()
    stopped_by: signal.Signals | None = None

    def on_signal(sig: signal.Signals) -> None:
        nonlocal stopped_by
        if stopped_by is None:  # the first signal is the one that stopped it
            stopped_by = sig
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, on_signal, sig)
    await gateway.start()  # no adapter: fails here, before any file is created
    try:
        out = TraceWriter(args.out, f"recorded by kmc-monitor {__version__} from {source}")
        try:
            if radio is not None:
                end = radio.now() + (args.seconds if args.seconds is not None else 600.0)
                while radio.now() < end and not stop.is_set():
                    await radio.run_until(min(end, radio.now() + _SIM_FLUSH_S))
                    out.write(gateway.drain())
                    out.flush()
            else:
                end = math.inf if args.seconds is None else time.monotonic() + args.seconds
                while (left := end - time.monotonic()) > 0 and not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), min(_RECORD_FLUSH_S, left))
                    out.write(gateway.drain())
                    out.flush()
        finally:
            # Also after a signal or a failure: what was heard up to then is kept.
            out.write(gateway.drain())
            out.close()
    finally:
        await gateway.stop()
    return out.rows, stopped_by


def add_parser(sub: Subparsers) -> None:
    """The ``record`` command's arguments."""
    record = sub.add_parser(
        "record",
        help="record what the wraps send as a trace file",
        description="Write every verified reading heard to a trace file (trace-format.md), flushed "
        "as it goes so an interrupted recording keeps what was heard. With --simulate N the "
        "readings of N simulated wraps are recorded on an accelerated clock: a test trace for analyze.",
    )
    record.add_argument(
        "--out", required=True, metavar="TRACE.csv", help="trace file to write (.csv or .csv.gz)"
    )
    record.add_argument(
        "--seconds",
        type=positive_float,
        help="how long to record (default: until Ctrl-C; 600 simulated seconds with --simulate)",
    )
    radio_arguments(record)
    record.set_defaults(func=run)
