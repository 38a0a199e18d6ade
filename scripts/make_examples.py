"""Write the example traces in ``examples/``, one per clinical rule, plus a ward shift for ``make run``.

Every trace is built with :mod:`kmc_monitor.devices.simulation.synthetic` from fixed seeds, so running this
again writes byte-identical files. Each file starts with ``#`` comment lines saying what it shows and
what ``kmc-monitor analyze`` should report; the times there come from the rules applied by hand to the
known ground truth (approximate where noise and the 30 s smoothing window decide the exact second).

The CSV is written here with plain formatting, independent of ``kmc_monitor.devices.trace``, so that
the examples also test the reader rather than mirror the writer.

Usage: ``python scripts/make_examples.py [OUT_DIR]`` (default: ``examples/`` next to this script).
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kmc_monitor.devices.simulation.synthetic import Noise, TraceBuilder, TraceRows

HEADER = "t,wrap_id,skin_temp_c,ambient_temp_c,contact,battery_pct"
#: 2026-01-01T08:00:00Z: the morning round of the first day.
T0 = 1767254400.0
#: A typical wrap: thermistors within a few hundredths of a degree, contact level a little jumpy.
NOISE = Noise(skin_sd_c=0.03, ambient_sd_c=0.08, contact_sd=0.02)

Table = list[list[str]]


@dataclass(frozen=True, slots=True)
class Example:
    """One example file: its name, a one-line summary for the README, and the comment block."""

    name: str
    summary: str
    comments: str
    table: Table


def hms(t_s: float) -> str:
    """UTC clock time of an epoch second, for the comments."""
    return dt.datetime.fromtimestamp(t_s, dt.UTC).strftime("%H:%M:%S")


def at(h: int, m: int, s: int = 0) -> float:
    """Epoch seconds of a UTC clock time on the examples' day (2026-01-01)."""
    return T0 + (h - 8) * 3600.0 + m * 60.0 + s


def _num(x: float, digits: int) -> str:
    return "" if math.isnan(x) else f"{x:.{digits}f}"


def _time(t: float) -> str:
    return f"{t:.3f}".rstrip("0").rstrip(".")


def table(*traces: TraceRows) -> Table:
    """Format one or more wraps' rows, interleaved in time order as a ward gateway would record them."""
    t = np.concatenate([r.t_s for r in traces])
    wrap = np.concatenate([np.full(len(r), i) for i, r in enumerate(traces)])
    order = np.lexsort((wrap, t))
    tt, skin, amb, contact, batt = (
        np.concatenate([getattr(r, f) for r in traces])[order].tolist() for f in _FIELDS
    )
    ids = [traces[i].wrap_id for i in wrap[order].tolist()]
    return [
        [_time(tt[i]), ids[i], _num(skin[i], 2), _num(amb[i], 2), _num(contact[i], 2), _num(batt[i], 0)]
        for i in range(len(ids))
    ]


_FIELDS = ("t_s", "skin_c", "ambient_c", "contact", "battery_pct")


def write(path: Path, example: Example) -> int:
    """Write one example; returns its size in bytes."""
    lines = [f"# {line}".rstrip() for line in example.comments.strip("\n").splitlines()]
    lines.append(HEADER)
    lines.extend(",".join(row) for row in example.table)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(data)
    return len(data)


# The examples ---------------------------------------------------------------------------------------
def clean_session() -> Example:
    b = TraceBuilder("W01", T0, 1.0, seed=101, noise=NOISE, battery_pct=88.0, drain_pct_per_h=1.0)
    b.apart(300).contact(5400).apart(300)
    return Example(
        "clean_session.csv",
        "one 90 min KMC session, no alarms",
        f"""
clean_session: one skin-to-skin (KMC) session of 90 minutes, nothing else.
Wrap W01, 1 Hz, 2026-01-01 {hms(T0)}-{hms(b.end_s - 1)} UTC. The baby is in a cot for 5 min, on
the mother's chest from {hms(at(8, 5))} to {hms(at(9, 35))}, then back in the cot for 5 min. Skin
36.8 C (noise 0.03 C), ambient 26 C, contact 0.9 in KMC and 0.1 out, battery 88 -> 86 %.
kmc-monitor analyze should report:
  readings 6000, invalid 0, observed 5999 s, contact 5400 s, unknown 0 s
  sessions: 1, {hms(at(8, 5))} -> {hms(at(9, 35))} (5400 s), not short
  alarms: none
""",
        table(b.rows()),
    )


