"""The scenario file's schema: a trace (recorded or generated) and what the rules must say about it.

A scenario is a clinical story with its expected outcome, written so that a nurse's notes ("cold
from about 10:20, warmed back in KMC by 11:30, no false alarm while the sensor was off") can be
checked against the engine on every commit. The schema is strict: an unknown key is an error rather
than an expectation silently not checked, which would make a scenario pass that never tested
anything.

Times in expectations are seconds from the trace start (``120``, ``"20min"``, ``"1h30m"``) or
absolute ISO 8601 times with an offset (``2026-03-30T00:00:00+02:00``). Windows are
``[earliest, latest]`` (both inclusive), ``{at: T, tol: S}``, or a single time (exactly then).
See ``docs/scenarios.md`` for every field with examples.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from kmc_monitor.signal.params import RuleParams
from kmc_monitor.signal.report import AlarmKind, Priority

__all__ = [
    "AlarmExpect",
    "BuilderSpec",
    "DayExpect",
    "EndSpec",
    "Expect",
    "LiveSpec",
    "Moment",
    "Range",
    "Scenario",
    "SessionExpect",
    "SimulatorSpec",
    "Step",
    "TotalsExpect",
    "Window",
    "parse_duration",
]

#: Where a generated trace starts unless the scenario says otherwise: 2026-01-01 08:00 UTC.
DEFAULT_START_S = 1_767_254_400.0

_UNIT_S = {"h": 3600.0, "min": 60.0, "m": 60.0, "s": 1.0}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(h|min|m|s)")
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a text such as ``"90s"``, ``"20min"``, ``"1h30m"``, ``"2.5h"``.

    Durations in a scenario are read by people first; ``"16h"`` of contact is easier to check
    against a nurse's chart than ``57600``.
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text such as '20min', not true/false")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        sign = -1.0 if text.startswith("-") else 1.0
        text = text.lstrip("+-")
        parts = _DURATION_RE.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            try:
                seconds = sign * float(text)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a duration: write seconds (90) or e.g. '90s', '20min', '1h30m'"
                ) from None
        else:
            seconds = sign * sum(float(n) * _UNIT_S[u] for n, u in parts)
    else:
        raise ValueError(f"a duration is a number of seconds or a text such as '20min', not {value!r}")
    if not math.isfinite(seconds):
        raise ValueError("a duration must be finite")
    return seconds


def _epoch_of(value: Any) -> float | None:
    """Seconds since the epoch of an ISO time (a YAML timestamp or a string), None if not one."""
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, str) and _ISO_RE.match(value.strip()):
        try:
            when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    else:
        return None
    if when.tzinfo is None:
        raise ValueError(
            f"{value} has no UTC offset: whose clock is that? Add 'Z' or an offset such as +02:00"
        )
    return when.timestamp()


@dataclasses.dataclass(frozen=True, slots=True)
class Moment:
    """A time as the scenario wrote it: an offset from the trace start, or an absolute time."""

    offset_s: float | None
    epoch_s: float | None
    text: str

    def at(self, t0_s: float) -> float:
        """Seconds since the epoch, given the trace's start."""
        if self.epoch_s is not None:
            return self.epoch_s
        assert self.offset_s is not None
        return t0_s + self.offset_s

    def shifted(self, delta_s: float) -> Moment:
        if self.epoch_s is not None:
            return Moment(None, self.epoch_s + delta_s, self.text)
        assert self.offset_s is not None
        return Moment(self.offset_s + delta_s, None, self.text)


def _moment(value: Any) -> Moment:
    if isinstance(value, Moment):
        return value
    epoch = _epoch_of(value)
    if epoch is not None:
        return Moment(None, epoch, str(value))
    if isinstance(value, dt.date):
        raise ValueError(f"{value} is a date: give a time with an offset, e.g. {value}T00:00:00Z")
    return Moment(parse_duration(value), None, str(value))


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """``[lo, hi]``, both inclusive; ``text`` as the scenario wrote it."""

    lo: Moment
    hi: Moment
    text: str

    def bounds(self, t0_s: float) -> tuple[float, float]:
        return self.lo.at(t0_s), self.hi.at(t0_s)


