"""The validation study: sensor-measured skin-to-skin time against direct observation.

An observer (OMWaNA-style: each baby checked at least every 2 h) logs each skin-to-skin episode as
``wrap_id,start,end`` (epoch seconds or ISO 8601; ``observer`` optional). The wraps' traces go
through the same clinical rules as the ward (sessions of ``signal.stream``). Two comparisons:

- **Time per wrap-day** (Bland–Altman): for each wrap and ward-local day, the hours inside sensor
  sessions and inside observed episodes; the bias is the mean of sensor minus observed, the 95 %
  limits of agreement are bias ± 1.96 standard deviations of the differences (sample SD).
  Session spans are compared, not the contact inside them: an observer sees the baby held for
  the whole episode, and the rules bridge short breaks the same way.
- **Episodes**: an episode of one side *matches* when one session of the other side overlaps at
  least half of it.

Which wrap-days are compared: each wrap of the observation log, from the day of its first observed
episode to the day of its last (the study's days for that baby) — a day in between without any
observed episode counts as 0 h observed, which is what the observer recorded.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from kmc_monitor.errors import KmcError
from kmc_monitor.signal.calendar import DayCalendar
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.signal.series import WrapSeries
from kmc_monitor.signal.stream import analyze_series

__all__ = [
    "Episode",
    "ObservationError",
    "ValidationReport",
    "WrapDay",
    "compare",
    "plot_bland_altman",
    "read_observations",
    "sensor_episodes",
]

FORMAT = "kmc-validation/1"
_MAX_BAD_SHOWN = 10


class ObservationError(KmcError):
    """The observation log cannot be used; the message names the file and what to fix."""


@dataclass(frozen=True, slots=True)
class Episode:
    wrap_id: str
    start_t: float
    end_t: float

    @property
    def duration_s(self) -> float:
        return self.end_t - self.start_t


@dataclass(frozen=True, slots=True)
class WrapDay:
    wrap_id: str
    date: dt.date
    sensor_h: float
    observed_h: float


@dataclass(frozen=True, slots=True)
class ValidationReport:
    wrap_days: tuple[WrapDay, ...]
    bias_h: float | None
    loa_h: tuple[float, float] | None
    observed: int
    observed_matched: int
    sensor: int
    sensor_matched: int
    #: Rows of the log that could not be used, with why (for stderr).
    skipped: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "wrap_days": [
                {
                    "wrap_id": d.wrap_id,
                    "date": d.date.isoformat(),
                    "sensor_h": round(d.sensor_h, 6),
                    "observed_h": round(d.observed_h, 6),
                }
                for d in self.wrap_days
            ],
            "bias_h": None if self.bias_h is None else round(self.bias_h, 6),
            "loa_h": None if self.loa_h is None else [round(self.loa_h[0], 6), round(self.loa_h[1], 6)],
            "episodes": {
                "observed": self.observed,
                "observed_matched": self.observed_matched,
                "sensor": self.sensor,
                "sensor_matched": self.sensor_matched,
            },
        }


def _time(text: str, tz: ZoneInfo) -> float:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError("not a time")
        return value
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=tz)  # a time written on the ward is the ward's time
    return stamp.timestamp()


def read_observations(path: str | os.PathLike[str], ward_tz: str = "UTC") -> tuple[list[Episode], list[str]]:
    """Episodes of the observation log, and a sentence for each row that could not be used."""
    tz = ZoneInfo(ward_tz)
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise ObservationError(
            f"cannot read the observation log {p}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    header_at = next((i for i, r in enumerate(rows) if r and not r[0].lstrip().startswith("#")), None)
    if header_at is None:
        raise ObservationError(f"the observation log {p} is empty: it needs a header wrap_id,start,end")
    header = [h.strip().lower() for h in rows[header_at]]
    missing = [c for c in ("wrap_id", "start", "end") if c not in header]
    if missing:
        raise ObservationError(
            f"the observation log {p} has no column {', '.join(missing)}: its header must name "
            "wrap_id,start,end (and optionally observer)"
        )
    iw, i_s, ie = header.index("wrap_id"), header.index("start"), header.index("end")
    episodes: list[Episode] = []
    bad: list[str] = []
    for n, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        try:
            wrap = row[iw].strip()
            start, end = _time(row[i_s], tz), _time(row[ie], tz)
        except (IndexError, ValueError):
            bad.append(f"{p}:{n}: needs a wrap id and start and end times (epoch seconds or ISO 8601)")
            continue
        if not wrap:
            bad.append(f"{p}:{n}: no wrap id")
        elif end <= start:
            bad.append(f"{p}:{n}: the episode ends before it starts")
        else:
            episodes.append(Episode(wrap, start, end))
    if not episodes:
        raise ObservationError(f"the observation log {p} has no usable episode ({len(bad)} bad row(s))")
    return episodes, bad


def sensor_episodes(series: Sequence[WrapSeries], params: RuleParams) -> list[Episode]:
    """The sessions the clinical rules find in the wraps' readings."""
    cal = DayCalendar(params.ward_tz)
    out = []
    for s in series:
        if len(s) == 0:
            continue
        report = analyze_series(s, params, calendar=cal)
        out += [Episode(s.wrap_id, x.start_us / US, x.end_us / US) for x in report.sessions]
    return out


