"""``kmc-monitor wrap``: re-key a wrap, accept its restarted counter, audit, label."""

from __future__ import annotations

import argparse
import time
from typing import Any

from kmc_monitor.cli.common import Subparsers, err

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """``kmc-monitor wrap``: see its description in :func:`add_parser`."""
    import getpass

    from kmc_monitor.service.config import Settings
    from kmc_monitor.service.store import Store

    if args.action != "audit" and not args.wrap_id:
        err(f"error: wrap {args.action} needs the wrap's id")
        return 2
    if args.action == "rekey" and not args.key:
        err("error: wrap rekey needs --key HEX (32 hex digits), or --key none for a keyless wrap")
        return 2
    if args.action == "label":
        from kmc_monitor.service.wrap_label import wrap_label_command

        return wrap_label_command(args, print)
    overrides: dict[str, Any] = {} if args.data_dir is None else {"data_dir": args.data_dir}
    settings = Settings.load(args.config, **overrides)
    who = f"cli:{getpass.getuser()}"
    with Store.from_settings(settings) as store:
        if args.action == "rekey":
            key = None if args.key.lower() == "none" else args.key
            store.rekey_wrap(args.wrap_id, key, now=time.time(), who=who)
            print(f"wrap {args.wrap_id} re-keyed; its replay counter starts afresh (recorded as {who})")
        elif args.action == "reset-counter":
            before = store.reset_wrap_counter(args.wrap_id, now=time.time(), who=who)
            print(f"wrap {args.wrap_id}: counter reset (was {before}; recorded as {who})")
        else:
            for row in store.wrap_audit(args.wrap_id):
                when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["at_t"]))
                print(f"{when} {row['wrap_id']} {row['action']} by {row['who']}: {row['detail']}")
    return 0


def add_parser(sub: Subparsers) -> None:
    """The ``wrap`` command's arguments."""
    wrap_cmd = sub.add_parser(
        "wrap",
        help="re-key a wrap, or accept its restarted counter after a re-flash (audited)",
        description="Change a registered wrap in the ward's database, recording who did it in the "
        "wrap audit log: 'rekey WRAP --key HEX' after re-provisioning (its counter restarts), "
        "'reset-counter WRAP' after a re-flash restarted its counter (only once an engineer has "
        "checked the wrap itself was reset: a lower counter is otherwise a replay), 'audit' lists "
        "what was done. For a ward service that is running, use its API (POST "
        "/api/wraps/WRAP/key, /api/wraps/WRAP/counter-reset) so that it takes effect at once.",
    )
    wrap_cmd.add_argument("action", choices=("rekey", "reset-counter", "audit", "label"))
    wrap_cmd.add_argument("wrap_id", nargs="?", metavar="WRAP", help="the wrap's id")
    wrap_cmd.add_argument("--key", metavar="HEX", help="rekey: the new key, 32 hex digits ('none': keyless)")
    wrap_cmd.add_argument("--data-dir", dest="data_dir", help="the ward's data directory")
    wrap_cmd.add_argument("--mac", help="label: the wrap's MAC (a wrap not registered yet)")
    wrap_cmd.add_argument(
        "--out", metavar="FILE.svg", help="label: where the QR code goes (default WRAP-label.svg)"
    )
    wrap_cmd.add_argument("--config", help="the ward's TOML configuration file")
    wrap_cmd.set_defaults(func=run)
