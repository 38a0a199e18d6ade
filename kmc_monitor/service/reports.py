"""The handover report: one bed's ward-local day as JSON (for the printable page) and as CSV.

Routes (staff only, see :func:`report_router`):

- ``GET /api/beds/{bed_id}/report?day=YYYY-MM-DD`` (default: today in ward time) — JSON;
- ``GET /api/beds/{bed_id}/report.csv?day=YYYY-MM-DD`` — the same data as ``text/csv``, downloaded as
  ``kmc-<bed>-<day>.csv``.

Where the numbers come from. Everything is read from the store, so a report for a past day is the
same whenever it is printed: the readings of the wraps that were on the bed that day, the totals
and sessions the clinical rules find in them for each stay on the bed (the signal core, as
``GET /api/beds/{bed_id}/days`` and ``analyze``; a discharged baby's contact never counts towards the
next baby's goal), and the alarms of the bed that overlap the day with their audit lines. Alarms
still on the live board are shown as the board sees them now, older ones as last saved. The
readings are downsampled to one row per minute (minutes of the epoch, which are the ward's minutes):
the median, lowest and highest core-equivalent temperature (skin plus the stay's site offset;
implausible values left out, as the rules do) and the share of readings at or above the contact
level that decides a first reading (the ward chart's definition).

CSV layout (stable; new columns are only ever added at the end of a block). Blocks appear in this
order, separated by one empty line; each starts with a header row whose first cell is ``block``, and
every data row's first cell names its block::

    block,key,value                                   report: one row per fact
    report,bed_id,B01                                 (bed_id, bed_label, day, ward_tz, day_start,
    ...                                               day_end, generated, complete, bin_s, period,
                                                      shift)

    block,admission_id,display_name,contact_s,goal_s,percent_of_goal,goal_met,observed_s,unknown_s,readings,ongoing
    total,...                                         one row per stay on the bed that day

    block,start,end,duration_s,contact_s,short,wrap_id,admission_id
    session,...                                       one row per skin-to-skin session

    block,alarm_id,kind,priority,category,raised,ended,acknowledged,acknowledged_by,escalated,cleared,extreme_c
    alarm,...                                         one row per alarm overlapping the day

    block,minute,readings,temp_median_c,temp_min_c,temp_max_c,contact_fraction
    minute,...                                        one row per minute with readings

Times are ward-local ISO 8601 with their UTC offset (``2026-03-01T14:05:00+03:00``); an empty cell
is "none" (no temperature that minute, an alarm not acknowledged). Text that people typed (names,
bed labels, who acknowledged) is neutralised against spreadsheet formula injection: a cell starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe.

The work (SQLite reads and the rules over up to a day of readings) runs in a worker thread, so a
long day does not stall the ward's event loop; only merging the live board's view happens on it.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Response

from kmc_monitor.devices.reading import Reading, readings_to_series
from kmc_monitor.errors import UnknownAlarmError
from kmc_monitor.service.alarms import (
    AlarmBoard,
    AlarmSubject,
    AuditRecord,
    BoardAlarmKind,
    board_alarm_kind,
    subject_of,
)
from kmc_monitor.service.deps import Runtime, Staff
from kmc_monitor.service.report_models import ReportOut
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.shifts import Shift, default_shift, parse_shift_starts, shift_at, shift_starting
from kmc_monitor.service.views import admission_json, alarm_json, audit_json, session_json
from kmc_monitor.service.ward import ContactHistory, Ward
from kmc_monitor.service.ward_model import Admission, Bed
from kmc_monitor.service.ward_time import day_bounds
from kmc_monitor.signal.params import US, RuleParams, celsius_to_mc
from kmc_monitor.signal.report import Priority
from kmc_monitor.signal.stream import WrapStream

#: What :func:`csv.writer` returns (the module has no public name for it).
CsvWriter = Any

__all__ = [
    "BIN_S",
    "ReportInputs",
    "alarm_entries",
    "build_report",
    "csv_flag",
    "csv_num",
    "csv_text",
    "csv_time",
    "load_report_inputs",
    "WARMUP_S",
    "minute_bins",
    "neutralise",
    "report_csv",
    "report_filename",
    "report_router",
    "stored_alarm_json",
    "write_alarms",
    "write_minutes",
    "write_sessions",
]

#: The report's downsampling: one row per minute.
BIN_S: Final = 60
#: Readings of the hour before a report's period: enough for the rules to know whether the sensor
#: was attached and settled as the period starts (settling lasts at most 5 minutes).
WARMUP_S: Final = 3600.0

#: First characters a spreadsheet reads as the start of a formula (OWASP's list).
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """What the store holds for one bed and day (read in a worker thread)."""

    bed: Bed
    #: The ward-local day the period starts on (a shift's start day).
    day: dt.date
    ward_tz: str
    start_us: int
    end_us: int
    admissions: list[Admission]
    readings: list[Reading]
    #: The hour before the day: whether the sensor was attached as the day starts.
    warmup: list[Reading]
    history: ContactHistory
    stored_alarms: list[dict[str, Any]]
    stored_audit: list[AuditRecord]
    #: The shift reported, or None for a whole ward-local day.
    shift: Shift | None = None


def load_report_inputs(
    ward: Ward, params: RuleParams, bed_id: str, day: dt.date, *, now: float, shift: Shift | None = None
) -> ReportInputs:
    """Read one bed's day, or one ``shift``, from the store (blocking: call it in a worker thread).

    Raises :class:`~kmc_monitor.service.ward_model.NotFoundError` for an unknown bed.
    """
    bed = ward.bed(bed_id)
    store = ward.store
    if shift is None:
        start_t, end_t = day_bounds(day, params.ward_tz)
        first_day = last_day = day
    else:
        # A shift's sessions come from the days it touches (a night: the evening's and the morning's).
        start_t, end_t = shift.start_t, shift.end_t
        day = first_day = shift.start_local.date()
        last_day = dt.datetime.fromtimestamp(end_t - 0.001, ZoneInfo(params.ward_tz)).date()
    start_us, end_us = round(start_t * US), round(end_t * US)
    return ReportInputs(
        bed=bed,
        day=day,
        ward_tz=params.ward_tz,
        start_us=start_us,
        end_us=end_us,
        admissions=store.admissions_for_bed(bed_id, start_t, end_t),
        readings=store.readings_for_bed(bed_id, start_t, end_t),
        warmup=store.readings_for_bed(bed_id, start_t - WARMUP_S, start_t),
        history=ward.contact_history(bed_id, first_day, last_day, params, now=now),
        stored_alarms=store.alarms_for_bed(bed_id, start_us, end_us),
        stored_audit=store.audit_log(start_us=start_us, end_us=end_us),
        shift=shift,
    )


def _untrusted(
    readings: Sequence[Reading], admissions: Sequence[Admission], params: RuleParams
) -> set[tuple[str, int]]:
    """``(wrap_id, t_us)`` of the readings whose temperature the rules would not judge: the sensor
    detached or still settling. Each wrap's readings go through the rules once (the site offset of
    the stay its first reading belongs to: settling ends at a normal temperature)."""
    by_wrap: dict[str, list[Reading]] = {}
    for r in readings:
        by_wrap.setdefault(r.wrap_id, []).append(r)
    out: set[tuple[str, int]] = set()
    for wrap_id, rows in by_wrap.items():
        [series] = readings_to_series(rows, params)
        offset = celsius_to_mc(_site_offset(admissions, rows[0].t))
        stream = WrapStream(wrap_id, params, site_offset_mc=offset, record_trust=True)
        stream.feed(series)
        bad = np.flatnonzero(~stream.trusted())
        out.update((wrap_id, int(t)) for t in series.t_us[bad].tolist())
    return out


def minute_bins(
    readings: Iterable[Reading],
    admissions: Sequence[Admission],
    params: RuleParams,
    *,
    bin_s: int = BIN_S,
    warmup: Sequence[Reading] = (),
) -> list[dict[str, Any]]:
    """Readings downsampled to one entry per ``bin_s`` of the epoch that has readings, oldest first.

    ``temp_*_c`` are of the core-equivalent temperature (skin plus the site offset of the stay the
    reading belongs to; 0 outside any stay) of the readings the rules judge, None when no reading in
    the bin had a plausible, judged one: a detached or settling sensor reads air, not the baby.
    ``unjudged_fraction`` is the share of the bin's plausible temperatures that were not judged (a
    chart hatches such minutes). ``warmup`` readings (the hour before) only let the rules know
    whether the sensor was attached as the period starts. ``contact_fraction`` is the share of
    readings with a valid contact level that is at least ``params.contact_first``, None when none had
    one.
    """
    readings = list(readings)
    untrusted = _untrusted([*warmup, *readings], admissions, params)
    bin_us = bin_s * US
    temps: dict[int, list[float]] = {}
    unjudged: dict[int, int] = {}
    plausible: dict[int, int] = {}
    contacts: dict[int, list[bool]] = {}
    counts: dict[int, int] = {}
    for r in readings:
        t_us = round(r.t * US)
        start = t_us - t_us % bin_us
        counts[start] = counts.get(start, 0) + 1
        skin = r.skin_temp_c
        if skin is not None and params.plausible_min_c <= skin <= params.plausible_max_c:
            plausible[start] = plausible.get(start, 0) + 1
            if (r.wrap_id, t_us) in untrusted:
                unjudged[start] = unjudged.get(start, 0) + 1
            else:
                temps.setdefault(start, []).append(skin + _site_offset(admissions, r.t))
        if r.contact is not None and 0.0 <= r.contact <= 1.0:
            contacts.setdefault(start, []).append(r.contact >= params.contact_first)
    out = []
    for start in sorted(counts):
        t = temps.get(start)
        c = contacts.get(start)
        out.append(
            {
                "start_us": start,
                "count": counts[start],
                "temp_median_c": None if not t else round(statistics.median(t), 2),
                "temp_min_c": None if not t else round(min(t), 2),
                "temp_max_c": None if not t else round(max(t), 2),
                "contact_fraction": None if not c else round(sum(c) / len(c), 3),
                "unjudged_fraction": round(unjudged.get(start, 0) / plausible[start], 3)
                if plausible.get(start)
                else 0.0,
            }
        )
    return out


def _site_offset(admissions: Sequence[Admission], t: float) -> float:
    for a in admissions:
        if a.admitted_t <= t and (a.discharged_t is None or t < a.discharged_t):
            return a.site_offset_c
    return 0.0


def stored_alarm_json(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An alarm as the store last saved it, in :func:`alarm_json`'s shape (the board forgot it)."""
    kind = str(raw.get("kind"))
    try:
        known: BoardAlarmKind | None = board_alarm_kind(kind)
    except ValueError:
        known = None
    # The subject follows from the kind (older rows' JSON does not carry it; an unknown kind is
    # taken as a wrap's, as every alarm was before ward alarms existed).
    subject = AlarmSubject.WRAP.value if known is None else subject_of(known).value
    escalated = raw.get("escalated_us") is not None
    priority = Priority.HIGH.value if escalated else (None if known is None else known.priority.value)
    return {
        "alarm_id": raw.get("id"),
        "kind": kind,
        "subject": subject,
        "category": None if known is None else known.category.value,
        "priority": priority,
        "state": "cleared" if raw.get("cleared_us") is not None else None,
        "bed_id": raw.get("bed_id"),
        "wrap_id": raw.get("wrap_id"),
        "raised_us": raw.get("raised_us"),
        "ended_us": raw.get("ended_us"),
        "acknowledged_us": raw.get("acked_us"),
        "acknowledged_by": raw.get("acked_by"),
        "escalated_us": raw.get("escalated_us"),
        "cleared_us": raw.get("cleared_us"),
        "extreme_c": raw.get("extreme_c"),
    }


