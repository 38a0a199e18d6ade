"""``serve --ble`` on bleak's real BlueZ backend: a mocked bluetoothd on a private D-Bus.

The service process finds "the system bus" at ``DBUS_SYSTEM_BUS_ADDRESS`` (tests/bluez.py), probes
the adapter, scans it, and the simulator's encrypted BTHome adverts, delivered as BlueZ delivers
them, go through the gateway, the verifier and the live engine to a bed's tile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kmc_monitor.devices.simulation.simulator import SimConfig, SimMeasurement, WardSimulator
from tests.bluez import MockBluez
from tests.e2e.test_serve import STAFF_TOKEN, http
from tests.serving import ServeProcess

pytestmark = pytest.mark.timeout(120)


class Radio(threading.Thread):
    """The simulated wraps advertising on the mocked adapter in real time, until stopped."""

    def __init__(self, bluez: MockBluez, sim: WardSimulator) -> None:
        super().__init__(daemon=True)
        self.bluez, self.sim = bluez, sim
        self.skin: dict[str, list[float]] = {}
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.wait(0.1):
                for e in self.sim.events_until(time.time()):
                    if isinstance(e, SimMeasurement):
                        self.skin.setdefault(e.wrap_id, []).append(e.skin_temp_c)
                    else:
                        self.bluez.advertise(e.mac, e.service_data, e.rssi_dbm)
        except BaseException as exc:  # reported by the test
            self.error = exc


@pytest.mark.asyncio
async def test_serve_ble_hears_wraps_through_bluez_and_shows_them_on_their_bed(
    bluez: MockBluez, tmp_path: Path
) -> None:
    sim = WardSimulator(2, start_s=time.time(), seed=3, config=SimConfig(measure_s=1.0, loss_prob=0.0))
    registry = tmp_path / "ward.toml"
    registry.write_text(sim.registry_toml())
    registry.chmod(0o600)  # it holds keys: serve refuses a registry every user can read
    radio = Radio(bluez, sim)
    radio.start()
    # A real ward (empty beds): no bedside link is printed, only where it listens.
    args = ["--ble", "--registry", str(registry)]
    server = await asyncio.to_thread(
        ServeProcess, tmp_path / "data", args, token=STAFF_TOKEN, family_link=False, timeout_s=30
    )
    try:
        status, adm = await asyncio.to_thread(
            http,
            "POST",
            f"{server.base}/api/admissions",
            STAFF_TOKEN,
            {
                "bed_id": "B01",
                "display_name": "Baby A",
                "birth_weight_g": 1600,
                "gestational_age_weeks": 32,
                "wrap_id": "W01",
            },
        )
        assert status == 201, adm
        deadline = time.monotonic() + 30
        tile: dict[str, Any] = {}
        while not (tile.get("temperature_c") is not None and tile.get("rssi_dbm") is not None):
            assert time.monotonic() < deadline, tile
            assert radio.error is None, radio.error
            await asyncio.sleep(0.3)
            _, beds = await asyncio.to_thread(http, "GET", f"{server.base}/api/beds")
            tile = next(b for b in beds if b["bed_id"] == "B01")
    finally:
        radio.halt.set()
        radio.join(5)
        err = server.stop()
    assert "Traceback" not in err, err
    assert "registered wrap(s) on the Bluetooth adapter" in err
    assert tile["wrap_id"] == "W01"
    # The tile's temperature is the wrap's own measurements (a rolling median of them).
    measured = radio.skin["W01"]
    assert min(measured) - 0.01 <= tile["temperature_c"] <= max(measured) + 0.01
    assert -110 < tile["rssi_dbm"] < -20
