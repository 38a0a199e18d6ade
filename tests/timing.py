"""Real-time limits in tests, scaled by one factor, and waiting for a condition instead of sleeping.

``KMC_TEST_TIMEOUT_FACTOR`` (default 1) multiplies every wall-clock limit a test sets: how long it
waits for something to happen, a latency it asserts, an async test's time limit and pytest-timeout's
limit per test. A slow or busy machine (CI, a developer's laptop on battery; ``make test`` uses 3
for four xdist workers on two cores) raises the factor instead of each test guessing its own margin
(the habit of websockets' test suite). Limits that are clinical rules (30 s of silence is
``no_data``) are never scaled: they are the behaviour under test, not a margin.

A test that needs "at least N readings" or "every row stored" polls for it with :func:`wait_until`
rather than sleeping a fixed time and counting: it goes on as soon as the condition holds and fails
with a sentence saying what did not happen.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import pytest

__all__ = ["TIMEOUT_FACTOR", "ms", "scaled", "wait_until", "wait_until_async"]


def _factor() -> float:
    raw = os.environ.get("KMC_TEST_TIMEOUT_FACTOR", "1")
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"KMC_TEST_TIMEOUT_FACTOR must be a number such as 2; got {raw!r}") from None
    if not 0.1 <= value <= 100:
        raise pytest.UsageError(f"KMC_TEST_TIMEOUT_FACTOR must be between 0.1 and 100; got {raw!r}")
    return value


#: Read once, when the test session imports this module.
TIMEOUT_FACTOR = _factor()


def scaled(seconds: float) -> float:
    """``seconds`` of wall-clock margin on a normal machine, times ``KMC_TEST_TIMEOUT_FACTOR``."""
    return seconds * TIMEOUT_FACTOR


def ms(seconds: float) -> float:
    """:func:`scaled` in milliseconds, as Playwright takes its timeouts."""
    return scaled(seconds) * 1000.0


def wait_until(what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 0.1) -> float:
    """Poll ``check()`` until it holds; the seconds that took. Fails the test, naming ``what``, when
    it still does not hold after ``scaled(timeout_s)``."""
    limit = scaled(timeout_s)
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > limit:
            pytest.fail(f"{what}: not within {limit:g} s")
        time.sleep(every_s)
    return time.monotonic() - t0


async def wait_until_async(
    what: str, check: Callable[[], Awaitable[bool]], timeout_s: float, every_s: float = 0.1
) -> float:
    """:func:`wait_until` for a check that must be awaited (it runs on the test's event loop)."""
    limit = scaled(timeout_s)
    t0 = time.monotonic()
    while not await check():
        if time.monotonic() - t0 > limit:
            pytest.fail(f"{what}: not within {limit:g} s")
        await asyncio.sleep(every_s)
    return time.monotonic() - t0
