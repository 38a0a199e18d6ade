"""Finding 11 against a real ``serve --mqtt`` and a secured Mosquitto: 3000 invented wrap ids no
longer stay listed for ever (the snapshot of every screen grew from 4.7 to 224 kB)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiomqtt
import pytest
from websockets.asyncio.client import connect

from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.payload import encode_reading
from kmc_monitor.service.runtime import UNASSIGNED_MAX
from tests.mqtt.conftest import Mosquitto, secured_broker
from tests.mqtt.test_forged_readings_e2e import STAFF_TOKEN, _serve, http
from tests.serving import stop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def _flood(broker: Mosquitto, n: int) -> None:
    users = broker.users
    assert users is not None
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username="room-b",
        password=users["room-b"],
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:
        now = time.time()
        for i in range(n):
            wrap_id = f"X{i:05d}"
            payload = encode_reading("room-b", i + 1, Reading(now, wrap_id, 37.0, rssi_dbm=-70.0))
            await client.publish(f"kmc/ward/room-b/wrap/{wrap_id}/reading", payload, qos=0)


async def _snapshot_bytes(base: str) -> int:
    url = base.replace("http://", "ws://") + "/ws/ward"
    async with connect(url, additional_headers={"Authorization": f"Bearer {STAFF_TOKEN}"}) as ws:
        while True:
            text = await asyncio.wait_for(ws.recv(), 10)
            if json.loads(text)["type"] == "snapshot":
                return len(text)


def test_a_flood_of_invented_wrap_ids_stays_bounded_and_can_be_cleared(tmp_path: Path) -> None:
    broker = secured_broker(tmp_path / "mosquitto", ["room-a", "room-b"])
    service, base = _serve(broker, tmp_path / "ward")
    try:
        quiet = asyncio.run(_snapshot_bytes(base))
        asyncio.run(_flood(broker, 3000))
        time.sleep(3.0)
        listed = http("GET", f"{base}/api/wraps")["unregistered"]
        assert 0 < len(listed) <= UNASSIGNED_MAX
        # The most recently heard are the ones kept; none of them carries a value (nothing to
        # verify a reading of an unregistered wrap with).
        assert all(w["wrap_id"].startswith("X") for w in listed)
        flooded = asyncio.run(_snapshot_bytes(base))
        assert flooded < quiet + UNASSIGNED_MAX * 120, (quiet, flooded)
        # Staff (a nurse's token or above) clear the list.
        cleared = http("DELETE", f"{base}/api/wraps/unregistered")
        assert cleared["forgotten"] >= len(listed)
        assert http("GET", f"{base}/api/wraps")["unregistered"] == []
    finally:
        err = stop(service)
        broker.stop()
    assert "Traceback" not in err, err[-3000:]
