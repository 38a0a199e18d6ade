"""A scenario run needs no database (issue #15), and its in-memory ward answers as the store does.

The live path keeps what the sans-I/O engine hands out to be saved in a
:class:`~kmc_monitor.scenarios.live.MemoryWard` and attributes sessions to the stay by the store's own
rule. Two things can go wrong: something on the way pulls the store (and sqlite3) back in, or the
in-memory ward and the store drift apart, so that a scenario judges something the ward would not
show. A fresh interpreter watches the first; the same batches written to both watch the second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmc_monitor.programme.caregivers import stay_sessions
from kmc_monitor.scenarios.live import MemoryWard
from kmc_monitor.service.engine_model import Persist, SessionUpdate
from kmc_monitor.service.persistence import write
from kmc_monitor.service.store import Store
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import AdmissionDetails, Bed, CaregiverRole, FamilyMember, GestationalAge
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import Session

HERE = Path(__file__).resolve().parent
H = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_running_scenarios_never_loads_sqlite3_nor_makes_a_directory(tmp_path: Path) -> None:
    """Both paths of scenarios with caregivers (sessions attributed live) and several wraps, in a
    fresh interpreter whose temporary directory must stay empty."""
    files = [HERE / "scenario_caregivers.yaml", HERE / "scenario_recorded_ward.yaml"]
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from kmc_monitor.scenarios import load_file, run_scenario\n"
        f"results = [run_scenario(s) for f in {[str(f) for f in files]!r} for s in load_file(Path(f))]\n"
        "print(json.dumps({'passed': [r.passed for r in results],\n"
        "  'live': sum(o.path == 'live' for r in results for c in r.checks for o in c.outcomes),\n"
        "  'loaded': sorted(m for m in ('sqlite3', '_sqlite3') if m in sys.modules)}))\n"
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["passed"] and all(out["passed"])
    assert out["live"] > 0, "the live path was not run"
    assert out["loaded"] == []
    assert list(tmp.iterdir()) == []


def _session(start_h: float, end_h: float, contact_h: float) -> Session:
    return Session(
        round((T0 + start_h * H) * US), round((T0 + end_h * H) * US), round(contact_h * H * US), False
    )


def test_the_memory_ward_attributes_sessions_as_the_store_does(tmp_path: Path) -> None:
    """The same admission, holding steps and engine batches, in a real store and in memory: every
    window gives the same attributed sessions (a running session replaced as it grows, another
    bed's wrap and a session from before the admission left out)."""
    admitted = T0 + 1 * H
    family = (FamilyMember(CaregiverRole.MOTHER), FamilyMember(CaregiverRole.FAMILY, "grandmother"))
    details = AdmissionDetails("Baby", 1500, GestationalAge(32), daily_goal_s=8 * H, family=family)
    other = AdmissionDetails("Other", 1800, GestationalAge(33), daily_goal_s=8 * H)
    batches = [
        Persist(
            0,
            sessions=(
                SessionUpdate("W1", _session(0.0, 0.5, 0.5)),  # before the admission and the wrap's bed
                SessionUpdate("W1", _session(2.0, 4.0, 1.9)),
                SessionUpdate("W1", _session(5.0, 5.5, 0.5), open=True),
                SessionUpdate("W2", _session(2.0, 3.0, 1.0)),  # the other bed
            ),
        ),
        Persist(
            1,
            sessions=(
                SessionUpdate("W1", _session(5.0, 7.0, 1.8)),
                SessionUpdate("W1", _session(8, 9, 1), open=True),
            ),
        ),
    ]
    holding = [
        (T0 + 1.5 * H, "mother"),
        (T0 + 3.5 * H, "grandmother"),
        (T0 + 6.5 * H, None),
        (T0 + 8 * H, "mother"),
    ]

    memory = MemoryWard()
    m_adm = memory.admit(Bed("B1", "Bed 1", 1), "W1", details, now=admitted, who="test")
    memory.admit(Bed("B2", "Bed 2", 2), "W2", other, now=admitted, who="test")
    m_ids = {m.label: m.caregiver_id for m in memory.caregivers(m_adm.admission_id)}
    for at, who in holding:
        memory.set_holder(m_adm, None if who is None else m_ids[who], from_t=at)
    for b in batches:
        memory.write(b)

    with Store.in_data_dir(tmp_path / "d") as store:
        ward = Ward(store, base_url="http://127.0.0.1")
        for i, (wrap, d) in enumerate((("W1", details), ("W2", other)), start=1):
            ward.add_bed(f"B{i}", f"Bed {i}", position=i, now=admitted)
            store.add_wrap(wrap, f"02:4B:4D:00:00:0{i}", now=admitted)
            adm, _ = ward.admit(f"B{i}", d, now=admitted, who="test")
            ward.assign_wrap(wrap, f"B{i}", now=admitted, who="test")
        s_adm = ward.admission(1)
        assert s_adm == m_adm
        s_ids = {m.label: m.caregiver_id for m in ward.caregivers(1)}
        assert s_ids == m_ids
        for at, who in holding:
            ward.set_holder(
                1, None if who is None else s_ids[who], from_t=at, now=at, who="test", source="staff"
            )
        for b in batches:
            write(store, b)
        windows = [(0, 24), (0, 1), (1, 3), (3, 5.2), (4, 6), (6.9, 8.5), (9, 10)]
        for lo, hi in windows:
            got = memory.stay_sessions(m_adm, T0 + lo * H, T0 + hi * H)
            want = stay_sessions(store, s_adm, T0 + lo * H, T0 + hi * H)
            assert got == want, (lo, hi)
        everything = memory.stay_sessions(m_adm, T0, T0 + 24 * H)
    assert [(s.label, s.open) for s in everything] == [
        ("mother", False),
        ("grandmother", False),
        ("mother", True),
    ]
    assert everything[1].end_t == T0 + 7 * H


@pytest.mark.parametrize("start", [-2.0, float("nan")])
def test_a_holding_step_before_the_stay_is_refused(start: float) -> None:
    from kmc_monitor.scenarios.load import ScenarioError

    memory = MemoryWard()
    adm = memory.admit(
        Bed("B1", "Bed 1", 1),
        "W1",
        AdmissionDetails("Baby", 1500, GestationalAge(32), daily_goal_s=8 * H),
        now=T0,
        who="test",
    )
    with pytest.raises(ScenarioError, match="during the stay"):
        memory.set_holder(adm, None, from_t=T0 + start)
