"""Export of one bed over a time range: FHIR R4 JSON for a hospital record, and CSV.

Routes (staff only, see :func:`export_router`):

- ``GET /api/beds/{bed_id}/export.fhir.json?start=...&end=...`` — a FHIR R4 ``collection`` Bundle
  (``application/fhir+json``; the mapping is in ``docs/fhir.md`` and ``fhir.py``);
- ``GET /api/beds/{bed_id}/export.csv?start=...&end=...`` — the same range as CSV: the admissions,
  each stay's ward days, sessions, alarms, and the readings per minute (layout below).

The range is ``[start, end)``. Each bound is an ISO 8601 date-time or a date. A date-time without a
UTC offset is in ward time; a date is a whole ward day: as ``start`` its midnight, as ``end`` the
midnight that ends it (``start=2026-03-01&end=2026-03-07`` is seven days). ``end`` defaults to now.
The range may touch at most :data:`~kmc_monitor.service.ward.MAX_HISTORY_DAYS` ward days (the
contact history's limit); an empty, reversed or longer range is refused with 422. Daily totals are
of whole ward days (the days the range touches), the readings and alarms those of the range.

Everything is read from the store in a worker thread and turned into JSON or CSV in one too (a
month of minutes is tens of thousands of Observations); only merging the live alarm board's view
(alarms not saved yet, acknowledgements just made) runs on the event loop, as for the handover
report, whose helpers this module reuses.

CSV layout: blocks in this order, separated by an empty line, each with a header row whose first
cell is ``block``; every data row's first cell names its block::

    block,key,value                       export: bed_id, bed_label, ward_tz, start, end, generated
    block,admission_id,display_name,hospital_number,admitted,discharged
    block,day,admission_id,contact_s,goal_s,goal_met,observed_s,unknown_s,readings,ongoing
    block,start,end,duration_s,contact_s,short,wrap_id,admission_id          session
    block,alarm_id,kind,priority,category,raised,ended,acknowledged,acknowledged_by,escalated,cleared,extreme_c
    block,minute,readings,temp_median_c,temp_min_c,temp_max_c,contact_fraction

Times are ward-local ISO 8601 with their UTC offset; typed text (names, hospital numbers, labels,
who acknowledged) is neutralised against spreadsheet formula injection, as in the handover report.
The minute rows are the report's (core-equivalent temperature, all plausible readings), so the
export and the printed report agree; the FHIR export leaves out what the sensor read while off the
skin (see ``fhir.py``).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Response

from kmc_monitor.service.deps import Runtime, Staff
from kmc_monitor.service.fhir import FhirInputs, build_bundle
from kmc_monitor.service.reports import (
    WARMUP_S,
    ReportInputs,
    alarm_entries,
    csv_flag,
    csv_num,
    csv_text,
    csv_time,
    minute_bins,
    report_filename,
    write_alarms,
    write_minutes,
    write_sessions,
)
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.views import session_json
from kmc_monitor.service.ward import MAX_HISTORY_DAYS, Ward
from kmc_monitor.service.ward_model import WrapInfo
from kmc_monitor.service.ward_time import day_bounds
from kmc_monitor.signal.params import US, RuleParams

__all__ = ["FHIR_JSON", "ExportRange", "export_csv", "export_router", "load_export_inputs", "parse_range"]

FHIR_JSON: Final = "application/fhir+json"


@dataclass(frozen=True, slots=True)
class ExportRange:
    """A checked range: ``[start_us, end_us)`` and the ward days it touches."""

    start_us: int
    end_us: int
    first_day: dt.date
    last_day: dt.date


def _bound(text: str, tz: str, *, is_end: bool) -> int:
    """One bound in microseconds since the epoch (see the module docstring); ValueError if unreadable."""
    text = text.strip()
    if len(text) == 10:  # a date: YYYY-MM-DD
        day = dt.date.fromisoformat(text)
        start_t, end_t = day_bounds(day, tz)
        return round((end_t if is_end else start_t) * US)
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(tz))
    return round(when.timestamp() * US)


def parse_range(start: str, end: str | None, tz: str, now_us: int) -> ExportRange:
    """The checked range, or HTTP 422 saying what is wrong with it (never echoing the input)."""
    try:
        start_us = _bound(start, tz, is_end=False)
    except ValueError:
        raise HTTPException(422, "start: give an ISO 8601 date (YYYY-MM-DD) or date-time") from None
    try:
        end_us = now_us if end is None else _bound(end, tz, is_end=True)
    except ValueError:
        raise HTTPException(422, "end: give an ISO 8601 date (YYYY-MM-DD) or date-time") from None
    if end_us <= start_us:
        raise HTTPException(422, "the range is empty: end must be after start")
    zone = ZoneInfo(tz)
    first = dt.datetime.fromtimestamp(start_us / US, zone).date()
    last = dt.datetime.fromtimestamp((end_us - 1) / US, zone).date()
    if (last - first).days >= MAX_HISTORY_DAYS:
        raise HTTPException(422, f"the range touches more than {MAX_HISTORY_DAYS} ward days: ask for less")
    return ExportRange(start_us, end_us, first, last)


def load_export_inputs(
    ward: Ward, params: RuleParams, bed_id: str, rng: ExportRange, *, now: float
) -> tuple[ReportInputs, list[WrapInfo]]:
    """What the store holds for the bed and range (blocking: call it in a worker thread), in the
    handover report's container (so its alarm merging applies), and the wraps that appear in it.

    Raises :class:`~kmc_monitor.service.ward_model.NotFoundError` for an unknown bed.
    """
    bed = ward.bed(bed_id)
    store = ward.store
    start_t, end_t = rng.start_us / US, rng.end_us / US
    inputs = ReportInputs(
        bed=bed,
        day=rng.first_day,
        ward_tz=params.ward_tz,
        start_us=rng.start_us,
        end_us=rng.end_us,
        admissions=store.admissions_for_bed(bed_id, start_t, end_t),
        readings=store.readings_for_bed(bed_id, start_t, end_t),
        warmup=store.readings_for_bed(bed_id, start_t - WARMUP_S, start_t),
        history=ward.contact_history(bed_id, rng.first_day, rng.last_day, params, now=now),
        stored_alarms=store.alarms_for_bed(bed_id, rng.start_us, rng.end_us),
        stored_audit=store.audit_log(start_us=rng.start_us, end_us=rng.end_us),
    )
    seen = {r.wrap_id for r in inputs.readings} | {str(a.get("wrap_id")) for a in inputs.stored_alarms}
    wraps = [w for w in store.wraps() if w.wrap_id in seen]
    return inputs, wraps


def fhir_inputs(
    inputs: ReportInputs, alarms: Sequence[Mapping[str, Any]], wraps: Sequence[WrapInfo], params: RuleParams
) -> FhirInputs:
    """The FHIR builder's inputs from what :func:`load_export_inputs` read and the merged alarms."""
    return FhirInputs(
        bed_id=inputs.bed.bed_id,
        bed_label=inputs.bed.label,
        ward_tz=inputs.ward_tz,
        start_us=inputs.start_us,
        end_us=inputs.end_us,
        admissions=inputs.admissions,
        readings=inputs.readings,
        days=inputs.history.days,
        sessions=inputs.history.sessions,
        alarms=alarms,
        wraps=wraps,
        params=params,
    )


