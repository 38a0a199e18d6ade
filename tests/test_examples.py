"""The bundled example traces show what their comments say, and the script remakes them exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kmc_monitor.analysis import analyze_all
from kmc_monitor.devices.trace import read_traces
from kmc_monitor.signal import AlarmKind, Priority, RuleParams, WrapReport

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
P = RuleParams()
A = AlarmKind


def analyse(name: str) -> list[WrapReport]:
    traces = read_traces([EXAMPLES / name], P)
    return analyze_all(list(traces.series), P, until_us=traces.end_us)


def kinds(r: WrapReport) -> list[AlarmKind]:
    return [a.kind for a in r.alarms]


def test_clean_session() -> None:
    (r,) = analyse("clean_session.csv")
    assert len(r.sessions) == 1 and not r.sessions[0].short and r.alarms == ()


def test_repositioning_breaks() -> None:
    (r,) = analyse("repositioning_breaks.csv")
    assert len(r.sessions) == 2
    first = r.sessions[0]
    assert first.contact_us < first.duration_us  # short breaks were bridged into one session


def test_cooling_out_of_kmc() -> None:
    (r,) = analyse("cooling_out_of_kmc.csv")
    assert kinds(r) == [A.COOLING_TREND, A.COLD_STRESS, A.HYPOTHERMIA_MODERATE]
    assert all(a.end_us is not None for a in r.alarms)


def test_sensor_detached() -> None:
    (r,) = analyse("sensor_detached.csv")
    assert A.SENSOR_DETACHED in kinds(r) and not any(k.is_cold for k in kinds(r))


def test_no_data_gap() -> None:
    (r,) = analyse("no_data_gap.csv")
    assert kinds(r).count(A.NO_DATA) == 2 and r.unknown_us > 0 and len(r.sessions) == 2


def test_hyperthermia_and_severe() -> None:
    (h,) = analyse("hyperthermia.csv")
    assert kinds(h) == [A.HYPERTHERMIA]
    (s,) = analyse("severe_hypothermia.csv")
    severe = [a for a in s.alarms if a.kind is A.HYPOTHERMIA_SEVERE]
    assert len(severe) == 1 and severe[0].priority is Priority.HIGH


def test_low_battery() -> None:
    (r,) = analyse("low_battery.csv")
    assert kinds(r) == [A.LOW_BATTERY]


def test_threshold_noise_does_not_flap() -> None:
    (r,) = analyse("threshold_noise.csv")
    assert kinds(r).count(A.COLD_STRESS) == 1 and len(r.sessions) == 2


def test_bad_rows() -> None:
    (r,) = analyse("bad_rows.csv")
    assert r.invalid_readings == 5


def test_ward_shift_story() -> None:
    reports = {r.wrap_id: r for r in analyse("ward_shift.csv")}
    assert sorted(reports) == ["W01", "W02", "W03", "W04", "W05", "W06"]
    assert reports["W01"].alarms == () and reports["W02"].alarms == ()
    assert A.HYPOTHERMIA_MODERATE in kinds(reports["W03"])
    assert kinds(reports["W04"]) == [A.SENSOR_DETACHED]
    assert kinds(reports["W05"]) == [A.LOW_BATTERY]
    assert A.NO_DATA in kinds(reports["W06"])


@pytest.mark.slow
def test_the_script_remakes_the_examples_byte_for_byte(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_examples.py"), str(tmp_path)], check=True, timeout=120
    )
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in EXAMPLES.iterdir())
    for name in made:
        assert (tmp_path / name).read_bytes() == (EXAMPLES / name).read_bytes(), name
