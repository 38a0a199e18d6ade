"""``kmc-monitor home pair`` and ``kmc-monitor home run`` (registered by ``kmc_monitor/cli/dispatch.py``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from kmc_monitor.home.pairing import PairingError, decode_pairing

__all__ = ["add_home_parser"]


def _cmd_pair(args: argparse.Namespace) -> int:
    from kmc_monitor.home.store import HomeStore

    source = Path(args.code)
    try:
        is_file = source.is_file()
    except OSError:  # a long code is no file name (ENAMETOOLONG): it is the code itself
        is_file = False
    try:
        text = source.read_text(encoding="utf-8") if is_file else args.code
    except (OSError, UnicodeDecodeError) as exc:
        # The path only, never the text: a code holds the home's secret token.
        raise PairingError(f"cannot read the pairing code file {source}: {exc.__class__.__name__}") from None
    code = decode_pairing(text)
    store = HomeStore(args.data_dir)
    try:
        store.set_pairing(code)
    finally:
        store.close()
    wraps = ", ".join(w.wrap_id for w in code.wraps)
    sys.stdout.write(f"paired: home {code.home_id} ({code.baby.display_name}), wrap(s) {wraps}\n")
    sys.stdout.write(f"station: {code.station_url}\n")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from kmc_monitor.home.runner import HomeOptions, run_home

    if not args.simulate and (args.simulate_from is not None or args.simulate_speed is not None):
        sys.stderr.write("error: --simulate-from and --simulate-speed are for --simulate\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    opts = HomeOptions(
        data_dir=Path(args.data_dir),
        host=args.host,
        port=args.port,
        simulate=args.simulate,
        simulate_from=args.simulate_from,
        simulate_speed=args.simulate_speed or 1.0,
        seed=args.seed,
        adapter=args.adapter,
        alarm_command=args.alarm_command,
        sync_every_s=args.sync_every,
        tick_s=args.tick,
        keep_days=args.keep_days,
    )
    return asyncio.run(run_home(opts))


def add_home_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``home`` with its ``pair`` and ``run`` subcommands."""
    home = sub.add_parser(
        "home",
        help="the home gateway: one wrap (or twins) at home after discharge, forwarding to the station",
        description="Run a home gateway on a small board in the family's home (docs/home.md): pair it "
        "once with the code printed at discharge, then run it; it serves the family page on the home "
        "network and forwards to the health station whenever a network appears.",
    )
    cmds = home.add_subparsers(dest="home_command", required=True, metavar="ACTION")
    pair = cmds.add_parser("pair", help="pair this board from the discharge pairing code")
    pair.add_argument("code", metavar="CODE", help="the pairing code (QR text or JSON), or a file holding it")
    pair.add_argument("--data-dir", required=True, help="where the home gateway keeps its data")
    pair.set_defaults(func=_cmd_pair)
    run = cmds.add_parser("run", help="run the home gateway (until stopped)")
    run.add_argument("--data-dir", required=True, help="the paired data directory")
    src = run.add_mutually_exclusive_group()
    src.add_argument("--simulate", action="store_true", help="simulated wraps (demo, tests)")
    src.add_argument("--ble", action="store_true", help="the board's Bluetooth adapter (the default)")
    run.add_argument("--adapter", help="BlueZ adapter (hci0); default: the system's")
    run.add_argument("--host", default="0.0.0.0", help="address of the family page (default 0.0.0.0)")
    run.add_argument("--port", type=int, default=8080, help="port of the family page (default 8080; 0: any)")
    run.add_argument("--alarm-command", help="run 'CMD cold WRAP KIND' / 'CMD clear WRAP' (a buzzer)")
    run.add_argument("--sync-every", type=float, default=60.0, help="seconds between syncs (default 60)")
    run.add_argument("--keep-days", type=float, default=14.0, help="local readings kept (default 14 days)")
    run.add_argument("--tick", type=float, default=5.0, help="seconds between rule steps (default 5)")
    run.add_argument("--seed", type=int, default=0, help="--simulate: the simulated baby's seed")
    run.add_argument("--simulate-from", type=float, help="--simulate: start at this Unix time")
    run.add_argument("--simulate-speed", type=float, help="--simulate: run this many times faster")
    run.set_defaults(func=_cmd_run)