def alarm_entries(inputs: ReportInputs, board: AlarmBoard | None, now_us: int) -> list[dict[str, Any]]:
    """The day's alarms of the bed, oldest first, each with its audit lines of the day.

    With a ``board`` (call on the event loop that owns it): alarms it still holds are shown as it
    sees them now, alarms raised since the last save are added, and so are audit lines not saved yet.
    """
    out: dict[int, dict[str, Any]] = {}
    for raw in inputs.stored_alarms:
        alarm_id = int(raw["id"])
        entry = None
        if board is not None:
            try:
                entry = alarm_json(board.alarm(alarm_id, now_us))
            except UnknownAlarmError:
                entry = None
        out[alarm_id] = entry if entry is not None else stored_alarm_json(raw)
    audit = list(inputs.stored_audit)
    if board is not None:
        for view in board.visible(now_us, bed_id=inputs.bed.bed_id):
            if view.raised_us < inputs.end_us and (view.ended_us is None or view.ended_us >= inputs.start_us):
                out.setdefault(view.alarm_id, alarm_json(view))
        seen = {r.seq for r in audit}
        audit += [r for r in board.audit if r.seq not in seen and inputs.start_us <= r.at_us < inputs.end_us]
    audit.sort(key=lambda r: (r.at_us, r.seq))
    for alarm_id, entry in out.items():
        entry["audit"] = [audit_json(r) for r in audit if r.alarm_id == alarm_id]
    return sorted(out.values(), key=lambda a: (a["raised_us"] or 0, a["alarm_id"]))


