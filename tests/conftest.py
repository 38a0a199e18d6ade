"""Shared test options.

``--ble-adapter [NAME]`` opts in to tests that need a real Bluetooth adapter (marked
``ble_adapter``); without it they are skipped, so the suite runs on any machine and in CI.
``KMC_TEST_TIMEOUT_FACTOR`` scales every wall-clock limit of the suite (tests/timing.py): each
async test's time limit, each test's pytest-timeout limit, and the waits and latency limits inside
tests. Tests marked ``long`` (minutes on purpose: the 60 s broker outage, the hour-long soak) are left
out by ``make test`` and run by ``make test-long``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

from tests.timing import TIMEOUT_FACTOR, scaled

if TYPE_CHECKING:
    from tests.bluez import MockBluez

#: Time limit of one async test on a normal machine, in seconds.
BASE_ASYNC_TIMEOUT_S = 10.0

# Hypothesis's per-example deadline (its default, 200 ms) is a wall-clock limit like the others:
# scaled by the same factor, so a busy machine does not turn a scheduling stall into a failure.
# Tests that set their own deadline keep it.
settings.register_profile("kmc", deadline=timedelta(seconds=scaled(0.2)))
settings.load_profile("kmc")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ble-adapter",
        action="store",
        nargs="?",
        const="default",
        default=None,
        metavar="NAME",
        help="run the tests that need a real Bluetooth adapter (optionally which one, e.g. hci0)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ble_adapter: needs a real Bluetooth adapter (run with --ble-adapter)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _scale_time_limits(config, items)
    _slow_files_first(items)
    if config.getoption("--ble-adapter") is not None:
        return
    skip = pytest.mark.skip(reason="needs a real Bluetooth adapter: run with --ble-adapter [NAME]")
    for item in items:
        if "ble_adapter" in item.keywords:
            item.add_marker(skip)


def _slow_files_first(items: list[pytest.Item]) -> None:
    """Files holding a test marked ``slow`` run first, the heaviest first, each file's tests in their
    own order.

    ``make test`` hands whole files to its xdist workers in collection order (``--dist loadfile``
    with ``--no-loadscope-reorder``: xdist's own order, the files with the most tests first, put a
    two-minute browser file last and left three workers idle at the end). A long file handed out
    last keeps one worker busy while the others have finished; starting the long ones first and
    letting the many short files fill in behind them (longest first, the classic list-scheduling
    rule) shortens the run without changing any test. ``slow(seconds)`` says roughly how long a
    file's tests take on make test's busy workers, to order the slow files among themselves (a
    plain ``slow`` counts as 10 s); the figure orders, it limits nothing.
    """
    weight: dict[Path, float] = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark is not None:
            seconds = float(mark.args[0]) if mark.args else 10.0
            weight[item.path] = max(weight.get(item.path, 0.0), seconds)
    items.sort(key=lambda item: -weight.get(item.path, 0.0))  # stable: every other order is kept


def _scale_time_limits(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give each test its pytest-timeout limit (its ``timeout`` mark, else the ini ``timeout``)
    times ``KMC_TEST_TIMEOUT_FACTOR``: the closest mark wins, so one added on the item overrides
    the module's."""
    if TIMEOUT_FACTOR == 1:
        return
    default_s = float(config.getini("timeout") or 0)
    for item in items:
        mark = item.get_closest_marker("timeout")
        limit_s = float(mark.args[0]) if mark is not None and mark.args else default_s
        if limit_s > 0:
            item.add_marker(pytest.mark.timeout(scaled(limit_s)))


@pytest.fixture
def ble_adapter(request: pytest.FixtureRequest) -> str | None:
    """The adapter named by ``--ble-adapter`` (``None``: the system's default adapter)."""
    name = request.config.getoption("--ble-adapter")
    return None if name in (None, "default") else str(name)


@pytest.fixture
def async_timeout_s() -> float:
    """The time limit for one async test, scaled by ``KMC_TEST_TIMEOUT_FACTOR``."""
    return scaled(BASE_ASYNC_TIMEOUT_S)


@pytest.fixture
def bluez(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockBluez]:
    """A mocked bluetoothd (python-dbusmock's BlueZ template) on a private system bus with one
    adapter, ``hci0``; ``DBUS_SYSTEM_BUS_ADDRESS`` points at it, so bleak's own BlueZ backend talks
    to it. Imported lazily: only the BlueZ tests need dbus-python."""
    from tests.bluez import MockBluez

    mock = MockBluez()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", mock.address)
    try:
        mock.add_adapter("hci0")
        yield mock
    finally:
        mock.close()
