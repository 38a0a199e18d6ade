"""The ``kmc-monitor`` parser, built from each command's own module, and the entry point.

A command's module is imported only when it is needed: ``kmc-monitor analyze TRACE`` builds a parser
holding ``analyze`` alone, so that it does not pay for importing what ``serve``, ``gateway`` or
``home`` need (pydantic, cryptography, asyncio, the station's wire format: a few hundred
milliseconds of a short command's run). ``--help``, ``--version``, no command or an unknown one
build the whole parser, as before.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from kmc_monitor import __version__
from kmc_monitor.cli.common import Subparsers, err
from kmc_monitor.errors import KmcError

__all__ = ["build_parser", "main"]

#: The commands in the order ``--help`` lists them: name -> the module that adds its subparser
#: (``add_parser``) and runs it; ``home`` is added by :func:`kmc_monitor.home.cli.add_home_parser`.
_MODULES: dict[str, str] = {
    name: f"kmc_monitor.cli.{name}"
    for name in (
        "analyze",
        "decode",
        "scan",
        "record",
        "serve",
        "gateway",
        "check",
        "replay",
        "indicators",
        "validate",
        "credential",
        "wrap",
    )
}
_MODULES["home"] = "kmc_monitor.home.cli"


def _adder(name: str) -> Callable[[Subparsers], None]:
    module = importlib.import_module(_MODULES[name])
    add: Callable[[Subparsers], None] = module.add_home_parser if name == "home" else module.add_parser
    return add


def __getattr__(name: str) -> Any:
    """``COMMANDS``: the command modules in ``--help`` order (imported on first use)."""
    if name == "COMMANDS":
        commands: tuple[ModuleType, ...] = tuple(
            importlib.import_module(m) for n, m in _MODULES.items() if n != "home"
        )
        return commands
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``only``, of that one command alone."""
    parser = argparse.ArgumentParser(
        prog="kmc-monitor",
        description="Skin-to-skin contact timing and hypothermia alarms for Kangaroo Mother Care wraps.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _MODULES if only is None else (only,):
        _adder(name)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # A known command first: only its module is imported. Anything else (help, version, a typo)
    # gets the whole parser and argparse's usual answer.
    only = args_list[0] if args_list and args_list[0] in _MODULES else None
    args = build_parser(only).parse_args(args_list)
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
