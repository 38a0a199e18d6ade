"""The fan-out policy: one encoding, increasing seq, ring-buffer resume, slow clients resynced."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kmc_monitor.service.hub import Channel


def snapshot(seq: int) -> dict[str, Any]:
    return {"type": "snapshot", "beds": []}


@pytest.mark.asyncio
async def test_snapshot_then_messages_with_increasing_seq() -> None:
    ch = Channel("ward", snapshot)
    ch.publish({"type": "update"})
    sub = ch.subscribe()
    first = json.loads(await sub.next())
    assert first == {"type": "snapshot", "beds": [], "seq": 1}
    ch.publish({"type": "update"})
    ch.publish({"type": "alarm"})
    assert [json.loads(await sub.next())["seq"] for _ in range(2)] == [2, 3]


@pytest.mark.asyncio
async def test_every_subscriber_gets_the_same_encoded_text() -> None:
    ch = Channel("ward", snapshot)
    a, b = ch.subscribe(since=0), ch.subscribe(since=0)
    ch.publish({"type": "update", "x": 1})
    assert (await a.next()) is (await b.next())


@pytest.mark.asyncio
async def test_since_resumes_from_the_ring_or_falls_back_to_a_snapshot() -> None:
    ch = Channel("ward", snapshot, ring_size=4)
    for _ in range(6):
        ch.publish({"type": "update"})
    sub = ch.subscribe(since=3)
    assert [json.loads(await sub.next())["seq"] for _ in range(3)] == [4, 5, 6]
    old = ch.subscribe(since=1)  # seq 2 has left the ring
    assert json.loads(await old.next()) == {"type": "snapshot", "beds": [], "seq": 6}
    ahead = ch.subscribe(since=99)
    assert json.loads(await ahead.next())["type"] == "snapshot"


@pytest.mark.asyncio
async def test_a_full_queue_drops_only_that_client_to_a_resync() -> None:
    ch = Channel("ward", snapshot, queue_size=3)
    slow = ch.subscribe(since=0)
    fast = ch.subscribe(since=0)
    got: list[int] = []
    for _ in range(10):
        ch.publish({"type": "update"})
        got.append(json.loads(await asyncio.wait_for(fast.next(), 1))["seq"])
    assert got == list(range(1, 11))
    assert slow.resyncs == 1
    msg = json.loads(await slow.next())
    assert msg["type"] == "snapshot" and msg["seq"] == 10
    ch.publish({"type": "update"})
    assert json.loads(await slow.next())["seq"] == 11


def test_publish_never_waits_for_subscribers() -> None:
    async def main() -> None:
        ch = Channel("ward", snapshot, queue_size=1)
        subs = [ch.subscribe(since=0) for _ in range(20)]
        for _ in range(1000):
            ch.publish({"type": "update"})
        assert all(s.needs_snapshot for s in subs)
        ch.unsubscribe(subs[0])
        assert ch.subscribers == 19

    asyncio.run(main())
