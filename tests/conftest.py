"""Shared test options.

``--ble-adapter [NAME]`` opts in to tests that need a real Bluetooth adapter (marked
``ble_adapter``); without it they are skipped, so the suite runs on any machine and in CI.
``KMC_TEST_TIMEOUT_FACTOR`` scales every async test's time limit (a slow CI machine raises it
instead of each test guessing its own margin).
"""

from __future__ import annotations

import os

import pytest

#: Time limit of one async test on a normal machine, in seconds.
BASE_ASYNC_TIMEOUT_S = 10.0


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
    if config.getoption("--ble-adapter") is not None:
        return
    skip = pytest.mark.skip(reason="needs a real Bluetooth adapter: run with --ble-adapter [NAME]")
    for item in items:
        if "ble_adapter" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def ble_adapter(request: pytest.FixtureRequest) -> str | None:
    """The adapter named by ``--ble-adapter`` (``None``: the system's default adapter)."""
    name = request.config.getoption("--ble-adapter")
    return None if name in (None, "default") else str(name)


@pytest.fixture
def async_timeout_s() -> float:
    """The time limit for one async test, scaled by ``KMC_TEST_TIMEOUT_FACTOR``."""
    return BASE_ASYNC_TIMEOUT_S * float(os.environ.get("KMC_TEST_TIMEOUT_FACTOR", "1"))
