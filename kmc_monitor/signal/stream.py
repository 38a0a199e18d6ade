"""The rules applied chunk by chunk with carried state; a batch analysis is one chunk.

:class:`WrapStream` is the only implementation of the rules: the offline ``analyze`` feeds it a whole
trace at once, the live service feeds it what arrived in the last moment. It carries a short tail of
readings (for windows and lags) plus a few scalars per rule, so every chunking of a series gives the
batch answer exactly (integer time and temperature make that exact, not approximate).

Time is never read from a clock here: the caller says how far the analysis runs (``until_us``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from kmc_monitor.signal.alarms import Episode, TempActive, simple_episodes, temperature_episodes
from kmc_monitor.signal.calendar import DayCalendar
from kmc_monitor.signal.contact import (
    NEVER_US,
    Stretch,
    contact_states,
    intervals,
    merge_stretches,
    per_day,
    runs_of,
)
from kmc_monitor.signal.detach import DetachCarry, SettleCarry, detachment, settling
from kmc_monitor.signal.params import RuleParams, celsius_to_mc, seconds_to_us
from kmc_monitor.signal.report import Alarm, AlarmKind, DayTotal, Session, WrapReport, round_c
from kmc_monitor.signal.runs import RunCarry, known_before, latch, run_starts
from kmc_monitor.signal.series import FloatArray, IntArray, WrapSeries, empty_series
from kmc_monitor.signal.silence import SilenceCarry, no_data_episodes
from kmc_monitor.signal.states import Band, Judging, SessionState
from kmc_monitor.signal.thermal import Bands
from kmc_monitor.signal.windows import Window, fall_below, lag_values, lower_median_at, peak_fall

__all__ = ["SessionTimer", "WrapStatus", "WrapStream", "analyze_series"]

BoolArray = npt.NDArray[np.bool_]

_COLD_KINDS = (AlarmKind.COLD_STRESS, AlarmKind.HYPOTHERMIA_MODERATE, AlarmKind.HYPOTHERMIA_SEVERE)
_RUNS = (
    "cold_stress",
    "moderate",
    "severe",
    "hyper",
    "rec_cold",
    "rec_hot",
    "cool",
    "cool_rec",
    "detached",
)


@dataclass(frozen=True, slots=True)
class WrapStatus:
    """What a ward screen shows for a wrap at ``now``: the live face of the rules.

    ``band`` is None when the temperature is not judged (``judging`` says why: ``"detached"``,
    ``"settling"``, ``"no temperature"``, ``"no data"``); the screen must then not show a reassuring
    colour. ``temperature_c`` is the smoothed core-equivalent temperature of the last reading.
    """

    wrap_id: str
    now_us: int
    last_us: int | None
    temperature_c: float | None
    band: Band | None
    judging: Judging
    contact: bool | None
    timer: SessionTimer
    contact_today_us: int
    rolling_24h_us: int
    battery_pct: float | None
    active_alarms: tuple[Alarm, ...]


@dataclass(frozen=True, slots=True)
class SessionTimer:
    """The live session timer: ``running``, ``paused`` (a short break) or ``none``."""

    state: SessionState
    start_us: int | None
    elapsed_us: int


@dataclass(slots=True)
class _Carry:
    """Everything a stream remembers between chunks (besides the reading tail)."""

    first_us: int | None = None
    last_us: int | None = None
    readings: int = 0
    invalid: int = 0
    late: int = 0
    contact_memory: int = -1
    #: When contact was last measured (a reading with a valid value): the held state lasts
    #: ``stale_after`` from there.
    last_contact_us: int = NEVER_US
    contact_us: int = 0
    unknown_us: int = 0
    stretch: Stretch | None = None
    recent_runs: list[tuple[int, int]] = field(default_factory=list)
    detach: DetachCarry = field(default_factory=DetachCarry)
    settle: SettleCarry = field(default_factory=SettleCarry)
    runs: dict[str, RunCarry] = field(default_factory=lambda: {k: RunCarry() for k in _RUNS})
    temp: TempActive | None = None
    cooling_start_us: int | None = None
    detached_alarm_start_us: int | None = None
    silence: SilenceCarry = field(default_factory=SilenceCarry)
    battery_state: int = 0
    battery_start_us: int | None = None
    days: dict[dt.date, list[int]] = field(default_factory=dict)
    # The last reading's standing, for the live status: detached, settling, judged.
    last_detached: bool = False
    last_settling: bool = False
    last_battery_pct: float | None = None


class WrapStream:
    """One wrap's rules, fed chunk by chunk.

    Parameters
    ----------
    wrap_id
        The wrap this stream follows.
    params
        The clinical parameters.
    site_offset_mc
        Sensor-site offset added to the skin temperature to get the core-equivalent ``T`` (m°C).
    calendar
        Day calendar of the ward (shared between wraps to share its cache).
    """

    def __init__(
        self,
        wrap_id: str,
        params: RuleParams | None = None,
        *,
        site_offset_mc: int = 0,
        calendar: DayCalendar | None = None,
        record_trust: bool = False,
    ) -> None:
        self.wrap_id = wrap_id
        #: With ``record_trust``: per fed chunk, which readings' temperatures the rules would judge
        #: (attached, not settling), for a chart that must not draw a detached sensor as the baby.
        self._trust: list[BoolArray] | None = [] if record_trust else None
        self.params = params or RuleParams()
        self.site_offset_mc = site_offset_mc
        self.calendar = calendar or DayCalendar(self.params.ward_tz)
        self._tail = empty_series(wrap_id)
        self._c = _Carry()
        self._sessions: list[Session] = []
        self._alarms: list[Alarm] = []
        p = self.params
        self._stale = p.stale_after_us
        self._delays = {
            "cold_stress": seconds_to_us(p.cold_stress_delay_s),
            "moderate": seconds_to_us(p.moderate_delay_s),
            "severe": seconds_to_us(p.severe_delay_s),
            "hyper": seconds_to_us(p.hyperthermia_delay_s),
            "rec_cold": seconds_to_us(p.recovery_s),
            "rec_hot": seconds_to_us(p.recovery_s),
            "cool": seconds_to_us(p.cooling_delay_s),
            "cool_rec": seconds_to_us(p.recovery_s),
            "detached": seconds_to_us(p.sensor_detached_delay_s),
        }

    # ------------------------------------------------------------------------------------------
    @property
    def last_us(self) -> int | None:
        """Time of the last reading fed, or None."""
        return self._c.last_us

    @property
    def late_readings(self) -> int:
        """Readings dropped because they were not newer than the last one fed."""
        return self._c.late

    def trusted(self) -> BoolArray:
        """Per reading fed (in order, late ones excluded), whether its temperature was trustworthy:
        the sensor attached and not settling. Needs ``record_trust=True``."""
        if self._trust is None:
            raise ValueError("this stream was made without record_trust")
        return np.concatenate(self._trust) if self._trust else np.zeros(0, dtype=np.bool_)

    @property
    def temperature_judged(self) -> bool:
        """Whether the last reading fed had its temperature judged (not detached, not settling)."""
        return not (self._c.last_detached or self._c.last_settling)

    def closed_alarms(self, since: int = 0) -> list[Alarm]:
        """Alarm episodes closed so far, in the order they closed, from the ``since``-th on.

        Episodes are only ever appended, so a live caller keeps a count and asks for the new ones
        each tick instead of building a whole :meth:`report` (which also adds the active ones and
        the daily totals) many times a second.
        """
        return self._alarms[since:]

    def feed(self, chunk: WrapSeries) -> None:
        """Apply the rules to readings newer than everything fed so far.

        Readings at or before the last fed time are dropped and counted in :attr:`late_readings`
        (the live engine holds readings briefly to put them in order before feeding them).
        """
        c = self._c
        c.invalid += chunk.invalid
        if c.last_us is not None and len(chunk) and chunk.t_us[0] <= c.last_us:
            keep = int(np.searchsorted(chunk.t_us, c.last_us, side="right"))
            c.late += keep
            chunk = chunk.slice(keep, len(chunk))
        n = len(chunk)
        if n == 0:
            return
        self._step(chunk)

    def _step(self, chunk: WrapSeries) -> None:
        p, c, tail = self.params, self._c, self._tail
        f = len(tail)
        n = len(chunk)
        ctx = _joined(tail, chunk)
        t, skin, amb = ctx.t_us, ctx.skin_mc, ctx.ambient_mc
        temp = skin + self.site_offset_mc if self.site_offset_mc else skin
        tc = chunk.t_us

        win = Window.trailing(t, p.smooth_us, first=f)
        bands = Bands(win.median(temp), p)

        gap = win.median(skin - amb)
        # "falls by more than 1.5 °C": a drop of at least 1.501 °C in whole milli-degrees
        fall_window_us = seconds_to_us(p.detach_fall_window_s)
        falling = peak_fall(win, t, skin, fall_window_us, p.smooth_us, celsius_to_mc(p.detach_fall_c) + 1)
        detach_test = gap.below(celsius_to_mc(p.detach_gap_c)) | falling
        may_detach = c.detach.detached or bool(detach_test.any())
        none = np.zeros(n, dtype=np.bool_)
        reattach_gap = gap.at_least(celsius_to_mc(p.reattach_gap_c)) if may_detach else none

        def smoothed_skin(a: int, b: int) -> FloatArray:
            return lower_median_at(skin, win.lo[a:b], np.arange(f + a, f + b, dtype=np.int64))

        det = detachment(
            detach_test,
            reattach_gap,
            ~gap.has,
            smoothed_skin,
            float(celsius_to_mc(p.reattach_rise_c)),
            c.detach,
        )
        c.detach = det.carry
        attached = ~det.detached
        markers = det.reattached
        if c.first_us is None and attached[0]:
            markers = np.concatenate(([0], markers)).astype(np.int64)
        settle_now, c.settle = settling(
            tc, attached, markers, bands.normal, seconds_to_us(p.settle_s), c.settle
        )
        judged = bands.has_t & attached & ~settle_now
        if self._trust is not None:
            self._trust.append(attached & ~settle_now)
        # Silence is not recovery: a gap up to gap_tolerance keeps a pending run's clock going.
        know = known_before(tc, c.last_us, p.gap_tolerance_us)

        def runs(name: str, pred: BoolArray | None) -> IntArray:
            """Start candidates of a run; ``None`` means the predicate cannot matter in this chunk."""
            if pred is None:
                c.runs[name] = RunCarry()
                return np.empty(0, dtype=np.int64)
            found, c.runs[name] = run_starts(pred, tc, know, c.runs[name], self._delays[name])
            return found

        # Nested bands: no moderate or severe hypothermia without cold stress. Recovery evidence only
        # matters while a condition is active or about to start (a recovery run cannot span a start).
        cold = judged & bands.below_cold_stress
        any_cold = bool(cold.any())
        cands: dict[str, IntArray] = {
            "cold_stress": runs("cold_stress", cold),
            "moderate": runs("moderate", judged & bands.below_moderate if any_cold else None),
            "severe": runs("severe", judged & bands.below_severe if any_cold else None),
            "hyper": runs("hyper", judged & bands.above_hyper),
        }
        cold_active = c.temp is not None and c.temp.kind.is_cold
        hot_active = c.temp is not None and c.temp.kind is AlarmKind.HYPERTHERMIA
        need_rec_cold = cold_active or any(cands[k].size for k in ("cold_stress", "moderate", "severe"))
        need_rec_hot = hot_active or bool(cands["hyper"].size)
        cands["rec_cold"] = runs("rec_cold", judged & bands.recovered_cold if need_rec_cold else None)
        cands["rec_hot"] = runs("rec_hot", judged & bands.recovered_hot if need_rec_hot else None)

        cooling_window_us = seconds_to_us(p.cooling_window_s)
        cooling_drop = fall_below(win, t, temp, cooling_window_us, p.cooling_lag_max_us, p.cooling_drop_mc)
        any_drop = bool(cooling_drop.any())
        cands["cool"] = runs("cool", judged & bands.below_cooling_gate & cooling_drop if any_drop else None)
        need_cool_rec = c.cooling_start_us is not None or bool(cands["cool"].size)
        if need_cool_rec:
            # "eased": the 30-min drop's median is above -0.25 °C (needs every window's exact count)
            drop = win.median(self._lagged(t, temp, win.base, p.cooling_window_s, p.cooling_lag_max_us))
            eased = ~bands.below_cooling_gate | drop.at_least(-p.cooling_clear_drop_mc + 1)
            cands["cool_rec"] = runs("cool_rec", judged & eased)
        else:
            cands["cool_rec"] = runs("cool_rec", None)
        cands["detached"] = runs("detached", det.detached if may_detach else None)

        temp_eps = temperature_episodes(
            tc,
            {
                AlarmKind.COLD_STRESS: cands["cold_stress"],
                AlarmKind.HYPOTHERMIA_MODERATE: cands["moderate"],
                AlarmKind.HYPOTHERMIA_SEVERE: cands["severe"],
                AlarmKind.HYPERTHERMIA: cands["hyper"],
            },
            cands["rec_cold"],
            cands["rec_hot"],
            det.episode_starts,
            c.temp,
        )
        c.temp = None
        for ep in temp_eps:
            extreme = self._extreme(ep, temp, win)
            if ep.end_us is None:
                c.temp = TempActive(ep.kind, ep.start_us, extreme)
            else:
                self._alarms.append(Alarm(ep.kind, ep.start_us, ep.end_us, _none_if_nan(extreme)))

        # simple_episodes sorts its events, and a repeated end is a no-op: no need for np.union1d,
        # whose set machinery costs more than everything else here on small arrays.
        cool_ends = np.concatenate((cands["cool_rec"], det.episode_starts))
        c.cooling_start_us = self._simple(
            AlarmKind.COOLING_TREND, tc, cands["cool"], cool_ends, c.cooling_start_us
        )
        c.detached_alarm_start_us = self._simple(
            AlarmKind.SENSOR_DETACHED, tc, cands["detached"], det.reattached, c.detached_alarm_start_us
        )
        self._battery(chunk)
        self._no_data(chunk)
        self._contact(chunk)
        c.last_detached = bool(det.detached[-1])
        c.last_settling = bool(settle_now[-1])
        valid_batt = np.flatnonzero(~np.isnan(chunk.battery_pct))
        if valid_batt.size:
            c.last_battery_pct = float(chunk.battery_pct[valid_batt[-1]])

        c.first_us = int(tc[0]) if c.first_us is None else c.first_us
        c.last_us = int(tc[-1])
        c.readings += n
        keep_from = int(np.searchsorted(t, c.last_us - p.lookback_us, side="right"))
        # Copies: a view would keep the caller's whole chunk alive and share its buffers.
        self._tail = WrapSeries(
            self.wrap_id,
            t[keep_from:].copy(),
            skin[keep_from:].copy(),
            amb[keep_from:].copy(),
            ctx.contact[keep_from:].copy(),
            ctx.battery_pct[keep_from:].copy(),
        )

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _lagged(t: IntArray, values: FloatArray, base: int, lag_s: float, max_age_us: int) -> FloatArray:
        out = np.full(t.shape[0], np.nan)
        out[base:] = lag_values(t, values, base, seconds_to_us(lag_s), max_age_us)
        return out

    @staticmethod
    def _extreme(ep: Episode, temp: FloatArray, win: Window) -> float:
        """The episode's extreme smoothed T so far, from its own readings' windows."""
        if ep.stop <= ep.first:
            return ep.carried_extreme_mc
        hot = ep.kind is AlarmKind.HYPERTHERMIA
        here = win.sub(ep.first, ep.stop).median(temp).extreme(lowest=not hot)
        return float(np.fmax(ep.carried_extreme_mc, here) if hot else np.fmin(ep.carried_extreme_mc, here))

    def _simple(
        self, kind: AlarmKind, t: IntArray, starts: IntArray, ends: IntArray, active: int | None
    ) -> int | None:
        still: int | None = None
        for ep in simple_episodes(kind, t, starts, ends, active):
            if ep.end_us is None:
                still = ep.start_us
            else:
                self._alarms.append(Alarm(kind, ep.start_us, ep.end_us))
        return still

    def _battery(self, chunk: WrapSeries) -> None:
        c, p = self._c, self.params
        b = chunk.battery_pct
        with np.errstate(invalid="ignore"):
            if c.battery_state != 1 and not (b < p.low_battery_pct).any():
                return  # nothing low and no alarm to end: the state cannot change

            ev = np.where(b < p.low_battery_pct, 1, np.where(b >= p.battery_recovered_pct, 0, -1))
        state = latch(np.where(np.isnan(b), -1, ev).astype(np.int8), c.battery_state)
        prev = np.concatenate(([c.battery_state], state[:-1]))
        ons = np.flatnonzero((state == 1) & (prev != 1))
        offs = np.flatnonzero((state != 1) & (prev == 1))
        c.battery_start_us = self._simple(AlarmKind.LOW_BATTERY, chunk.t_us, ons, offs, c.battery_start_us)
        c.battery_state = int(state[-1])

    def _contact(self, chunk: WrapSeries) -> None:
        c, p = self._c, self.params
        prev_memory, prev_measured = c.contact_memory, c.last_contact_us
        states, measured, c.contact_memory, c.last_contact_us = contact_states(
            chunk.contact, chunk.t_us, prev_memory, prev_measured, p
        )
        iv = intervals(chunk.t_us, states, measured, c.last_us, prev_memory, prev_measured, self._stale)
        if iv.a.size == 0:
            self._touch_day(int(chunk.t_us[0]))
            return
        days, edges = self.calendar.days_between(int(iv.a[0]), int(iv.b[-1]))
        split = per_day(iv, edges)
        for d, (o, k, u) in zip(days, split.T.tolist(), strict=True):
            acc = c.days.setdefault(d, [0, 0, 0])
            acc[0] += o
            acc[1] += k
            acc[2] += u
        sums = split.sum(axis=1).tolist()
        c.contact_us += sums[1]
        c.unknown_us += sums[2]

        r_start, r_end = runs_of(iv)
        closed, c.stretch = merge_stretches(r_start, r_end, c.stretch, seconds_to_us(p.bridge_gap_s))
        for s in closed:
            self._close_stretch(s)
        if r_start.size:
            runs = list(zip(r_start.tolist(), r_end.tolist(), strict=True))
            if c.recent_runs and runs and c.recent_runs[-1][1] == runs[0][0]:
                runs[0] = (c.recent_runs.pop()[0], runs[0][1])
            c.recent_runs.extend(runs)
            horizon = int(iv.b[-1]) - 24 * 3600 * 1_000_000
            c.recent_runs = [r for r in c.recent_runs if r[1] > horizon]

    def _no_data(self, chunk: WrapSeries) -> None:
        c = self._c
        clear_us = seconds_to_us(self.params.no_data_clear_s)
        closed, c.silence = no_data_episodes(chunk.t_us, c.last_us, c.silence, self._stale, clear_us)
        self._alarms.extend(Alarm(AlarmKind.NO_DATA, a, b) for a, b in closed)

    def _touch_day(self, t_us: int) -> None:
        self._c.days.setdefault(self.calendar.day_of(t_us), [0, 0, 0])

    def _session_of(self, s: Stretch) -> Session | None:
        """A stretch as a session, or None when it is too short to be one."""
        dur = s.end_us - s.start_us
        if dur < seconds_to_us(self.params.min_session_s):
            return None
        return Session(s.start_us, s.end_us, s.contact_us, dur < seconds_to_us(self.params.short_session_s))

    def _close_stretch(self, s: Stretch) -> None:
        session = self._session_of(s)
        if session is not None:
            self._sessions.append(session)

    def sessions(self, since: int = 0) -> list[Session]:
        """Closed sessions from the ``since``-th on (a caller that saves them keeps its count)."""
        return self._sessions[since:]

    def open_session(self) -> Session | None:
        """The session still running (its end moves with each reading), or None."""
        c = self._c
        return self._session_of(c.stretch) if c.stretch is not None else None

    # ------------------------------------------------------------------------------------------
    def session_timer(self, now_us: int) -> SessionTimer:
        """The live session timer at ``now_us`` (see docs/rules.md, "Live timer")."""
        c, p = self._c, self.params
        s = c.stretch
        if s is None or c.last_us is None:
            return SessionTimer(SessionState.NONE, None, 0)
        if s.end_us == c.last_us and c.contact_memory == 1 and now_us - c.last_us <= self._stale:
            return SessionTimer(SessionState.RUNNING, s.start_us, now_us - s.start_us)
        if now_us - s.end_us <= seconds_to_us(p.bridge_gap_s):
            return SessionTimer(SessionState.PAUSED, s.start_us, s.end_us - s.start_us)
        return SessionTimer(SessionState.NONE, None, 0)

    def status(self, now_us: int) -> WrapStatus:
        """The wrap's live state at ``now_us`` for a ward screen or a bedside view.

        Silence longer than ``stale_after`` makes everything about the baby "no data": a screen must
        never keep showing an old "warm and well".
        """
        c, p = self._c, self.params
        timer = self.session_timer(now_us)
        rolling = self.rolling_contact_us(now_us)
        alarms = tuple(self.active_alarms(now_us))
        if c.last_us is None:
            return WrapStatus(
                self.wrap_id, now_us, None, None, None, Judging.NO_DATA, None, timer, 0, 0, None, alarms
            )
        today = c.days.get(self.calendar.day_of(now_us), [0, 0, 0])[1]
        tail = self._tail
        temp = tail.skin_mc + self.site_offset_mc if self.site_offset_mc else tail.skin_mc
        last = len(tail) - 1
        lo = int(np.searchsorted(tail.t_us, int(tail.t_us[last]) - p.smooth_us, side="right"))
        med = float(lower_median_at(temp, np.array([lo]), np.array([last]))[0])
        temperature_c = None if np.isnan(med) else round_c(med)
        held = c.contact_memory >= 0 and now_us - c.last_contact_us <= self._stale
        contact = c.contact_memory == 1 if held else None
        band: Band | None = None
        if now_us - c.last_us > self._stale:
            judging = Judging.NO_DATA
        elif c.last_detached:
            judging = Judging.DETACHED
        elif c.last_settling:
            judging = Judging.SETTLING
        elif temperature_c is None:
            judging = Judging.NO_TEMPERATURE
        else:
            judging, band = Judging.JUDGED, _band_of(med, p)
        return WrapStatus(
            self.wrap_id,
            now_us,
            c.last_us,
            temperature_c,
            band,
            judging,
            contact,
            timer,
            today,
            rolling,
            c.last_battery_pct,
            alarms,
        )

    def rolling_contact_us(self, now_us: int, span_us: int = 24 * 3600 * 1_000_000) -> int:
        """Contact time inside ``[now - span, now]`` (the rolling 24 h total by default)."""
        lo = now_us - span_us
        return sum(max(0, min(b, now_us) - max(a, lo)) for a, b in self._c.recent_runs)

    def active_alarms(self, until_us: int | None = None) -> list[Alarm]:
        """Alarms active after the last reading (and, with ``until_us``, trailing silence)."""
        c = self._c
        out: list[Alarm] = []
        if c.temp is not None:
            out.append(Alarm(c.temp.kind, c.temp.start_us, None, _none_if_nan(c.temp.extreme_mc)))
        for kind, start in (
            (AlarmKind.COOLING_TREND, c.cooling_start_us),
            (AlarmKind.SENSOR_DETACHED, c.detached_alarm_start_us),
            (AlarmKind.LOW_BATTERY, c.battery_start_us),
        ):
            if start is not None:
                out.append(Alarm(kind, start, None))
        if c.silence.start_us is not None:
            # A flapping link: one episode until 60 s of clean data (trailing silence included).
            out.append(Alarm(AlarmKind.NO_DATA, c.silence.start_us, None))
        elif until_us is not None and c.last_us is not None and until_us - c.last_us > self._stale:
            out.append(Alarm(AlarmKind.NO_DATA, c.last_us + self._stale, None))
        return out

    def daily_alarms(self, until_us: int) -> list[Alarm]:
        """``low_daily_contact`` of every complete day up to ``until_us`` (open ones have no end).

        Separate from :meth:`active_alarms` because it changes only at midnights: a live caller
        asks once per ward-local day instead of at every reading.
        """
        c = self._c
        if c.first_us is None or c.last_us is None:
            return []
        until = max(until_us, c.last_us)
        return list(self._low_daily(self._days(until), until))

    def goal_contact_us(self, lo_us: int, hi_us: int) -> int | None:
        """Contact in ``[lo, hi)`` that counts towards the daily goal when not all of it does
        (``params.goal_sessions_at_least_s`` > 0, intermittent KMC): that of the sessions at least
        that long, the running one included once it is. A session crossing ``lo`` or ``hi`` counts in
        proportion to its time inside (as the programme's indicators count it). None when every
        second of contact counts (then it is the day's ``contact_us``)."""
        at_least = self.params.goal_sessions_at_least_s
        if at_least <= 0:
            return None
        at_least_us = seconds_to_us(at_least)
        sessions = list(self._sessions)
        current = self.open_session()
        if current is not None:
            sessions.append(current)
        total = 0.0
        for x in sessions:
            if x.duration_us < at_least_us or x.end_us <= lo_us or x.start_us >= hi_us:
                continue
            total += x.contact_us * (min(x.end_us, hi_us) - max(x.start_us, lo_us)) / x.duration_us
        return round(total)

    def report(self, until_us: int | None = None) -> WrapReport:
        """Everything the rules say about the readings fed so far, analysed up to ``until_us``.

        ``until_us`` defaults to the last reading; a later time reveals trailing silence (``no_data``)
        and lets the last day count as complete.
        """
        c = self._c
        if c.first_us is None or c.last_us is None:
            return WrapReport(self.wrap_id, None, None, 0, c.invalid, 0, 0, 0, (), (), ())
        until = c.last_us if until_us is None else max(until_us, c.last_us)
        sessions = list(self._sessions)
        current = self._session_of(c.stretch) if c.stretch is not None else None
        if current is not None:
            sessions.append(current)
        alarms = list(self._alarms) + self.active_alarms(until)
        days = self._days(until)
        alarms += self._low_daily(days, until)
        alarms.sort(key=lambda a: (a.start_us, a.kind.value))
        return WrapReport(
            self.wrap_id,
            c.first_us,
            c.last_us,
            c.readings,
            c.invalid,
            c.last_us - c.first_us,
            c.contact_us,
            c.unknown_us,
            tuple(sessions),
            tuple(alarms),
            tuple(days),
        )

    def _days(self, until: int) -> list[DayTotal]:
        c = self._c
        assert c.first_us is not None and c.last_us is not None
        days, edges = self.calendar.days_between(c.first_us, c.last_us)
        out = []
        for k, d in enumerate(days):
            start, end = int(edges[k]), int(edges[k + 1])
            obs, con, unk = c.days.get(d, [0, 0, 0])
            complete = c.first_us <= start + self._stale and until >= end - self._stale
            out.append(DayTotal(d, start, end, obs, con, unk, complete))
        return out

    def _low_daily(self, days: Sequence[DayTotal], until: int) -> Iterable[Alarm]:
        limit = seconds_to_us(self.params.min_daily_contact_s)
        for d in days:
            if not d.complete:
                continue
            goal = self.goal_contact_us(d.start_us, d.end_us)
            if (d.contact_us if goal is None else goal) < limit:
                nxt = self.calendar.midnight_us(d.day + dt.timedelta(days=1) + dt.timedelta(days=1))
                yield Alarm(AlarmKind.LOW_DAILY_CONTACT, d.end_us, nxt if until >= nxt else None)


def _joined(tail: WrapSeries, chunk: WrapSeries) -> WrapSeries:
    """The carried tail followed by the chunk (the chunk itself, uncopied, when there is no tail)."""
    if len(tail) == 0:
        return chunk
    return WrapSeries(
        chunk.wrap_id,
        np.concatenate((tail.t_us, chunk.t_us)),
        np.concatenate((tail.skin_mc, chunk.skin_mc)),
        np.concatenate((tail.ambient_mc, chunk.ambient_mc)),
        np.concatenate((tail.contact, chunk.contact)),
        np.concatenate((tail.battery_pct, chunk.battery_pct)),
    )


def _band_of(temp_mc: float, p: RuleParams) -> Band:
    """The WHO band of a smoothed temperature (clinical-rules.md, "Temperature")."""
    if temp_mc < celsius_to_mc(p.severe_below_c):
        return Band.HYPOTHERMIA_SEVERE
    if temp_mc < celsius_to_mc(p.moderate_below_c):
        return Band.HYPOTHERMIA_MODERATE
    if temp_mc < celsius_to_mc(p.cold_stress_below_c):
        return Band.COLD_STRESS
    if temp_mc > celsius_to_mc(p.hyperthermia_above_c):
        return Band.HYPERTHERMIA
    return Band.NORMAL


def _none_if_nan(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def analyze_series(
    series: WrapSeries,
    params: RuleParams | None = None,
    *,
    until_us: int | None = None,
    site_offset_mc: int = 0,
    calendar: DayCalendar | None = None,
) -> WrapReport:
    """The batch analysis of one wrap: the stream fed once."""
    stream = WrapStream(series.wrap_id, params, site_offset_mc=site_offset_mc, calendar=calendar)
    stream.feed(series)
    return stream.report(until_us)
