"""The ``kmc-monitor`` parser, built from each command's own module, and the entry point."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from kmc_monitor import __version__
from kmc_monitor.cli import (
    analyze,
    check,
    credential,
    decode,
    gateway,
    indicators,
    record,
    replay,
    scan,
    serve,
    validate,
    wrap,
)
from kmc_monitor.cli.common import err
from kmc_monitor.errors import KmcError

__all__ = ["build_parser", "main"]

#: The commands in the order ``--help`` lists them; each module adds its own subparser.
COMMANDS = (
    analyze, decode, scan, record, serve, gateway, check, replay, indicators, validate, credential, wrap
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kmc-monitor",
        description="Skin-to-skin contact timing and hypothermia alarms for Kangaroo Mother Care wraps.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    from kmc_monitor.home.cli import add_home_parser  # the home gateway (issue 17)

    add_home_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
        return code
    except KmcError as exc:
        err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