def _window(value: Any) -> Window:
    if isinstance(value, Window):
        return value
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError("a time window is [earliest, latest]: two values")
        lo, hi = _moment(value[0]), _moment(value[1])
        text = f"[{_with_unit(lo.text)}, {_with_unit(hi.text)}]"
    elif isinstance(value, dict):
        if set(value) != {"at", "tol"}:
            raise ValueError("a time window is [earliest, latest] or {at: T, tol: S}")
        at, tol = _moment(value["at"]), parse_duration(value["tol"])
        if tol < 0:
            raise ValueError("tol must not be negative")
        lo, hi = at.shifted(-tol), at.shifted(tol)
        text = f"{_with_unit(at.text)} ± {_with_unit(str(value['tol']))}"
    else:
        lo = hi = _moment(value)
        text = f"exactly {_with_unit(lo.text)}"
    same_kind = (lo.epoch_s is None) == (hi.epoch_s is None)
    if same_kind and lo.at(0.0) > hi.at(0.0):
        raise ValueError(f"the window [{lo.text}, {hi.text}] ends before it starts")
    return Window(lo, hi, text)


def _with_unit(text: str) -> str:
    """``120`` reads as ``120 s``; ``20min`` and ISO times stay as written."""
    try:
        float(text)
    except ValueError:
        return text
    return f"{text} s"


@dataclasses.dataclass(frozen=True, slots=True)
class EndSpec:
    """How an alarm must end: still ``open`` at the end of the analysis, ``closed`` (at any time),
    or within a window."""

    state: Literal["open", "closed", "window"]
    window: Window | None = None


def _end(value: Any) -> EndSpec:
    if isinstance(value, EndSpec):
        return value
    if value in ("open", "closed"):
        return EndSpec(value)
    return EndSpec("window", _window(value))


@dataclasses.dataclass(frozen=True, slots=True)
class Range:
    """``[lo, hi]`` of a quantity (seconds, °C or a count), both inclusive; ``text`` as written."""

    lo: float
    hi: float
    text: str

    def __contains__(self, x: float) -> bool:
        return self.lo <= x <= self.hi


def _range_of(parse: Any) -> Any:
    def build(value: Any) -> Range:
        if isinstance(value, Range):
            return value
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("a range is [low, high]: two values")
            lo, hi = parse(value[0]), parse(value[1])
            text = f"[{value[0]}, {value[1]}]"
        elif isinstance(value, dict):
            if set(value) != {"value", "tol"}:
                raise ValueError("a range is [low, high], {value: X, tol: Y} or one exact value")
            mid, tol = parse(value["value"]), parse(value["tol"])
            if tol < 0:
                raise ValueError("tol must not be negative")
            lo, hi = mid - tol, mid + tol
            text = f"{value['value']} ± {value['tol']}"
        else:
            lo = hi = parse(value)
            text = str(value)
        if lo > hi:
            raise ValueError(f"the range {text} is empty (low above high)")
        return Range(lo, hi, text)

    return build


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, not {value!r}")
    return float(value)


Seconds = Annotated[float, BeforeValidator(parse_duration)]
WindowT = Annotated[Window, BeforeValidator(_window)]
MomentT = Annotated[Moment, BeforeValidator(_moment)]
EndT = Annotated[EndSpec, BeforeValidator(_end)]
DurationRange = Annotated[Range, BeforeValidator(_range_of(parse_duration))]
NumberRange = Annotated[Range, BeforeValidator(_range_of(_number))]


class _Strict(BaseModel):
    """Unknown keys are errors: a misspelt expectation must not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


# Generating a trace ---------------------------------------------------------------------------------
class _StepArgs(_Strict):
    duration: Seconds = Field(gt=0)


class HoldArgs(_StepArgs):
    """``contact`` / ``apart``: a steady stretch (a step to ``skin_c`` if given)."""

    skin_c: float | None = None
    ambient_c: float | None = None
    level: float | None = Field(None, ge=0.0, le=1.0)


class RampArgs(_StepArgs):
    to_c: float
    contact: float | None = Field(None, ge=0.0, le=1.0)
    ambient_c: float | None = None


class ApproachArgs(RampArgs):
    tau: Seconds = Field(gt=0)


class DetachedArgs(_StepArgs):
    tau: Seconds = Field(40.0, gt=0)
    above_ambient_c: float = 0.5
    contact: float | None = Field(None, ge=0.0, le=1.0)


class ReattachArgs(_StepArgs):
    skin_c: float = 36.8
    tau: Seconds = Field(60.0, gt=0)
    contact: float | None = Field(None, ge=0.0, le=1.0)


_DURATION_STEPS = {"contact", "apart", "detached", "reattach", "gap"}
_STEP_ARGS: dict[str, type[_Strict]] = {
    "contact": HoldArgs,
    "apart": HoldArgs,
    "ramp_skin": RampArgs,
    "approach_skin": ApproachArgs,
    "detached": DetachedArgs,
    "reattach": ReattachArgs,
    "gap": _StepArgs,
}
_SETTERS = {"battery": (0.0, 100.0), "drain": (0.0, 1000.0)}


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One :class:`~kmc_monitor.devices.simulation.synthetic.TraceBuilder` call: its name and arguments."""

    op: str
    args: dict[str, Any]