def repositioning_breaks() -> Example:
    b = TraceBuilder("W02", T0, 1.0, seed=102, noise=NOISE, battery_pct=75.0, drain_pct_per_h=1.0)
    b.apart(120).contact(1500).apart(90).contact(1200).apart(40).contact(1200)
    b.apart(300).contact(1800).apart(120)
    return Example(
        "repositioning_breaks.csv",
        "breaks up to 120 s keep one session; a 5 min break starts a new one",
        f"""
repositioning_breaks: short breaks are bridged, a long one ends the session.
Wrap W02, 1 Hz, {hms(T0)}-{hms(b.end_s - 1)} UTC. KMC from {hms(at(8, 2))}; the mother repositions
the baby twice (90 s at {hms(at(8, 27))}, 40 s at {hms(at(8, 48, 30))}: contact 0.1); at
{hms(at(9, 9, 10))} the baby goes to the cot for 5 min, then 30 min more KMC.
kmc-monitor analyze should report:
  contact 5700 s (the 130 s of breaks inside session 1 are not contact), unknown 0 s
  sessions: 2
    {hms(at(8, 2))} -> {hms(at(9, 9, 10))} (4030 s, contact 3900 s), not short: both breaks <= 120 s
    {hms(at(9, 14, 10))} -> {hms(at(9, 44, 10))} (1800 s), short (< 60 min): the 300 s break ended
    the first session
  alarms: none
""",
        table(b.rows()),
    )


def cooling_out_of_kmc() -> Example:
    b = TraceBuilder("W03", T0, 0.2, seed=103, noise=NOISE, skin_c=37.1, battery_pct=70.0)
    b.contact(1200).ramp_skin(4200, 35.7, contact=0.1)  # out of KMC: 1.2 C/h for 70 min
    b.ramp_skin(3600, 36.9, contact=0.9).contact(1800)  # back in KMC: rewarming at 1.2 C/h
    return Example(
        "cooling_out_of_kmc.csv",
        "out of KMC the baby cools: cooling_trend, cold_stress, hypothermia_moderate; KMC rewarms",
        f"""
cooling_out_of_kmc: a baby out of skin-to-skin contact cools slowly; KMC rewarms it.
Wrap W03, 0.2 Hz, {hms(T0)}-{hms(b.end_s - 5)} UTC. KMC at 37.1 C until {hms(at(8, 20))}; then in a
cot (contact 0.1), skin falling 1.2 C/h to 35.7 C at {hms(at(9, 30))}; back in KMC, rewarming at
1.2 C/h to 36.9 C at {hms(at(10, 30))}, then 30 min more KMC.
kmc-monitor analyze should report:
  sessions: 2
    {hms(at(8, 0))} -> {hms(at(8, 20))} (1200 s), short
    {hms(at(9, 30))} -> {hms(b.end_s - 5)} (5395 s), not short
  alarms:
    cooling_trend         08:46:15 -> 09:41:00  advisory: falling >= 1 C/h over 30 min, ahead of the bands
    cold_stress           08:51:25 -> 09:16:50  extreme 35.96 C; ends when the worse condition starts
    hypothermia_moderate  09:16:50 -> 10:17:00  extreme 35.69 C; ends only after 60 s at >= 36.6 C
  A cold condition never steps back to cold_stress while the baby rewarms through 36.0-36.5 C.
""",
        table(b.rows()),
    )


def sensor_detached() -> Example:
    b = TraceBuilder("W04", T0, 1.0, seed=104, noise=NOISE, battery_pct=64.0)
    b.contact(1800).detached(600).reattach(300, 36.8).contact(1200)
    return Example(
        "sensor_detached.csv",
        "the skin sensor is lifted off: sensor_detached, and no hypothermia alarm",
        f"""
sensor_detached: the skin thermistor slips off the skin and reads the air under the wrap.
Wrap W04, 1 Hz, {hms(T0)}-{hms(b.end_s - 1)} UTC. KMC throughout (contact 0.9). At
{hms(at(8, 30))} the sensor lifts: skin falls from 36.8 C towards ambient 26 C with a time
constant of 40 s (far faster than a baby can cool). At {hms(at(8, 40))} the nurse puts it back: it
warms to 36.8 C with a time constant of 60 s.
kmc-monitor analyze should report:
  sessions: 1, {hms(T0)} -> {hms(b.end_s - 1)} (3899 s), not short
  alarms:
    sensor_detached  08:30:50 -> 08:40:39  (detached by the fast fall ~20 s after the lift, alarm
                     30 s later; ends when skin is >= 4 C above ambient again)
  NO cold_stress or hypothermia alarm: bands are not judged while detached, nor while the
  re-attached sensor settles (until T is back in 36.5-37.5 C, at most 300 s).
""",
        table(b.rows()),
    )


