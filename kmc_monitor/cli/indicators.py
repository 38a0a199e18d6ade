"""``kmc-monitor indicators``: a ward's programme indicators (JSON, CSV or DHIS2 data values)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time

from kmc_monitor.cli.common import Subparsers, err

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    from kmc_monitor.programme.dhis2 import Dhis2Error, data_value_set, load_mapping, push
    from kmc_monitor.programme.indicators import Period, compute_indicators, indicators_csv
    from kmc_monitor.service.store import DB_FILENAME, Store

    db = os.path.join(args.data_dir, DB_FILENAME)
    if not os.path.isfile(db):
        err(
            f"error: no ward database in {args.data_dir} ({DB_FILENAME} not found): "
            "give the service's data directory"
        )
        return 2
    if args.period is None:
        today = dt.date.today()
        period = Period.month(today.year, today.month)
    else:
        period = Period.parse(args.period)
    as_of = time.time()
    if args.as_of is not None:
        try:
            stamp = dt.datetime.fromisoformat(args.as_of.replace("Z", "+00:00"))
        except ValueError:
            err(f"error: --as-of {args.as_of!r}: give an ISO 8601 time such as 2027-01-01T00:00Z")
            return 2
        as_of = (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp()
    if args.format == "dhis2" and args.mapping is None:
        err("error: --format dhis2 needs --mapping FILE (which indicator is which DHIS2 data element)")
        return 2
    with Store(db) as store:
        indicators = compute_indicators(store, period, ward_tz=args.tz, now=as_of)
    mapping = None
    if args.mapping is not None:
        mapping = load_mapping(args.mapping, {v.key for v in indicators.values})
    if args.format == "json":
        sys.stdout.write(indicators.model_dump_json(indent=2) + "\n")
    elif args.format == "csv":
        sys.stdout.write(indicators_csv(indicators))
    else:
        assert mapping is not None
        payload = data_value_set(indicators, mapping)
        sys.stdout.write(json.dumps(payload.json_payload(), indent=2) + "\n")
        if args.push is not None:
            password = os.environ.get("KMC_DHIS2_PASSWORD")
            if not args.dhis2_user or password is None:
                err("error: --push needs --dhis2-user NAME and the password in $KMC_DHIS2_PASSWORD")
                return 2
            try:
                summary = push(payload, args.push, args.dhis2_user, password)
            except Dhis2Error as exc:
                err(f"error: {exc}")
                return 1
            c = summary.importCount
            err(
                f"DHIS2 {summary.status}: {c.imported} imported, {c.updated} updated, {c.ignored} ignored, "
                f"{c.deleted} deleted"
            )
            if c.ignored or summary.conflicts:
                return 1
    return 0


def add_parser(sub: Subparsers) -> None:
    """The ``indicators`` command's arguments."""
    indicators = sub.add_parser(
        "indicators",
        help="programme indicators of a ward for a period (JSON, CSV or DHIS2 data values)",
        description="Work out the ward's quality indicators (docs/indicators.md) for a period from "
        "its data directory, and print them as JSON, CSV or a DHIS2 dataValueSets document "
        "(--mapping names each indicator's data element). --push sends the DHIS2 document to a "
        "server (password in $KMC_DHIS2_PASSWORD). Bad input: exit status 2; DHIS2 refused or "
        "ignored values: 1.",
    )
    indicators.add_argument(
        "--data-dir", required=True, metavar="DIR", help="the ward service's data directory"
    )
    indicators.add_argument(
        "--period",
        metavar="PERIOD",
        help="2026-12 (default: this month), 2026-12-05 or 2026-12-01..2026-12-15",
    )
    indicators.add_argument("--format", choices=("json", "csv", "dhis2"), default="json")
    indicators.add_argument("--mapping", metavar="FILE", help="the DHIS2 mapping file (YAML or JSON)")
    indicators.add_argument("--push", metavar="URL", help="with --format dhis2: the DHIS2 server to send to")
    indicators.add_argument(
        "--dhis2-user", dest="dhis2_user", metavar="NAME", help="the DHIS2 user for --push"
    )
    indicators.add_argument(
        "--tz",
        default=os.environ.get("KMC_WARD_TZ", "UTC"),
        help="the ward's IANA time zone for calendar days (default: $KMC_WARD_TZ or UTC)",
    )
    indicators.add_argument(
        "--as-of",
        dest="as_of",
        metavar="TIME",
        help="count time up to this ISO 8601 moment (default: now), for a report made again later",
    )
    indicators.set_defaults(func=run)