def build_report(
    inputs: ReportInputs,
    alarms: list[dict[str, Any]],
    params: RuleParams,
    *,
    generated_us: int,
    ward_name: str = "",
) -> dict[str, Any]:
    """The report's JSON (pure: everything it shows is in its arguments).

    For a shift, ``totals`` are the daily totals (against the goal) of each ward day the shift
    touches, ``shift_contact`` each stay's contact within the shift, ``sessions`` those overlapping
    it, and ``open_at_end`` what the next shift takes over (see :func:`open_at_end`).
    """
    days = {inputs.day} if inputs.shift is None else {d.day for d in inputs.history.days}
    totals = []
    for d in inputs.history.days:
        if d.day not in days:
            continue
        goal = d.daily_goal_s
        totals.append(
            {
                "admission_id": d.admission_id,
                "display_name": d.display_name,
                "contact_s": d.contact_s,
                "goal_s": goal,
                "percent_of_goal": round(100.0 * d.contact_s / goal, 1) if goal > 0 else None,
                "goal_met": d.goal_met,
                "observed_s": d.observed_s,
                "unknown_s": d.unknown_s,
                "readings": d.readings,
                "ongoing": d.ongoing,
                "day": d.day.isoformat(),
            }
        )
    sessions = [
        session_json(s)
        for s in inputs.history.sessions
        if s.start_us < inputs.end_us and s.end_us > inputs.start_us
    ]
    shift = inputs.shift
    return {
        "period": "day" if shift is None else "shift",
        "shift": None
        if shift is None
        else {
            "key": shift.key,
            "start_local": shift.start_local.isoformat(),
            "end_local": shift.end_local.isoformat(),
        },
        "shift_contact": [] if shift is None else shift_contact(inputs.admissions, sessions, inputs),
        "open_at_end": open_at_end(inputs.admissions, alarms, inputs.end_us, generated_us),
        "bed": {"bed_id": inputs.bed.bed_id, "label": inputs.bed.label},
        "ward_name": ward_name,
        "day": inputs.day.isoformat(),
        "ward_tz": inputs.ward_tz,
        "day_start_us": inputs.start_us,
        "day_end_us": inputs.end_us,
        "generated_us": generated_us,
        "complete": generated_us >= inputs.end_us,
        "bin_s": BIN_S,
        "bands": {
            "severe_below_c": params.severe_below_c,
            "moderate_below_c": params.moderate_below_c,
            "cold_stress_below_c": params.cold_stress_below_c,
            "hyperthermia_above_c": params.hyperthermia_above_c,
        },
        "admissions": [admission_json(a) for a in inputs.admissions],
        "readings": minute_bins(inputs.readings, inputs.admissions, params, warmup=inputs.warmup),
        "sessions": sessions,
        "totals": totals,
        "alarms": alarms,
    }