def _step(value: Any) -> Step:
    if isinstance(value, Step):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        names = ", ".join([*_STEP_ARGS, *_SETTERS])
        raise ValueError(f"a step is one of {names} with its arguments, e.g. '- contact: 20min'")
    ((op, arg),) = value.items()
    if op in _SETTERS:
        lo, hi = _SETTERS[op]
        x = _number(arg)
        if not lo <= x <= hi:
            raise ValueError(f"{op} must be between {lo:g} and {hi:g}")
        return Step(op, {"value": x})
    model = _STEP_ARGS.get(op)
    if model is None:
        names = ", ".join([*_STEP_ARGS, *_SETTERS])
        raise ValueError(f"unknown step {op!r}: use one of {names}")
    if not isinstance(arg, dict):
        if op not in _DURATION_STEPS:
            raise ValueError(f"{op} needs its arguments, e.g. {{duration: 1h, to_c: 35.5}}")
        arg = {"duration": arg}
    try:
        args = model.model_validate(arg)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        raise ValueError(f"{op}: {where + ': ' if where else ''}{msg}") from None
    return Step(op, {k: v for k, v in args.model_dump().items() if v is not None})


StepT = Annotated[Step, BeforeValidator(_step)]


class NoiseSpec(_Strict):
    skin_sd_c: float = Field(0.0, ge=0)
    ambient_sd_c: float = Field(0.0, ge=0)
    contact_sd: float = Field(0.0, ge=0)


class DeliverySpec(_Strict):
    jitter_s: float = Field(0.0, ge=0)
    drop_prob: float = Field(0.0, ge=0, lt=1)
    duplicate_prob: float = Field(0.0, ge=0, lt=1)
    shuffle: bool = False


def _start_s(value: Any) -> float:
    epoch = _epoch_of(value)
    if epoch is not None:
        return epoch
    return _number(value)


StartS = Annotated[float, BeforeValidator(_start_s)]


#: At most this many steps after ``repeat`` blocks are unrolled (a day of 86 s cycles is ~2000).
_MAX_STEPS = 20_000


def _unroll(value: Any) -> Any:
    """Expand ``- repeat: {times: N, steps: [...]}`` (nestable) into N copies of its steps: a radio
    that drops out every 86 s for four hours is two steps, not 334."""
    if not isinstance(value, list):
        return value
    if not value:
        raise ValueError("List should have at least 1 item (a step such as '- contact: 20min')")
    out: list[Any] = []
    for item in value:
        if isinstance(item, dict) and set(item) == {"repeat"}:
            spec = item["repeat"]
            if not isinstance(spec, dict) or set(spec) != {"times", "steps"}:
                raise ValueError("repeat takes {times: N, steps: [...]}")
            times = spec["times"]
            if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= _MAX_STEPS:
                raise ValueError(f"repeat: times must be a whole number from 1 to {_MAX_STEPS}")
            inner = _unroll(spec["steps"])
            if not isinstance(inner, list) or not inner:
                raise ValueError("repeat: steps must be a non-empty list of steps")
            out.extend(inner * times)
        else:
            out.append(item)
        if len(out) > _MAX_STEPS:
            raise ValueError(f"more than {_MAX_STEPS} steps once repeats are unrolled")
    return out


class BuilderSpec(_Strict):
    """A wrap's trace built from segments with known truth (``TraceBuilder``)."""

    wrap_id: str = Field("W", min_length=1, max_length=32)
    start: StartS = DEFAULT_START_S
    seed: int = 0
    rate_hz: float = Field(1.0, gt=0, le=100)
    skin_c: float = 36.8
    ambient_c: float = 26.0
    contact: float = Field(0.9, ge=0, le=1)
    battery_pct: float = Field(90.0, ge=0, le=100)
    drain_pct_per_h: float = Field(0.0, ge=0)
    #: ``none``, ``quiet`` (the scenario tests' thermistor noise), ``ward`` (a typical wrap's), or
    #: the three standard deviations.
    noise: Literal["none", "quiet", "ward"] | NoiseSpec = "none"
    delivery: DeliverySpec | None = None
    ambient_sensor: bool = True
    #: A wrap or recorder that sends contact in one reading out of this many (the others carry
    #: temperature only).
    contact_every: int = Field(1, ge=1, le=3600)
    steps: Annotated[list[StepT], BeforeValidator(_unroll), Field(min_length=1)]


