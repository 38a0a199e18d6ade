"""The home gateway's core: the ward's rules on the home's wraps, the alarm, and what to forward.

Why a core without a clock, a radio or a network: the same object runs a family's fortnight on a
board and a simulated week in a test (time injected by :meth:`HomeGateway.step`'s ``now_s``). It
takes verified readings (the sources run the one
:class:`~kmc_monitor.devices.protocol.verify.AdvertVerifier`),
feeds each wrap's :class:`~kmc_monitor.signal.stream.WrapStream`, and commits in one transaction
the readings, the replay counters and the outbox items they produce:

- one reading per wrap per minute (the first verified packet of each new minute), plus every
  reading while a cold or hot condition is open (the station then sees the episode at full
  resolution), each as the wrap's own sealed packet;
- a daily summary of each wrap's day, the running day at most once per ``summary_every_s`` and
  each finished day once, complete (docs/home-sync.md: a later summary of a day replaces an earlier).

After a power cut the streams are rebuilt from the readings on disk (the last three local days),
so the timer, today's total and an open cold condition come back as they were.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from kmc_monitor.devices.reading import Reading, readings_to_series
from kmc_monitor.home.store import HomeStore, Kind
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.signal.report import Alarm, AlarmKind, WrapReport
from kmc_monitor.signal.series import build_series
from kmc_monitor.signal.stream import WrapStatus, WrapStream
from kmc_monitor.station.wire import DailySummary, PairingCode, SyncReading

__all__ = ["COLD_KINDS", "HOT_KINDS", "AlarmChange", "HomeGateway", "StepResult", "rule_params"]

logger = logging.getLogger(__name__)

COLD_KINDS: Final = frozenset(
    (AlarmKind.COLD_STRESS, AlarmKind.HYPOTHERMIA_MODERATE, AlarmKind.HYPOTHERMIA_SEVERE)
)
HOT_KINDS: Final = frozenset((AlarmKind.HYPERTHERMIA,))
_TEMP_KINDS: Final = COLD_KINDS | HOT_KINDS
#: Days of readings replayed into the rules after a restart (the running day and two before it).
_REPLAY_DAYS: Final = 2
_DAY_S: Final = 86400.0


def rule_params(code: PairingCode) -> RuleParams:
    """The ward's rules with the home's time zone and the baby's daily goal."""
    return RuleParams(ward_tz=code.baby.tz, daily_goal_s=code.baby.daily_goal_s)


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """A wrap's temperature condition at home changed: ``kind`` None means it cleared."""

    wrap_id: str
    kind: AlarmKind | None
    t: float


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step stored: readings heard, readings and summaries queued, alarm changes."""

    readings: int
    queued_readings: int
    queued_days: int
    alarms: tuple[AlarmChange, ...]


class HomeGateway:
    """One home's rules, alarm state and outbox producer over a :class:`HomeStore`.

    Parameters
    ----------
    store
        The home's data file (paired already).
    summary_every_s
        The running day's summary is queued at most this often.
    keep_days
        Local readings older than this are deleted (the outbox is not: it waits for the station).
    """

    def __init__(
        self,
        store: HomeStore,
        *,
        summary_every_s: float = 3600.0,
        keep_days: float = 14.0,
        on_alarm: Callable[[AlarmChange], None] | None = None,
    ) -> None:
        code = store.pairing()
        if code is None:
            raise ValueError("the home is not paired: run 'kmc-monitor home pair CODE' first")
        self.code = code
        self.store = store
        self.params = rule_params(code)
        self.summary_every_s = summary_every_s
        self.keep_s = keep_days * _DAY_S
        self.on_alarm = on_alarm
        self.wrap_ids = tuple(w.wrap_id for w in code.wraps)
        self.counters, self._minutes = store.counters()
        self.streams: dict[str, WrapStream] = {}
        self._closed: dict[str, int] = {}
        self._alarm: dict[str, AlarmKind | None] = dict.fromkeys(self.wrap_ids)
        self._summary_t: dict[str, float] = {}
        self._unfinished: set[str] = set()
        self._pruned_t = -math.inf
        self.last_t = store.last_reading_t()
        self._restore()

    # Restart -----------------------------------------------------------------------------------
    def _restore(self) -> None:
        """Rebuild the rules from the readings on disk (vectorised: one chunk per wrap)."""
        start = -math.inf
        for wrap_id in self.wrap_ids:
            stream = WrapStream(wrap_id, self.params)
            if self.last_t is not None:
                cal = stream.calendar
                day = cal.day_of(int(self.last_t * US)) - dt.timedelta(days=_REPLAY_DAYS)
                start = cal.midnight_us(day) / US
                cols = self.store.readings_since(wrap_id, start)
                if len(cols.t):
                    stream.feed(
                        build_series(
                            wrap_id,
                            cols.t,
                            cols.skin,
                            cols.ambient,
                            cols.contact,
                            cols.battery,
                            params=self.params,
                        )
                    )
            self.streams[wrap_id] = stream
            self._closed[wrap_id] = len(stream.closed_alarms())
        if self.last_t is not None:
            logger.info(
                "home: rules rebuilt from the readings since %s", dt.datetime.fromtimestamp(start, dt.UTC)
            )

    # The step ----------------------------------------------------------------------------------
    def step(self, readings: Sequence[Reading], now_s: float) -> StepResult:
        """Apply the rules to newly heard readings and store everything they produce.

        ``readings`` are verified (sources run the AdvertVerifier); ``now_s`` is the clock of this
        step (injected). Returns what was stored; alarm changes are also passed to ``on_alarm``
        after the commit.
        """
        mine = [r for r in readings if r.wrap_id in self.streams]
        items: list[tuple[Kind, str]] = []
        counters: dict[str, int] = {}
        minutes: dict[str, int] = {}
        by_wrap: dict[str, list[Reading]] = {w: [] for w in self.wrap_ids}
        for r in mine:
            by_wrap[r.wrap_id].append(r)
        for series in readings_to_series(mine, self.params):
            self.streams[series.wrap_id].feed(series)
        queued_readings = 0
        for wrap_id, rs in by_wrap.items():
            if not rs:
                continue
            rs.sort(key=_t_of)
            picked = self._forwardable(wrap_id, rs)
            for r in picked:
                assert r.sealed is not None
                body = SyncReading(seq=1, wrap_id=wrap_id, t=r.t, sealed=r.sealed.hex(), rssi_dbm=r.rssi_dbm)
                items.append(("reading", body.model_dump_json(exclude={"seq"})))
            queued_readings += len(picked)
            if picked:
                minutes[wrap_id] = self._minutes[wrap_id] = int(picked[-1].t // 60)
            top = max((r.counter for r in rs if r.counter is not None), default=None)
            if top is not None:
                counters[wrap_id] = self.counters[wrap_id] = max(top, self.counters.get(wrap_id, top))
            self.last_t = max(self.last_t or rs[-1].t, rs[-1].t)
        days, done = self._summaries(now_s)
        items += days
        alarms = self._alarm_changes(now_s)
        try:
            self.store.commit_step(mine, items, counters, minutes, done)
            if now_s - self._pruned_t >= 3600.0:
                self._pruned_t = now_s
                self.store.prune(now_s - self.keep_s)
        finally:
            # A disk that fails must not silence the alarm: it sounds whether or not the step stored.
            for change in alarms:
                if self.on_alarm is not None:
                    self.on_alarm(change)
        return StepResult(len(mine), queued_readings, len(days), tuple(alarms))

    def _forwardable(self, wrap_id: str, rs: Sequence[Reading]) -> list[Reading]:
        """The first sealed reading of each new minute, and every one inside a temperature condition."""
        t = np.fromiter((r.t for r in rs), dtype=np.float64, count=len(rs))
        sealed = np.fromiter((r.sealed is not None for r in rs), dtype=np.bool_, count=len(rs))
        minute = np.floor(t / 60.0).astype(np.int64)
        last = self._minutes.get(wrap_id, -1)
        fresh = sealed & (minute > last)
        # first sealed reading of each minute: a change of minute among the fresh ones
        idx = np.flatnonzero(fresh)
        first = np.zeros(len(rs), dtype=np.bool_)
        if len(idx):
            m = minute[idx]
            first[idx[np.r_[True, m[1:] != m[:-1]]]] = True
        stream = self.streams[wrap_id]
        episodes = [a for a in stream.closed_alarms(self._closed[wrap_id]) if a.kind in _TEMP_KINDS]
        episodes += [a for a in stream.active_alarms() if a.kind in _TEMP_KINDS]
        self._closed[wrap_id] = len(stream.closed_alarms())
        t_us = np.round(t * US).astype(np.int64)
        during = np.zeros(len(rs), dtype=np.bool_)
        for a in episodes:  # a handful of episodes, not readings
            end = np.iinfo(np.int64).max if a.end_us is None else a.end_us
            during |= (t_us >= a.start_us) & (t_us <= end)
        keep = first | (during & sealed)
        return [rs[int(i)] for i in np.flatnonzero(keep)]

    def _alarm_changes(self, now_s: float) -> list[AlarmChange]:
        out = []
        for wrap_id, stream in self.streams.items():
            kind = next((a.kind for a in stream.active_alarms() if a.kind in COLD_KINDS), None)
            if kind != self._alarm[wrap_id]:
                self._alarm[wrap_id] = kind
                out.append(AlarmChange(wrap_id, kind, now_s))
        return out

    def _summaries(self, now_s: float) -> tuple[list[tuple[Kind, str]], list[tuple[str, str]]]:
        items: list[tuple[Kind, str]] = []
        done: list[tuple[str, str]] = []
        for wrap_id, stream in self.streams.items():
            if stream.last_us is None:
                continue
            last = self._summary_t.get(wrap_id, -math.inf)
            now_us = int(now_s * US)
            today = stream.calendar.day_of(now_us)
            due = last == -math.inf or now_s - last >= self.summary_every_s
            due = due or wrap_id in self._unfinished  # a past day not over yet at the last pass
            if not due and stream.calendar.day_of(int(last * US)) == today:
                continue
            self._unfinished.discard(wrap_id)
            self._summary_t[wrap_id] = now_s
            report = stream.report(now_us)
            already = self.store.days_done(wrap_id)
            status = stream.status(now_us)
            for d in report.days:
                iso = d.day.isoformat()
                # Over at home means over: the discharge day, begun at noon, is still a finished day.
                over = d.end_us + self.params.stale_after_us <= now_us
                if iso in already:
                    continue
                if not over and d.day != today:
                    self._unfinished.add(wrap_id)  # midnight a moment ago: finish it next step
                    continue
                summary = self._summary(stream, report, d.day, d.start_us, d.end_us, over, status)
                items.append(("day", summary.model_dump_json(exclude={"seq"})))
                if over:
                    done.append((wrap_id, iso))
        return items, done

    def _summary(
        self,
        stream: WrapStream,
        report: WrapReport,
        day: dt.date,
        lo: int,
        hi: int,
        complete: bool,
        status: WrapStatus,
    ) -> DailySummary:
        total = next(d for d in report.days if d.day == day)
        goal = stream.goal_contact_us(lo, hi)
        contact = total.contact_us if goal is None else goal

        def begun(kinds: frozenset[AlarmKind]) -> list[Alarm]:
            return [a for a in report.alarms if a.kind in kinds and lo <= a.start_us < hi]

        cold = begun(COLD_KINDS)
        coldest = min((a.extreme_c for a in cold if a.extreme_c is not None), default=None)
        return DailySummary(
            seq=1,
            wrap_id=stream.wrap_id,
            day=day,
            contact_s=min(86400.0, contact / US),
            goal_s=self.code.baby.daily_goal_s,
            # observed time includes silences (contact unknown): measured is what had readings
            measured_s=min(86400.0, max(0, total.observed_us - total.unknown_us) / US),
            cold_episodes=len(cold),
            coldest_c=None if coldest is None else min(45.0, max(20.0, coldest)),
            hot_episodes=len(begun(HOT_KINDS)),
            battery_pct=status.battery_pct,
            complete=complete,
        )

    # The family view ---------------------------------------------------------------------------
    def statuses(self, now_s: float) -> list[WrapStatus]:
        """Each wrap's live state at ``now_s`` (the family page's data)."""
        return [s.status(int(now_s * US)) for s in self.streams.values()]

    def cold_alarm(self, wrap_id: str) -> AlarmKind | None:
        """The cold condition currently sounding at home for this wrap, if any."""
        return self._alarm[wrap_id]


def _t_of(r: Reading) -> float:
    return r.t