def no_data_gap() -> Example:
    b = TraceBuilder("W05", T0, 1.0, seed=105, noise=NOISE, battery_pct=57.0)
    b.contact(1800).gap(90).contact(1800).gap(240).contact(1800)
    return Example(
        "no_data_gap.csv",
        "radio silence: no_data after 30 s; a gap over 120 s also splits the session",
        f"""
no_data_gap: the wrap stays on the baby (KMC throughout) but its radio goes silent twice.
Wrap W05, 1 Hz, {hms(T0)}-{hms(b.end_s - 1)} UTC. No readings {hms(at(8, 30))}-{hms(at(8, 31, 30))}
(90 s) and {hms(at(9, 1, 30))}-{hms(at(9, 5, 30))} (4 min).
kmc-monitor analyze should report:
  unknown 332 s (the two stale intervals, 91 s and 241 s: neither contact nor no contact)
  alarms:
    no_data  {hms(at(8, 30, 29))} -> {hms(at(8, 31, 30))}  (30 s after the last reading, until the next)
    no_data  {hms(at(9, 1, 59))} -> {hms(at(9, 5, 30))}
  sessions: 2
    {hms(T0)} -> {hms(at(9, 1, 29))} (3689 s), not short: the 91 s gap is bridged like a break
    {hms(at(9, 5, 30))} -> {hms(b.end_s - 1)} (1799 s), short: unknown time counts as a break, and
    241 s is more than 120 s
  No temperature alarm: a gap neither starts nor ends one.
""",
        table(b.rows()),
    )


def hyperthermia() -> Example:
    b = TraceBuilder("W06", T0, 0.2, seed=106, noise=NOISE, skin_c=37.0, battery_pct=81.0)
    b.contact(1200).ramp_skin(2400, 37.9, ambient_c=30.0)  # over-wrapped in a warm room
    b.contact(1200).ramp_skin(1800, 37.1, ambient_c=26.0).contact(1200)
    return Example(
        "hyperthermia.csv",
        "an over-wrapped baby warms above 37.5 °C: hyperthermia",
        f"""
hyperthermia: a baby in KMC gets too warm (extra blanket, warm room), then is unwrapped.
Wrap W06, 0.2 Hz, {hms(T0)}-{hms(b.end_s - 5)} UTC. KMC throughout. Skin 37.0 C until
{hms(at(8, 20))}, rising to 37.9 C at {hms(at(9, 0))} (ambient 30 C), 37.9 C until {hms(at(9, 20))},
falling to 37.1 C by {hms(at(9, 50))} (ambient 26 C).
kmc-monitor analyze should report:
  sessions: 1, {hms(T0)} -> {hms(b.end_s - 5)} (7795 s), not short
  alarms:
    hyperthermia  08:43:50 -> 09:39:30  extreme 37.94 C (smoothed > 37.5 C for 60 s; ends after
                  60 s at <= 37.4 C)
""",
        table(b.rows()),
    )


def severe_hypothermia() -> Example:
    b = TraceBuilder("W07", T0, 0.2, seed=107, noise=NOISE, skin_c=37.0, ambient_c=24.0, battery_pct=92.0)
    b.contact(600).ramp_skin(9360, 31.6, contact=0.1)  # left uncovered: about 2.1 C/h
    b.ramp_skin(14400, 36.8, contact=0.9).contact(1200)  # rewarmed in KMC over 4 h
    return Example(
        "severe_hypothermia.csv",
        "a baby left uncovered falls below 32 °C: cold_stress, moderate, then severe hypothermia",
        f"""
severe_hypothermia: a baby left uncovered out of KMC cools below 32 C; slow rewarming in KMC.
Wrap W07, 0.2 Hz, {hms(T0)}-{hms(b.end_s - 5)} UTC. KMC at 37.0 C until {hms(at(8, 10))}; then
uncovered (contact 0.1, ambient 24 C), skin falling ~2.1 C/h to 31.6 C at {hms(at(10, 46))}; back in
KMC, rewarming over 4 h to 36.8 C at {hms(at(14, 46))}, then 20 min more.
kmc-monitor analyze should report:
  sessions: 2
    {hms(T0)} -> {hms(at(8, 10))} (600 s), short
    {hms(at(10, 46))} -> {hms(b.end_s - 5)} (15595 s), not short
  alarms:
    cold_stress           08:25:35 -> 08:40:05  ends when moderate starts
    cooling_trend         08:31:00 -> 11:02:00  advisory
    hypothermia_moderate  08:40:05 -> 10:35:10  ends when severe starts
    hypothermia_severe    10:35:10 -> 14:38:50  high priority, 15 s delay; extreme 31.58 C; it stays
                          severe while the baby rewarms and ends only after 60 s at >= 36.6 C
""",
        table(b.rows()),
    )


