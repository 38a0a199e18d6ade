"""``kmc-monitor home pair`` / ``home run`` on the command line: clear errors, no tracebacks."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kmc_monitor.cli import main
from kmc_monitor.devices.simulation.simulator import WardSimulator
from kmc_monitor.home.pairing import MAX_CODE_CHARS, PairingError, decode_pairing
from kmc_monitor.home.store import HomeStore
from tests.home.station import pairing_for


def test_pair_from_the_qr_text_and_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = pairing_for(WardSimulator(2, start_s=1.767e9, seed=8), "https://station.example:8443")
    qr = base64.urlsafe_b64encode(code.model_dump_json().encode()).decode().rstrip("=")
    assert main(["home", "pair", qr, "--data-dir", str(tmp_path / "a")]) == 0
    assert "paired: home H001 (H'Me), wrap(s) W01, W02" in capsys.readouterr().out
    (tmp_path / "code.txt").write_text(qr + "\n")
    assert main(["home", "pair", str(tmp_path / "code.txt"), "--data-dir", str(tmp_path / "b")]) == 0
    store = HomeStore(tmp_path / "b")
    assert store.pairing() == code
    store.close()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("!!!", "neither JSON nor base64url"),
        ('{"v": 1}', "not valid (station_url: Field required)"),
        ("x" * (MAX_CODE_CHARS + 1), "far too long"),
    ],
)
def test_a_bad_code_is_one_clear_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    with pytest.raises(PairingError) as exc:
        decode_pairing(text)
    assert says in str(exc.value)
    assert main(["home", "pair", text, "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_simulation_options_need_simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["home", "run", "--data-dir", str(tmp_path), "--simulate-speed", "10"]) == 2
    assert "are for --simulate" in capsys.readouterr().err
