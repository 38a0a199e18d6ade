"""The ward's clock in tests: a time the test sets, handed to the runtime as its clock.

The service never reads the wall clock itself (time is injected), so a test steps a ward by setting
``clock.t`` and a day replays in seconds. One class for every test that needs it.
"""

from __future__ import annotations

__all__ = ["Clock"]


class Clock:
    """The ward's time in seconds since the Unix epoch, set (or advanced) by the test."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        """Move the time on by ``seconds`` and return the new time."""
        self.t += seconds
        return self.t
