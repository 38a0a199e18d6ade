"""The gateway's publisher against a real broker: a clean stop sends everything produced."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.broker import BrokerUrl
from kmc_monitor.mqtt.buffer import Outbox
from kmc_monitor.mqtt.publisher import GatewayPublisher
from kmc_monitor.sources import ReadingSource
from tests.mqtt.conftest import Mosquitto


class EveryPoll(ReadingSource):
    """A source that hears one new reading at every poll, the last poll after a stop included."""

    def __init__(self) -> None:
        self.n = 0

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [("W01", "02:00:00:00:00:01", None)]

    def readings_until(self, t_s: float) -> list[Reading]:
        self.n += 1
        return [Reading(t_s, "W01", 36.5, counter=self.n)]


@pytest.mark.asyncio
async def test_a_clean_stop_publishes_the_last_poll_too(
    mosquitto: Mosquitto, tmp_path: Path, async_timeout_s: float
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    try:
        pub = GatewayPublisher(
            EveryPoll(),
            outbox,
            BrokerUrl("127.0.0.1", mosquitto.port),
            site="ward",
            gateway_id="room-1",
            clock=time.time,
        )
        async with asyncio.timeout(async_timeout_s):
            task = asyncio.create_task(pub.run())
            while pub.published < 3:
                await asyncio.sleep(0.01)
            pub.stop()
            await task
        assert pub.produced >= 4  # the poll after the stop produced one more
        assert pub.published == pub.produced and len(outbox) == 0
    finally:
        outbox.close()
