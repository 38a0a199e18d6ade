"""``kmc-monitor validate``: bias 0 and full agreement when the observer's log matches the sensor,
and the bias and limits of agreement worked out by hand when it does not."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest

from kmc_monitor.cli import main
from kmc_monitor.devices.simulation.synthetic import TraceBuilder
from kmc_monitor.devices.trace import write_trace
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.signal.stream import analyze_series

H = 3600.0
DAY1 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()


def _traces(tmp_path: Path) -> tuple[Path, dict[str, list[tuple[float, float]]]]:
    """Two wraps: W1 contact 02-07, 10-12, 20-21 on Dec 1 and 02-06 on Dec 2; W2 03-09 on Dec 1.
    Returns the trace and the sessions the rules find in it (start, end) per wrap."""
    w1 = (
        TraceBuilder("W1", DAY1, 0.1, seed=1)
        .apart(2 * H)
        .contact(5 * H)
        .apart(3 * H)
        .contact(2 * H)
        .apart(8 * H)
        .contact(1 * H)
        .apart(5 * H)
        .contact(4 * H)
        .apart(2 * H)
        .build()
    )
    w2 = TraceBuilder("W2", DAY1, 0.1, seed=2).apart(3 * H).contact(6 * H).apart(5 * H).build()
    path = tmp_path / "trace.csv"
    write_trace(path, [w1, w2])
    sessions = {}
    for s in (w1, w2):
        report = analyze_series(s, RuleParams())
        sessions[s.wrap_id] = [(x.start_us / US, x.end_us / US) for x in report.sessions]
    return path, sessions


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["validate", *args, "--json"]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_a_log_that_matches_the_sensor_agrees_fully(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace, sessions = _traces(tmp_path)
    # The sensor side is the truth the builder wrote, to the minute.
    w1 = [e - s for s, e in sessions["W1"]]
    assert [round(x / 60) for x in w1] == [300, 120, 60, 240]
    obs = tmp_path / "obs.csv"
    lines = ["wrap_id,start,end,observer"]
    for wrap, spans in sessions.items():
        for i, (s, e) in enumerate(spans):
            # epoch seconds and ISO 8601 both accepted
            lines.append(f"{wrap},{s},{e},nurse A" if i % 2 else f"{wrap},{_iso(s)},{_iso(e)},nurse B")
    obs.write_text("\n".join(lines) + "\n")
    doc = _run([str(trace), "--observations", str(obs)], capsys)
    assert doc["format"] == "kmc-validation/1"
    assert doc["bias_h"] == 0 and doc["loa_h"] == [0, 0]
    assert doc["episodes"] == {"observed": 5, "observed_matched": 5, "sensor": 5, "sensor_matched": 5}
    days = doc["wrap_days"]
    assert isinstance(days, list)
    assert [(d["wrap_id"], d["date"]) for d in days] == [
        ("W1", "2026-12-01"),
        ("W1", "2026-12-02"),
        ("W2", "2026-12-01"),
    ]
    assert all(d["sensor_h"] == d["observed_h"] for d in days)
    assert days[0]["sensor_h"] == pytest.approx(8.0, abs=0.02)


def test_a_log_that_overstates_gives_the_right_bias(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace, sessions = _traces(tmp_path)
    obs = tmp_path / "obs.csv"
    lines = ["wrap_id,start,end"]
    for wrap, spans in sessions.items():
        for s, e in spans:
            if wrap == "W1" and round((e - s) / 60) == 60:
                continue  # the observer missed W1's one-hour session at 20:00
            lines.append(f"{wrap},{s},{e + H}")  # every other episode logged 1 h too long
    lines.append(f"W2,{DAY1 + 11 * H},{DAY1 + 12 * H}")  # an episode the wrap never saw
    obs.write_text("\n".join(lines) + "\n")
    plot = tmp_path / "ba.svg"
    doc = _run([str(trace), "--observations", str(obs), "--plot", str(plot)], capsys)
    # sensor - observed per wrap-day, by hand:
    # W1 Dec 1: (5 + 2 + 1) - (6 + 3) = -1;  W1 Dec 2: 4 - 5 = -1;  W2 Dec 1: 6 - (7 + 1) = -2
    diffs = [-1.0, -1.0, -2.0]
    bias = sum(diffs) / 3
    sd = math.sqrt(sum((d - bias) ** 2 for d in diffs) / 2)
    assert doc["bias_h"] == pytest.approx(bias, abs=1e-6)
    loa = doc["loa_h"]
    assert isinstance(loa, list)
    assert loa == pytest.approx([bias - 1.96 * sd, bias + 1.96 * sd], abs=1e-6)
    # observed: W1 6 h, 3 h, 5 h and W2 7 h each overlap a session for at least half; the made-up
    # one does not. Sensor: all but the missed one-hour session.
    assert doc["episodes"] == {"observed": 5, "observed_matched": 4, "sensor": 5, "sensor_matched": 4}
    text = plot.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text


def test_human_output_png_plot_and_bad_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace, sessions = _traces(tmp_path)
    s, e = sessions["W2"][0]
    obs = tmp_path / "obs.csv"
    obs.write_text(f"wrap_id,start,end\nW2,{s},{e}\nW2,yesterday,{e}\nW2,{e},{s}\n")
    png = tmp_path / "ba.png"
    assert main(["validate", str(trace), "--observations", str(obs), "--plot", str(png)]) == 0
    out, err = capsys.readouterr()
    assert "bias (sensor - observed): +0.00 h" in out
    assert "observed episodes matched: 1 of 1" in out
    assert f"{obs}:3" in err and f"{obs}:4: the episode ends before it starts" in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.csv"
    bad.write_text("wrap,from,to\n")
    assert main(["validate", str(trace), "--observations", str(bad)]) == 2
    assert "no column wrap_id, start, end" in capsys.readouterr().err
    assert main(["validate", str(trace), "--observations", str(obs), "--plot", str(tmp_path / "x.pdf")]) == 2
    assert ".png or .svg" in capsys.readouterr().err