def low_battery() -> Example:
    b = TraceBuilder("W08", T0, 0.2, seed=108, noise=NOISE, battery_pct=24.0, drain_pct_per_h=2.0)
    b.contact(10800).battery(100.0).drain(1.0).contact(1200)
    return Example(
        "low_battery.csv",
        "the battery drains below 20 %: low_battery until the battery is replaced",
        f"""
low_battery: the wrap's battery runs low during a long KMC session and is replaced.
Wrap W08, 0.2 Hz, {hms(T0)}-{hms(b.end_s - 5)} UTC. KMC throughout at 36.8 C. Battery 24 %
draining 2 %/h (whole percent, as the wrap reports it); swapped for a full one at {hms(at(11, 0))}.
kmc-monitor analyze should report:
  sessions: 1, {hms(T0)} -> {hms(b.end_s - 5)} (11995 s), not short
  alarms:
    low_battery  {hms(at(10, 15, 5))} -> {hms(at(11, 0))}  (first reading at 19 %, i.e. below 20 %;
                 ends at the first reading >= 25 %)
""",
        table(b.rows()),
    )


def threshold_noise() -> Example:
    noise = Noise(skin_sd_c=0.08, ambient_sd_c=0.08, contact_sd=0.02)
    b = TraceBuilder("W09", T0, 1.0, seed=109, noise=noise, battery_pct=70.0)
    b.contact(900, 36.58)  # single samples often below 36.5
    b.contact(600, level=0.5)  # contact level hovering around 0.5
    b.contact(600, 36.44)  # smoothed just below 36.5: one cold_stress
    b.contact(600, 36.75)  # back to normal: it ends once
    b.apart(180).apart(600, level=0.5).contact(600)
    return Example(
        "threshold_noise.csv",
        "noise right at 36.5 °C and at contact 0.5: one alarm, no flapping",
        f"""
threshold_noise: readings that hover at a threshold must not make alarms or sessions flap.
Wrap W09, 1 Hz, {hms(T0)}-{hms(b.end_s - 1)} UTC. Skin noise 0.08 C, contact noise 0.02.
  08:00-08:15  skin 36.58 C: about 1 reading in 6 is below 36.5 C, the 30 s median never is
  08:15-08:25  contact hovers at 0.5 (0.43-0.57), between the 0.4/0.6 thresholds: stays "contact"
  08:25-08:35  skin 36.44 C: the median is below 36.5 C, though single readings reach 36.6 C
  08:35-08:45  skin 36.75 C
  08:45-08:48  no contact (0.1) for 3 min: the session ends
  08:48-08:58  contact hovers at 0.5 again: stays "no contact"
  08:58-09:08  KMC again
kmc-monitor analyze should report:
  sessions: 2
    {hms(T0)} -> {hms(at(8, 45))} (2700 s), short
    {hms(at(8, 58))} -> {hms(b.end_s - 1)} (599 s), short
  alarms: exactly one
    cold_stress  08:26:12 -> 08:36:16  extreme 36.39 C
""",
        table(b.rows()),
    )


