"""The ``kmc-monitor`` command line, run as a real process the way an engineer runs it."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from kmc_monitor.devices.simulation.synthetic import TraceBuilder
from kmc_monitor.devices.trace import write_trace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
KMC = shutil.which("kmc-monitor", path=str(Path(sys.executable).parent)) or "kmc-monitor"
T0 = 1_767_254_400.0


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KMC, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def assert_plain_failure(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, one plain sentence on stderr naming the problem, never a traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0]


def test_json_report_follows_the_spec() -> None:
    proc = run("analyze", "--json", str(EXAMPLES / "cooling_out_of_kmc.csv"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["format"] == "kmc-analysis/1"
    (wrap,) = doc["wraps"]
    assert set(wrap) >= {
        "wrap_id",
        "first_t",
        "last_t",
        "readings",
        "invalid_readings",
        "totals",
        "sessions",
        "alarms",
    }
    assert set(wrap["totals"]) == {"observed_s", "contact_s", "unknown_s"}
    for s in wrap["sessions"]:
        assert set(s) == {"start_t", "end_t", "duration_s", "contact_s", "short"}
        assert s["duration_s"] == pytest.approx(s["end_t"] - s["start_t"])
    kinds = [a["kind"] for a in wrap["alarms"]]
    assert kinds == ["cooling_trend", "cold_stress", "hypothermia_moderate"]
    for a in wrap["alarms"]:
        assert set(a) == {"kind", "category", "priority", "start_t", "end_t", "extreme_c"}
    cold = wrap["alarms"][1]
    assert (cold["category"], cold["priority"]) == ("physiological", "low")
    assert isinstance(cold["extreme_c"], float) and 35.5 < cold["extreme_c"] < 36.5
    assert wrap["alarms"][0]["extreme_c"] is None


def test_alarm_still_active_at_the_end_has_null_end(tmp_path: Path) -> None:
    path = tmp_path / "cold.csv"
    # A 1.1 °C step: a cold baby (a step of more than 1.5 °C would read as a sensor lifted off the skin).
    write_trace(path, [TraceBuilder("W1", T0, seed=1).contact(300).contact(900, skin_c=35.7).build()])
    doc = json.loads(run("analyze", "--json", str(path)).stdout)
    (alarm,) = doc["wraps"][0]["alarms"]
    assert alarm["kind"] == "hypothermia_moderate" and alarm["end_t"] is None


def test_many_files_and_gzip_give_one_entry_per_wrap(tmp_path: Path) -> None:
    a = TraceBuilder("A", T0, seed=2).contact(1200).build()
    b = TraceBuilder("B", T0, seed=3).apart(1200).build()
    write_trace(tmp_path / "a.csv", [a])
    write_trace(tmp_path / "b.csv.gz", [b])
    doc = json.loads(run("analyze", "--json", str(tmp_path / "a.csv"), str(tmp_path / "b.csv.gz")).stdout)
    assert [w["wrap_id"] for w in doc["wraps"]] == ["A", "B"]
    assert doc["wraps"][0]["totals"]["contact_s"] == pytest.approx(1199)
    assert doc["wraps"][1]["totals"]["contact_s"] == 0


def test_table_output_is_readable() -> None:
    proc = run("analyze", str(EXAMPLES / "ward_shift.csv"))
    assert proc.returncode == 0
    for wrap in ("W01", "W02", "W03", "W04", "W05", "W06"):
        assert f"Wrap {wrap}" in proc.stdout
    assert "sensor_detached" in proc.stdout and "hypothermia_moderate" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_bad_rows_are_counted_and_warned_with_line_numbers() -> None:
    proc = run("analyze", "--json", str(EXAMPLES / "bad_rows.csv"))
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["wraps"][0]["invalid_readings"] == 5
    warning = proc.stderr.strip()
    assert warning.startswith("kmc-monitor: warning: 5 invalid")
    assert "bad_rows.csv:114" in warning


def test_rows_without_t_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("t,wrap_id,skin_temp_c\n1767254400,W,36.8\n,W,36.8\n1767254401,,36.8\n1767254402,W,abc\n")
    proc = run("analyze", "--json", str(path))
    assert proc.returncode == 0
    assert "t.csv:3" in proc.stderr and "t.csv:4" in proc.stderr and "t.csv:5" in proc.stderr
    assert json.loads(proc.stdout)["wraps"][0]["readings"] == 2


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ["empty"]),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["not a trace"]),
        (b"time,wrap\n1,2\n", ["not a trace", "'t'"]),
        (gzip.compress(b"t,wrap_id\n")[:-6] + b"garbage", []),
    ],
    ids=["empty", "png", "no-t-column", "corrupt-gzip"],
)
def test_a_file_that_is_not_a_trace_exits_2_with_one_sentence(
    tmp_path: Path, content: bytes, words: list[str]
) -> None:
    path = tmp_path / ("x.csv.gz" if content.startswith(b"\x1f\x8b") else "x.csv")
    path.write_bytes(content)
    proc = run("analyze", str(path))
    assert_plain_failure(proc, path.name, *words)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert_plain_failure(run("analyze", str(tmp_path / "nope.csv")), "nope.csv")
    assert_plain_failure(run("analyze", str(tmp_path)), tmp_path.name)


def test_unknown_time_zone_is_a_plain_error() -> None:
    assert_plain_failure(
        run("analyze", "--tz", "Mars/Olympus", str(EXAMPLES / "clean_session.csv")), "Mars/Olympus"
    )


def test_usage_error_has_no_traceback() -> None:
    proc = run("analyze")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "usage" in proc.stderr


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    path = EXAMPLES / "ward_shift.csv"
    plain = run("analyze", "--json", str(path), env={"KMC_PROGRESS_MIN_BYTES": "1"})
    assert "reading" not in plain.stderr  # stderr is a pipe: no bar

    out = tmp_path / "out.json"
    pid, fd = pty.fork()
    if pid == 0:  # child: stderr is the pty (given a real terminal's size), stdout a file
        fcntl.ioctl(2, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        os.environ["KMC_PROGRESS_MIN_BYTES"] = "1"
        with open(out, "w") as fh:
            os.dup2(fh.fileno(), 1)
        os.execv(KMC, [KMC, "analyze", "--json", str(path)])
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"reading" in seen or b"analysing" in seen
    assert json.loads(out.read_text())["format"] == "kmc-analysis/1"