class SimulatorSpec(_Strict):
    """A simulated ward's physiology (``WardSimulator``): what its wraps measured, no radio losses."""

    wraps: int = Field(1, ge=1, le=200)
    seed: int = 0
    hours: float = Field(gt=0, le=24 * 14)
    start: StartS = DEFAULT_START_S
    measure_s: float = Field(2.0, gt=0, le=60)


class SimulatorGen(_Strict):
    simulator: SimulatorSpec


def _generator_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "simulator" if "simulator" in value else "builder"
    return "simulator" if isinstance(value, SimulatorGen) else "builder"


Generate = Annotated[
    Annotated[BuilderSpec, Tag("builder")] | Annotated[SimulatorGen, Tag("simulator")],
    Discriminator(_generator_kind),
]


# Expectations -------------------------------------------------------------------------------------
class SessionExpect(_Strict):
    """One session, matched in order with the sessions found."""

    start: WindowT | None = None
    end: WindowT | None = None
    min_duration: Seconds | None = None
    max_duration: Seconds | None = None
    contact: DurationRange | None = None
    short: bool | None = None


class AlarmExpect(_Strict):
    """An alarm episode that must happen: its kind, and optionally its priority, when it was raised,
    how it ended and its extreme temperature."""

    kind: AlarmKind
    priority: Priority | None = None
    raised: WindowT | None = None
    ended: EndT | None = None
    extreme_c: NumberRange | None = None


