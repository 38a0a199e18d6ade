"""Scenario files that are not valid: one sentence naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmc_monitor.scenarios import ScenarioError, load_file, load_text

GOOD = """\
name: ok
generate:
  steps:
    - contact: 20min
expect:
  no_alarms: [cold_stress]
"""


def error_of(text: str, tmp_path: Path) -> str:
    path = tmp_path / "scenario_x.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as exc:
        load_file(path)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_a_good_file_loads(tmp_path: Path) -> None:
    (s,) = load_text(GOOD, tmp_path / "scenario_ok.yaml")
    assert s.name == "ok" and s.line == 1
    assert s.scenario.generate is not None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        # a misspelt expectation must not silently check nothing
        (GOOD.replace("no_alarms", "no_alarm"), ":6: expect.no_alarm: unknown key"),
        (GOOD.replace("[cold_stress]", "[cold_strss]"), ":6: expect.no_alarms.0: Input should be"),
        (GOOD.replace("contact: 20min", "contact: 20 minutes"), ":4: generate.steps.0: "),
        (GOOD.replace("contact: 20min", "ramp_skin: 20min"), "ramp_skin needs its arguments"),
        (GOOD.replace("contact: 20min", "ramp_skin: {duration: 1h}"), "ramp_skin: to_c: Field required"),
        (GOOD.replace("contact: 20min", "swim: 1h"), "unknown step 'swim'"),
        (GOOD.replace("  no_alarms: [cold_stress]\n", "  exact: false\n"), "expects nothing"),
        (GOOD + "tz: Mars/Olympus\n", ":7: tz: "),
        (GOOD + "params: {stale_after: 10}\n", "unknown rule parameter 'stale_after'"),
        (GOOD + "trace: x.csv\n", "exactly one of trace"),
        (
            GOOD + "  alarms: [{kind: no_data, raised: [600, 60]}]\n",
            ":7: expect.alarms.0.raised: the window [600, 60] ends before it starts",
        ),
        (
            GOOD + "  alarms: [{kind: no_data, raised: 2026-01-01T08:00:00}]\n",
            "has no UTC offset",
        ),
        (GOOD + "  alarms: [{kind: cold_stress}]\n", "is both expected (alarms) and forbidden"),
        ("name: [unclosed\n", ":2: not valid YAML"),
        ("- just\n- a list\n", ":1: a scenario is a mapping"),
        ("", "holds no scenario"),
        (GOOD + "---\n" + GOOD, "two scenarios are named 'ok'"),
    ],
)
def test_errors_name_the_line_and_field(text: str, where: str, tmp_path: Path) -> None:
    assert where in error_of(text, tmp_path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_file(tmp_path / "missing.yaml")
    binary = tmp_path / "scenario_bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_file(binary)
