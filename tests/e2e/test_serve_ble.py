"""End to end: ``kmc-monitor serve`` with the Bluetooth gateway as its source.

``--ble-simulated N`` runs the real gateway through bleak's real front ends on a simulated radio in
real time; this machine has no Bluetooth, so ``--ble`` must fail plainly and a command that names
no source must fall back to the simulated ward. Everything on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from kmc_monitor.service.store import Store
from tests.e2e.test_serve import STAFF_TOKEN, TIMEOUT_S, Server, recv_json
from tests.timing import scaled

pytestmark = pytest.mark.timeout(120)


@pytest.mark.asyncio
async def test_ble_simulated_wraps_reach_their_beds_through_the_gateway(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(["--ble-simulated", "3"], data)
    try:
        async with connect(
            f"{server.ws}/ws/ward", additional_headers={"Authorization": f"Bearer {STAFF_TOKEN}"}
        ) as ws:
            snap = await recv_json(ws)
            assert snap["type"] == "snapshot"
            tiles: dict[str, dict[str, Any]] = {b["bed_id"]: b for b in snap["beds"]}
            # Demo set-up: each simulated wrap on its own bed, a baby admitted.
            assert sorted((b["wrap_id"], b["admission_id"] is not None) for b in tiles.values()) == [
                ("W01", True),
                ("W02", True),
                ("W03", True),
            ]

            def heard(b: dict[str, Any]) -> bool:
                # An RSSI comes only from the radio: the readings came through the gateway.
                return b["temperature_c"] is not None and b["rssi_dbm"] is not None

            deadline = time.monotonic() + TIMEOUT_S
            while not all(heard(b) for b in tiles.values()):
                assert time.monotonic() < deadline, tiles
                msg = await recv_json(ws)
                if msg["type"] == "update":
                    tiles.update({b["bed_id"]: b for b in msg["beds"]})
        for b in tiles.values():
            assert 34.0 < b["temperature_c"] < 39.0
            assert -110 < b["rssi_dbm"] < -30
    finally:
        err = server.stop()
    assert "Traceback" not in err, err
    assert "3 simulated wrap(s) through the Bluetooth gateway" in err
    # The replay counters were saved when the service stopped.
    with Store.in_data_dir(data) as store:
        assert sorted(store.wrap_counters()) == ["W01", "W02", "W03"]


def test_ble_without_an_adapter_exits_1_with_one_line(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "kmc_monitor.cli", "serve", "--ble", "--port", "0"]
        + ["--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KMC_STAFF_TOKEN": STAFF_TOKEN},
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("kmc-monitor: ") and "Bluetooth adapter" in lines[0]
    assert proc.stdout == ""
    assert time.monotonic() - started < scaled(30)  # the probe is bounded (2 s); the rest is start-up


def test_no_source_and_no_adapter_falls_back_to_the_simulated_ward(tmp_path: Path) -> None:
    started = time.monotonic()
    server = Server([], tmp_path / "data")  # returns once the ward's links are printed
    elapsed = time.monotonic() - started
    err = server.stop(signal.SIGTERM)
    assert "Bluetooth adapter" in err and "running a simulated ward of 12 wraps instead" in err, err
    assert "Traceback" not in err, err
    # Start-up takes about a second; a probe that waited for a radio would take far longer.
    assert elapsed < scaled(15), elapsed
