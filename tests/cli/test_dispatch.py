"""The dispatcher: ``kmc-monitor``, ``python -m kmc_monitor`` and ``python -m kmc_monitor.cli`` are one
program, and every command's arguments live in the command's own module."""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kmc_monitor import __version__
from kmc_monitor.cli import main
from kmc_monitor.cli.dispatch import COMMANDS, build_parser

KMC = shutil.which("kmc-monitor", path=str(Path(sys.executable).parent)) or "kmc-monitor"
NAMES = [
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
    "home",
]


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_commands_in_their_order() -> None:
    assert list(commands(build_parser())) == NAMES


@pytest.mark.parametrize("module", COMMANDS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_command_module_owns_its_arguments(module: object) -> None:
    name = module.__name__.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
    assert importlib.import_module(f"kmc_monitor.cli.{name}") is module
    sub = argparse.ArgumentParser().add_subparsers()
    module.add_parser(sub)  # type: ignore[attr-defined]
    (parser,) = sub.choices.values()
    assert parser.get_default("func") is module.run  # type: ignore[attr-defined]


def test_the_three_ways_to_run_it_say_the_same() -> None:
    runs = [
        [KMC, "--help"],
        [sys.executable, "-m", "kmc_monitor", "--help"],
        [sys.executable, "-m", "kmc_monitor.cli", "--help"],
    ]
    outs = [subprocess.run(r, capture_output=True, text=True, timeout=60) for r in runs]
    assert all(o.returncode == 0 for o in outs)
    assert outs[0].stdout == outs[1].stdout == outs[2].stdout
    assert outs[0].stdout.startswith("usage: kmc-monitor")
    version = subprocess.run(
        [sys.executable, "-m", "kmc_monitor", "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.stdout.strip() == f"kmc-monitor {__version__}"
    bad = subprocess.run(
        [sys.executable, "-m", "kmc_monitor", "nope"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "invalid choice" in bad.stderr and "Traceback" not in bad.stderr


def test_a_plain_error_is_one_line_and_exit_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["indicators", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kmc-monitor: error:") and err.count("\n") == 1