def shift_contact(
    admissions: Sequence[Admission], sessions: Sequence[Mapping[str, Any]], inputs: ReportInputs
) -> list[dict[str, Any]]:
    """Each stay's skin-to-skin within the period: its sessions cut to the period's ends.

    A session's contact (its time minus the short breaks the rules allow) is not stored minute by
    minute, so the part of a session inside the period is counted in proportion to its time there.
    Exact for a session wholly inside (most of them); a session across the handover is split by time.
    """
    out = []
    for adm in admissions:
        contact = 0.0
        for s in sessions:
            if s["admission_id"] != adm.admission_id or s["duration_s"] <= 0:
                continue
            inside_us = min(s["end_us"], inputs.end_us) - max(s["start_us"], inputs.start_us)
            contact += s["contact_s"] * max(0, inside_us) / (s["duration_s"] * US)
        count = sum(1 for s in sessions if s["admission_id"] == adm.admission_id)
        out.append(
            {
                "admission_id": adm.admission_id,
                "display_name": adm.display_name,
                "contact_s": round(contact, 1),
                "sessions": count,
            }
        )
    return out


def open_at_end(
    admissions: Sequence[Admission], alarms: Sequence[Mapping[str, Any]], end_us: int, generated_us: int
) -> dict[str, Any]:
    """What the next shift takes over: the alarms still on the board at the period's end (or now,
    for a period not over), each with whether it was acknowledged by then and by whom, and the babies
    still on the bed."""
    at_us = min(end_us, generated_us)
    still = []
    for a in alarms:
        raised, cleared = a.get("raised_us"), a.get("cleared_us")
        if raised is None or raised >= at_us or (cleared is not None and cleared <= at_us):
            continue
        acked = a.get("acknowledged_us")
        ended = a.get("ended_us")
        still.append(
            {
                "alarm_id": a.get("alarm_id"),
                "kind": a.get("kind"),
                "priority": a.get("priority"),
                "condition_on": ended is None or ended > at_us,
                "acknowledged": acked is not None and acked <= at_us,
                "acknowledged_by": a.get("acknowledged_by") if acked is not None and acked <= at_us else None,
                "extreme_c": a.get("extreme_c"),
            }
        )
    staying = [
        {"admission_id": a.admission_id, "display_name": a.display_name}
        for a in admissions
        if a.admitted_t * US < at_us and (a.discharged_t is None or a.discharged_t * US > at_us)
    ]
    return {"at_us": at_us, "alarms": still, "admissions": staying}


