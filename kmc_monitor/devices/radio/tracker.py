"""How often each wrap is heard, and when it has gone quiet for too long.

Wraps advertise at an interval chosen by their firmware (and stretched by lost packets, a busy
adapter or a wrap under a mother's body), so a fixed "stale after N seconds" would either flag a
slow wrap as lost all the time or notice a fast wrap's silence late. Like Home Assistant's
Bluetooth advertisement tracker, the gateway therefore *learns* each wrap's typical interval from
the advertisements it hears and calls the wrap stale after a multiple of it. Unlike that tracker,
the interval is re-learned continuously from a rolling window (a wrap whose firmware changes its
interval is followed) and is the window's median, not its maximum, so that a handful of lost
packets does not inflate it.

Pure bookkeeping: no asyncio, no clock. Every method takes the time it is asked about, so tests and
a replay at a hundred times real speed get the same answers.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["AdvertTracker", "LinkState", "ScanWatchdog", "StaleChange"]


@dataclass(frozen=True, slots=True)
class LinkState:
    """What the tracker knows about one wrap's radio link at a given time.

    Attributes
    ----------
    key
        The wrap (the gateway uses wrap ids).
    last_seen_s
        When it was last heard (seconds, the caller's clock).
    interval_s
        The learned typical interval between its advertisements; ``None`` until enough were heard.
    stale_after_s
        How long a silence makes it stale: a multiple of ``interval_s``, or the fallback.
    stale
        Whether it is stale at the time asked about.
    """

    key: str
    last_seen_s: float
    interval_s: float | None
    stale_after_s: float
    stale: bool


@dataclass(frozen=True, slots=True)
class StaleChange:
    """A wrap went stale (``stale=True``, at ``t_s``) or was heard again after being stale."""

    key: str
    t_s: float
    stale: bool


@dataclass(slots=True)
class _Link:
    last_seen_s: float
    gaps_s: deque[float]
    interval_s: float | None = None
    stale: bool = False


@dataclass(slots=True)
class AdvertTracker:
    """Learned advertising interval and stale detection per wrap.

    Parameters
    ----------
    samples_needed
        Gaps between advertisements needed before an interval is learned, and the size of the
        rolling window it is learned from (Home Assistant uses 16 advertisements as well).
    stale_multiple
        A wrap is stale once silent for this many learned intervals: enough consecutive lost
        packets that it is no longer bad luck (with 10 % loss, 6 in a row happen once in a million).
    min_stale_s
        Never stale sooner than this, so that a wrap advertising ten times a second is not flagged
        by a moment of adapter congestion.
    fallback_stale_s
        Stale threshold before the interval is learned: the clinical ``stale_after_s`` (30 s).
    min_gap_s
        Gaps shorter than this are one advertising event heard twice (BLE advertises on three
        channels within a few milliseconds), not an interval, and are not learned from. BLE's
        shortest advertising interval is 20 ms.
    """

    samples_needed: int = 16
    stale_multiple: float = 6.0
    min_stale_s: float = 5.0
    fallback_stale_s: float = 30.0
    min_gap_s: float = 0.015
    _links: dict[str, _Link] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.samples_needed < 1:
            raise ValueError("samples_needed must be at least 1")
        for name in ("stale_multiple", "min_stale_s", "fallback_stale_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive number")
        if not (math.isfinite(self.min_gap_s) and self.min_gap_s >= 0.0):
            raise ValueError("min_gap_s must be zero or positive")

    def seen(self, key: str, t_s: float) -> StaleChange | None:
        """Note an advertisement of ``key`` heard at ``t_s``.

        Returns a :class:`StaleChange` (``stale=False``) when the wrap had been stale, so the caller
        can report that it is back. An advertisement older than the last one (delivered late by a
        backend) or within ``min_gap_s`` of it updates nothing: intervals are learned from
        advertising events in time order only.
        """
        link = self._links.get(key)
        if link is None:
            self._links[key] = _Link(t_s, deque(maxlen=self.samples_needed))
            return None
        gap = t_s - link.last_seen_s
        if gap < self.min_gap_s:
            # A repeat within one advertising event (or a late delivery): the event is dated by its
            # first packet. Later packets still count once they are min_gap_s past it, so even a
            # wrap advertising faster than min_gap_s keeps being seen.
            return None
        link.gaps_s.append(gap)
        if len(link.gaps_s) >= self.samples_needed:
            link.interval_s = statistics.median(link.gaps_s)
        link.last_seen_s = t_s
        if link.stale:
            link.stale = False
            return StaleChange(key, t_s, False)
        return None

    def interval_s(self, key: str) -> float | None:
        """The learned interval of ``key``, ``None`` if unknown or not learned yet."""
        link = self._links.get(key)
        return None if link is None else link.interval_s

    def stale_after_s(self, key: str) -> float:
        """How long a silence of ``key`` has to last for it to be stale."""
        link = self._links.get(key)
        if link is None or link.interval_s is None:
            return self.fallback_stale_s
        return max(self.min_stale_s, self.stale_multiple * link.interval_s)

    def state(self, key: str, now_s: float) -> LinkState | None:
        """The link state of ``key`` at ``now_s``; ``None`` if it was never heard."""
        link = self._links.get(key)
        if link is None:
            return None
        limit = self.stale_after_s(key)
        return LinkState(key, link.last_seen_s, link.interval_s, limit, now_s - link.last_seen_s > limit)

    def states(self, now_s: float) -> Iterator[LinkState]:
        """The link state of every wrap heard so far, in the order they were first heard."""
        for key in self._links:
            state = self.state(key, now_s)
            if state is not None:
                yield state

    def check(self, now_s: float) -> list[StaleChange]:
        """Wraps that have become stale since the last check (each reported once per silence).

        The change is dated when the silence crossed the threshold, not when it was noticed, so the
        report does not depend on how often the caller checks.
        """
        changes: list[StaleChange] = []
        for key, link in self._links.items():
            if link.stale:
                continue
            limit = self.stale_after_s(key)
            if now_s - link.last_seen_s > limit:
                link.stale = True
                changes.append(StaleChange(key, link.last_seen_s + limit, True))
        return changes

    def is_stale(self, key: str, now_s: float) -> bool:
        """Whether ``key`` is stale at ``now_s`` (a wrap never heard is not tracked, so not stale)."""
        state = self.state(key, now_s)
        return state is not None and state.stale

    def forget(self, key: str) -> None:
        """Stop tracking ``key`` (a wrap taken off the ward)."""
        self._links.pop(key, None)


@dataclass(slots=True)
class ScanWatchdog:
    """Notices a scanner that has stopped delivering anything at all.

    Adapters and their drivers sometimes stop reporting advertisements without any error (a BlueZ
    discovery that silently ended, a USB dongle reset). On a ward there is always something
    advertising (the wraps themselves), so a silence from *everyone* longer than ``silence_s``
    means the scanner, not the wraps, has failed, and it should be restarted.

    Parameters
    ----------
    silence_s
        How long a silence from every device triggers a restart.
    """

    silence_s: float = 60.0
    _since_s: float | None = field(default=None, init=False, repr=False)
    restarts: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.silence_s) and self.silence_s > 0.0):
            raise ValueError("silence_s must be a positive number of seconds")

    def started(self, t_s: float) -> None:
        """The scanner (re)started at ``t_s``: the silence is counted from here."""
        self._since_s = t_s

    def heard(self, t_s: float) -> None:
        """Something was heard at ``t_s``."""
        if self._since_s is None or t_s > self._since_s:
            self._since_s = t_s

    def due(self, now_s: float) -> bool:
        """Whether the scanner has been silent long enough to be restarted."""
        return self._since_s is not None and now_s - self._since_s >= self.silence_s

    def restarted(self, t_s: float) -> None:
        """Record a restart at ``t_s``; the next one is due only after another full silence."""
        self.restarts += 1
        self._since_s = t_s

    @property
    def last_heard_s(self) -> float | None:
        """When something was last heard (or the scanner last started)."""
        return self._since_s
