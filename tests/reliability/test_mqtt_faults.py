"""Hostile MQTT input and a gateway whose clock jumps, through a real Mosquitto into the ward.

The ward (runtime, engine, store) takes its readings from :class:`MqttSource` on a real broker on
127.0.0.1; the test publishes as a gateway would, and as an attacker or a broken gateway would. The
handler's refusals one by one are covered in ``tests/mqtt/test_subscriber.py``; here the point is
the whole path: refused messages are counted by reason and nothing of them reaches the engine (no
reading stored, no alarm), and the ward carries on.

A gateway's clock jumping (documented in docs/reliability.md):

- **ahead** by more than ``max_future_s`` (300 s): refused by the subscriber as ``future``;
- **back** behind what the engine already fed: dropped by the engine as ``late`` (counted) and not
  stored, so the history never goes back in time;
- readings after the jump back are accepted as soon as they are newer than what was fed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.broker import BrokerUrl
from kmc_monitor.mqtt.payload import encode_reading
from kmc_monitor.mqtt.subscriber import MqttSource
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.ward_model import AdmissionDetails, GestationalAge
from tests.clock import Clock
from tests.mqtt.conftest import Mosquitto, module_mosquitto  # noqa: F401 (the broker fixture)
from tests.reliability.helpers import settings_for

pytestmark = pytest.mark.timeout(60)

GATEWAY = "room-1"
WRAP = "W01"
TOPIC = f"kmc/ward/{GATEWAY}/wrap/{WRAP}/reading"


def warm(t: float) -> Reading:
    return Reading(t, WRAP, 36.8, 30.0, 1.0, 80.0, -60.0)


#: (topic, payload, the reason it is refused under)
HOSTILE: list[tuple[str, bytes, str]] = [
    (TOPIC, b"{not json", "not_json"),
    (TOPIC, b"\xff\xfe\x00garbage", "not_json"),
    (TOPIC, b"[1, 2, 3]", "not_object"),
    (TOPIC, b'{"v": 99}', "unknown_version"),
    (TOPIC, b"x" * 100_000, "too_large"),
    # A reading of W01 published on W02's topic: a forged topic.
    (f"kmc/ward/{GATEWAY}/wrap/W02/reading", b"@W01", "topic_mismatch"),
    (f"kmc/ward/{GATEWAY}/wrap/-bad-/reading", b"@W01", "bad_id"),
    (f"kmc/ward/{GATEWAY}/wrap/{'W' * 200}/reading", b"@W01", "bad_id"),
    # Another site's or a deeper topic never even arrives: the subscription's filter is
    # kmc/ward/+/wrap/+/reading (the handler's own check of them is tested in tests/mqtt).
]


@pytest.mark.asyncio
async def test_hostile_messages_are_counted_and_a_jumping_clock_is_survived(
    module_mosquitto: Mosquitto,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with asyncio.timeout(45):
        clock = Clock(float(round(time.time())))
        # The lab setting: this test is about transport faults and clocks with a keyless
        # wrap's plain readings; the wrap's seal is tests/mqtt/test_sealed.py's and the
        # forged-readings e2e test's.
        src = MqttSource(
            BrokerUrl("127.0.0.1", module_mosquitto.port),
            client_id="reliability",
            clock=clock,
            allow_unsealed=True,
        )
        rt = WardRuntime(settings_for(tmp_path / "data"), source=src, clock=clock, tick_s=None)
        await rt.start()
        try:
            while not src.stats().connected:
                await asyncio.sleep(0.05)
            rt.store.add_wrap(WRAP, "54:48:E6:8F:80:A5", None, now=clock.t)
            details = AdmissionDetails(
                display_name="Baby", birth_weight_g=1500, gestational_age=GestationalAge(33, 0)
            )
            await rt.admit("B01", details, "nurse-a", wrap_id=WRAP)
            async with aiomqtt.Client(
                "127.0.0.1", module_mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
            ) as pub:
                seq = 0
                sent = 0

                async def publish(topic: str, payload: bytes) -> None:
                    nonlocal sent
                    await pub.publish(topic, payload, qos=1)
                    sent += 1

                async def reading(t: float) -> None:
                    nonlocal seq
                    seq += 1
                    await publish(TOPIC, encode_reading(GATEWAY, seq, warm(t)))

                async def ward_seconds(n: int, stamp_offset_s: float | None) -> None:
                    """``n`` ward seconds, a reading every 2 s stamped ``offset`` from the ward's clock."""
                    for i in range(n):
                        clock.t += 1.0
                        if stamp_offset_s is not None and i % 2 == 0:
                            await reading(clock.t + stamp_offset_s)
                        while src.stats().received < sent:
                            await asyncio.sleep(0.01)
                        rt.step()

                await ward_seconds(120, 0.0)  # two minutes of a healthy wrap
                good_before = _stored(rt)
                alarms_before = {a.alarm_id for a in rt.engine.board.visible(rt.now_us())}

                # Hostile messages: each refused, counted by reason, none reaches the engine.
                for topic, payload, _ in HOSTILE:
                    if payload == b"@W01":
                        seq += 1
                        payload = encode_reading(GATEWAY, seq, warm(clock.t))
                    await publish(topic, payload)
                await ward_seconds(4, 0.0)

                # The gateway's clock jumps an hour ahead: refused as "future".
                await ward_seconds(20, 3600.0)
                # ... then back, two minutes behind the ward: late, dropped by the engine.
                late_before = rt.engine.late
                await ward_seconds(20, -119.5)  # (not on earlier stamps: those are duplicates)
                late = rt.engine.late - late_before
                # ... then right again: accepted at once.
                stored_before_fix = _stored(rt)
                await ward_seconds(20, 0.0)
                # The 44 s of refused and dropped stamps were a real silence in what the ward could
                # judge: one no_data episode, which ends once 60 s of good data have followed it.
                gap_alarms = [
                    a for a in rt.engine.board.visible(rt.now_us()) if a.alarm_id not in alarms_before
                ]
                assert [a.kind.value for a in gap_alarms] == ["no_data"], gap_alarms
                await ward_seconds(50, 0.0)

            stats = src.stats()
            expected: dict[str, int] = {}
            for _, _, reason in HOSTILE:
                expected[reason] = expected.get(reason, 0) + 1
            for reason, n in expected.items():
                assert stats.rejected.get(reason, 0) == n, (reason, stats.rejected)
            assert stats.rejected.get("future", 0) == 10
            assert late == 10, late
            # Nothing refused was stored: the stored readings are exactly the well-stamped ones, in
            # order (the engine never took a hostile or jumped one).
            times = _stored_times(rt)
            assert times == sorted(times) and len(times) == len(set(times))
            assert all(t <= clock.t for t in times)
            assert _stored(rt) - good_before == 2 + 35  # 4 s then 70 s of good readings, every 2 s ...
            assert _stored(rt) - stored_before_fix == 35  # ... the last ones taken at once
            # No phantom alarm: the silence's no_data is over, nothing cold.
            alarms_after = {a.alarm_id for a in rt.engine.board.visible(rt.now_us())}
            assert alarms_after == alarms_before, rt.engine.board.visible(rt.now_us())
            (bed,) = [v for v in rt.engine.views(rt.now_us()) if v.wrap_id == WRAP]
            assert bed.judging == "judged" and bed.band == "normal"
        finally:
            await rt.stop()


def _stored_times(rt: WardRuntime) -> list[float]:
    return [r.t for r in rt.store.readings(WRAP, 0.0, float("inf"))]


def _stored(rt: WardRuntime) -> int:
    return len(_stored_times(rt))
