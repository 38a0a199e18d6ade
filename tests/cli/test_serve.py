"""``kmc-monitor serve``'s options for a hospital ward on MQTT: bad input is one line and exit
status 2, never a traceback, and never the broker's password."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmc_monitor.cli import main


def test_password_never_shown(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["serve", "--mqtt", "mqtt://nurse:s3cret@host:x", "--data-dir", str(tmp_path)]) == 2
    assert "s3cret" not in capsys.readouterr().err


def test_serve_with_mqtt_refuses_radio_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["serve", "--mqtt", "mqtt://h", "--adapter", "hci0", "--data-dir", str(tmp_path)]) == 2
    assert main(["serve", "--mqtt", "mqtt://h", "--speed", "2", "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 2
