"""Finding 1 of the attack review, against a real ``serve --mqtt`` and a real, secured Mosquitto:
a rogue publisher injecting 37.0 °C readings for a 33.0 °C baby no longer masks the alarm.

The broker is configured as docs/security.md says (no anonymous clients, a password per gateway,
the ACL). The test plays the honest room gateway ``room-a`` (sealed packets of a cold baby, as a
wrap sends them) and three attackers, four forged readings per honest one: an anonymous client
(refused by the broker), and a compromised gateway ``room-b`` publishing plain readings, readings
sealed with a wrong key, and the honest packets replayed under its own id, plus readings under
``room-a``'s id (dropped by the broker's ACL). The baby's tile must show the cold temperature and
the hypothermia alarm, and /metrics must count each refusal by its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.payload import encode_reading
from tests.mqtt.conftest import SERVICE_USER, Mosquitto, secured_broker
from tests.mqtt.sealing import SealedWrap
from tests.serving import stop, wait_announced

pytestmark = [pytest.mark.slow(30), pytest.mark.timeout(120)]

STAFF_TOKEN = "forged-readings-e2e-staff-token-0123456789abcdef"
WRAP = SealedWrap("W01", "54:48:E6:8F:80:A5", bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932"))
TOPIC = "kmc/ward/{gateway}/wrap/W01/reading"


def http(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data)
    req.add_header("Authorization", f"Bearer {STAFF_TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
        return json.loads(body) if resp.headers.get_content_type() == "application/json" else body.decode()


async def _attack(broker: Mosquitto, seconds: float) -> dict[str, int]:
    """Publish the honest stream and the forgeries for ``seconds``; what each attacker achieved."""
    achieved = {"anonymous_connected": 0}
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5, timeout=5):
            achieved["anonymous_connected"] += 1
    except aiomqtt.MqttError:
        pass  # refused: not authorised
    users = broker.users
    assert users is not None
    honest = aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username="room-a",
        password=users["room-a"],
        protocol=aiomqtt.ProtocolVersion.V5,
    )
    rogue = aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username="room-b",
        password=users["room-b"],
        protocol=aiomqtt.ProtocolVersion.V5,
    )
    forger = SealedWrap(WRAP.wrap_id, WRAP.mac, WRAP.key, counter=WRAP.counter + 10_000)
    seq_a = seq_b = 0
    async with honest, rogue:
        t_end = time.time() + seconds
        while time.time() < t_end:
            now = time.time()
            seq_a += 1
            real = WRAP.reading(now, 33.0)
            await honest.publish(TOPIC.format(gateway="room-a"), encode_reading("room-a", seq_a, real), qos=1)
            forgeries = [
                ("room-b", Reading(now + 0.1, "W01", 37.0, 26.0, 0.9, 80.0)),  # plain
                ("room-b", forger.reading(now + 0.2, 37.0, key=bytes(16))),  # sealed with a wrong key
                ("room-b", dataclasses.replace(real, t=now + 0.3)),  # the honest packet replayed
                ("room-a", Reading(now + 0.4, "W01", 37.0, 26.0, 0.9, 80.0)),  # another gateway's id
            ]
            for gateway, r in forgeries:
                seq_b += 1
                # Under room-a's id the broker's ACL drops it (MQTT 5: PUBACK "not authorized").
                with contextlib.suppress(aiomqtt.MqttError):
                    await rogue.publish(
                        TOPIC.format(gateway=gateway), encode_reading(gateway, seq_b, r), qos=1
                    )
            await asyncio.sleep(1.0)
    return achieved


def _metric(text: str, reason: str) -> float:
    prefix = f'kmc_packets_rejected_total{{reason="{reason}",source="mqtt"}}'
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


def test_a_rogue_publisher_cannot_mask_a_cold_baby(tmp_path: Path) -> None:
    broker = secured_broker(tmp_path / "mosquitto", ["room-a", "room-b"])
    env = {
        **os.environ,
        "KMC_STAFF_TOKEN": STAFF_TOKEN,
        "KMC_MQTT_GATEWAYS": "room-a,room-b",
        # A short condition delay and settling time, so that the alarm comes within the test.
        "KMC_CLINICAL__MODERATE_DELAY_S": "5",
        "KMC_CLINICAL__SETTLE_S": "1",
    }
    env.pop("KMC_CONFIG", None)
    cmd = [sys.executable, "-m", "kmc_monitor.cli", "serve", "--mqtt", broker.url_for(SERVICE_USER)]
    service = subprocess.Popen(
        [*cmd, "--port", "0", "--data-dir", str(tmp_path / "ward")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        base = wait_announced(service).base
        assert base, "the service did not start"
        http("POST", f"{base}/api/wraps", {"wrap_id": "W01", "mac": WRAP.mac, "key": WRAP.key.hex()})
        http("POST", f"{base}/api/beds/B01/wrap", {"wrap_id": "W01"})
        achieved = asyncio.run(_attack(broker, 20.0))
        assert achieved["anonymous_connected"] == 0
        (tile,) = [b for b in http("GET", f"{base}/api/beds") if b["wrap_id"] == "W01"]
        # What the ward shows is the baby's own 33.0 °C, and the alarm it calls for.
        assert tile["temperature_c"] == pytest.approx(33.0, abs=0.05), tile
        assert "hypothermia_moderate" in {a["kind"] for a in tile["alarms"]}, tile
        metrics = http("GET", f"{base}/metrics")
        assert _metric(metrics, "unsealed") >= 15
        assert _metric(metrics, "authentication_failed") >= 15
        assert _metric(metrics, "replayed") + _metric(metrics, "duplicate") >= 15
    finally:
        err = stop(service)
        broker.stop()
    assert "Traceback" not in err, err[-3000:]
    # Nothing the attackers sent was stored: every stored reading of the wrap is the baby's 33.0 °C.
    db = sqlite3.connect(f"file:{tmp_path / 'ward' / 'kmc-monitor.sqlite3'}?mode=ro", uri=True)
    try:
        temps = {t for (t,) in db.execute("SELECT skin_temp_c FROM readings WHERE wrap_id = 'W01'")}
    finally:
        db.close()
    assert temps == {33.0}


def _serve(broker: Mosquitto, data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "KMC_STAFF_TOKEN": STAFF_TOKEN, "KMC_MQTT_GATEWAYS": "room-a,room-b"}
    env.pop("KMC_CONFIG", None)
    cmd = [sys.executable, "-m", "kmc_monitor.cli", "serve", "--mqtt", broker.url_for(SERVICE_USER)]
    proc = subprocess.Popen(
        [*cmd, "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    base = wait_announced(proc).base
    assert base, "the service did not start"
    return proc, base


async def _publish(broker: Mosquitto, readings: list[Reading], seq0: int) -> None:
    users = broker.users
    assert users is not None
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username="room-a",
        password=users["room-a"],
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:
        for i, r in enumerate(readings):
            await client.publish(TOPIC.format(gateway="room-a"), encode_reading("room-a", seq0 + i, r), qos=1)


def _wait(what: str, check: Any, timeout_s: float = 10.0) -> None:
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout_s, what
        time.sleep(0.2)


def test_no_replay_window_after_kill_9_and_a_reflashed_wrap_is_an_audited_admin_reset(tmp_path: Path) -> None:
    """Finding 10: counters were saved every 5 s, so after ``kill -9`` adverts of that window were
    accepted again (stamped now); a re-flashed wrap was refused for ever with no way to re-key."""
    broker = secured_broker(tmp_path / "mosquitto", ["room-a", "room-b"])
    data = tmp_path / "ward"
    wrap = SealedWrap(WRAP.wrap_id, WRAP.mac, WRAP.key, counter=50_000)
    service, base = _serve(broker, data)
    try:
        http("POST", f"{base}/api/wraps", {"wrap_id": "W01", "mac": wrap.mac, "key": wrap.key.hex()})
        http("POST", f"{base}/api/beds/B01/wrap", {"wrap_id": "W01"})
        now = time.time()
        honest = [wrap.reading(now - 5 + i, 36.8) for i in range(5)]
        asyncio.run(_publish(broker, honest, 1))
        _wait("the honest readings heard", lambda: _stored_count(data) == 5)
        service.kill()  # kill -9: no clean-up at all
        service.wait(timeout=10)
        if service.stdout is not None:
            service.stdout.close()
        if service.stderr is not None:
            service.stderr.close()
        # The counter was saved with the readings it admitted, in the same transaction.
        assert _stored_counter(data) == wrap.counter
        service, base = _serve(broker, data)
        # The attacker replays the recorded packets, stamped now: every one refused.
        replayed = [dataclasses.replace(r, t=time.time()) for r in honest]
        asyncio.run(_publish(broker, replayed, 100))
        _wait("the replays refused", lambda: _metric(http("GET", f"{base}/metrics"), "replayed") >= 4)
        assert _stored_count(data) == 5
        # The wrap is re-flashed: its counter starts again from 1 and is refused as a replay...
        reflashed = SealedWrap(WRAP.wrap_id, WRAP.mac, WRAP.key, counter=0)
        asyncio.run(_publish(broker, [reflashed.reading(time.time(), 36.7)], 200))
        _wait("the re-flashed wrap refused", lambda: _metric(http("GET", f"{base}/metrics"), "replayed") >= 6)
        # ... until an admin accepts the restart; recorded with who did it. A screen may not.
        before = http("POST", f"{base}/api/wraps/W01/counter-reset")
        assert before["previous_counter"] == wrap.counter
        (entry,) = before["audit"]
        assert entry["action"] == "counter_reset" and entry["who"].startswith("staff-")
        asyncio.run(_publish(broker, [reflashed.reading(time.time(), 36.7)], 201))
        _wait("the re-flashed wrap heard again", lambda: _stored_count(data) == 6)
        # Re-keying (a new key): the old key's packets are refused from then on.
        new_key = bytes(range(16))
        out = http("POST", f"{base}/api/wraps/W01/key", {"key": new_key.hex()})
        assert [a["action"] for a in out["audit"]] == ["counter_reset", "rekeyed"]
        asyncio.run(_publish(broker, [reflashed.reading(time.time(), 36.6)], 202))
        _wait(
            "the old key refused",
            lambda: _metric(http("GET", f"{base}/metrics"), "authentication_failed") >= 1,
        )
        rekeyed = SealedWrap(WRAP.wrap_id, WRAP.mac, new_key, counter=0)
        asyncio.run(_publish(broker, [rekeyed.reading(time.time(), 36.6)], 203))
        _wait("the new key heard", lambda: _stored_count(data) == 7)
    finally:
        err = stop(service)
        broker.stop()
    assert "Traceback" not in err, err[-3000:]


def _db(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{data / 'kmc-monitor.sqlite3'}?mode=ro", uri=True)


def _stored_count(data: Path) -> int:
    db = _db(data)
    try:
        return int(db.execute("SELECT count(*) FROM readings WHERE wrap_id = 'W01'").fetchone()[0])
    finally:
        db.close()


def _stored_counter(data: Path) -> int | None:
    db = _db(data)
    try:
        row = db.execute("SELECT last_counter FROM wraps WHERE wrap_id = 'W01'").fetchone()
        return None if row is None or row[0] is None else int(row[0])
    finally:
        db.close()
