"""What several commands share: the error line, argument types, number formatting, progress bars."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

__all__ = [
    "NO_ADAPTER_EXIT",
    "Subparsers",
    "broker_error",
    "err",
    "number",
    "positive_float",
    "positive_int",
    "progress_bars",
    "radio_arguments",
    "sim_start",
]

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction

#: Inputs larger than this get a progress bar (when stderr is a terminal); KMC_PROGRESS_MIN_BYTES
#: overrides it (tests use it to see the bar on a small file).
PROGRESS_MIN_BYTES = 20 * 1024 * 1024
#: Exit status when no Bluetooth adapter can be used (bad input keeps 2).
NO_ADAPTER_EXIT = 1


def err(msg: str) -> None:
    """One line on stderr, behind the program's name."""
    print(f"kmc-monitor: {msg}", file=sys.stderr)


def progress_bars(paths: Sequence[str], stream: TextIO) -> tuple[Callable[[int, int], None] | None, Any]:
    """A byte progress bar for reading, if stderr is a terminal and the input is large."""
    try:
        total = sum(os.path.getsize(p) for p in paths)
    except OSError:
        return None, None
    threshold = int(os.environ.get("KMC_PROGRESS_MIN_BYTES", PROGRESS_MIN_BYTES))
    if not stream.isatty() or total < threshold:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, desc="reading", file=stream, leave=False)

    def update(done: int, _total: int) -> None:
        bar.update(max(0, done - bar.n))

    return update, bar


def number(value: float | None, digits: int) -> str:
    """A value as short decimal text (empty when missing): ``36.8`` rather than ``36.800000``."""
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number; got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {text}")
    return value


def sim_start(args: argparse.Namespace) -> float:
    """Where a simulated ward's clock starts: ``--start``, or now (the CLI is the one place that may
    read the wall clock; everything below it is handed this time)."""
    import time

    return float(args.start) if args.start is not None else float(int(time.time()))


def radio_arguments(p: argparse.ArgumentParser) -> None:
    """Where ``scan`` and ``record`` listen: a real adapter, or a simulated ward."""
    p.add_argument("--registry", metavar="FILE", help="the ward's wrap registry (TOML or JSON)")
    p.add_argument("--adapter", metavar="NAME", help="Bluetooth adapter, e.g. hci0 (default: the system's)")
    p.add_argument(
        "--simulate",
        type=positive_int,
        metavar="N",
        help="listen to N simulated wraps instead of an adapter (simulated time runs as fast as it can)",
    )
    p.add_argument("--seed", type=int, default=0, help="with --simulate: the ward's random seed (default 0)")
    p.add_argument(
        "--start",
        type=float,
        metavar="T",
        help="with --simulate: simulated start time, seconds since the epoch (default: now); "
        "with --seed it makes the output identical on every run",
    )


def broker_error(url: str) -> str | None:
    """Why a ``--mqtt`` URL cannot be used (one line, never the password), or None."""
    from kmc_monitor.mqtt.broker import BrokerUrl, BrokerUrlError

    try:
        BrokerUrl.parse(url)
    except BrokerUrlError as exc:
        return str(exc)
    return None
