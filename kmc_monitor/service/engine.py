"""The live engine: readings from any source in, alarm conditions and ward tiles out.

Every source (BLE gateway, simulator, replay, MQTT) hands :meth:`LiveEngine.ingest` the same
:class:`~kmc_monitor.devices.reading.Reading`; a timer calls :meth:`LiveEngine.tick` with the time.
The engine runs one :class:`~kmc_monitor.signal.stream.WrapStream` per assigned wrap — the same code
the offline ``analyze`` runs — and turns the streams' alarm conditions into the
:class:`~kmc_monitor.service.alarms.AlarmBoard`'s lifecycle. It owns no clock, no task and no I/O
of its own, and never touches the store (sans-I/O, as websockets' protocol core): the ward's
layout comes in as a :class:`Layout`, readings and time as arguments; out come alarm events, the
tiles that changed and a :class:`Persist` batch saying what to write (accepted readings from each
:meth:`LiveEngine.tick`; sessions, the board with its audit lines and each wrap's
:class:`StreamCheckpoint` from :meth:`LiveEngine.checkpoint`). The runtime writes them
(``service/persistence.py``) and decides what a refused write means (``service/storage_health.py``).
A restart restores each wrap from its checkpoint and feeds only the readings stored after it
(:meth:`LiveEngine.restore`), so it takes as long as the last minute of readings, not the last day.

Decisions worth knowing:

- **Reorder window.** Radio and MQTT deliver slightly out of order; the rules need time order. A
  reading is held until ``now - reorder`` (2 s by default) and then fed in order, so any delivery
  order inside the window gives exactly the batch answer. A reading at or before what was already
  fed is ``late`` and dropped (it is not stored either, so a replay after a crash sees exactly what
  the live engine saw); a second reading with the same ``(wrap_id, t)`` is a ``duplicate``.
- **Condition keys** are ``(wrap_id, kind, start_us)`` with the stream's start time, so a replay
  re-derives the same keys and the board's idempotence does the reconciling.
- **Board time never runs back.** A condition's stream time is usually a little in the past (the
  reorder window); the board acts at ``max(condition time, last board time)``, which is the moment
  the ward could first know. The key keeps the exact stream start time.
- **Only assigned wraps are judged.** A spare wrap on a shelf or a charger would otherwise raise
  cold and no-data alarms nobody can act on; unassigned wraps are listed with their last-heard time.
  A wrap moved to another bed or admission gets a fresh stream and trend: one baby's history never
  shows on another's tile; its open conditions end at that moment.
- **No data** is judged at the fed horizon (``now - reorder``), so a reading merely waiting in the
  reorder window never raises a phantom ``no_data``.
- **A lost source** (:meth:`LiveEngine.mark_silent`: an MQTT gateway's Last Will) makes its wraps'
  tiles say "no data" at once, as a silent wrap's do after ``stale_after``: a tile must not keep
  showing a reassuring value from a gateway known to be dead. The rules are not touched: the
  ``no_data`` alarm, timers and totals keep the clinical clock (``no_data`` starts
  ``stale_after`` after the last reading), so a replay of the stored readings gives the same alarms.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import math
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.alarms import AlarmBoard, AlarmEvent, AuditRecord, BoardSnapshot, ConditionKey
from kmc_monitor.service.engine_model import (
    BedAlarm,
    BedView,
    Layout,
    Persist,
    SessionUpdate,
    StreamCheckpoint,
    TickResult,
    TrendBin,
    UnassignedWrap,
)
from kmc_monitor.service.trend import Trend
from kmc_monitor.service.ward_model import Admission, Bed, KmcMode
from kmc_monitor.signal.calendar import DayCalendar
from kmc_monitor.signal.params import US, RuleParams, celsius_to_mc, seconds_to_us
from kmc_monitor.signal.report import Alarm, AlarmKind, Session
from kmc_monitor.signal.series import build_series
from kmc_monitor.signal.states import Judging, SessionState
from kmc_monitor.signal.stream import WrapStream

__all__ = [
    "BedAlarm",
    "BedView",
    "Layout",
    "LiveEngine",
    "Persist",
    "SessionUpdate",
    "StreamCheckpoint",
    "TickResult",
    "TrendBin",
    "UnassignedWrap",
]

logger = logging.getLogger(__name__)

_Cond = tuple[AlarmKind, int]


@dataclass(slots=True)
class _Wrap:
    """The engine's state for one wrap heard or assigned."""

    wrap_id: str
    pending: dict[int, Reading] = field(default_factory=dict)
    released_us: int | None = None
    last_heard_us: int | None = None
    rssi_dbm: float | None = None
    bed_id: str | None = None
    admission_id: int | None = None
    stream: WrapStream | None = None
    trend: Trend | None = None
    known: set[_Cond] = field(default_factory=set)
    closed_seen: int = 0
    #: After a restore: closed episodes that started before the saved board's clock were already
    #: handled by that board (or forgotten on purpose); they are not raised again.
    handled_before_us: int | None = None
    #: Readings before the current admission belong to no baby of this bed: the stream never sees
    #: them, live or on restore, so a restored stream is fed exactly what the live one was.
    from_us: int | None = None
    #: ``low_daily_contact`` changes only at midnight: the ward-local day it was last worked out
    #: for, and the answer.
    daily_day: dt.date | None = None
    daily: list[Alarm] = field(default_factory=list)
    #: Sessions already saved: how many closed ones, and the open one as last saved.
    sessions_saved: int = 0
    open_saved: Session | None = None
    #: Set by :meth:`LiveEngine.mark_silent`: the newest reading time known when the wrap's source
    #: was lost. Its tile shows "no data" until a later reading is fed.
    silent_through_us: int | None = None