def export_csv(
    inputs: ReportInputs, alarms: Sequence[Mapping[str, Any]], params: RuleParams, *, generated_us: int
) -> str:
    """The range as CSV in the layout of the module docstring."""
    tz = ZoneInfo(inputs.ward_tz)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["block", "key", "value"])
    facts = [
        ("bed_id", csv_text(inputs.bed.bed_id)),
        ("bed_label", csv_text(inputs.bed.label)),
        ("ward_tz", inputs.ward_tz),
        ("start", csv_time(inputs.start_us, tz)),
        ("end", csv_time(inputs.end_us, tz)),
        ("generated", csv_time(generated_us, tz)),
    ]
    w.writerows(["export", k, v] for k, v in facts)
    w.writerow([])
    w.writerow(["block", "admission_id", "display_name", "hospital_number", "admitted", "discharged"])
    for a in inputs.admissions:
        w.writerow(
            [
                "admission",
                a.admission_id,
                csv_text(a.display_name),
                csv_text(a.hospital_number),
                csv_time(round(a.admitted_t * US), tz),
                csv_time(None if a.discharged_t is None else round(a.discharged_t * US), tz),
            ]
        )
    w.writerow([])
    w.writerow(
        ["block", "day", "admission_id", "contact_s", "goal_s", "goal_met", "observed_s", "unknown_s"]
        + ["readings", "ongoing"]
    )
    for d in inputs.history.days:
        w.writerow(
            [
                "day",
                d.day.isoformat(),
                d.admission_id,
                csv_num(d.contact_s, 0),
                csv_num(d.daily_goal_s, 0),
                csv_flag(d.goal_met),
                csv_num(d.observed_s, 0),
                csv_num(d.unknown_s, 0),
                d.readings,
                csv_flag(d.ongoing),
            ]
        )
    write_sessions(w, [session_json(x) for x in inputs.history.sessions], tz)
    write_alarms(w, alarms, tz)
    write_minutes(w, minute_bins(inputs.readings, inputs.admissions, params, warmup=inputs.warmup), tz)
    return buf.getvalue()


