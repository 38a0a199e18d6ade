"""A plain, per-reading reference implementation of ``docs/rules.md``: the yardstick for the fast core.

Why this exists: the vectorised core in ``kmc_monitor/signal/`` is fast but clever (cumulative sums,
rank counting, index arithmetic). This module applies the same rules the slow, obvious way -- one
reading at a time, plain Python lists, medians by actually sorting the window, lagged readings found
by walking a pointer -- so that a Hypothesis test can compare the two on arbitrary traces and a
disagreement points at a bug in one of them. It deliberately shares nothing with the core but the
input, parameter and output types.

Clarity beats speed, but every step is O(n * window) (no scan from the start of the trace per
reading), so it still runs on an hour or two of 1 Hz data.

Units follow the core: times are integer microseconds, temperatures milli-degrees Celsius (floats
holding integers), so every comparison and sum is exact.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from kmc_monitor.signal.params import RuleParams, celsius_to_mc, seconds_to_us
from kmc_monitor.signal.report import Alarm, AlarmKind, DayTotal, Session, WrapReport
from kmc_monitor.signal.series import WrapSeries

__all__ = ["reference_report"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)

#: Cold kinds in the order their start candidates are processed at one reading: worst first, so that
#: a milder kind whose candidate falls on the same reading is ignored instead of flashing for 0 µs.
_COLD_WORST_FIRST = (
    AlarmKind.HYPOTHERMIA_SEVERE,
    AlarmKind.HYPOTHERMIA_MODERATE,
    AlarmKind.COLD_STRESS,
)


# ---------------------------------------------------------------------------------------------------
# Parameters in integer form
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Limits:
    """Every threshold of ``RuleParams`` converted once to whole µs / m°C.

    Why: the rules are defined on integers (docs/rules.md, "Units and resolution"); converting in one
    place with the same rounding as ``params.py`` keeps every comparison below exact and obvious.
    """

    stale: int
    gap_tolerance: int
    no_data_clear: int
    smooth: int
    bridge: int
    min_session: int
    short_session: int
    min_daily_contact: int
    cold_stress_below: int
    moderate_below: int
    severe_below: int
    hyper_above: int
    recovery_cold: int
    recovery_hot: int
    recovery_delay: int
    cold_stress_delay: int
    moderate_delay: int
    severe_delay: int
    hyper_delay: int
    detach_gap: int
    detach_fall: int
    fall_window: int
    reattach_gap: int
    reattach_rise: int
    settle: int
    sensor_detached_delay: int
    cooling_window: int
    cooling_lag_max: int
    cooling_below: int
    cooling_drop: int
    cooling_clear_drop: int
    cooling_delay: int

    @staticmethod
    def of(p: RuleParams) -> _Limits:
        return _Limits(
            stale=p.stale_after_us,
            gap_tolerance=p.gap_tolerance_us,
            no_data_clear=seconds_to_us(p.no_data_clear_s),
            smooth=p.smooth_us,
            bridge=seconds_to_us(p.bridge_gap_s),
            min_session=seconds_to_us(p.min_session_s),
            short_session=seconds_to_us(p.short_session_s),
            min_daily_contact=seconds_to_us(p.min_daily_contact_s),
            cold_stress_below=celsius_to_mc(p.cold_stress_below_c),
            moderate_below=celsius_to_mc(p.moderate_below_c),
            severe_below=celsius_to_mc(p.severe_below_c),
            hyper_above=celsius_to_mc(p.hyperthermia_above_c),
            recovery_cold=p.recovery_cold_mc,
            recovery_hot=p.recovery_hot_mc,
            recovery_delay=seconds_to_us(p.recovery_s),
            cold_stress_delay=seconds_to_us(p.cold_stress_delay_s),
            moderate_delay=seconds_to_us(p.moderate_delay_s),
            severe_delay=seconds_to_us(p.severe_delay_s),
            hyper_delay=seconds_to_us(p.hyperthermia_delay_s),
            detach_gap=celsius_to_mc(p.detach_gap_c),
            detach_fall=celsius_to_mc(p.detach_fall_c),
            fall_window=seconds_to_us(p.detach_fall_window_s),
            reattach_gap=celsius_to_mc(p.reattach_gap_c),
            reattach_rise=celsius_to_mc(p.reattach_rise_c),
            settle=seconds_to_us(p.settle_s),
            sensor_detached_delay=seconds_to_us(p.sensor_detached_delay_s),
            cooling_window=seconds_to_us(p.cooling_window_s),
            cooling_lag_max=p.cooling_lag_max_us,
            cooling_below=celsius_to_mc(p.cooling_below_c),
            cooling_drop=p.cooling_drop_mc,
            cooling_clear_drop=p.cooling_clear_drop_mc,
            cooling_delay=seconds_to_us(p.cooling_delay_s),
        )


# ---------------------------------------------------------------------------------------------------
# Small plain helpers
# ---------------------------------------------------------------------------------------------------


def _optional(values: list[float]) -> list[float | None]:
    """NaN -> None, so that "missing" is explicit in every loop below."""
    return [None if math.isnan(v) else float(v) for v in values]


def _lower_median(values: list[float]) -> float | None:
    """The lower median by sorting: the value at 0-based position ``(n - 1) // 2``; None when empty."""
    if not values:
        return None
    return sorted(values)[(len(values) - 1) // 2]


def _window_lower_medians(t: list[int], values: list[float | None], smooth_us: int) -> list[float | None]:
    """Per reading ``i``: lower median of the valid values of readings ``t_i - smooth < t_j <= t_i``.

    ``lo`` only moves forward, so this is O(n * window).
    """
    out: list[float | None] = []
    lo = 0
    for i in range(len(t)):
        while t[lo] <= t[i] - smooth_us:
            lo += 1
        window = [v for v in values[lo : i + 1] if v is not None]
        out.append(_lower_median(window))
    return out


def _lag_indices(t: list[int], lag_us: int, max_age_us: int) -> list[int | None]:
    """Per reading ``i``: the last reading with ``t <= t_i - lag``, if no older than ``t_i - max_age``.

    The pointer ``p`` (last reading with ``t_p <= t_i - lag``) only moves forward as ``t_i`` grows.
    """
    out: list[int | None] = []
    p = -1
    for i in range(len(t)):
        while p + 1 < len(t) and t[p + 1] <= t[i] - lag_us:
            p += 1
        if p >= 0 and t[p] >= t[i] - max_age_us:
            out.append(p)
        else:
            out.append(None)
    return out


def _lagged_differences(values: list[float | None], lags: list[int | None]) -> list[float | None]:
    """``values[i] - values[lag(i)]`` where the lag exists and both values are valid."""
    out: list[float | None] = []
    for i, lag in enumerate(lags):
        now = values[i]
        then = None if lag is None else values[lag]
        out.append(None if now is None or then is None else now - then)
    return out


def _overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> int:
    """Length of the overlap of two spans (0 when they do not overlap)."""
    return max(0, min(a_end, b_end) - max(a_start, b_start))


def _local_date(t_us: int, tz: ZoneInfo) -> dt.date:
    """Calendar date of an instant in the ward's zone (exact: no float seconds involved)."""
    return (_EPOCH + dt.timedelta(microseconds=t_us)).astimezone(tz).date()


def _local_midnight_us(day: dt.date, tz: ZoneInfo) -> int:
    """The instant (µs) of the local midnight that starts ``day`` (zoneinfo's fold=0 reading)."""
    local = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    return (local - _EPOCH) // _ONE_US


class _Contact(enum.Enum):
    """State of one interval ``[t_i, t_i+1)``."""

    CONTACT = "contact"
    NO_CONTACT = "no_contact"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class _Run:
    """One predicate's run and its start (or recovery) candidate.

    A run is a maximal sequence of consecutive readings where the predicate holds and every interval
    between them is known; the candidate is the first reading of the run at least ``delay_us`` after
    its onset. ``step`` is called at every reading, in order, and says whether this reading is the
    candidate.
    """

    delay_us: int
    onset_us: int | None = None
    fired: bool = False

    def step(self, holds: bool, t_us: int, follows_known_interval: bool) -> bool:
        if not holds:
            self.onset_us = None
            return False
        if self.onset_us is None or not follows_known_interval:
            self.onset_us = t_us
            self.fired = False
        if not self.fired and t_us - self.onset_us >= self.delay_us:
            self.fired = True
            return True
        return False


@dataclass(slots=True)
class _Episode:
    """An alarm episode while it is being built; ``end_us`` None means still active."""

    kind: AlarmKind
    start_us: int
    end_us: int | None = None


# ---------------------------------------------------------------------------------------------------
# Contact, sessions, days
# ---------------------------------------------------------------------------------------------------


def _contact_memory(contact: list[float | None], p: RuleParams) -> list[bool | None]:
    """Hysteresis contact state per reading; None for readings without a valid contact value.

    Readings without a value neither change nor reset the memory (docs/rules.md, "Contact hysteresis").
    """
    out: list[bool | None] = []
    state: bool | None = None
    for c in contact:
        if c is None:
            out.append(None)
            continue
        if state is None:
            state = c >= p.contact_first
        elif c >= p.contact_on:
            state = True
        elif c <= p.contact_off:
            state = False
        out.append(state)
    return out


def _interval_states(t: list[int], memory: list[bool | None], lim: _Limits) -> list[_Contact]:
    """State of each interval ``[t_i, t_i+1)``.

    The state is the one last measured (the last reading at or before ``t_i`` with a contact value),
    held while the whole interval lies within ``stale`` of that measurement (``t_i+1 - t_m <= stale``);
    otherwise, or before any measurement, it is unknown. With contact in every reading this is the
    plain rule: unknown when the interval is longer than ``stale``.
    """
    states: list[_Contact] = []
    held: bool | None = None
    measured_at: int | None = None
    for i in range(len(t) - 1):
        if memory[i] is not None:
            held, measured_at = memory[i], t[i]
        if measured_at is None or t[i + 1] - measured_at > lim.stale:
            states.append(_Contact.UNKNOWN)
        elif held:
            states.append(_Contact.CONTACT)
        else:
            states.append(_Contact.NO_CONTACT)
    return states


def _sessions(t: list[int], states: list[_Contact], lim: _Limits) -> list[Session]:
    """Contact runs, joined into stretches across gaps of at most ``bridge``; long stretches are sessions."""
    runs: list[tuple[int, int]] = []
    previous_was_contact = False
    for i, state in enumerate(states):
        if state is _Contact.CONTACT:
            if previous_was_contact:
                runs[-1] = (runs[-1][0], t[i + 1])
            else:
                runs.append((t[i], t[i + 1]))
            previous_was_contact = True
        else:
            previous_was_contact = False

    stretches: list[list[tuple[int, int]]] = []
    for run in runs:
        if stretches and run[0] - stretches[-1][-1][1] <= lim.bridge:
            stretches[-1].append(run)
        else:
            stretches.append([run])

    sessions: list[Session] = []
    for stretch in stretches:
        start, end = stretch[0][0], stretch[-1][1]
        if end - start >= lim.min_session:
            contact = sum(run_end - run_start for run_start, run_end in stretch)
            sessions.append(Session(start, end, contact, end - start < lim.short_session))
    return sessions


def _days(t: list[int], states: list[_Contact], until_us: int, p: RuleParams, lim: _Limits) -> list[DayTotal]:
    """Totals per local calendar day from the first reading's day to the last reading's day, inclusive."""
    tz = ZoneInfo(p.ward_tz)
    first, last = t[0], t[-1]
    day = _local_date(first, tz)
    last_day = _local_date(last, tz)
    out: list[DayTotal] = []
    while day <= last_day:
        day_start = _local_midnight_us(day, tz)
        day_end = _local_midnight_us(day + dt.timedelta(days=1), tz)
        contact = 0
        unknown = 0
        # Only intervals that can overlap the day: from the one holding day_start (or the first) to
        # the last one starting before day_end. Keeps the whole loop linear however many days.
        lo = max(0, bisect.bisect_right(t, day_start) - 1)
        hi = min(len(states), bisect.bisect_left(t, day_end))
        for i in range(lo, hi):
            state = states[i]
            share = _overlap(t[i], t[i + 1], day_start, day_end)
            if state is _Contact.CONTACT:
                contact += share
            elif state is _Contact.UNKNOWN:
                unknown += share
        observed = _overlap(first, last, day_start, day_end)
        complete = first <= day_start + lim.stale and until_us >= day_end - lim.stale
        out.append(DayTotal(day, day_start, day_end, observed, contact, unknown, complete))
        day = day + dt.timedelta(days=1)
    return out


# ---------------------------------------------------------------------------------------------------
# Technical and advisory alarms that do not depend on temperature
# ---------------------------------------------------------------------------------------------------


def _no_data_alarms(t: list[int], until_us: int, lim: _Limits) -> list[_Episode]:
    """``no_data`` episodes: a stale interval starts one at ``t_i + stale`` (unless one is open); it ends
    at the first reading at least ``no_data_clear`` after the first reading following the latest stale
    interval. Trailing silence before ``until`` opens one (or continues the open one)."""
    out: list[_Episode] = []
    episode: _Episode | None = None
    clean_from = 0
    for i in range(1, len(t)):
        if t[i] - t[i - 1] > lim.stale:
            if episode is None:
                episode = _Episode(AlarmKind.NO_DATA, t[i - 1] + lim.stale)
                out.append(episode)
            clean_from = t[i]
        elif episode is not None and t[i] - clean_from >= lim.no_data_clear:
            episode.end_us = t[i]
            episode = None
    if episode is None and until_us - t[-1] > lim.stale:
        out.append(_Episode(AlarmKind.NO_DATA, t[-1] + lim.stale, None))
    return out


def _low_battery_alarms(t: list[int], battery: list[float | None], p: RuleParams) -> list[_Episode]:
    """Start below ``low_battery_pct``, end at ``>= battery_recovered_pct``; missing values change nothing."""
    out: list[_Episode] = []
    active: _Episode | None = None
    for i, b in enumerate(battery):
        if b is None:
            continue
        if active is None and b < p.low_battery_pct:
            active = _Episode(AlarmKind.LOW_BATTERY, t[i])
            out.append(active)
        elif active is not None and b >= p.battery_recovered_pct:
            active.end_us = t[i]
            active = None
    return out


def _low_daily_contact_alarms(
    days: list[DayTotal], until_us: int, p: RuleParams, lim: _Limits
) -> list[_Episode]:
    """For each complete day short of contact: from its end to the next day's end (None if not reached)."""
    tz = ZoneInfo(p.ward_tz)
    out: list[_Episode] = []
    for day in days:
        if day.complete and day.contact_us < lim.min_daily_contact:
            next_end = _local_midnight_us(day.day + dt.timedelta(days=2), tz)
            end = next_end if until_us >= next_end else None
            out.append(_Episode(AlarmKind.LOW_DAILY_CONTACT, day.end_us, end))
    return out


# ---------------------------------------------------------------------------------------------------
# Temperature: per-reading quantities, detachment, settling, conditions
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Temperature:
    """Per-reading temperature quantities (lists aligned with the readings)."""

    smooth_t: list[float | None]
    detached: list[bool]
    judged: list[bool]
    drop30_median: list[float | None]


def _falls_from_peak(t: list[int], smooth_skin: list[float | None], span_us: int) -> list[float | None]:
    """Per reading: its smoothed skin minus the highest smoothed skin of readings ``t_i - span <= t_k
    <= t_i`` (the fall "over any span of up to 60 s"); None without a smoothed skin. ``lo`` only moves
    forward, so this is O(n * span)."""
    out: list[float | None] = []
    lo = 0
    for i in range(len(t)):
        while t[lo] < t[i] - span_us:
            lo += 1
        now = smooth_skin[i]
        seen = [v for v in smooth_skin[lo : i + 1] if v is not None]
        out.append(None if now is None else now - max(seen))
    return out


def _detached_states(
    gap_median: list[float | None],
    fall_median: list[float | None],
    smooth_skin: list[float | None],
    lim: _Limits,
) -> list[bool]:
    """The detach state machine of docs/rules.md, one reading at a time.

    Detach test wins; a detached state ends by the ambient re-attach test, or by the rise test at
    readings whose window has no gap value. The episode's lowest smoothed skin includes the current
    reading. The state before the first reading is attached and is kept across data gaps.
    """
    out: list[bool] = []
    detached = False
    episode_min: float | None = None
    for i in range(len(gap_median)):
        gap = gap_median[i]
        fall = fall_median[i]
        skin = smooth_skin[i]
        detach_test = (gap is not None and gap < lim.detach_gap) or (
            fall is not None and fall < -lim.detach_fall
        )
        if detach_test and not detached:
            detached = True
            episode_min = None
        if detached and skin is not None and (episode_min is None or skin < episode_min):
            episode_min = skin
        if detached and not detach_test:
            if gap is not None:
                reattach = gap >= lim.reattach_gap
            else:
                rise = None if skin is None or episode_min is None else skin - episode_min
                reattach = rise is not None and rise >= lim.reattach_rise
            if reattach:
                detached = False
                episode_min = None
        out.append(detached)
    return out


def _judged(t: list[int], smooth_t: list[float | None], detached: list[bool], lim: _Limits) -> list[bool]:
    """Whether each reading's band counts: smoothed T present, attached, and not settling.

    Settling starts at the first reading (if attached) and at each re-attachment; it ends at the first
    reading with ``t - settle_start >= settle`` or with a smoothed T in the normal band, and that reading
    is judged. A data gap does not restart it.
    """
    out: list[bool] = []
    settling = False
    settle_start = 0
    for i in range(len(t)):
        if detached[i]:
            out.append(False)
            continue
        if i == 0 or detached[i - 1]:
            settling = True
            settle_start = t[i]
        value = smooth_t[i]
        if settling:
            normal = value is not None and lim.cold_stress_below <= value <= lim.hyper_above
            if t[i] - settle_start >= lim.settle or normal:
                settling = False
        out.append(value is not None and not settling)
    return out


def _temperature(
    t: list[int], skin: list[float | None], ambient: list[float | None], offset_mc: int, lim: _Limits
) -> _Temperature:
    """Smoothed T, detach state, judged flags and the cooling-trend drop medians per reading."""
    temp: list[float | None] = [None if s is None else s + offset_mc for s in skin]
    gap: list[float | None] = [
        None if s is None or a is None else s - a for s, a in zip(skin, ambient, strict=True)
    ]
    drop30 = _lagged_differences(temp, _lag_indices(t, lim.cooling_window, lim.cooling_lag_max))

    smooth_t = _window_lower_medians(t, temp, lim.smooth)
    smooth_skin = _window_lower_medians(t, skin, lim.smooth)
    gap_median = _window_lower_medians(t, gap, lim.smooth)
    fall_median = _falls_from_peak(t, smooth_skin, lim.fall_window)
    drop30_median = _window_lower_medians(t, drop30, lim.smooth)

    detached = _detached_states(gap_median, fall_median, smooth_skin, lim)
    judged = _judged(t, smooth_t, detached, lim)
    return _Temperature(smooth_t, detached, judged, drop30_median)


def _temperature_alarms(t: list[int], temp: _Temperature, lim: _Limits) -> list[_Episode]:
    """Temperature conditions, ``cooling_trend`` and ``sensor_detached``, in one pass over the readings.

    Every run is stepped at every reading (a reading that is not judged breaks the judged runs). At one
    reading events apply in the order of docs/rules.md: detachment, recoveries, starts worst to mildest.
    """
    out: list[_Episode] = []
    starts = {
        AlarmKind.HYPOTHERMIA_SEVERE: _Run(lim.severe_delay),
        AlarmKind.HYPOTHERMIA_MODERATE: _Run(lim.moderate_delay),
        AlarmKind.COLD_STRESS: _Run(lim.cold_stress_delay),
        AlarmKind.HYPERTHERMIA: _Run(lim.hyper_delay),
    }
    below = {
        AlarmKind.HYPOTHERMIA_SEVERE: lim.severe_below,
        AlarmKind.HYPOTHERMIA_MODERATE: lim.moderate_below,
        AlarmKind.COLD_STRESS: lim.cold_stress_below,
    }
    cold_recovery = _Run(lim.recovery_delay)
    hot_recovery = _Run(lim.recovery_delay)
    cooling_start = _Run(lim.cooling_delay)
    cooling_recovery = _Run(lim.recovery_delay)
    detached_run = _Run(lim.sensor_detached_delay)

    condition: _Episode | None = None
    cooling: _Episode | None = None
    sensor: _Episode | None = None

    for i in range(len(t)):
        now = t[i]
        # Silence is not recovery: a gap up to gap_tolerance keeps every run (and its clock) going.
        follows_known = i > 0 and now - t[i - 1] <= lim.gap_tolerance
        detached = temp.detached[i]
        judged = temp.judged[i]
        value = temp.smooth_t[i]
        drop = temp.drop30_median[i]

        # Candidates of every run at this reading (computed before any state change: runs do not
        # depend on which alarms are active).
        start_candidate: dict[AlarmKind, bool] = {}
        for kind, threshold in below.items():
            holds = judged and value is not None and value < threshold
            start_candidate[kind] = starts[kind].step(holds, now, follows_known)
        hot = judged and value is not None and value > lim.hyper_above
        start_candidate[AlarmKind.HYPERTHERMIA] = starts[AlarmKind.HYPERTHERMIA].step(hot, now, follows_known)
        cold_recovered = cold_recovery.step(
            judged and value is not None and value >= lim.recovery_cold, now, follows_known
        )
        hot_recovered = hot_recovery.step(
            judged and value is not None and value <= lim.recovery_hot, now, follows_known
        )
        cooling_holds = (
            judged
            and value is not None
            and value < lim.cooling_below
            and drop is not None
            and drop <= -lim.cooling_drop
        )
        cooling_clears = (
            judged
            and value is not None
            and (value >= lim.cooling_below or (drop is not None and drop > -lim.cooling_clear_drop))
        )
        cooling_started = cooling_start.step(cooling_holds, now, follows_known)
        cooling_recovered = cooling_recovery.step(cooling_clears, now, follows_known)
        detached_candidate = detached_run.step(detached, now, follows_known)

        # 1. Detachment: ends the temperature condition and the cooling trend; sensor_detached.
        if detached:
            if condition is not None:
                condition.end_us = now
                condition = None
            if cooling is not None:
                cooling.end_us = now
                cooling = None
            if detached_candidate and sensor is None:
                sensor = _Episode(AlarmKind.SENSOR_DETACHED, now)
                out.append(sensor)
        elif sensor is not None:
            sensor.end_us = now
            sensor = None

        # 2. Recoveries.
        if condition is not None and condition.kind.is_cold and cold_recovered:
            condition.end_us = now
            condition = None
        if condition is not None and condition.kind is AlarmKind.HYPERTHERMIA and hot_recovered:
            condition.end_us = now
            condition = None
        if cooling is not None and cooling_recovered:
            cooling.end_us = now
            cooling = None

        # 3. Starts, worst to mildest.
        for kind in _COLD_WORST_FIRST:
            if not start_candidate[kind]:
                continue
            replaces = (
                condition is None
                or condition.kind is AlarmKind.HYPERTHERMIA
                or condition.kind.cold_severity < kind.cold_severity
            )
            if replaces:
                if condition is not None:
                    condition.end_us = now
                condition = _Episode(kind, now)
                out.append(condition)
        if start_candidate[AlarmKind.HYPERTHERMIA] and (condition is None or condition.kind.is_cold):
            if condition is not None:
                condition.end_us = now
            condition = _Episode(AlarmKind.HYPERTHERMIA, now)
            out.append(condition)
        if cooling_started and cooling is None:
            cooling = _Episode(AlarmKind.COOLING_TREND, now)
            out.append(cooling)
    return out


def _extreme(episode: _Episode, t: list[int], smooth_t: list[float | None]) -> float | None:
    """Lowest (cold) / highest (hyperthermia) smoothed T of readings ``start <= t < end`` (or to the end)."""
    if not episode.kind.has_extreme:
        return None
    lo = bisect.bisect_left(t, episode.start_us)
    hi = len(t) if episode.end_us is None else bisect.bisect_left(t, episode.end_us)
    values = [v for v in smooth_t[lo:hi] if v is not None]
    if not values:
        return None
    return min(values) if episode.kind.is_cold else max(values)


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------


def reference_report(
    series: WrapSeries,
    params: RuleParams,
    until_us: int | None = None,
    site_offset_mc: int = 0,
) -> WrapReport:
    """Apply docs/rules.md to one wrap, reading by reading; the expected answer of the fast core.

    ``until_us`` is the time the analysis runs to (trailing ``no_data``, day completeness and
    ``low_daily_contact`` ends); None means the wrap's own last reading. A value before the last
    reading is treated as the last reading (the analysis cannot stop before data it has seen).
    ``site_offset_mc`` is added to every skin temperature to give the core-equivalent T.
    """
    n = len(series)
    if n == 0:
        return WrapReport(series.wrap_id, None, None, 0, series.invalid, 0, 0, 0, (), (), ())

    lim = _Limits.of(params)
    t = [int(v) for v in series.t_us.tolist()]
    skin = _optional(series.skin_mc.tolist())
    ambient = _optional(series.ambient_mc.tolist())
    contact = _optional(series.contact.tolist())
    battery = _optional(series.battery_pct.tolist())
    first, last = t[0], t[-1]
    until = last if until_us is None else max(until_us, last)

    states = _interval_states(t, _contact_memory(contact, params), lim)
    contact_us = sum(t[i + 1] - t[i] for i, s in enumerate(states) if s is _Contact.CONTACT)
    unknown_us = sum(t[i + 1] - t[i] for i, s in enumerate(states) if s is _Contact.UNKNOWN)
    sessions = _sessions(t, states, lim)
    days = _days(t, states, until, params, lim)

    temp = _temperature(t, skin, ambient, site_offset_mc, lim)
    episodes = (
        _no_data_alarms(t, until, lim)
        + _low_battery_alarms(t, battery, params)
        + _low_daily_contact_alarms(days, until, params, lim)
        + _temperature_alarms(t, temp, lim)
    )
    alarms = [Alarm(e.kind, e.start_us, e.end_us, _extreme(e, t, temp.smooth_t)) for e in episodes]
    alarms.sort(key=lambda a: (a.start_us, a.kind.value))

    return WrapReport(
        wrap_id=series.wrap_id,
        first_us=first,
        last_us=last,
        readings=n,
        invalid_readings=series.invalid,
        observed_us=last - first,
        contact_us=contact_us,
        unknown_us=unknown_us,
        sessions=tuple(sorted(sessions, key=lambda s: s.start_us)),
        alarms=tuple(alarms),
        days=tuple(days),
    )
