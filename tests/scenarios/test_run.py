"""Every expectation of every scenario file can fail.

A scenario that passes whatever the engine does protects nothing. For each scenario here, each
expectation in turn is broken (a window moved three years on, a flag flipped, a forbidden kind
swapped for one that did happen, ...) and the scenario must then fail against the very same
outcome. The outcome is computed once per scenario, on the batch path: the expectations are judged
by the same code on both paths.

A forbidden kind is broken by forbidding a kind that did happen; where nothing happened at all (the
site offset scenario), its sibling scenario on the same trace shows the same check failing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kmc_monitor.scenarios import load_file
from kmc_monitor.scenarios.model import Scenario
from kmc_monitor.scenarios.run import judge, simulate
from kmc_monitor.signal.report import AlarmKind, Priority

HERE = Path(__file__).resolve().parent
CASES = [(path, i) for path in sorted(HERE.glob("scenario_*.yaml")) for i in range(len(load_file(path)))]
FAR = [100_000_000, 100_000_001]  # seconds after the trace start: three years on


def _blocks(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(doc["expect"], dict):
        doc["expect"] = [doc["expect"]]
    blocks: list[dict[str, Any]] = doc["expect"]
    return blocks


def mutants(
    doc: dict[str, Any], happened: dict[str | None, set[str]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what was broken, the scenario with that one expectation broken)."""
    for b, block in enumerate(_blocks(copy.deepcopy(doc))):
        present = happened.get(block.get("wrap"), set())
        forbidden = set(block.get("no_alarms", []))
        expected = {a["kind"] for a in block.get("alarms", [])}

        def broken(label: str, change: Any, b: int = b) -> tuple[str, dict[str, Any]]:
            new = copy.deepcopy(doc)
            change(_blocks(new)[b])
            return f"expect[{b}].{label}", new

        for key, value in block.items():
            if key == "sessions":
                yield broken("sessions: one more", lambda x: x["sessions"].append({}))
                for i, sess in enumerate(value):
                    for field, v in sess.items():
                        bad: Any = {
                            "start": FAR,
                            "end": FAR,
                            "min_duration": FAR[0],
                            "max_duration": 0,
                            "contact": FAR,
                            "short": not v,
                        }[field]
                        yield broken(
                            f"sessions[{i}].{field}",
                            lambda x, i=i, f=field, bad=bad: x["sessions"][i].update({f: bad}),
                        )
            elif key == "session_count":
                yield broken("session_count", lambda x: x.update(session_count=FAR))
            elif key == "alarms":
                for i, alarm in enumerate(value):
                    if set(alarm) == {"kind"}:
                        absent = next(
                            k.value for k in AlarmKind if k.value not in present | forbidden | expected
                        )
                        yield broken(
                            f"alarms[{i}].kind", lambda x, i=i, k=absent: x["alarms"][i].update(kind=k)
                        )
                    for field, v in alarm.items():
                        if field == "kind":
                            continue
                        if field == "priority":
                            bad = next(p.value for p in Priority if p.value != v)
                        elif field == "ended" and v in ("open", "closed"):
                            bad = "closed" if v == "open" else "open"
                        elif field == "extreme_c":
                            bad = [10.0, 11.0]
                        else:
                            bad = FAR
                        yield broken(
                            f"alarms[{i}].{field}",
                            lambda x, i=i, f=field, bad=bad: x["alarms"][i].update({f: bad}),
                        )
            elif key == "exact" and value and block.get("alarms"):
                yield broken("exact (one alarm left unlisted)", lambda x: x["alarms"].pop())
            elif key == "no_alarms":
                # Forbid a kind that did happen instead (without also expecting it, so that only
                # this check can fail).
                swap = sorted(present - forbidden)
                for i in range(len(value)):
                    if swap:

                        def forbid(x: dict[str, Any], i: int = i, k: str = swap[0]) -> None:
                            x["no_alarms"][i] = k
                            x["alarms"] = [a for a in x.get("alarms", []) if a["kind"] != k]
                            x["exact"] = False

                        yield broken(f"no_alarms[{i}]", forbid)
            elif key == "alarm_count":
                for kind in value:
                    yield broken(f"alarm_count.{kind}", lambda x, k=kind: x["alarm_count"].update({k: FAR}))
            elif key == "totals":
                for field in value:
                    yield broken(f"totals.{field}", lambda x, f=field: x["totals"].update({f: FAR}))
            elif key == "caregivers":
                for name in value:
                    yield broken(f"caregivers.{name}", lambda x, n=name: x["caregivers"].update({n: FAR}))
            elif key == "days":
                for i, day in enumerate(value):
                    for field, v in day.items():
                        if field == "date":
                            continue
                        bad = (not v) if field == "complete" else FAR
                        yield broken(
                            f"days[{i}].{field}",
                            lambda x, i=i, f=field, bad=bad: x["days"][i].update({f: bad}),
                        )


@pytest.mark.parametrize(("path", "index"), CASES, ids=[f"{p.name}[{i}]" for p, i in CASES])
def test_every_expectation_can_fail(path: Path, index: int) -> None:
    loaded = load_file(path)[index]
    outcomes = simulate(loaded, live=False)
    assert judge(loaded, outcomes).passed
    (batch,) = outcomes.paths
    happened: dict[str | None, set[str]] = {w: {a.kind.value for a in f.alarms} for w, f in batch.items()}
    if len(batch) == 1:
        happened[None] = next(iter(happened.values()))
    doc = list(yaml.safe_load_all(path.read_text()))[index]
    tried = 0
    still_passing = []
    for label, mutant in mutants(doc, happened):
        tried += 1
        if judge(loaded, outcomes, Scenario.model_validate(mutant)).passed:
            still_passing.append(label)
    assert tried > 0, "no expectation to break"
    assert still_passing == [], f"{loaded.name}: these broken expectations still pass: {still_passing}"