class LiveEngine:
    """One ward's live processing: reorder, rules, alarm lifecycle, tiles and chart trends.

    Parameters
    ----------
    layout
        The ward: beds, current admissions (site offset, daily goal) and wrap assignments. Given at
        construction and to :meth:`relayout` (after every admit, discharge or (re)assignment).
    params
        The ward's clinical rule parameters.
    board
        The alarm board (a fresh one by default; :meth:`restore` replaces it with the saved one).
    reorder_s
        How long a reading is held to put out-of-order deliveries in order.
    trend_bin_s, trend_span_s
        Chart resolution and span (1-minute bins over 24 h by default).
    status_every_s
        A tile is recomputed when its wrap's readings are fed or an alarm of its bed changes, and
        otherwise once it is this old (timers, no data). Each bed keeps its own age, so with ticks
        more frequent than this the recomputation spreads over them instead of landing on one.
    """

    def __init__(
        self,
        layout: Layout,
        params: RuleParams | None = None,
        *,
        board: AlarmBoard | None = None,
        reorder_s: float = 2.0,
        trend_bin_s: float = 60.0,
        trend_span_s: float = 86_400.0,
        status_every_s: float = 1.0,
        max_clock_lead_s: float = 300.0,
    ) -> None:
        if not (math.isfinite(reorder_s) and reorder_s >= 0):
            raise ValueError("reorder_s must be a non-negative number of seconds")
        if not (trend_bin_s > 0 and trend_span_s >= trend_bin_s):
            raise ValueError("need trend_bin_s > 0 and trend_span_s >= trend_bin_s")
        self.layout = layout
        self.params = params or RuleParams()
        self.board = board or AlarmBoard()
        self.reorder_us = seconds_to_us(reorder_s)
        self.max_clock_lead_us = seconds_to_us(max_clock_lead_s)
        self._bin_us = seconds_to_us(trend_bin_s)
        self._span_us = seconds_to_us(trend_span_s)
        self._status_every_us = seconds_to_us(status_every_s)
        self._calendar = DayCalendar(self.params.ward_tz)
        self._wraps: dict[str, _Wrap] = {}
        self._due: set[str] = set()
        #: Wraps marked silent since the last tick: their tiles are recomputed at the next one.
        self._marked: set[str] = set()
        self._to_write: list[Reading] = []
        self._board_clock: int | None = None
        self._last_full_us: int | None = None
        #: When each bed's tile was last recomputed.
        self._view_us: dict[str, int] = {}
        self._views: dict[str, BedView] = {}
        self._beds: list[Bed] = []
        self._admissions: dict[str, Admission] = {}
        self._bed_of: dict[str, str] = {}
        #: The same assignments by bed (a tile looks its wrap up at every recompute).
        self._wrap_on: dict[str, str] = {}
        self.late = 0
        self.duplicates = 0
        self.invalid_time = 0
        #: Readings stamped before 2015 or too far ahead of the ward's clock (clinical-rules.md).
        self.clock_faults = 0
        self._unsaved_audit: list[AuditRecord] = []
        self._load_layout()
        for wrap_id in self._bed_of:
            self._bind(self._wrap(wrap_id))

    # Ward layout ------------------------------------------------------------------------------
    def _load_layout(self) -> None:
        self._beds = sorted(self.layout.beds, key=lambda b: (b.position, b.bed_id))
        self._admissions = dict(self.layout.admissions)
        self._bed_of = dict(self.layout.assignments)
        self._wrap_on = {bed: wrap for wrap, bed in self._bed_of.items()}

    def _wrap(self, wrap_id: str) -> _Wrap:
        w = self._wraps.get(wrap_id)
        if w is None:
            w = self._wraps[wrap_id] = _Wrap(wrap_id)
        return w

    def _bind(self, w: _Wrap) -> None:
        """(Re)start the wrap's stream and trend for its current bed and admission."""
        bed = self._bed_of.get(w.wrap_id)
        adm = self._admissions.get(bed) if bed is not None else None
        w.bed_id, w.admission_id = bed, None if adm is None else adm.admission_id
        w.from_us = None if adm is None else seconds_to_us(adm.admitted_t)
        w.known, w.closed_seen = set(), 0
        w.daily_day, w.daily = None, []
        w.sessions_saved, w.open_saved = 0, None
        if bed is None:
            w.stream, w.trend = None, None
            return
        offset = celsius_to_mc(adm.site_offset_c) if adm is not None else 0
        params = self.params
        if adm is not None:
            # The admission's KMC mode sets when low_daily_contact is raised (Admission.low_contact_s).
            params = dataclasses.replace(
                params,
                daily_goal_s=adm.daily_goal_s,
                min_daily_contact_s=adm.low_contact_s(self.params.min_daily_contact_s),
                goal_sessions_at_least_s=(
                    self.params.short_session_s if adm.kmc_mode is KmcMode.INTERMITTENT else 0.0
                ),
            )
        w.stream = WrapStream(w.wrap_id, params, site_offset_mc=offset, calendar=self._calendar)
        w.trend = Trend(self._bin_us, self._span_us, self.params.contact_first)

    def relayout(self, layout: Layout, now_us: int) -> list[AlarmEvent]:
        """Take the ward's new beds, admissions and assignments after it changed.

        A wrap whose bed or admission changed starts afresh (new stream, empty trend); the conditions
        its old stream had open end now, since they described another baby or no baby.
        """
        self.layout = layout
        self._load_layout()
        events: list[AlarmEvent] = []
        for wrap_id in sorted(set(self._wraps) | set(self._bed_of)):
            w = self._wrap(wrap_id)
            bed = self._bed_of.get(wrap_id)
            adm = self._admissions.get(bed) if bed is not None else None
            if (bed, None if adm is None else adm.admission_id) == (w.bed_id, w.admission_id):
                continue
            for kind, start in sorted(w.known, key=lambda c: c[1]):
                events += self.board.condition_ended(self._key(wrap_id, kind, start), self._at(now_us))
            self._bind(w)
        self._last_full_us = None
        return events

    # Input ------------------------------------------------------------------------------------
    def ingest(self, readings: Iterable[Reading], now_us: int | None = None) -> int:
        """Take readings from any source, in any order; returns how many were accepted.

        Accepted readings wait in the wrap's reorder buffer until :meth:`tick` feeds them. A reading
        stamped before ``params.earliest_t_s`` (2015), or more than ``max_clock_lead_s`` after
        ``now_us`` (the ward's clock, when the caller gives it), is a clock fault: counted in
        :attr:`clock_faults` and dropped before it can touch a tile, a timer or a day.
        """
        accepted = 0
        earliest_s = self.params.earliest_t_s
        latest_s = math.inf if now_us is None else (now_us + self.max_clock_lead_us) / US
        for r in readings:
            if not math.isfinite(r.t):
                self.invalid_time += 1
                continue
            if not earliest_s <= r.t <= latest_s:
                self.clock_faults += 1
                continue
            t_us = round(r.t * US)
            w = self._wrap(r.wrap_id)
            if w.last_heard_us is None or t_us >= w.last_heard_us:
                w.last_heard_us = t_us
                if r.rssi_dbm is not None:
                    w.rssi_dbm = r.rssi_dbm
            if w.released_us is not None and t_us <= w.released_us:
                self.late += 1
                continue
            if t_us in w.pending:
                self.duplicates += 1
                continue
            w.pending[t_us] = r
            self._to_write.append(r)
            self._due.add(r.wrap_id)
            accepted += 1
        return accepted

    def mark_silent(self, wrap_ids: Iterable[str], now_us: int) -> None:
        """The source of these wraps is gone (an MQTT gateway's Last Will): show them as "no data"
        from the next :meth:`tick` on, until a reading newer than any known now is fed.

        Only the tiles change (``judging`` "no data", no band, no contact), as they would after
        ``stale_after`` of silence; a wrap another source still delivers is not passed here. The
        ``no_data`` alarm is left to the rules' clock (clinical-rules.md: it starts ``stale_after``
        after the last reading), as are timers and totals: what a gateway's death means for the
        baby's record is what the silence means, and a replay of the stored readings must give the
        same alarms. ``now_us`` is when the ward learnt it (logged).
        """
        marked: list[str] = []
        for wrap_id in wrap_ids:
            w = self._wraps.get(wrap_id)
            if w is None or w.last_heard_us is None:
                continue  # never heard: its tile says "no data" already
            w.silent_through_us = w.last_heard_us
            self._marked.add(wrap_id)
            marked.append(wrap_id)
        if marked:
            logger.info(
                "source lost at %d us: %s shown as no data until heard again", now_us, ", ".join(marked)
            )

    # The tick ---------------------------------------------------------------------------------
    def tick(self, now_us: int) -> TickResult:
        """Feed what the reorder window released, update the board, and say what changed (with the
        readings accepted since the last tick, for the caller to write)."""
        persist = Persist(now_us, readings=tuple(self._to_write))
        self._to_write = []
        cutoff = now_us - self.reorder_us
        events: list[AlarmEvent] = []
        touched: set[str] = set()
        for wrap_id in sorted(self._due):
            w = self._wraps[wrap_id]
            if self._release(w, cutoff):
                touched.add(wrap_id)
            if not w.pending:
                self._due.discard(wrap_id)
        stale = self.params.stale_after_us
        for w in self._wraps.values():
            s = w.stream
            if s is None:
                continue
            silent = s.last_us is not None and cutoff - s.last_us > stale
            if w.wrap_id in touched or (silent and not any(k is AlarmKind.NO_DATA for k, _ in w.known)):
                events += self._sync(w, cutoff, now_us)
                touched.add(w.wrap_id)
        events += self.board.tick(self._at(now_us))
        touched |= self._marked
        self._marked = set()
        beds_touched = {self._bed_of[w] for w in touched if w in self._bed_of}
        beds_touched |= {e.alarm.bed_id for e in events if e.alarm is not None and e.alarm.bed_id}
        full = self._last_full_us is None
        if full:
            self._last_full_us = now_us
        old = now_us - self._status_every_us
        changed: list[BedView] = []
        for bed in self._beds:
            if not full and bed.bed_id not in beds_touched and self._view_us.get(bed.bed_id, old) > old:
                continue
            self._view_us[bed.bed_id] = now_us
            view = self._view(bed, now_us)
            if self._views.get(bed.bed_id) != view:
                self._views[bed.bed_id] = view
                changed.append(view)
        return TickResult(now_us, tuple(events), tuple(changed), self.unassigned_wraps(), persist)

    def _release(self, w: _Wrap, cutoff: int) -> bool:
        """Feed the wrap's readings due by ``cutoff`` in time order; False when none were due."""
        ready = sorted(t for t in w.pending if t <= cutoff)
        if not ready:
            return False
        rows = [w.pending.pop(t) for t in ready]
        w.released_us = ready[-1]
        if w.silent_through_us is not None and ready[-1] > w.silent_through_us:
            w.silent_through_us = None  # heard again since its source was lost
        if w.from_us is not None:
            rows = [r for r in rows if round(r.t * US) >= w.from_us]
        if w.stream is None or not rows:
            return False
        series = build_series(
            w.wrap_id,
            [r.t for r in rows],
            [math.nan if r.skin_temp_c is None else r.skin_temp_c for r in rows],
            [math.nan if r.ambient_temp_c is None else r.ambient_temp_c for r in rows],
            [math.nan if r.contact is None else r.contact for r in rows],
            [math.nan if r.battery_pct is None else r.battery_pct for r in rows],
            params=self.params,
        )
        w.stream.feed(series)
        if w.trend is not None:
            w.trend.add(
                series.t_us,
                series.skin_mc + w.stream.site_offset_mc,
                series.contact,
                judged=w.stream.temperature_judged,
            )
        return True

    def _at(self, t_us: int) -> int:
        """The board time for something that happened at ``t_us``: never before the board's clock."""
        at = t_us if self._board_clock is None else max(t_us, self._board_clock)
        self._board_clock = at
        return at

    @staticmethod
    def _key(wrap_id: str, kind: AlarmKind, start_us: int) -> ConditionKey:
        return (wrap_id, kind.value, start_us)

    def _sync(self, w: _Wrap, until_us: int, now_us: int) -> list[AlarmEvent]:
        """Turn the changes of the wrap's conditions since the last look into board calls, in time
        order: started, ended (at the closing time of the episode), or both for an episode that
        began and ended inside one fed chunk (a late burst after a radio gap) — it still happened."""
        s = w.stream
        assert s is not None
        closed = s.closed_alarms(w.closed_seen)
        w.closed_seen += len(closed)
        closed_by: dict[_Cond, Alarm] = {(a.kind, a.start_us): a for a in closed}
        active: dict[_Cond, Alarm] = {(a.kind, a.start_us): a for a in s.active_alarms(until_us)}
        day = self._calendar.day_of(until_us)
        if day != w.daily_day:
            w.daily_day, w.daily = day, s.daily_alarms(until_us)
        for a in w.daily:
            if a.end_us is None or a.end_us > until_us:
                active[(a.kind, a.start_us)] = a
            elif (a.kind, a.start_us) in w.known:
                closed_by[(a.kind, a.start_us)] = a
        self._continue_silence(w, active, closed_by)
        steps: list[tuple[int, int, str, _Cond, float | None]] = []
        for cond in w.known - active.keys():
            ep = closed_by.get(cond)
            end = ep.end_us if ep is not None and ep.end_us is not None else (s.last_us or until_us)
            steps.append((end, 1, "end", cond, None if ep is None else ep.extreme_c))
        for cond, a in active.items():
            if cond not in w.known:
                steps.append((a.start_us, 0, "start", cond, a.extreme_c))
        for cond, a in closed_by.items():
            if cond in w.known or a.end_us is None:
                continue
            if w.handled_before_us is not None and a.start_us <= w.handled_before_us:
                continue
            steps.append((a.start_us, 0, "start", cond, a.extreme_c))
            steps.append((a.end_us, 1, "end", cond, a.extreme_c))
        w.handled_before_us = None
        # An open temperature alarm's extreme follows the episode (tile, bed page, report, export).
        for cond in w.known & active.keys():
            extreme = active[cond].extreme_c
            if extreme is not None:
                self.board.condition_progress(self._key(w.wrap_id, *cond), extreme_c=extreme)
        w.known = set(active)
        events: list[AlarmEvent] = []
        for t, _, what, (kind, start), extreme in sorted(steps, key=lambda x: (x[0], x[1], x[3][0].value)):
            key = self._key(w.wrap_id, kind, start)
            at = self._at(min(t, now_us))
            if what == "start":
                events += self.board.condition_started(key, kind, w.bed_id, w.wrap_id, at, extreme_c=extreme)
            else:
                events += self.board.condition_ended(key, at, extreme_c=extreme)
        return events

    @staticmethod
    def _continue_silence(w: _Wrap, active: dict[_Cond, Alarm], closed_by: dict[_Cond, Alarm]) -> None:
        """Keep an open trailing ``no_data`` under its first key while readings arrive that leave the
        wrap silent at the fed horizon: a backlog being delivered (a gateway's outbox after an
        outage). The stream keys trailing silence by ``last reading + stale_after``, which moves
        with every chunk fed; without this the board would end and raise a new ``no_data`` on every
        tick of the catch-up (thousands of alarms and audit lines for an hour's backlog). The
        condition the ward lives through is one: no current data, from the first moment it lacked
        them until it is caught up. An episode the stream closed (a real gap inside the backlog)
        ends as usual."""
        old = [c for c in w.known if c[0] is AlarmKind.NO_DATA and c not in active and c not in closed_by]
        new = [
            c
            for c, a in active.items()
            if c[0] is AlarmKind.NO_DATA and c not in w.known and a.end_us is None
        ]
        if len(old) == 1 and len(new) == 1:
            active[old[0]] = active.pop(new[0])

    # Views ------------------------------------------------------------------------------------
    def _view(self, bed: Bed, now_us: int) -> BedView:
        adm = self._admissions.get(bed.bed_id)
        wrap_id = self._wrap_on.get(bed.bed_id)
        w = self._wraps.get(wrap_id) if wrap_id is not None else None
        alarms = tuple(
            BedAlarm(v.alarm_id, v.kind, v.priority, v.state, v.raised_us)
            for v in self.board.visible(max(now_us, self._board_clock or now_us), bed_id=bed.bed_id)
        )
        heard = None if w is None else w.last_heard_us
        common: dict[str, Any] = {
            "bed_id": bed.bed_id,
            "label": bed.label,
            "position": bed.position,
            "admission_id": None if adm is None else adm.admission_id,
            "display_name": None if adm is None else adm.display_name,
            "wrap_id": wrap_id,
            "daily_goal_s": None if adm is None else adm.daily_goal_s,
            "rssi_dbm": None if w is None else w.rssi_dbm,
            "last_heard_us": heard,
            "last_heard_s": None if heard is None else max(0, now_us - heard) / US,
            "alarms": alarms,
        }
        if w is None or w.stream is None:
            return BedView(
                temperature_c=None,
                band=None,
                judging=Judging.NO_WRAP,
                contact=None,
                session_state=SessionState.NONE,
                session_s=0.0,
                contact_today_s=0.0,
                rolling_24h_s=0.0,
                battery_pct=None,
                **common,
            )
        st = w.stream.status(now_us)
        judging, band = st.judging, st.band
        goal_today_s: float | None = None
        counts_running = True
        at_least = w.stream.params.goal_sessions_at_least_s
        if at_least > 0:  # intermittent KMC: only long sessions count towards the goal
            day = self._calendar.day_of(now_us)
            lo = self._calendar.midnight_us(day)
            goal_us = w.stream.goal_contact_us(lo, self._calendar.midnight_us(day + dt.timedelta(days=1)))
            goal_today_s = None if goal_us is None else goal_us / US
            current = w.stream.open_session()
            counts_running = current is not None and current.duration_us >= seconds_to_us(at_least)
        if w.silent_through_us is not None:
            judging, band = Judging.NO_DATA, None  # its source is known lost (mark_silent)
        return BedView(
            temperature_c=st.temperature_c,
            band=band,
            judging=judging,
            contact=None if judging is Judging.NO_DATA else st.contact,
            session_state=st.timer.state,
            session_s=st.timer.elapsed_us / US,
            contact_today_s=st.contact_today_us / US,
            goal_contact_today_s=goal_today_s,
            goal_counts_running=counts_running,
            rolling_24h_s=st.rolling_24h_us / US,
            battery_pct=st.battery_pct,
            **common,
        )

    def views(self, now_us: int) -> list[BedView]:
        """Every bed's tile at ``now_us``, in screen order (a client's snapshot)."""
        return [self._view(b, now_us) for b in self._beds]

    def unassigned_wraps(self) -> tuple[UnassignedWrap, ...]:
        """Wraps heard but on no bed, most recently heard first."""
        out = [
            UnassignedWrap(w.wrap_id, w.last_heard_us, w.rssi_dbm)
            for w in self._wraps.values()
            if w.wrap_id not in self._bed_of and w.last_heard_us is not None
        ]
        return tuple(sorted(out, key=lambda u: (-u.last_heard_us, u.wrap_id)))

    @property
    def wrap_count(self) -> int:
        """Wraps the engine keeps state for (on a bed or heard)."""
        return len(self._wraps)

    @property
    def assigned_count(self) -> int:
        """Wraps on a bed."""
        return len(self._bed_of)

    def forget_unassigned(
        self, now_us: int, *, older_than_us: int | None = None, keep_at_most: int | None = None
    ) -> int:
        """Forget wraps on no bed: those not heard for ``older_than_us``, and beyond
        ``keep_at_most`` the least recently heard; every one when both are None (staff clearing
        the list). A wrap with readings still waiting to be fed is kept until they are. Returns how
        many were forgotten. Why: wrap ids heard over a network are not trusted input; 3000
        invented ids must not stay listed (and in every screen's snapshot) for ever."""
        idle = [
            w
            for w in self._wraps.values()
            if w.wrap_id not in self._bed_of and not w.pending and w.wrap_id not in self._due
        ]
        idle.sort(key=lambda w: (w.last_heard_us or 0, w.wrap_id))
        drop: list[_Wrap] = []
        if older_than_us is None and keep_at_most is None:
            drop = idle
        else:
            if older_than_us is not None:
                drop = [w for w in idle if (w.last_heard_us or 0) < now_us - older_than_us]
            if keep_at_most is not None:
                rest = idle[len(drop) :]
                drop += rest[: max(0, len(rest) - keep_at_most)]
        for w in drop:
            del self._wraps[w.wrap_id]
        return len(drop)

    def trend(self, wrap_id: str) -> tuple[TrendBin, ...]:
        """The wrap's chart bins, oldest first (the last one still filling); empty if not on a bed."""
        w = self._wraps.get(wrap_id)
        return () if w is None or w.trend is None else w.trend.snapshot()

    def stream(self, wrap_id: str) -> WrapStream | None:
        """The wrap's rules state (for a bedside detail view or a report), None if not on a bed."""
        w = self._wraps.get(wrap_id)
        return None if w is None else w.stream

    # Persistence ------------------------------------------------------------------------------
    def checkpoint(self, now_us: int, *, streams: bool = False) -> Persist:
        """What to save now: readings not yet handed out, sessions closed or grown since the last
        save, the board with its audit lines and, with ``streams``, every assigned wrap's stream
        checkpoint. Nothing counts as saved until :meth:`saved` is called with the batch: after a
        refused write the next call hands the same audit lines and sessions out again."""
        readings = tuple(self._to_write)
        self._to_write = []
        self._unsaved_audit += self.board.drain_audit()
        checkpoints: tuple[StreamCheckpoint, ...] = ()
        if streams:
            checkpoints = tuple(
                cp for w in self._wraps.values() if (cp := self._stream_checkpoint(w, now_us)) is not None
            )
        return Persist(
            now_us,
            readings=readings,
            sessions=tuple(self._session_updates()),
            board=self.board.snapshot(),
            audit=tuple(self._unsaved_audit),
            checkpoints=checkpoints,
        )

    def saved(self, batch: Persist) -> None:
        """The batch from :meth:`checkpoint` is on disk: its sessions and audit lines are done."""
        done = len(batch.audit)
        self._unsaved_audit = self._unsaved_audit[done:]
        for u in batch.sessions:
            w = self._wraps.get(u.wrap_id)
            if w is None or w.stream is None:
                continue
            if u.open:
                w.open_saved = u.session
            else:
                w.sessions_saved += 1

    def _session_updates(self) -> list[SessionUpdate]:
        """Sessions closed since the last save and each running one that grew, so the history and
        the handover report have them without re-deriving them from readings."""
        out: list[SessionUpdate] = []
        for w in self._wraps.values():
            if w.stream is None:
                continue
            out += [SessionUpdate(w.wrap_id, x) for x in w.stream.sessions(w.sessions_saved)]
            current = w.stream.open_session()
            if current is not None and current != w.open_saved:
                out.append(SessionUpdate(w.wrap_id, current, open=True))
        return out

    def _fingerprint(self, w: _Wrap) -> str:
        """What a checkpoint's state depends on besides the readings: the wrap's rule parameters,
        site offset and chart geometry (a changed setting makes old checkpoints unusable)."""
        assert w.stream is not None
        s = w.stream
        text = repr((CHECKPOINT_FORMAT, s.params, s.site_offset_mc, self._bin_us, self._span_us))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _stream_checkpoint(self, w: _Wrap, now_us: int) -> StreamCheckpoint | None:
        s = w.stream
        if s is None or w.bed_id is None or w.trend is None:
            return None
        stream_state = {k: v for k, v in vars(s).items() if k in _STREAM_STATE}
        state = (
            self._fingerprint(w),
            w.released_us,
            w.last_heard_us,
            w.rssi_dbm,
            w.closed_seen,
            w.sessions_saved,
            None if w.open_saved is None else dataclasses.astuple(w.open_saved),
            stream_state,
            w.trend.state(),
        )
        blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        return StreamCheckpoint(w.wrap_id, w.bed_id, w.admission_id, w.released_us, now_us, blob)

    def _load_checkpoint(self, w: _Wrap, cp: StreamCheckpoint) -> bool:
        """Put a bound wrap back in the checkpoint's state; False (wrap untouched) when it does not
        fit (another bed or admission, other parameters, or unreadable)."""
        if w.stream is None or w.trend is None or (cp.bed_id, cp.admission_id) != (w.bed_id, w.admission_id):
            return False
        try:
            state = pickle.loads(cp.state)
            fp, released, heard, rssi, closed_seen, saved, open_saved, stream_state, trend = state
        except Exception:  # a damaged or foreign checkpoint: rebuild from the readings instead
            logger.warning("checkpoint of wrap %s unreadable: rebuilt from its readings", w.wrap_id)
            return False
        if fp != self._fingerprint(w) or set(stream_state) != _STREAM_STATE:
            return False
        vars(w.stream).update(stream_state)
        w.trend.load(trend)
        w.released_us, w.last_heard_us, w.rssi_dbm = released, heard, rssi
        w.closed_seen, w.sessions_saved = closed_seen, saved
        w.open_saved = None if open_saved is None else Session(*open_saved)
        return True

    def history_needed(
        self, now_us: int, checkpoints: Mapping[str, StreamCheckpoint], *, lookback_s: float = 26 * 3600.0
    ) -> dict[str, int]:
        """For :meth:`restore`: from when (inclusive, µs) each assigned wrap's stored readings are
        needed. After a checkpoint that fits, only those after it; otherwise the last
        ``lookback_s`` (from the admission at the earliest)."""
        out: dict[str, int] = {}
        lookback_us = seconds_to_us(lookback_s)
        for wrap_id, bed_id in self._bed_of.items():
            adm = self._admissions.get(bed_id)
            cp = checkpoints.get(wrap_id)
            adm_id = None if adm is None else adm.admission_id
            if cp is not None and (cp.bed_id, cp.admission_id) == (bed_id, adm_id):
                out[wrap_id] = -(2**62) if cp.through_us is None else cp.through_us + 1
                continue
            start_us = now_us - lookback_us
            if adm is not None:
                start_us = max(start_us, seconds_to_us(adm.admitted_t))
            out[wrap_id] = start_us
        return out

    def restore(
        self,
        now_us: int,
        *,
        board: BoardSnapshot | None,
        history: Mapping[str, Iterable[Reading]],
        checkpoints: Mapping[str, StreamCheckpoint] | None = None,
    ) -> TickResult:
        """Continue after a crash: the saved board, each assigned wrap's stream from its checkpoint
        (when one fits) and the stored readings after it (``history``, from :meth:`history_needed`);
        without a checkpoint the stream is rebuilt from the readings alone.

        Timers, sessions, daily totals and conditions then continue as if nothing happened.
        Conditions the replay re-derives meet the restored board through their keys: one still open
        is not raised twice; one that ended meanwhile ends; one the board never saw (it started after
        the last save) is raised. A condition open on the board that the stored readings do not
        re-derive at all (readings lost before they were written) is ended at the wrap's last stored
        reading: left open, nothing would ever end it. Call on a fresh engine, before any
        :meth:`ingest`.
        """
        saved_clock: int | None = None
        if board is not None:
            self.board = AlarmBoard.restore(board, self.board.params)
            saved_clock = board.clock_us
            self._board_clock = saved_clock
        self._load_layout()
        open_on_board: dict[str, set[_Cond]] = {}
        for v in self.board.visible(max(now_us, saved_clock or now_us)):
            if (
                v.ended_us is None
                and v.wrap_id is not None  # the ward's own alarms are no wrap's condition
                and isinstance(v.kind, AlarmKind)
                and len(v.key) == 3
                and isinstance(v.key[2], int)
            ):
                open_on_board.setdefault(v.wrap_id, set()).add((v.kind, v.key[2]))
        cps = checkpoints or {}
        for wrap_id in sorted(self._bed_of):
            w = self._wrap(wrap_id)
            self._bind(w)
            cp = cps.get(wrap_id)
            resumed = cp is not None and self._load_checkpoint(w, cp)
            for r in history.get(wrap_id, ()):
                t_us = round(r.t * US)
                if w.released_us is not None and t_us <= w.released_us:
                    continue
                w.pending[t_us] = r
                if w.last_heard_us is None or t_us > w.last_heard_us:
                    w.last_heard_us = t_us
                    w.rssi_dbm = r.rssi_dbm if r.rssi_dbm is not None else w.rssi_dbm
            if w.pending:
                self._due.add(wrap_id)
            w.known = open_on_board.get(wrap_id, set())
            # A resumed stream has seen every episode it closed before the checkpoint; one rebuilt
            # from readings skips those the saved board already handled.
            w.handled_before_us = None if resumed else saved_clock
        result = self.tick(now_us)
        return dataclasses.replace(result, persist=None)


#: Version of the :class:`StreamCheckpoint` state (part of the fingerprint).
CHECKPOINT_FORMAT: Final = 1
#: The attributes of a :class:`~kmc_monitor.signal.stream.WrapStream` that carry its state between
#: chunks (the rest is made from the parameters): its tail of recent readings, carried counters and
#: runs, sessions and closed alarm episodes.
_STREAM_STATE: Final = frozenset({"_tail", "_c", "_sessions", "_alarms"})