def bad_rows() -> Example:
    b = TraceBuilder("W10", T0, 1.0, seed=110, noise=NOISE, battery_pct=66.0)
    b.contact(900)
    rows = table(b.rows())
    # Columns: t, wrap_id, skin, ambient, contact, battery. Data rows are numbered from 0.
    rows[100][2] = "err"  # not a number
    rows[200][2] = "85.00"  # skin outside 20-45 C: a sensor fault
    rows[300][4] = "1.70"  # contact outside 0-1
    rows[400][5] = "-5"  # battery outside 0-100
    rows[500][3] = ""  # ambient missing: allowed, not invalid
    rows[600][0] = ""  # no timestamp: the row is skipped
    rows.insert(701, list(rows[700]))  # the same reading twice: the second is dropped, not invalid

    def about(first: int) -> str:
        def line(row: int) -> int:
            return row + first

        return f"""
bad_rows: a recording with a few malformed rows; the rest of the file must still be used.
Wrap W10, 1 Hz, {hms(T0)}-{hms(b.end_s - 1)} UTC, KMC throughout at 36.8 C. Broken on purpose:
  line {line(100)}: skin_temp_c "err" (not a number)   line {line(200)}: skin_temp_c 85.00 (out of range)
  line {line(300)}: contact 1.70 (out of range)        line {line(400)}: battery_pct -5 (out of range)
  line {line(500)}: ambient_temp_c empty (missing, which is allowed: not invalid)
  line {line(600)}: t empty (the row is skipped)
  line {line(701)}: an exact duplicate of line {line(700)} (dropped, not counted)
kmc-monitor analyze should report:
  readings 899, invalid_readings 5 (four bad values and the row without t), lines {line(100)}, {line(200)},
  {line(300)}, {line(400)} and {line(600)} named on stderr; exit status 0
  contact 898 s, unknown 1 s (the reading with contact 1.70 has no contact state for its second)
  sessions: 1, {hms(T0)} -> {hms(b.end_s - 1)} (899 s, contact 898 s), short; alarms: none
"""

    # File lines are 1-based and the data follow the comment lines and the header.
    first = len(about(0).strip("\n").splitlines()) + 2
    return Example(
        "bad_rows.csv",
        "a few malformed rows: counted as invalid and reported, the rest analysed",
        about(first),
        rows,
    )


def ward_shift() -> Example:
    # One builder per bed; the wraps report a second or so apart, as on a real ward.
    def bed(
        n: int, skin_c: float, ambient_c: float, battery_pct: float, drain_pct_per_h: float
    ) -> TraceBuilder:
        return TraceBuilder(
            f"W0{n}",
            T0 + n - 1,
            0.2,
            seed=200 + n,
            noise=NOISE,
            skin_c=skin_c,
            ambient_c=ambient_c,
            battery_pct=battery_pct,
            drain_pct_per_h=drain_pct_per_h,
        )

    w1 = bed(1, skin_c=36.9, ambient_c=26.5, battery_pct=85.0, drain_pct_per_h=0.8)
    w1.contact(5400).apart(60).contact(4200)  # 08:00-10:41, one repositioning break
    w1.ramp_skin(2400, 36.7, contact=0.1)  # cares and a feed in the cot
    w1.ramp_skin(1200, 36.9, contact=0.9).contact(6540).apart(90).contact(8910)

    w2 = bed(2, skin_c=36.7, ambient_c=26.0, battery_pct=72.0, drain_pct_per_h=0.8)
    w2.apart(1800).contact(1800, 36.8).contact(7200).apart(45).contact(5355)  # KMC 08:30-12:30
    w2.ramp_skin(3600, 36.6, contact=0.1).ramp_skin(1200, 36.8, contact=0.9).contact(7800)

    w3 = bed(3, skin_c=37.0, ambient_c=25.5, battery_pct=90.0, drain_pct_per_h=0.8)
    w3.contact(7200).ramp_skin(7200, 34.8, contact=0.1)  # out of KMC 10:00-12:00, cooling 1.1 C/h
    w3.ramp_skin(7200, 36.9, contact=0.9).contact(7200)  # rewarmed in KMC

    w4 = bed(4, skin_c=36.8, ambient_c=26.0, battery_pct=66.0, drain_pct_per_h=0.8)
    w4.contact(6000).detached(900).reattach(300, 36.8).contact(7200)  # sensor loose 09:40-09:55
    w4.apart(2700).contact(11700)

    w5 = bed(5, skin_c=36.9, ambient_c=26.5, battery_pct=27.0, drain_pct_per_h=1.5)
    w5.contact(12600).apart(2700).contact(13500)

    w6 = bed(6, skin_c=36.8, ambient_c=26.0, battery_pct=95.0, drain_pct_per_h=0.8)
    w6.apart(1800).contact(7200).apart(2400).contact(2400).apart(2400)  # a short session 11:10-11:50
    w6.contact(5400).gap(100).contact(7100)  # radio out of range for 100 s at 14:00

    wraps = (w1, w2, w3, w4, w5, w6)
    return Example(
        "ward_shift.csv",
        "six babies over an 8 h day shift: the story `make run` tells",
        """
ward_shift: a day shift on a six-bed KMC ward, 08:00-16:00 UTC on 2026-01-01, one reading every 5 s
per wrap (W02 a second after W01, W03 two, ...), the rows of all wraps interleaved in time order.
Most babies do well; three need a look.
  W01  KMC 08:00-10:41 and 11:21-16:00 with a few short repositioning breaks; 40 min of cares in
       the cot in between (skin 36.9 -> 36.7 C). Sessions 08:00:00-10:41:00, 11:21:00-15:59:55.
  W02  in the incubator until 08:30, KMC 08:30-12:30 and 13:30-16:00.
       Sessions 08:30:01-12:30:01, 13:30:01-15:59:56.
  W03  KMC until 10:00, then 2 h in a cot, cooling 1.1 C/h to 34.8 C; rewarmed in KMC from 12:00.
       Sessions 08:00:02-10:00:02, 12:00:02-15:59:57. Alarms:
         cooling_trend         10:28:32 -> 12:09:52
         cold_stress           10:29:37 -> 10:55:42
         hypothermia_moderate  10:55:42 -> 13:44:37  extreme 34.79 C
  W04  KMC all day (cot 12:00-12:45); the skin sensor slips off at 09:40 and is put back at 09:55.
       Sessions 08:00:03-12:00:03, 12:45:03-15:59:58. Alarms:
         sensor_detached       09:40:53 -> 09:55:43  and no cold alarm for the air-cooled sensor
  W05  KMC 08:00-11:30 and 12:15-16:00; battery 27 % draining 1.5 %/h, never replaced.
       Sessions 08:00:04-11:30:04, 12:15:04-15:59:59. Alarms:
         low_battery           13:00:09 -> still active (end_t null)
  W06  in the cot until 08:30; KMC 08:30-10:30, 11:10-11:50 and from 12:30; the wrap is out of
       radio range for 100 s at 14:00. Sessions 08:30:05-10:30:05, 11:10:05-11:50:05 (short),
       12:30:05-16:00:00 (the 105 s without readings is bridged like a break). Alarms:
         no_data               14:00:30 -> 14:01:45
W01 and W02 have no alarms.
""",
        table(*(w.rows() for w in wraps)),
    )


