"""``kmc-monitor record`` and ``scan``, run as real processes the way an engineer runs them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmc_monitor.devices.trace import read_traces
from tests.timing import scaled

KMC = shutil.which("kmc-monitor", path=str(Path(sys.executable).parent)) or "kmc-monitor"
T0 = 1_767_225_600.0
#: A D-Bus address that cannot exist: "no BlueZ" on any Linux machine, adapter or not.
NO_BUS = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/kmc-test-bus"}


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KMC, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}, cwd=cwd
    )


def assert_no_adapter_message(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "no Bluetooth adapter" in lines[0]


def test_record_simulate_becomes_a_trace_that_analyze_reads(tmp_path: Path) -> None:
    out = tmp_path / "ward.csv"
    started = time.monotonic()
    proc = run(
        "record", "--simulate", "20", "--seconds", "600", "--seed", "3", "--start", str(T0), "--out", str(out)
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert elapsed < scaled(15.0)  # ten simulated minutes of a ward on an accelerated clock
    assert "recorded" in proc.stderr and str(out) in proc.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# recorded by kmc-monitor")
    assert text.splitlines()[1] == "t,wrap_id,skin_temp_c,ambient_temp_c,contact,battery_pct,rssi_dbm"
    traces = read_traces(out)
    assert [s.wrap_id for s in traces.series] == [f"W{i:02d}" for i in range(1, 21)]
    assert traces.invalid_readings == 0
    for s in traces.series:
        assert 280 <= len(s) <= 301  # a reading every 2 s
        assert T0 <= s.t_us[0] / 1e6 < T0 + 5 and T0 + 595 < s.t_us[-1] / 1e6 <= T0 + 600
    report = run("analyze", "--json", str(out))
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    assert len(doc["wraps"]) == 20
    assert all(w["invalid_readings"] == 0 and w["totals"]["observed_s"] > 590 for w in doc["wraps"])
    # The simulated ward has babies in and out of KMC.
    contact = [w["totals"]["contact_s"] for w in doc["wraps"]]
    assert max(contact) > 590 and min(contact) < 10

    again = tmp_path / "again.csv"
    proc = run(
        "record",
        "--simulate",
        "20",
        "--seconds",
        "600",
        "--seed",
        "3",
        "--start",
        str(T0),
        "--out",
        str(again),
    )
    assert proc.returncode == 0 and again.read_bytes() == out.read_bytes()  # seeded: identical


def test_record_simulate_gzip(tmp_path: Path) -> None:
    out = tmp_path / "ward.csv.gz"
    proc = run("record", "--simulate", "2", "--seconds", "30", "--start", str(T0), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert len(read_traces(out).series) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals to a child process")
@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_recording_keeps_what_was_heard(
    tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    """Ctrl-C, or a service manager's SIGTERM, ends the recording with what was heard on disk."""
    out = tmp_path / "cut.csv"
    with subprocess.Popen(
        [KMC, "record", "--simulate", "5", "--seconds", "1e7", "--start", str(T0), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline:
                if out.exists() and out.stat().st_size > 20_000:
                    break
                time.sleep(0.02)
            else:
                pytest.fail("the recording never reached the disk")
            child.send_signal(sig)
            _, stderr = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert child.returncode == status, stderr
    assert "Traceback" not in stderr
    traces = read_traces(out)
    said = re.search(rf"recording stopped by {sig.name}: (\d+) reading\(s\) kept in ", stderr)
    assert said, stderr
    kept = int(said.group(1))
    assert traces.rows == kept  # every reading the message counts is in the file
    assert len(traces.series) == 5 and traces.invalid_readings == 0
    assert min(len(s) for s in traces.series) > 50


def test_record_and_scan_without_an_adapter_say_so_in_one_line(tmp_path: Path) -> None:
    registry = tmp_path / "ward.toml"
    registry.write_text('[[wraps]]\nwrap_id = "W01"\nmac = "C0:01:02:03:04:05"\n', encoding="utf-8")
    out = tmp_path / "never.csv"
    proc = run("record", "--registry", str(registry), "--seconds", "5", "--out", str(out), env=NO_BUS)
    assert_no_adapter_message(proc)
    assert not out.exists()  # nothing written when nothing could be heard
    assert_no_adapter_message(run("scan", "--seconds", "1", env=NO_BUS))


def test_record_needs_a_registry_or_a_simulation(tmp_path: Path) -> None:
    proc = run("record", "--out", str(tmp_path / "x.csv"))
    assert proc.returncode == 2 and "--registry" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("record", "--registry", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "x.csv"))
    assert proc.returncode == 2 and "missing.toml" in proc.stderr and "Traceback" not in proc.stderr


def test_scan_a_simulated_ward() -> None:
    proc = run("scan", "--simulate", "3", "--seconds", "5", "--start", str(T0))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        "MAC",
        "WRAP",
        "RSSI",
        "ADVERTS",
        "SKIN_C",
        "AMBIENT_C",
        "CONTACT",
        "BATTERY",
        "STATUS",
    ]
    assert [ln.split()[1] for ln in lines[1:]] == ["W01", "W02", "W03"]
    assert all(ln.split()[-1] == "ok" for ln in lines[1:])
