"""A wrap's label QR code: what it holds, read back, and ``kmc-monitor wrap label``."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import segno

from kmc_monitor.service.store import Store
from kmc_monitor.service.wrap_label import LabelError, WrapLabel, parse_label

KMC = shutil.which("kmc-monitor", path=str(Path(sys.executable).parent)) or "kmc-monitor"
KEY = "231d39c1d7cc1ab1aee224cd096db932"


def test_a_label_reads_back_as_it_was_written() -> None:
    label = WrapLabel("W-07", "A4:C1:38:8D:18:B9", KEY)
    assert label.text() == f"KMCWRAP1;ID=W-07;MAC=A4C1388D18B9;KEY={KEY};"
    assert parse_label(label.text()) == label
    assert parse_label("KMCWRAP1;MAC=a4-c1-38-8d-18-b9;ID=W 8;KEY=;NEW=later;") == WrapLabel(
        "W 8", "A4:C1:38:8D:18:B9"
    )
    assert KEY not in repr(label)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("hello", "not a wrap label"),
        ("KMCWRAP1;MAC=A4C1388D18B9;", "ID"),
        ("KMCWRAP1;ID=W1;MAC=A4C1388D18;", "MAC"),
        ("KMCWRAP1;ID=W1;MAC=A4C1388D18B9;KEY=abc;", "KEY must be 32 hex digits"),
    ],
)
def test_what_is_not_a_label_says_why(text: str, why: str) -> None:
    with pytest.raises(LabelError, match=why):
        parse_label(text)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMC_")}
    return subprocess.run(
        [KMC, "wrap", "label", *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd
    )


def test_the_wrap_command_makes_the_label_of_a_registered_wrap(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store.in_data_dir(data) as store:
        store.add_wrap("W01", "54:48:E6:8F:80:A5", KEY, now=1_767_254_400.0)
    done = run("W01", "--data-dir", str(data), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "W01-label.svg"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    want = WrapLabel("W01", "54:48:E6:8F:80:A5", KEY)
    assert out.read_bytes() == want.svg()
    # Version 5 (37 modules): about 2 cm square at 0.5 mm a module, what a wrap label holds.
    assert segno.make_qr(want.text(), error="m").version <= 5
    done = run("W02", "--mac", "54:48:E6:8F:80:A6", "--out", "x.svg", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "x.svg").exists()
    done = run("W03", "--data-dir", str(data), cwd=tmp_path)
    assert done.returncode == 2 and "no wrap 'W03'" in done.stderr and "Traceback" not in done.stderr