# CSV ---------------------------------------------------------------------------------------------
def neutralise(text: str) -> str:
    """A typed text as a CSV cell no spreadsheet will run as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_time(t_us: int | None, tz: ZoneInfo) -> str:
    if t_us is None:
        return ""
    return dt.datetime.fromtimestamp(t_us / US, tz).isoformat(timespec="seconds")


def csv_num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def csv_text(value: object) -> str:
    return "" if value is None else neutralise(str(value))


def csv_flag(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def write_sessions(w: CsvWriter, sessions: Iterable[Mapping[str, Any]], tz: ZoneInfo) -> None:
    """The ``session`` block (shared by the day report and the range export: one layout)."""
    w.writerow([])
    w.writerow(["block", "start", "end", "duration_s", "contact_s", "short", "wrap_id", "admission_id"])
    for s in sessions:
        w.writerow(
            [
                "session",
                csv_time(s["start_us"], tz),
                csv_time(s["end_us"], tz),
                csv_num(s["duration_s"], 0),
                csv_num(s["contact_s"], 0),
                csv_flag(s["short"]),
                csv_text(s["wrap_id"]),
                s["admission_id"],
            ]
        )


def write_alarms(w: CsvWriter, alarms: Iterable[Mapping[str, Any]], tz: ZoneInfo) -> None:
    """The ``alarm`` block, one row per alarm with its acknowledgement."""
    w.writerow([])
    w.writerow(
        ["block", "alarm_id", "kind", "priority", "category", "raised", "ended", "acknowledged"]
        + ["acknowledged_by", "escalated", "cleared", "extreme_c"]
    )
    for a in alarms:
        w.writerow(
            [
                "alarm",
                a["alarm_id"],
                csv_text(a["kind"]),
                csv_text(a["priority"]),
                csv_text(a["category"]),
                csv_time(a["raised_us"], tz),
                csv_time(a["ended_us"], tz),
                csv_time(a["acknowledged_us"], tz),
                csv_text(a["acknowledged_by"]),
                csv_time(a["escalated_us"], tz),
                csv_time(a["cleared_us"], tz),
                csv_num(a["extreme_c"], 2),
            ]
        )


def write_minutes(w: CsvWriter, bins: Iterable[Mapping[str, Any]], tz: ZoneInfo) -> None:
    """The ``minute`` block: one row per minute with readings (:func:`minute_bins`)."""
    w.writerow([])
    w.writerow(
        [
            "block",
            "minute",
            "readings",
            "temp_median_c",
            "temp_min_c",
            "temp_max_c",
            "contact_fraction",
            "unjudged_fraction",
        ]
    )
    for b in bins:
        w.writerow(
            [
                "minute",
                csv_time(b["start_us"], tz),
                b["count"],
                csv_num(b["temp_median_c"], 2),
                csv_num(b["temp_min_c"], 2),
                csv_num(b["temp_max_c"], 2),
                csv_num(b["contact_fraction"], 3),
                csv_num(b["unjudged_fraction"], 3),
            ]
        )


def report_csv(report: Mapping[str, Any]) -> str:
    """The report (as :func:`build_report` made it) in the CSV layout of the module docstring."""
    tz = ZoneInfo(report["ward_tz"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["block", "key", "value"])
    facts: list[tuple[str, str]] = [
        ("bed_id", csv_text(report["bed"]["bed_id"])),
        ("bed_label", csv_text(report["bed"]["label"])),
        ("day", report["day"]),
        ("ward_tz", report["ward_tz"]),
        ("day_start", csv_time(report["day_start_us"], tz)),
        ("day_end", csv_time(report["day_end_us"], tz)),
        ("generated", csv_time(report["generated_us"], tz)),
        ("complete", csv_flag(report["complete"])),
        ("bin_s", str(report["bin_s"])),
        # A shift's report (#14): day_start/day_end above are then the shift's ends.
        ("period", report.get("period", "day")),
        ("shift", (report.get("shift") or {}).get("key", "")),
    ]
    w.writerows(["report", k, v] for k, v in facts)
    w.writerow([])
    w.writerow(
        ["block", "admission_id", "display_name", "contact_s", "goal_s", "percent_of_goal", "goal_met"]
        + ["observed_s", "unknown_s", "readings", "ongoing"]
    )
    for t in report["totals"]:
        w.writerow(
            [
                "total",
                t["admission_id"],
                csv_text(t["display_name"]),
                csv_num(t["contact_s"], 0),
                csv_num(t["goal_s"], 0),
                csv_num(t["percent_of_goal"], 1),
                csv_flag(t["goal_met"]),
                csv_num(t["observed_s"], 0),
                csv_num(t["unknown_s"], 0),
                t["readings"],
                csv_flag(t["ongoing"]),
            ]
        )
    write_sessions(w, report["sessions"], tz)
    write_alarms(w, report["alarms"], tz)
    write_minutes(w, report["readings"], tz)
    return buf.getvalue()


def report_filename(bed_id: str, day: dt.date) -> str:
    """``kmc-<bed>-<day>.csv`` with the bed id cut to characters every file system and header takes."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", bed_id).strip("._") or "bed"
    return f"kmc-{safe}-{day.isoformat()}.csv"


