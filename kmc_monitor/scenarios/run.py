"""Running a scenario: the trace through the batch analysis and through the live engine, then every
expectation checked against both.

"Through the same engine" is meant literally: the offline ``analyze`` (:func:`analyze_series`) and
the ward service (:class:`~kmc_monitor.service.engine.LiveEngine`, readings arriving at their own
time and ticks on an injected clock) must each satisfy the scenario. A rule that holds in a report
but not on the ward screen, or the other way round, fails. The engine is sans-I/O, so its ward is
kept in memory (:mod:`kmc_monitor.scenarios.live`): a scenario run needs no database.

What the live path reports is what the ward's alarm board did: when it raised each alarm, with which
priority, and when the condition ended. The board acts at its ticks, so its times may be up to one
tick (``live.tick_s`` of trace time) after the rules' time; windows are widened by that much on the
live path only. Sessions and totals come from the live wrap's stream at the end of the run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kmc_monitor.devices.reading import Reading, readings_to_series
from kmc_monitor.errors import KmcError
from kmc_monitor.scenarios.facts import (
    BATCH,
    LIVE,
    AlarmFact,
    Check,
    Facts,
    Outcome,
    ScenarioResult,
    SessionFact,
    facts_of_report,
)
from kmc_monitor.scenarios.load import LoadedScenario, ScenarioError
from kmc_monitor.scenarios.model import (
    AlarmExpect,
    BuilderSpec,
    DayExpect,
    EndSpec,
    Expect,
    Range,
    Scenario,
    SessionExpect,
    SimulatorGen,
    Window,
)
from kmc_monitor.signal import DayCalendar, RuleParams, analyze_series
from kmc_monitor.signal.params import US, celsius_to_mc, seconds_to_us
from kmc_monitor.signal.report import AlarmKind
from kmc_monitor.signal.series import WrapSeries, build_series

__all__ = ["Outcomes", "judge", "run_scenario", "simulate"]


# The trace --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Material:
    series: list[WrapSeries]
    #: Readings as delivered (a generated trace's delivery faults included), for the live path.
    readings: list[Reading]
    t0_s: float


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _from_builder(spec: BuilderSpec, params: RuleParams) -> _Material:
    from kmc_monitor.devices.simulation.synthetic import WARD_NOISE, Delivery, Noise, TraceBuilder

    quiet = Noise(skin_sd_c=0.02, ambient_sd_c=0.05, contact_sd=0.01)
    noise = (
        {"none": Noise(), "quiet": quiet, "ward": WARD_NOISE}.get(spec.noise)
        if isinstance(spec.noise, str)
        else Noise(**spec.noise.model_dump())
    )
    delivery = None if spec.delivery is None else Delivery(**spec.delivery.model_dump())
    try:
        b = TraceBuilder(
            spec.wrap_id,
            spec.start,
            spec.rate_hz,
            seed=spec.seed,
            skin_c=spec.skin_c,
            ambient_c=spec.ambient_c,
            contact=spec.contact,
            battery_pct=spec.battery_pct,
            drain_pct_per_h=spec.drain_pct_per_h,
            noise=noise,
            delivery=delivery,
            ambient_sensor=spec.ambient_sensor,
        )
        for step in spec.steps:
            a = dict(step.args)
            if step.op == "battery":
                b.battery(a["value"])
            elif step.op == "drain":
                b.drain(a["value"])
            elif step.op in ("contact", "apart"):
                getattr(b, step.op)(a.pop("duration"), a.pop("skin_c", None), a.pop("ambient_c", None), **a)
            elif step.op == "ramp_skin":
                b.ramp_skin(a.pop("duration"), a.pop("to_c"), **a)
            elif step.op == "approach_skin":
                b.approach_skin(a.pop("duration"), a.pop("to_c"), a.pop("tau"), **a)
            elif step.op in ("detached", "reattach"):
                a["tau_s"] = a.pop("tau")
                getattr(b, step.op)(a.pop("duration"), **a)
            else:  # gap
                b.gap(a["duration"])
    except ValueError as exc:
        raise ScenarioError(f"generate: {exc}") from None
    rows = b.rows()
    if spec.contact_every > 1:
        rows.contact[np.arange(rows.contact.shape[0]) % spec.contact_every != 0] = np.nan
    readings = rows.readings()
    series = build_series(
        rows.wrap_id, rows.t_s, rows.skin_c, rows.ambient_c, rows.contact, rows.battery_pct, params=params
    )
    return _Material([series], readings, spec.start)


def _from_simulator(gen: SimulatorGen, params: RuleParams) -> _Material:
    from kmc_monitor.devices.simulation.simulator import SimConfig, WardSimulator

    spec = gen.simulator
    ward = WardSimulator(
        spec.wraps, start_s=spec.start, seed=spec.seed, config=SimConfig(measure_s=spec.measure_s)
    )
    end_s = spec.start + spec.hours * 3600.0
    readings = [
        Reading(m.t, m.wrap_id, m.skin_temp_c, m.ambient_temp_c, m.contact_fraction, float(m.battery_pct))
        for w in ward.wraps
        for m in w.measure_until(end_s)
    ]
    return _Material(readings_to_series(readings, params), readings, spec.start)


def _from_file(loaded: LoadedScenario, params: RuleParams) -> _Material:
    from kmc_monitor.devices.trace import read_traces

    assert loaded.scenario.trace is not None
    path = (loaded.path.parent / loaded.scenario.trace).resolve()
    if not path.is_file():
        raise ScenarioError(f"{loaded.path}:{loaded.line}: trace: no such file {loaded.scenario.trace}")
    # As analyze does: clock faults judged against this machine's clock (a recording is in the past).
    latest_us = seconds_to_us(time.time() + params.max_clock_lead_s)
    traces = read_traces(path, params, latest_us=latest_us)
    series = [s for s in traces.series if len(s)]
    if not series:
        raise ScenarioError(f"{loaded.path}: the trace {loaded.scenario.trace} has no readings")
    readings = [
        Reading(t / US, s.wrap_id, _opt(sk / 1000), _opt(am / 1000), _opt(c), _opt(p))
        for s in series
        for t, sk, am, c, p in zip(
            s.t_us.tolist(),
            s.skin_mc.tolist(),
            s.ambient_mc.tolist(),
            s.contact.tolist(),
            s.battery_pct.tolist(),
            strict=True,
        )
    ]
    t0_s = min(int(s.t_us[0]) for s in series) / US
    return _Material(list(traces.series), readings, t0_s)


def _material(loaded: LoadedScenario, params: RuleParams) -> _Material:
    gen = loaded.scenario.generate
    if isinstance(gen, BuilderSpec):
        return _from_builder(gen, params)
    if isinstance(gen, SimulatorGen):
        return _from_simulator(gen, params)
    return _from_file(loaded, params)


# The two paths ---------------------------------------------------------------------------------------
def _batch(
    series: Sequence[WrapSeries], params: RuleParams, until_us: int, offset_mc: int
) -> dict[str, Facts]:
    calendar = DayCalendar(params.ward_tz)
    return {
        s.wrap_id: facts_of_report(
            analyze_series(s, params, until_us=until_us, site_offset_mc=offset_mc, calendar=calendar),
            BATCH,
            0.0,
        )
        for s in series
    }


def _batch_caregivers(facts: Facts, scenario: Scenario, t0_s: float) -> Facts:
    """The batch path's sessions attributed to the scenario's holding steps (by the same rule)."""
    from kmc_monitor.programme.caregivers import attribute

    labels = ["unknown", *scenario.admission.caregivers]
    steps = [(st.at.at(t0_s), labels.index(st.who) or None) for st in scenario.holding]
    by: dict[str, float] = {}
    for s in facts.sessions:
        who = attribute(s.start_s, s.end_s, steps)
        label = labels[who or 0]
        by[label] = by.get(label, 0.0) + s.contact_s
    return dataclasses.replace(facts, caregiver_s=tuple(sorted(by.items())))


# Checking --------------------------------------------------------------------------------------------
class _Fmt:
    """Times as a scenario writes them: seconds from the trace start, with the ward-local clock."""

    def __init__(self, t0_s: float, tz: str) -> None:
        self.t0_s = t0_s
        self.tz = DayCalendar(tz).tz

    def at(self, t_s: float | None) -> str:
        if t_s is None:
            return "still active"
        local = dt.datetime.fromtimestamp(t_s, self.tz)
        clock = local.strftime("%H:%M:%S") if abs(t_s - self.t0_s) < 86400 else local.isoformat()
        return f"{_num(t_s - self.t0_s)} s ({clock})"

    @staticmethod
    def window(w: Window) -> str:
        return w.text


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") if x != round(x) else f"{x:.0f}"


def _in(window_text: str) -> str:
    """``in [a, b]``, ``at T ± S`` or ``exactly T``."""
    if window_text.startswith("["):
        return f"in {window_text}"
    return window_text if window_text.startswith("exactly") else f"at {window_text}"


def _hms(seconds: float) -> str:
    s = round(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    return f"{sign}{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _in_window(t_s: float, w: Window, t0_s: float, lag_s: float) -> bool:
    lo, hi = w.bounds(t0_s)
    eps = 1e-6
    return lo - eps <= t_s <= hi + lag_s + eps


def _range_text(r: Range, unit: str) -> str:
    """The range as written, with its unit when the scenario gave bare numbers."""
    bare = not any(ch.isalpha() for ch in r.text)
    return f"{r.text}{unit}" if bare else r.text


def _duration_ok(x_s: float, r: Range) -> bool:
    return r.lo - 1e-6 <= x_s <= r.hi + 1e-6


def _describe_alarm(a: AlarmFact, fmt: _Fmt) -> str:
    ext = "" if a.extreme_c is None else f", extreme {a.extreme_c:.2f} °C"
    end = "still active" if a.end_s is None else f"ended {fmt.at(a.end_s)}"
    return f"{a.kind.value} ({a.priority.value}) raised {fmt.at(a.start_s)}, {end}{ext}"


def _expected_alarm(e: AlarmExpect, fmt: _Fmt) -> str:
    parts = [f"{e.kind.value}" + (f" ({e.priority.value})" if e.priority is not None else "")]
    if e.raised is not None:
        parts.append(f"raised {_in(fmt.window(e.raised))}")
    if e.ended is not None:
        parts.append(_end_text(e.ended, fmt))
    if e.extreme_c is not None:
        parts.append(f"extreme {_range_text(e.extreme_c, ' °C')}")
    return ", ".join(parts)


def _end_text(e: EndSpec, fmt: _Fmt) -> str:
    if e.state == "open":
        return "still active at the end"
    if e.state == "closed":
        return "ended"
    assert e.window is not None
    return f"ended {_in(fmt.window(e.window))}"


def _alarm_matches(a: AlarmFact, e: AlarmExpect, f: Facts, t0_s: float) -> bool:
    if a.kind is not e.kind:
        return False
    if e.priority is not None and a.priority is not e.priority:
        return False
    if e.raised is not None and not _in_window(a.start_s, e.raised, t0_s, f.lag_s):
        return False
    if e.ended is not None:
        if e.ended.state == "open" and a.end_s is not None:
            return False
        if e.ended.state != "open" and a.end_s is None:
            return False
        if e.ended.window is not None and a.end_s is not None:
            if not _in_window(a.end_s, e.ended.window, t0_s, f.lag_s):
                return False
    if e.extreme_c is not None:
        if a.extreme_c is None or not (e.extreme_c.lo - 1e-9 <= a.extreme_c <= e.extreme_c.hi + 1e-9):
            return False
    return True


def _session_text(s: SessionFact, fmt: _Fmt) -> str:
    short = ", short" if s.short else ""
    return (
        f"{fmt.at(s.start_s)} to {fmt.at(s.end_s)}, {_hms(s.end_s - s.start_s)} long, "
        f"contact {_hms(s.contact_s)}{short}"
    )


def _expected_session(i: int, e: SessionExpect, fmt: _Fmt) -> str:
    parts = [f"session {i}"]
    if e.start is not None:
        parts.append(f"starts {_in(fmt.window(e.start))}")
    if e.end is not None:
        parts.append(f"ends {_in(fmt.window(e.end))}")
    if e.min_duration is not None:
        parts.append(f"at least {_hms(e.min_duration)} long")
    if e.max_duration is not None:
        parts.append(f"at most {_hms(e.max_duration)} long")
    if e.contact is not None:
        parts.append(f"contact {_range_text(e.contact, '')}")
    if e.short is not None:
        parts.append("short" if e.short else "not short")
    return ", ".join(parts)


def _session_ok(s: SessionFact, e: SessionExpect, t0_s: float) -> bool:
    duration = s.end_s - s.start_s
    return (
        (e.start is None or _in_window(s.start_s, e.start, t0_s, 0.0))
        and (e.end is None or _in_window(s.end_s, e.end, t0_s, 0.0))
        and (e.min_duration is None or duration >= e.min_duration - 1e-6)
        and (e.max_duration is None or duration <= e.max_duration + 1e-6)
        and (e.contact is None or _duration_ok(s.contact_s, e.contact))
        and (e.short is None or s.short is e.short)
    )


_Evaluator = Callable[[Facts], tuple[bool, str]]


class _Checks(list[tuple[str, _Evaluator, str | None]]):
    """Expectations as (what was expected, how to judge one path's facts, batch path only)."""

    def append_check(
        self, expected: str, judge: _Evaluator, *, batch_only: bool = False, live_only: bool = False
    ) -> None:
        self.append((expected, judge, BATCH if batch_only else LIVE if live_only else None))


def _checks_for(expect: Expect, fmt: _Fmt) -> _Checks:
    """Each expectation of one expect block, in the order the report shows them."""
    t0 = fmt.t0_s
    out = _Checks()

    if expect.sessions is not None:
        n = len(expect.sessions)

        def count(f: Facts, n: int = n) -> tuple[bool, str]:
            return len(f.sessions) == n, f"{len(f.sessions)} session(s)"

        out.append_check(f"{n} session(s)", count)
        for i, es in enumerate(expect.sessions, start=1):

            def one(f: Facts, i: int = i, es: SessionExpect = es) -> tuple[bool, str]:
                if len(f.sessions) < i:
                    return False, f"no session {i}"
                s = f.sessions[i - 1]
                return _session_ok(s, es, t0), _session_text(s, fmt)

            out.append_check(_expected_session(i, es, fmt), one)
    if expect.session_count is not None:
        rc = expect.session_count

        def counted(f: Facts, rc: Range = rc) -> tuple[bool, str]:
            return len(f.sessions) in rc, f"{len(f.sessions)} session(s)"

        out.append_check(f"session count {rc.text}", counted)

    def alarm_matches(f: Facts) -> list[int | None]:
        used: set[int] = set()
        found: list[int | None] = []
        for e in expect.alarms:
            hit = next(
                (k for k, a in enumerate(f.alarms) if k not in used and _alarm_matches(a, e, f, t0)), None
            )
            if hit is not None:
                used.add(hit)
            found.append(hit)
        return found

    for idx, e in enumerate(expect.alarms):

        def alarm(f: Facts, idx: int = idx, e: AlarmExpect = e) -> tuple[bool, str]:
            hit = alarm_matches(f)[idx]
            if hit is not None:
                return True, _describe_alarm(f.alarms[hit], fmt)
            same = [a for a in f.alarms if a.kind is e.kind]
            if not same:
                return False, f"no {e.kind.value} alarm"
            shown = "; ".join(_describe_alarm(a, fmt) for a in same[:3])
            more = f"; and {len(same) - 3} more" if len(same) > 3 else ""
            return False, f"{shown}{more}"

        out.append_check(_expected_alarm(e, fmt), alarm)

    if expect.exact:

        def exact(f: Facts) -> tuple[bool, str]:
            hits = {h for h in alarm_matches(f) if h is not None}
            extra = [a for k, a in enumerate(f.alarms) if k not in hits]
            if not extra:
                return True, "no other alarm"
            return False, "also: " + "; ".join(_describe_alarm(a, fmt) for a in extra[:4]) + (
                f"; and {len(extra) - 4} more" if len(extra) > 4 else ""
            )

        out.append_check("no other alarm than those listed (exact)", exact)

    for kind in expect.no_alarms:

        def forbidden(f: Facts, kind: AlarmKind = kind) -> tuple[bool, str]:
            got = [a for a in f.alarms if a.kind is kind]
            if not got:
                return True, "none"
            return False, "; ".join(_describe_alarm(a, fmt) for a in got[:3])

        out.append_check(f"no {kind.value} alarm", forbidden)

    for kind, rk in expect.alarm_count.items():

        def how_many(f: Facts, kind: AlarmKind = kind, rk: Range = rk) -> tuple[bool, str]:
            n = sum(a.kind is kind for a in f.alarms)
            return n in rk, f"{n} {kind.value} alarm(s)"

        out.append_check(f"{rk.text} {kind.value} alarm(s)", how_many)

    live = expect.live
    if live is not None:
        for kind in live.sounds:

            def sounds(f: Facts, kind: AlarmKind = kind) -> tuple[bool, str]:
                heard = ", ".join(sorted(k.value for k in f.sounded)) or "nothing"
                return kind in f.sounded, f"sounded: {heard}"

            out.append_check(f"{kind.value} sounds on the ward screen (live)", sounds, live_only=True)
        if live.never_high:

            def never_high(f: Facts) -> tuple[bool, str]:
                high = ", ".join(sorted(k.value for k in f.shown_high))
                return not f.shown_high, f"shown high or latched: {high}" if high else "none high"

            out.append_check("no alarm shown high or latched (live)", never_high, live_only=True)

    t = expect.totals
    if t is not None:
        for name, r in (("contact", t.contact), ("observed", t.observed), ("unknown", t.unknown)):
            if r is None:
                continue

            def total(f: Facts, name: str = name, r: Range = r) -> tuple[bool, str]:
                x = float(getattr(f, f"{name}_s"))
                return _duration_ok(x, r), f"{_num(x)} s ({_hms(x)})"

            out.append_check(f"total {name} time {_range_text(r, ' s')}", total)
        for name, r in (("readings", t.readings), ("invalid_readings", t.invalid_readings)):
            if r is None:
                continue

            def counted_total(f: Facts, name: str = name, r: Range = r) -> tuple[bool, str]:
                x = int(getattr(f, name))
                return x in r, str(x)

            # The reader's counts: the live path is handed readings already read.
            out.append_check(f"{name.replace('_', ' ')} {r.text}", counted_total, batch_only=True)

    for name, rng in expect.caregivers.items():

        def held(f: Facts, name: str = name, rng: Range = rng) -> tuple[bool, str]:
            got = dict(f.caregiver_s).get(name, 0.0)
            return _duration_ok(got, rng), f"{_num(got)} s ({_hms(got)})"

        out.append_check(f"contact held by {name} {_range_text(rng, ' s')}", held)

    for d in expect.days:

        def day(f: Facts, d: DayExpect = d) -> tuple[bool, str]:
            got = next((x for x in f.days if x.date == d.date), None)
            if got is None:
                have = ", ".join(x.date.isoformat() for x in f.days) or "none"
                return False, f"no such day in the trace (days: {have})"
            ok = (
                (d.contact is None or _duration_ok(got.contact_s, d.contact))
                and (d.observed is None or _duration_ok(got.observed_s, d.observed))
                and (d.unknown is None or _duration_ok(got.unknown_s, d.unknown))
                and (d.complete is None or got.complete is d.complete)
            )
            actual = (
                f"contact {_num(got.contact_s)} s ({_hms(got.contact_s)}), "
                f"observed {_num(got.observed_s)} s, "
                f"unknown {_num(got.unknown_s)} s, {'complete' if got.complete else 'partial'}"
            )
            return ok, actual

        parts = [f"day {d.date.isoformat()}"]
        for name in ("contact", "observed", "unknown"):
            r = getattr(d, name)
            if r is not None:
                parts.append(f"{name} {_range_text(r, ' s')}")
        if d.complete is not None:
            parts.append("complete" if d.complete else "partial")
        out.append_check(", ".join(parts), day)
    return out


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What happened on each path, per wrap: everything an expectation is judged against."""

    paths: tuple[dict[str, Facts], ...]
    wraps: tuple[str, ...]
    t0_s: float


def simulate(loaded: LoadedScenario, *, live: bool = True) -> Outcomes:
    """Run the scenario's trace through the batch analysis and (unless ``live`` is false) the live
    engine. Raises :class:`ScenarioError` for a scenario that cannot be run (its trace missing or
    unreadable)."""
    sc = loaded.scenario
    params = sc.rule_params()
    try:
        material = _material(loaded, params)
    except ScenarioError:
        raise
    except KmcError as exc:
        raise ScenarioError(f"{loaded.path}: {exc}") from None
    with_readings = [s for s in material.series if len(s)]
    if not with_readings:
        raise ScenarioError(f"{loaded.path}: the scenario's trace has no readings")
    last_us = max(int(s.t_us[-1]) for s in with_readings)
    until_us = last_us if sc.until is None else max(last_us, seconds_to_us(sc.until.at(material.t0_s)))
    offset_mc = celsius_to_mc(sc.site_offset_c)
    batch = _batch(material.series, params, until_us, offset_mc)
    paths = [{w: _batch_caregivers(f, sc, material.t0_s) for w, f in batch.items()}]
    if live:
        # Deferred: a batch-only run (``simulate(..., live=False)``, as the mutation tests do) need
        # not load the service's engine.
        from kmc_monitor.scenarios.live import run_live

        wraps = [s.wrap_id for s in material.series if len(s)]
        paths.append(run_live(material.readings, wraps, material.t0_s, sc, params, until_us))
    return Outcomes(tuple(paths), tuple(s.wrap_id for s in with_readings), material.t0_s)


def judge(loaded: LoadedScenario, outcomes: Outcomes, scenario: Scenario | None = None) -> ScenarioResult:
    """Check every expectation of ``scenario`` (by default the loaded one) against what happened.
    Raises :class:`ScenarioError` for an expect block naming no wrap, or one not in the trace."""
    sc = scenario or loaded.scenario
    fmt = _Fmt(outcomes.t0_s, sc.tz)
    wraps = outcomes.wraps
    checks: list[Check] = []
    for expect in sc.expect:
        wrap = expect.wrap
        if wrap is None:
            if len(wraps) != 1:
                raise ScenarioError(
                    f"{loaded.path}: the trace has {len(wraps)} wraps ({', '.join(wraps[:5])}): "
                    "say which one each expect block is about with wrap: ID"
                )
            wrap = wraps[0]
        if wrap not in wraps:
            raise ScenarioError(f"{loaded.path}: no wrap {wrap!r} in the trace ({', '.join(wraps[:8])})")
        for expected, judge_one, only in _checks_for(expect, fmt):
            results = []
            for facts in outcomes.paths:
                f = facts[wrap]
                if only is not None and f.path != only:
                    continue
                ok, actual = judge_one(f)
                results.append(Outcome(f.path, ok, actual))
            checks.append(Check(wrap, expected, tuple(results)))
    return ScenarioResult(loaded.name, loaded.path, tuple(checks), outcomes.t0_s, sc.tz)


def run_scenario(loaded: LoadedScenario) -> ScenarioResult:
    """Run one scenario through both paths and check every expectation (see :func:`simulate`)."""
    return judge(loaded, simulate(loaded))