EXAMPLES: Sequence[Callable[[], Example]] = (
    clean_session,
    repositioning_breaks,
    cooling_out_of_kmc,
    sensor_detached,
    no_data_gap,
    hyperthermia,
    severe_hypothermia,
    low_battery,
    threshold_noise,
    bad_rows,
    ward_shift,
)


def readme(examples: Sequence[Example]) -> str:
    lines = [
        "# Example traces",
        "",
        "Synthetic wrap recordings in the trace format of `../shared/spec/trace-format.md`, one per",
        "clinical rule, made by `scripts/make_examples.py` from fixed seeds (run it again and the files",
        "come out byte-identical). Each file opens with `#` comment lines saying what it shows and what",
        "`kmc-monitor analyze FILE` should report. All times are 2026-01-01 UTC.",
        "",
        "| file | what it demonstrates |",
        "| --- | --- |",
    ]
    lines += [f"| `{e.name}` | {e.summary} |" for e in examples]
    lines += [
        "",
        "`ward_shift.csv` is the one `make run` analyses: six babies over an 8 h day shift, most doing",
        "well, one cooling out of KMC, one with a loose sensor, one with a low battery.",
        "",
        "The traces are built with `kmc_monitor.devices.simulation.synthetic`, whose ground truth "
        "(segment times,",
        "temperatures, contact levels) is known by construction. The expected results in the comments",
        "follow from the rules in `docs/rules.md` applied to that truth; where noise and the 30 s",
        "smoothing window decide the exact second, the comments give the second these seeded files",
        "produce, as computed by both the signal core and the per-sample reference",
        "(`tests/signal/reference.py`) when the files were made.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "examples"
    out.mkdir(parents=True, exist_ok=True)
    examples = [make() for make in EXAMPLES]
    for e in examples:
        size = write(out / e.name, e)
        print(f"{e.name}: {len(e.table)} rows, {size / 1000:.0f} kB")
    (out / "README.md").write_text(readme(examples), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
