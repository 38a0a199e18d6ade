"""Importing a codec, the verifier, the signal core or the scenario runner loads none of the heavy
libraries.

A room gateway on a small board decodes advertisements and runs the rules; a test of the signal core
should not pay for the web stack or the trace reader; a scenario keeps its ward in memory, so the
runner and the session attribution it shares with the store load no sqlite3 (issue #15; running one
is watched in ``tests/scenarios/test_no_store.py``). Each import runs in a fresh interpreter, since
this test process has long since imported everything.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import kmc_monitor.signal

#: What the light layers must not pull in: the trace reader's pyarrow, the store's sqlite3, the web
#: stack (fastapi, pydantic-settings) and the QR codes of the family cards (segno).
HEAVY = ("pyarrow", "sqlite3", "fastapi", "segno", "pydantic_settings")

CODECS = [
    "kmc_monitor.devices.protocol.bthome",
    "kmc_monitor.devices.protocol.hts",
    "kmc_monitor.devices.protocol.ieee11073",
    "kmc_monitor.devices.protocol.gatt",
]
VERIFIER = ["kmc_monitor.devices.protocol.verify"]
SIGNAL = ["kmc_monitor.signal"] + [
    f"kmc_monitor.signal.{m.name}" for m in pkgutil.iter_modules(kmc_monitor.signal.__path__)
]
PACKAGES = [
    "kmc_monitor.devices",
    "kmc_monitor.devices.protocol",
    "kmc_monitor.devices.reading",
    "kmc_monitor.devices.trace",  # pyarrow only once a block is not plain (see below)
]
SCENARIOS = [
    "kmc_monitor.scenarios",
    "kmc_monitor.scenarios.run",
    "kmc_monitor.scenarios.live",
    "kmc_monitor.programme.caregivers",
]


def loaded_by(module: str | list[str], watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` a fresh interpreter has loaded after importing ``module`` (or each of
    a list of modules, in turn)."""
    modules = [module] if isinstance(module, str) else module
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {watched!r} if m in sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    found: list[str] = json.loads(proc.stdout)
    return found


def heavy_loads(modules: list[str], watched: tuple[str, ...]) -> dict[str, list[str]]:
    """Each module that loads one of ``watched`` on its own, with what it loads.

    One interpreter imports them all first: what none of them loads together, none loads alone
    (an import only ever adds modules), so a clean run needs one interpreter, not one per module
    (a fresh interpreter costs a fifth of a second of CPU). Only when something heavy shows up is
    each module imported alone, to name the one that loads it."""
    if not loaded_by(modules, watched):
        return {}
    return {m: found for m in modules if (found := loaded_by(m, watched))}


def test_light_modules_load_nothing_heavy() -> None:
    assert heavy_loads(CODECS + VERIFIER + SIGNAL + PACKAGES + SCENARIOS, HEAVY) == {}


def test_codecs_and_the_verifier_need_no_radio() -> None:
    """Bytes in, values out: bleak (and with it asyncio's machinery) loads only with a radio."""
    assert heavy_loads(CODECS + VERIFIER, ("bleak", "bleak_retry_connector")) == {}


def test_the_signal_core_needs_only_numpy() -> None:
    assert loaded_by("kmc_monitor.signal.stream", ("asyncio", "cryptography", "kmc_monitor.devices")) == []


def test_the_check_sees_a_heavy_import_and_names_the_module() -> None:
    """The test can fail: the trace reader's general readers do load pyarrow, and among light
    modules imported with them the check names them alone."""
    general = "kmc_monitor.devices.trace.general"
    assert loaded_by(general, HEAVY) == ["pyarrow"]
    assert heavy_loads([*CODECS[:2], general, *SIGNAL[:2]], HEAVY) == {general: ["pyarrow"]}


def test_a_plain_trace_is_read_without_pyarrow(tmp_path: Path) -> None:
    """`analyze` of a plain trace (the usual case) never loads pyarrow: the C kernel reads it. A
    comment line needs the general readers, which then load it."""
    header = "t,wrap_id,skin_temp_c,ambient_temp_c,contact,battery_pct\n"
    plain = tmp_path / "plain.csv"
    plain.write_text(header + "1767225600,W1,36.9,25.0,0.9,80\n1767225601,W1,36.9,25.0,0.9,80\n")
    commented = tmp_path / "commented.csv"
    commented.write_text(header + "# a note\n1767225600,W1,36.9,25.0,0.9,80\n")
    for path, loaded in ((plain, []), (commented, ["pyarrow"])):
        code = (
            "import json, sys\n"
            "from kmc_monitor.devices.trace import read_traces\n"
            f"assert read_traces({str(path)!r}).rows\n"
            "print(json.dumps(sorted(m for m in ('pyarrow',) if m in sys.modules)))\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == loaded, path.name