def export_filename(bed_id: str, rng: ExportRange, suffix: str) -> str:
    """``kmc-<bed>-<first day>_to_<last day><suffix>``, the bed id made safe as the report's is."""
    stem = report_filename(bed_id, rng.first_day).removesuffix(".csv")
    return f"{stem}_to_{rng.last_day.isoformat()}{suffix}"


# Routes ------------------------------------------------------------------------------------------
StartQuery = Annotated[
    str, Query(max_length=40, description="ISO 8601 date or date-time (ward time without an offset)")
]
EndQuery = Annotated[
    str | None,
    Query(max_length=40, description="ISO 8601 date or date-time, exclusive; a date ends with its day"),
]


async def _load(
    rt: WardRuntime, bed_id: str, start: str, end: str | None
) -> tuple[ExportRange, ReportInputs, list[WrapInfo], list[dict[str, Any]], int]:
    rt.ward.bed(bed_id)  # 404 before any work
    params = rt.engine.params
    rng = parse_range(start, end, params.ward_tz, rt.now_us())
    inputs, wraps = await asyncio.to_thread(load_export_inputs, rt.ward, params, bed_id, rng, now=rt.clock())
    now_us = rt.now_us()
    alarms = alarm_entries(inputs, rt.engine.board, now_us)
    return rng, inputs, wraps, alarms, now_us


def export_router() -> APIRouter:
    """The export routes (staff only); include it in the app made by ``create_app``."""
    router = APIRouter(tags=["history"])

    @router.get(
        "/api/beds/{bed_id}/export.fhir.json",
        response_class=Response,
        responses={200: {"content": {FHIR_JSON: {}}}},
    )
    async def export_fhir(
        bed_id: str, who: Staff, rt: Runtime, start: StartQuery, end: EndQuery = None
    ) -> Response:
        """The bed's range as a FHIR R4 Bundle (type ``collection``): Patient, Device, temperature
        Observations per minute, daily skin-to-skin contact Observations with their sessions, and
        the alarms as Flags. See ``docs/fhir.md``."""
        rng, inputs, wraps, alarms, now_us = await _load(rt, bed_id, start, end)
        params = rt.engine.params

        def render() -> bytes:
            bundle = build_bundle(fhir_inputs(inputs, alarms, wraps, params), generated_us=now_us)
            return json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

        body = await asyncio.to_thread(render)
        name = export_filename(bed_id, rng, ".fhir.json")
        return Response(
            body,
            media_type=FHIR_JSON,
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    @router.get(
        "/api/beds/{bed_id}/export.csv",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def export_as_csv(
        bed_id: str, who: Staff, rt: Runtime, start: StartQuery, end: EndQuery = None
    ) -> Response:
        """The bed's range as CSV: admissions, ward days, sessions, alarms, readings per minute."""
        rng, inputs, _, alarms, now_us = await _load(rt, bed_id, start, end)
        text = await asyncio.to_thread(export_csv, inputs, alarms, rt.engine.params, generated_us=now_us)
        name = export_filename(bed_id, rng, ".csv")
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    return router