# Routes ------------------------------------------------------------------------------------------
def _today(rt: WardRuntime) -> dt.date:
    return dt.datetime.fromtimestamp(rt.clock(), ZoneInfo(rt.engine.params.ward_tz)).date()


#: ``?shift=current``: the shift a handover wants now (:func:`~kmc_monitor.service.shifts.default_shift`).
CURRENT_SHIFT: Final = "current"


def _shift(rt: WardRuntime, shift: str) -> Shift:
    """``current`` or a shift's local start (``2026-03-01T19:00``) → the shift; 422 otherwise."""
    starts = parse_shift_starts(rt.settings.shift_starts)
    tz = rt.settings.ward_tz
    if shift == CURRENT_SHIFT:
        return default_shift(rt.clock(), starts, tz)
    try:
        local = dt.datetime.strptime(shift, "%Y-%m-%dT%H:%M")
        return shift_starting(local, starts, tz)
    except OverflowError:
        raise HTTPException(422, f"shift {shift!r}: no such date on this ward's calendar") from None
    except ValueError as exc:
        detail = (
            str(exc) if "shift" in str(exc) else f"shift {shift!r}: use {CURRENT_SHIFT!r} or YYYY-MM-DDTHH:MM"
        )
        raise HTTPException(422, detail) from None


