"""``kmc-monitor credential``: replace the ward's staff credential."""

from __future__ import annotations

import argparse

from kmc_monitor.cli.common import Subparsers

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """``kmc-monitor credential rotate``: code in service/credential.py."""
    from kmc_monitor.service.credential import command

    return command(args, print)


def add_parser(sub: Subparsers) -> None:
    """The ``credential`` command's arguments."""
    cred_cmd = sub.add_parser(
        "credential",
        help="replace the ward's staff credential (the old one stops working at the next start)",
        description="The ward's own staff credential is made on the first start and kept hashed in "
        "the data directory. 'rotate' makes a new one, prints it once and replaces the old one: "
        "restart the service, then sign the screens in again with the new one.",
    )
    cred_cmd.add_argument("action", choices=("rotate",))
    cred_cmd.add_argument("--data-dir", dest="data_dir", help="the ward's data directory")
    cred_cmd.add_argument("--config", help="the ward's TOML configuration file")
    cred_cmd.set_defaults(func=run)
