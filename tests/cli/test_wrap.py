"""``kmc-monitor wrap``: re-key a wrap or accept its restarted counter, offline, audited."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from kmc_monitor.service.store import Store

KMC = shutil.which("kmc-monitor", path=str(Path(sys.executable).parent)) or "kmc-monitor"
KEY = "231d39c1d7cc1ab1aee224cd096db932"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KMC_CONFIG"}
    return subprocess.run([KMC, "wrap", *args], capture_output=True, text=True, timeout=60, env=env)


def test_rekey_and_counter_reset_are_recorded_with_who_did_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store.in_data_dir(data) as store:
        store.add_wrap("W01", "54:48:E6:8F:80:A5", KEY, now=1_767_254_400.0)
        store.save_wrap_counters({"W01": 91_000})
    done = run("reset-counter", "W01", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert "was 91000" in done.stdout
    done = run("rekey", "W01", "--key", "00112233445566778899aabbccddeeff", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    listed = run("audit", "--data-dir", str(data))
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and "W01 counter_reset by cli:" in lines[0] and "W01 rekeyed by cli:" in lines[1]
    with Store.in_data_dir(data) as store:
        assert store.wrap_counters() == {}
        (entry,) = store.wrap_registry()
        assert entry.key == bytes.fromhex("00112233445566778899aabbccddeeff")


def test_mistakes_are_one_line_and_exit_status_2(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Store.in_data_dir(data).close()
    for args in (
        ("reset-counter", "W09", "--data-dir", str(data)),  # not registered
        ("rekey", "W01", "--data-dir", str(data)),  # no key
        ("rekey", "--key", KEY, "--data-dir", str(data)),  # no wrap
    ):
        done = run(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len([ln for ln in done.stderr.splitlines() if ln.strip()]) == 1, done.stderr
