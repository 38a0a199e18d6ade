"""The tests' fork server (tests/forkserve.py) runs the same program as a new interpreter would.

Most end-to-end tests start ``kmc-monitor serve`` as a child of a process that has already imported
the service. That is only sound if the child behaves as ``python -m kmc_monitor.cli`` does: it reads
its settings from the environment it was given (not the fork server's), says the same things on
the same streams, ends with the same status, and is a process of its own that a signal stops.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.forkserve import fork_server
from tests.serving import ServeProcess
from tests.timing import scaled

TOKEN = "forkserve-test-staff-token-0123456789"
BAD_HL7 = ["--simulate", "1", "--hl7", "http://engine:2575"]


def test_a_forked_service_reads_the_environment_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fork server runs without this setting: the child must see it all the same.
    monkeypatch.delenv("KMC_WARD_TZ", raising=False)
    fork_server().start()
    monkeypatch.setenv("KMC_WARD_TZ", "Africa/Kampala")
    server = ServeProcess(tmp_path / "data", ["--simulate", "1"], token=TOKEN, family_link=False)
    try:
        assert server.proc.pid != os.getpid()
        req = urllib.request.Request(
            server.base + "/api/settings", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(req, timeout=scaled(10.0)) as res:
            assert json.load(res)["ward_tz"] == "Africa/Kampala"
    finally:
        err = server.stop()
    # uvicorn shuts down, then ends by the signal it caught, as it does in a new interpreter.
    assert server.proc.returncode == -signal.SIGTERM, err
    assert "Traceback" not in err


def test_a_failing_command_ends_as_it_does_in_a_new_interpreter(tmp_path: Path) -> None:
    env = {**os.environ, "KMC_STAFF_TOKEN": TOKEN}
    argv = ["serve", "--port", "0", "--data-dir", str(tmp_path / "a"), *BAD_HL7]
    fresh = subprocess.run(
        [sys.executable, "-m", "kmc_monitor.cli", *argv], capture_output=True, text=True, timeout=60, env=env
    )
    forked = fork_server().spawn(argv, env)
    assert forked.stderr is not None and forked.stdout is not None
    with forked.stdout, forked.stderr:
        assert forked.wait(timeout=scaled(30.0)) == fresh.returncode == 2
        assert forked.stderr.read() == fresh.stderr  # one line saying what to write instead
        assert forked.stdout.read() == fresh.stdout


def test_a_forked_service_is_its_own_process_that_a_signal_ends(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "data", ["--simulate", "1"], token=TOKEN, family_link=False)
    server.stop(signal.SIGKILL)
    assert server.proc.returncode == -signal.SIGKILL
    assert server.proc.poll() == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(server.proc.pid, 0)