async def _report(
    rt: WardRuntime, bed_id: str, day: dt.date | None, shift: str | None = None
) -> dict[str, Any]:
    rt.ward.bed(bed_id)  # 404 before any work
    if day is not None and shift is not None:
        raise HTTPException(422, "ask for a day or a shift, not both")
    params = rt.engine.params
    period = None if shift is None else _shift(rt, shift)
    when = day or (_today(rt) if period is None else period.start_local.date())
    inputs = await asyncio.to_thread(
        load_report_inputs, rt.ward, params, bed_id, when, now=rt.clock(), shift=period
    )
    now_us = rt.now_us()
    alarms = alarm_entries(inputs, rt.engine.board, now_us)
    report = build_report(inputs, alarms, params, generated_us=now_us, ward_name=rt.settings.ward_name)
    if period is not None:
        # The neighbours, so the page can step from shift to shift without knowing the starts.
        starts = parse_shift_starts(rt.settings.shift_starts)
        report["shift"]["previous"] = shift_at(period.start_t - 1.0, starts, rt.settings.ward_tz).key
        report["shift"]["next"] = shift_at(period.end_t, starts, rt.settings.ward_tz).key
    report["caregivers"] = await asyncio.to_thread(_caregivers_of_day, rt, bed_id, when)
    report["discharge_checklists"] = await asyncio.to_thread(_checklists, rt, inputs.admissions)
    return report


def _checklists(rt: WardRuntime, admissions: Sequence[Admission]) -> list[dict[str, Any]]:
    """Each stay's discharge checklist (#19), so the next shift sees what is left to teach."""
    from kmc_monitor.programme.discharge import checklist_state

    return [
        checklist_state(a.admission_id, rt.ward.store.teaching(a.admission_id)).model_dump(mode="json")
        for a in admissions
    ]


def _caregivers_of_day(rt: WardRuntime, bed_id: str, day: dt.date) -> list[dict[str, Any]]:
    """Each stay's contact that day by who held the baby (#16): the mother's KMC and the others'
    skin-to-skin apart and together."""
    from kmc_monitor.programme.caregivers import caregiver_days

    lo, hi = day_bounds(day, rt.settings.ward_tz)
    out = []
    for adm in rt.ward.store.admissions_for_bed(bed_id, lo, hi):
        for d in caregiver_days(rt.ward.store, adm, day, day, rt.settings.ward_tz):
            out.append(
                {
                    "admission_id": adm.admission_id,
                    "display_name": adm.display_name,
                    "kmc_mode": adm.kmc_mode.value,
                    "by_caregiver_s": d.by_caregiver_s,
                    "mother_kmc_s": d.mother_s,
                    "others_s": d.others_s,
                    "total_s": d.total_s,
                }
            )
    return out


DayQuery = Annotated[dt.date | None, Query(description="ward-local day, YYYY-MM-DD (default today)")]
ShiftQuery = Annotated[
    str | None,
    Query(
        description="a shift instead of a day: its ward-local start (YYYY-MM-DDTHH:MM, one of the "
        "ward's shift starts) or 'current' (the shift just ended, in its first two hours, else the "
        "running one)",
        max_length=32,
    ),
]


def report_router() -> APIRouter:
    """The report routes (staff only); include it in the app made by ``create_app``."""
    router = APIRouter(tags=["history"])

    @router.get("/api/beds/{bed_id}/report", response_model=ReportOut)
    async def report(
        bed_id: str, who: Staff, rt: Runtime, day: DayQuery = None, shift: ShiftQuery = None
    ) -> dict[str, Any]:
        """One bed's ward-local day (default: today), or one shift, for the handover: per-minute
        readings, sessions, each stay's contact against its goal, the alarms with who acknowledged
        them and when, and what is still open at the end."""
        return await _report(rt, bed_id, day, shift)

    @router.get(
        "/api/beds/{bed_id}/report.csv",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def report_as_csv(
        bed_id: str, who: Staff, rt: Runtime, day: DayQuery = None, shift: ShiftQuery = None
    ) -> Response:
        """The handover report as CSV (layout: see ``dashboard/README.md``)."""
        data = await _report(rt, bed_id, day, shift)
        text = await asyncio.to_thread(report_csv, data)
        name = report_filename(bed_id, dt.date.fromisoformat(data["day"]))
        if data["shift"] is not None:
            # Two shifts a day: "kmc-B01-2026-03-01T1900.csv", never the same name as the day's file.
            name = name.removesuffix(".csv") + data["shift"]["key"][10:].replace(":", "") + ".csv"
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    return router