class DayExpect(_Strict):
    """One ward-local calendar day's totals."""

    date: dt.date
    contact: DurationRange | None = None
    observed: DurationRange | None = None
    unknown: DurationRange | None = None
    complete: bool | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _plain_date(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            raise ValueError("a day is a date such as 2026-03-29, not a time")
        return value


class TotalsExpect(_Strict):
    """Whole-trace totals; ``readings`` and ``invalid_readings`` are the reader's counts."""

    contact: DurationRange | None = None
    observed: DurationRange | None = None
    unknown: DurationRange | None = None
    readings: NumberRange | None = None
    invalid_readings: NumberRange | None = None


class AdmissionSpec(_Strict):
    """How each wrap's baby is admitted on the live path (and judged on both): the KMC mode, the
    daily goal, and the caregivers named at admission (``mother``, ``father`` or a family member's
    name)."""

    mode: Literal["continuous", "intermittent"] = "continuous"
    daily_goal: Seconds | None = None
    caregivers: list[Annotated[str, Field(min_length=1, max_length=64)]] = []

    @model_validator(mode="after")
    def _goal(self) -> AdmissionSpec:
        if self.mode == "intermittent" and self.daily_goal is None:
            raise ValueError("intermittent KMC needs the baby's own daily_goal (e.g. 4h)")
        if self.daily_goal is not None and not 3600 <= self.daily_goal <= 86400:
            raise ValueError("daily_goal must be between 1h and 24h")
        if len(set(self.caregivers)) != len(self.caregivers):
            raise ValueError("name each caregiver once")
        return self


class HoldingStep(_Strict):
    """From ``from`` on, ``who`` holds the baby (a caregiver of the admission, or ``unknown``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    at: Annotated[MomentT, Field(alias="from")]
    who: Annotated[str, Field(min_length=1, max_length=64)]


class LiveExpect(_Strict):
    """What the ward screen must (not) have done on the live path: the alarm board, not the rules."""

    #: Kinds that must have been the alarm sounding on a ward screen at some moment.
    sounds: list[AlarmKind] = []
    #: No alarm of the wrap may ever show as high priority or latch (a loose sensor must not turn a
    #: tile red and stay there).
    never_high: bool = False


class Expect(_Strict):
    """What must hold for one wrap (``wrap`` may be left out when the trace has only one)."""

    wrap: str | None = None
    sessions: list[SessionExpect] | None = None
    session_count: NumberRange | None = None
    alarms: list[AlarmExpect] = []
    exact: bool = False
    no_alarms: list[AlarmKind] = []
    #: How many episodes of a kind, e.g. ``{cold_stress: [0, 1]}``: "at most one" (no flapping).
    alarm_count: dict[AlarmKind, NumberRange] = {}
    totals: TotalsExpect | None = None
    days: list[DayExpect] = []
    live: LiveExpect | None = None
    #: Contact per caregiver over the whole trace, each session going to whoever held for most of
    #: it (e.g. ``{mother: 5h, father: [2h50min, 3h]}``); a caregiver not listed is not checked.
    caregivers: dict[str, DurationRange] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Expect:
        both = sorted({a.kind.value for a in self.alarms} & {k.value for k in self.no_alarms})
        if both:
            raise ValueError(f"{', '.join(both)} is both expected (alarms) and forbidden (no_alarms)")
        if self.sessions is not None and self.session_count is not None:
            raise ValueError("give either sessions (each one) or session_count, not both")
        if not (
            self.sessions is not None
            or self.session_count is not None
            or self.alarms
            or self.exact
            or self.no_alarms
            or self.alarm_count
            or self.totals is not None
            or self.days
            or self.live is not None
            or self.caregivers
        ):
            raise ValueError("expects nothing: a scenario that cannot fail tests nothing")
        return self


class LiveSpec(_Strict):
    """How the live engine is driven: readings arrive at their own time, the engine ticks every
    ``tick_s`` seconds of trace time (the ward ticks at 20 Hz; a coarser tick keeps long traces
    quick). With one wrap the board's times are the rules' times whatever the tick; with several, a
    wrap's event may wait for another's in the same tick, so there the live path's times may be up
    to one tick late and its windows are widened by that much."""

    tick_s: float = Field(10.0, gt=0, le=600)
    reorder_s: float = Field(0.0, ge=0, le=60)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Scenario(_Strict):
    """One scenario: a trace and what the rules must find in it."""

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    trace: str | None = Field(None, min_length=1)
    generate: Generate | None = None
    tz: str = "UTC"
    until: MomentT | None = None
    params: dict[str, float | int] = {}
    site_offset_c: float = Field(0.0, ge=-3.0, le=3.0)
    admission: AdmissionSpec = Field(default_factory=lambda: AdmissionSpec.model_validate({}))
    holding: list[HoldingStep] = []
    live: LiveSpec = Field(default_factory=lambda: LiveSpec.model_validate({}))
    expect: Annotated[list[Expect], BeforeValidator(_as_list), Field(min_length=1)]

    @field_validator("params")
    @classmethod
    def _known_params(cls, value: dict[str, float | int]) -> dict[str, float | int]:
        known = {f.name for f in dataclasses.fields(RuleParams)} - {"ward_tz"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"unknown rule parameter {unknown[0]!r} (see kmc_monitor/signal/params.py; the time "
                "zone is tz)"
            )
        RuleParams(**value)  # type: ignore[arg-type]  # its own checks (orderings, positive windows)
        return value

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        RuleParams(ward_tz=value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Scenario:
        if (self.trace is None) == (self.generate is None):
            raise ValueError("give exactly one of trace (a file) or generate (steps or simulator)")
        return self

    @model_validator(mode="after")
    def _holders_named(self) -> Scenario:
        named = {*self.admission.caregivers, "unknown"}
        for step in self.holding:
            if step.who not in named:
                raise ValueError(
                    f"holding: {step.who!r} is not a caregiver of the admission "
                    f"(admission.caregivers: {', '.join(self.admission.caregivers) or 'none'}; or unknown)"
                )
        for e in self.expect:
            extra = sorted(set(e.caregivers) - named)
            if extra:
                raise ValueError(f"expect.caregivers: {extra[0]!r} is not a caregiver of the admission")
        return self

    def rule_params(self) -> RuleParams:
        """The rules as this scenario's admission judges them: its mode sets ``low_daily_contact``
        (see :meth:`kmc_monitor.service.ward_model.Admission.low_contact_s`)."""
        from kmc_monitor.service.ward_model import KmcMode, low_contact_threshold_s

        base = RuleParams(ward_tz=self.tz, **self.params)
        goal = base.daily_goal_s if self.admission.daily_goal is None else self.admission.daily_goal
        low = low_contact_threshold_s(KmcMode(self.admission.mode), goal, base.min_daily_contact_s)
        # Intermittent KMC counts only sessions of an hour or more towards the goal and the advisory.
        mode = KmcMode(self.admission.mode)
        long_only = base.short_session_s if mode is KmcMode.INTERMITTENT else 0.0
        return dataclasses.replace(
            base, daily_goal_s=goal, min_daily_contact_s=low, goal_sessions_at_least_s=long_only
        )