def _overlap(a: Episode, b: Episode) -> float:
    return max(0.0, min(a.end_t, b.end_t) - max(a.start_t, b.start_t))


def _matched(episodes: Sequence[Episode], other: Sequence[Episode]) -> int:
    return sum(
        any(o.wrap_id == e.wrap_id and _overlap(e, o) >= 0.5 * e.duration_s for o in other) for e in episodes
    )


def _hours_in(episodes: Sequence[Episode], lo: float, hi: float) -> float:
    return sum(max(0.0, min(e.end_t, hi) - max(e.start_t, lo)) for e in episodes) / 3600.0


def compare(
    sensor: Sequence[Episode], observed: Sequence[Episode], ward_tz: str = "UTC", skipped: Sequence[str] = ()
) -> ValidationReport:
    """Bland–Altman over wrap-days and episode agreement (see the module docstring)."""
    cal = DayCalendar(ward_tz)
    tz = ZoneInfo(ward_tz)
    days: list[WrapDay] = []
    kept_sensor: list[Episode] = []
    for wrap in sorted({e.wrap_id for e in observed}):
        obs = [e for e in observed if e.wrap_id == wrap]
        first = dt.datetime.fromtimestamp(min(e.start_t for e in obs), tz).date()
        last = dt.datetime.fromtimestamp(max(e.end_t for e in obs) - 1e-6, tz).date()
        lo_t, hi_t = cal.midnight_us(first) / US, cal.midnight_us(last + dt.timedelta(days=1)) / US
        sen = [e for e in sensor if e.wrap_id == wrap and e.end_t > lo_t and e.start_t < hi_t]
        kept_sensor += sen
        day = first
        while day <= last:
            lo, hi = cal.midnight_us(day) / US, cal.midnight_us(day + dt.timedelta(days=1)) / US
            days.append(WrapDay(wrap, day, _hours_in(sen, lo, hi), _hours_in(obs, lo, hi)))
            day += dt.timedelta(days=1)
    diffs = np.array([d.sensor_h - d.observed_h for d in days], dtype=np.float64)
    bias: float | None = None
    loa: tuple[float, float] | None = None
    if len(diffs):
        bias = float(diffs.mean())
        sd = float(diffs.std(ddof=1)) if len(diffs) > 1 else 0.0
        loa = (bias - 1.96 * sd, bias + 1.96 * sd)
    return ValidationReport(
        tuple(days),
        bias,
        loa,
        len(observed),
        _matched(observed, kept_sensor),
        len(kept_sensor),
        _matched(kept_sensor, observed),
        tuple(skipped),
    )


def plot_bland_altman(report: ValidationReport, path: str | os.PathLike[str]) -> None:
    """Write the Bland–Altman plot (PNG or SVG, by the file's extension)."""
    p = Path(path)
    kind = p.suffix.lower().lstrip(".")
    if kind not in ("png", "svg"):
        raise ObservationError(f"--plot {p}: give a file ending in .png or .svg")
    # A bare Figure draws with Agg (or the SVG backend): no GUI, no global pyplot state.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    ax = fig.add_subplot()
    mean = [(d.sensor_h + d.observed_h) / 2 for d in report.wrap_days]
    diff = [d.sensor_h - d.observed_h for d in report.wrap_days]
    ax.scatter(mean, diff, s=18, color="#1f4e79", label="wrap-days")
    if report.bias_h is not None and report.loa_h is not None:
        ax.axhline(report.bias_h, color="#333333", label=f"bias {report.bias_h:+.2f} h")
        for y in report.loa_h:
            ax.axhline(y, color="#aa3333", linestyle="--")
        ax.axhline(
            report.loa_h[0],
            color="#aa3333",
            linestyle="--",
            label=f"95 % limits {report.loa_h[0]:+.2f} to {report.loa_h[1]:+.2f} h",
        )
    ax.set_xlabel("mean of sensor and observed (h per wrap-day)")
    ax.set_ylabel("sensor − observed (h per wrap-day)")
    ax.set_title("Skin-to-skin time: sensor against direct observation")
    ax.legend(loc="best", fontsize="small")
    try:
        fig.savefig(p, format=kind)
    except OSError as exc:
        raise ObservationError(f"cannot write the plot {p}: {exc.strerror or exc}") from None
