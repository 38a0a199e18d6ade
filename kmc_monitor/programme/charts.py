"""The indicators page: printable HTML with its charts drawn on the server as inline SVG.

The charts are drawn by matplotlib (no script, no CDN: the page prints and archives as one file,
and works on a ward network with no internet). Every number a chart shows is also in the table
below it, so the page says the same thing to a reader who cannot see the chart.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

from kmc_monitor.programme.indicators import DOSE_THRESHOLDS_H, Indicators

__all__ = ["bar_svg", "indicators_html"]


def bar_svg(title: str, labels: Sequence[str], values: Sequence[float | None], unit: str) -> str:
    """A small horizontal bar chart as an SVG fragment; unknown values are drawn as "n/a"."""
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6.0, 0.45 * max(len(labels), 2) + 0.9), dpi=72)
    ax = fig.add_subplot()
    known = [0.0 if v is None else float(v) for v in values]
    ys = list(range(len(labels)))
    ax.barh(ys, known, color="#2b6ca3")
    ax.set_yticks(ys, labels=list(labels))
    ax.invert_yaxis()
    ax.margins(x=0.15)
    if unit == "babies":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(unit)
    for y, v in zip(ys, values, strict=True):
        ax.text(
            0 if v is None else float(v), y, " n/a" if v is None else f" {v:.3g}", va="center", fontsize=9
        )
    fig.subplots_adjust(left=0.3, right=0.95, top=0.85, bottom=0.6 / (0.45 * max(len(labels), 2) + 0.9))
    out = io.StringIO()
    # Text stays text (not glyph outlines): a quarter of the size, quicker, and a screen reader or
    # a search in the printed PDF finds the labels.
    with mpl.rc_context({"svg.fonttype": "none"}):
        fig.savefig(out, format="svg")
    text = out.getvalue()
    return text[text.index("<svg") :]


def _row(ind: Indicators, key: str) -> float | None:
    return ind.get(key)


def indicators_html(ind: Indicators, *, ward_name: str = "KMC unit") -> str:
    """The whole printable page."""
    dose = bar_svg(
        "Baby-days reaching a daily dose of skin-to-skin",
        [f"≥ {h} h" for h in DOSE_THRESHOLDS_H],
        [_row(ind, f"baby_days_ge_{h}h_pct") for h in DOSE_THRESHOLDS_H],
        "% of baby-days",
    )
    roles = ["mother", "father", "family", "unknown"]
    carers = bar_svg(
        "Skin-to-skin hours by caregiver (the mother's is KMC)",
        roles,
        [_row(ind, f"contact_h.{r}") for r in roles],
        "hours",
    )
    alarm_keys = [v.key for v in ind.values if v.key.startswith("alarms_per_patient_day.")]
    alarms = bar_svg(
        "Alarms per patient-day by kind",
        [k.split(".", 1)[1].replace("_", " ") for k in alarm_keys],
        [_row(ind, k) for k in alarm_keys],
        "alarms per patient-day",
    )
    discharge_keys = [v.key for v in ind.values if v.key.startswith("discharges.")]
    discharges = bar_svg(
        "Status at discharge",
        [k.split(".", 1)[1].replace("_", " ") for k in discharge_keys],
        [_row(ind, k) for k in discharge_keys],
        "babies",
    )
    rows = "\n".join(
        f"<tr><td>{html.escape(v.label)}</td><td class=num>{'—' if v.value is None else f'{v.value:g}'}</td>"
        f"<td>{html.escape(v.unit)}</td><td><code>{html.escape(v.key)}</code></td></tr>"
        for v in ind.values
    )
    title = f"KMC indicators — {html.escape(ward_name)} — {html.escape(ind.period)}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #111; }}
h1 {{ font-size: 1.4em; }} .charts {{ display: flex; flex-wrap: wrap; gap: 1em; }}
.charts > div {{ flex: 1 1 26em; max-width: 40em; }} svg {{ width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin-top: 1em; }} td, th {{ border: 1px solid #bbb; padding: 2px 6px; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }} .note {{ color: #444; }}
@media print {{ .noprint {{ display: none; }} .charts > div {{ break-inside: avoid; }} }}
</style></head><body>
<h1>{title}</h1>
<p class="note">Ward-local days {ind.first_day} to {ind.last_day} ({html.escape(ind.ward_tz)}), counted up to
{ind.until:%Y-%m-%d %H:%M} UTC. "—" means the value cannot be known (nothing to count). Definitions:
docs/indicators.md.</p>
<p class="noprint"><a href="/api/indicators?period={html.escape(ind.period)}&amp;format=csv">CSV</a> ·
<a href="/api/indicators?period={html.escape(ind.period)}&amp;format=json">JSON</a></p>
<div class="charts"><div>{dose}</div><div>{carers}</div><div>{alarms}</div><div>{discharges}</div></div>
<table><thead><tr><th>Indicator</th><th>Value</th><th>Unit</th><th>Key</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""
