"""``kmc-monitor check`` and the pytest plugin, run as real processes the way an engineer runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

KMC = shutil.which("kmc-monitor", path=str(Path(sys.executable).parent)) or "kmc-monitor"

PASSING = """\
name: a gap raises no data
generate:
  steps:
    - contact: 10min
    - gap: 5min
    - contact: 10min
expect:
  alarms:
    - {kind: no_data, priority: medium, raised: 629, ended: 960}
"""
#: The same story with a wrong expectation: no data said to start a minute late.
FAILING = PASSING.replace("a gap raises no data", "wrong on purpose").replace("raised: 629", "raised: 689")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KMC, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env={**os.environ}
    )


def test_check_passes_and_fails_with_the_actual_value(tmp_path: Path) -> None:
    good, bad = tmp_path / "scenario_good.yaml", tmp_path / "scenario_bad.yaml"
    good.write_text(PASSING)
    bad.write_text(FAILING)
    ok = run("check", str(good))
    assert ok.returncode == 0, ok.stderr
    assert "✓ no_data (medium), raised exactly 629 s, ended exactly 960 s" in ok.stdout
    assert "1 scenario(s): 1 passed, 0 failed" in ok.stdout
    both = run("check", str(good), str(bad))
    assert both.returncode == 1, both.stderr
    assert "✗ no_data (medium), raised exactly 689 s" in both.stdout
    # what happened, on each path
    assert "batch: ✗ no_data (medium) raised 629 s (08:10:29), ended 960 s (08:16:00)" in both.stdout
    assert "live:  ✗ no_data (medium) raised 629 s (08:10:29), ended 960 s (08:16:00)" in both.stdout
    assert "2 scenario(s): 1 passed, 1 failed" in both.stdout


def test_check_json(tmp_path: Path) -> None:
    bad = tmp_path / "scenario_bad.yaml"
    bad.write_text(FAILING)
    proc = run("check", "--json", str(bad))
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["format"] == "kmc-scenarios/1" and doc["passed"] is False
    (check,) = doc["scenarios"][0]["checks"]
    assert check["passed"] is False
    assert set(check["paths"]) == {"batch", "live"}
    assert "raised 629 s" in check["paths"]["live"]["actual"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (PASSING.replace("kind: no_data", "kind: nodata"), [":9: expect.alarms.0.kind:"]),
        ("generate: [", ["not valid YAML"]),
        (PASSING.replace("generate:\n", "trace: missing.csv\ngenerate_:\n"), [":3: generate_: unknown key"]),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "scenario_x.yaml"
    path.write_text(text)
    good = tmp_path / "scenario_good.yaml"
    good.write_text(PASSING)
    proc = run("check", str(good), str(path))  # nothing runs when any file is bad
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(path) in lines[0]
    for w in words:
        assert w in lines[0], lines[0]


def test_a_missing_trace_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "scenario_x.yaml"
    path.write_text("trace: traces/none.csv\nexpect:\n  no_alarms: [no_data]\n")
    proc = run("check", str(path))
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("trace: no such file traces/none.csv"), proc.stderr


def test_pytest_collects_scenario_files_with_a_readable_diff(tmp_path: Path) -> None:
    (tmp_path / "scenario_good.yaml").write_text(PASSING)
    (tmp_path / "scenario_bad.yaml").write_text(FAILING)
    (tmp_path / "scenario_broken.yaml").write_text("generate: {steps: []}\nexpect: {exact: true}\n")
    (tmp_path / "other.yaml").write_text("not: a scenario\n")  # only scenario_*.yaml are collected
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-m",
            "scenario",
            "-rN",
            "--continue-on-collection-errors",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "1 failed, 1 passed, 1 error" in out, out
    assert "scenario 'wrong on purpose'" in out and "failed 1 expectation(s)" in out
    assert "expected:   no_data (medium), raised exactly 689 s, ended exactly 960 s" in out
    assert "live got:   no_data (medium) raised 629 s (08:10:29)" in out
    assert "scenario_broken.yaml:1: generate.steps: List should have at least 1 item" in out
    assert "Traceback" not in out and "def runtest" not in out  # a diff, not Python internals
