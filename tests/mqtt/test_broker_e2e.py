"""End to end over a real broker: two ``kmc-monitor gateway`` processes, one ``kmc-monitor serve
--mqtt``, a real Mosquitto on 127.0.0.1, secured as docs/security.md says: a password per gateway
and for the ward service, and the ACL (a gateway publishes only under its own id). The wraps are
registered with their keys: the ward verifies every sealed packet the gateways forward.

The tests share one ward (module fixture, so ``--dist loadfile`` keeps them on one xdist worker)
and run in file order: every wrap seen; the broker away and back with nothing lost and order kept
(5 s in ``make test``, 60 s — long enough for every back-off to reach its ceiling — in ``make
test-long``); a gateway killed and its wraps showing no data at once (its Last Will) and their
no_data alarm ``stale_after`` after their last reading (then restarted: what it had on disk
arrives). Each test puts the wraps on beds itself if an earlier one did not (``-m long`` runs the
long outage alone). The ward runs with ``stale_after_s`` = 10 s instead of the clinical 30 s: the
test checks the mechanism (the alarm keeps the rules' clock, the Last Will beats the silence rule),
and the 30 s figure itself is checked by the engine's and the signal core's tests. About 30 s in
``make test``.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from kmc_monitor.mqtt.publisher import simulated_ward
from tests.mqtt.conftest import SERVICE_USER, Mosquitto, secured_broker
from tests.serving import wait_announced
from tests.timing import scaled, wait_until

pytestmark = [pytest.mark.slow(30), pytest.mark.timeout(180)]

logger = logging.getLogger(__name__)

STAFF_TOKEN = "mqtt-e2e-staff-token-0123456789"
#: The ward's ``stale_after_s`` here (the clinical default is 30 s; see the module's docstring).
STALE_AFTER_S = 10.0
WRAPS = {"room-a": ["A-W01", "A-W02"], "room-b": ["B-W01", "B-W02"]}


def _env() -> dict[str, str]:
    env = {**os.environ, "KMC_STAFF_TOKEN": STAFF_TOKEN, "KMC_MQTT_GATEWAYS": ",".join(WRAPS)}
    env.pop("KMC_CONFIG", None)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "kmc_monitor.cli", *args]


@dataclass
class Gateway:
    gateway_id: str
    proc: subprocess.Popen[bytes]
    record: Path
    log: Path


@dataclass
class Ward:
    broker: Mosquitto
    base: str
    service: subprocess.Popen[str]
    service_log: Path
    data_dir: Path
    gateways: dict[str, Gateway]
    start_gateway: Callable[[str, str], Gateway]


def http(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data)
    req.add_header("Authorization", f"Bearer {STAFF_TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def produced(ward: Ward, *names: str) -> dict[str, list[int]]:
    """The readings the gateways produced (their ``--record`` traces), µs per wrap."""
    out: dict[str, list[int]] = {}
    for name in names:
        with open(name if os.path.isabs(name) else ward.gateways[name].record, newline="") as f:
            rows = [line for line in f if not line.startswith("#")]
        for row in csv.DictReader(rows):
            out.setdefault(row["wrap_id"], []).append(round(float(row["t"]) * 1e6))
    return out


def stored(ward: Ward) -> dict[str, list[int]]:
    """The readings the ward service stored, µs per wrap, in time order."""
    db = sqlite3.connect(f"file:{ward.data_dir / 'kmc-monitor.sqlite3'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT wrap_id, t FROM readings ORDER BY wrap_id, t").fetchall()
    finally:
        db.close()
    out: dict[str, list[int]] = {}
    for wrap_id, t in rows:
        out.setdefault(wrap_id, []).append(round(t * 1e6))
    return out


def seed_of(gateway_id: str) -> int:
    """Each room's simulated wraps: the same seed (identities and keys) across its restarts."""
    return list(WRAPS).index(gateway_id) + 1


def prefix_of(gateway_id: str) -> str:
    return gateway_id[-1].upper() + "-"


def identities() -> dict[str, tuple[str, str]]:
    """wrap id -> (MAC, key hex) of every room's simulated wraps: what staff register."""
    out: dict[str, tuple[str, str]] = {}
    for g in WRAPS:
        for wrap_id, mac, key in simulated_ward(2, start_s=0, seed=seed_of(g), prefix=prefix_of(g)).wraps():
            assert key is not None
            out[wrap_id] = (mac, key.hex())
    return out


def beds(ward: Ward) -> dict[str, dict[str, Any]]:
    return {b["wrap_id"]: b for b in http("GET", f"{ward.base}/api/beds") if b["wrap_id"]}


@pytest.fixture(scope="module")
def secured_mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = secured_broker(tmp_path_factory.mktemp("mosquitto"), list(WRAPS))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def ward(secured_mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    module_mosquitto = secured_mosquitto
    tmp = tmp_path_factory.mktemp("ward")
    procs: list[subprocess.Popen[Any]] = []

    def start_gateway(gateway_id: str, record_name: str) -> Gateway:
        prefix = prefix_of(gateway_id)
        log = tmp / f"{record_name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                _cli(
                    "gateway",
                    "--mqtt",
                    module_mosquitto.url_for(gateway_id),
                    "--gateway-id",
                    gateway_id,
                    "--simulate",
                    "2",
                    "--seed",
                    str(seed_of(gateway_id)),
                    "--wrap-prefix",
                    prefix,
                    "--data-dir",
                    str(tmp / gateway_id),
                    "--record",
                    str(tmp / f"{record_name}.csv"),
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_env(),
            )
        procs.append(proc)
        return Gateway(gateway_id, proc, tmp / f"{record_name}.csv", log)

    data_dir = tmp / "service"
    service_log = tmp / "service.log"
    with service_log.open("w") as err:
        service = subprocess.Popen(
            _cli(
                "serve",
                "--mqtt",
                module_mosquitto.url_for(SERVICE_USER),
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
            ),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**_env(), "KMC_CLINICAL__STALE_AFTER_S": str(STALE_AFTER_S)},
        )
    procs.append(service)
    try:
        base = wait_announced(service).base
        assert base, service_log.read_text()
        gateways = {g: start_gateway(g, g) for g in WRAPS}
        yield Ward(module_mosquitto, base, service, service_log, data_dir, gateways, start_gateway)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if service.stdout is not None:
            service.stdout.close()
        log = service_log.read_text()
        assert "Traceback" not in log, log[-4000:]


EVERY_WRAP = {w for ws in WRAPS.values() for w in ws}


def heard_unregistered(ward: Ward) -> set[str]:
    doc = http("GET", f"{ward.base}/api/wraps")
    return {w["wrap_id"] for w in doc["unregistered"]}


def put_on_beds(ward: Ward) -> None:
    """What a nurse does once every wrap is heard: register each wrap with its key and put it on a
    bed, then wait until every bed is judged from data (verified by the ward: each reading's sealed
    packet authenticates with the wrap's key)."""
    keys = identities()
    for i, wrap_id in enumerate(sorted(EVERY_WRAP), start=1):
        mac, key = keys[wrap_id]
        http("POST", f"{ward.base}/api/wraps", {"wrap_id": wrap_id, "mac": mac, "key": key})
        http("POST", f"{ward.base}/api/beds/B{i:02d}/wrap", {"wrap_id": wrap_id})
    wait_until(
        "every assigned bed judged from data",
        lambda: all(b["judging"] != "no data" for b in beds(ward).values()) and len(beds(ward)) == 4,
        15,
    )


def ensure_on_beds(ward: Ward) -> None:
    """Every wrap on its bed, whether or not an earlier test of the module did it."""
    if set(beds(ward)) == EVERY_WRAP:
        return
    wait_until("every wrap of both gateways heard", lambda: heard_unregistered(ward) >= EVERY_WRAP, 20)
    put_on_beds(ward)


def test_one_service_sees_every_wrap_of_two_gateways(ward: Ward) -> None:
    wait_until(
        "every wrap of both gateways heard (as unregistered, unassigned)",
        lambda: heard_unregistered(ward) >= EVERY_WRAP,
        20,
    )
    # The ward stream shows them as unassigned wraps too (they are on no bed yet).
    snapshot = asyncio.run(_ward_snapshot(ward.base))
    assert {u["wrap_id"] for u in snapshot["unassigned_wraps"]} >= EVERY_WRAP
    # A nurse registers the wraps and puts them on beds; their tiles then carry data.
    put_on_beds(ward)


async def _ward_snapshot(base: str) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    url = base.replace("http://", "ws://") + "/ws/ward"
    auth = {"Authorization": f"Bearer {STAFF_TOKEN}"}  # a token in the URL counts only on a page
    async with connect(url, additional_headers=auth, open_timeout=scaled(10)) as ws:
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
            if msg.get("type") == "snapshot":
                return dict(msg)


@pytest.mark.parametrize(
    "outage_s",
    [pytest.param(5.0, id="5s"), pytest.param(60.0, id="60s", marks=pytest.mark.long)],
)
def test_broker_down_loses_nothing_and_keeps_order(ward: Ward, outage_s: float) -> None:
    ensure_on_beds(ward)
    t_down = time.time()
    ward.broker.stop()
    time.sleep(outage_s)  # the outage itself: what is under test, not a wait for something
    ward.broker.start()
    t_up = time.time()
    # Wait until every reading produced up to 3 s after the broker came back is stored.
    target = t_up + 3.0

    def caught_up() -> bool:
        want = produced(ward, *WRAPS)
        have = stored(ward)
        return (
            all({t for t in ts if t <= target * 1e6} <= set(have.get(w, [])) for w, ts in want.items())
            and time.time() > target
        )

    took = wait_until("the gateways' backlog delivered after the outage", caught_up, 45, every_s=0.5)
    logger.info("backlog delivered %.1f s after the broker came back", took)
    want, have = produced(ward, *WRAPS), stored(ward)
    assert set(want) == {w for ws in WRAPS.values() for w in ws}
    for wrap_id, ts in want.items():
        in_outage = [t for t in ts if t_down * 1e6 <= t <= t_up * 1e6]
        # The outage produced readings (0.5 Hz per wrap) and every one of them reached the ward.
        assert len(in_outage) >= max(1, outage_s / 2 - 3), (wrap_id, len(in_outage))
        missing = sorted({t for t in ts if t <= target * 1e6} - set(have[wrap_id]))
        assert not missing, (wrap_id, missing[:5])
        # Nothing was stored that no gateway produced.
        assert set(have[wrap_id]) <= set(ts), wrap_id
    # Order kept: the engine drops a reading older than one it already fed (it is not stored);
    # none was dropped, so the readings were fed in time order. And the beds have data again.
    wait_until(
        "every assigned bed judged from data again",
        lambda: all(b["judging"] != "no data" for b in beds(ward).values()),
        10,
    )


def test_killed_gateway_shows_no_data_at_once_alarms_after_stale_after_and_its_outbox_survives(
    ward: Ward,
) -> None:
    ensure_on_beds(ward)
    victim = ward.gateways["room-b"]
    wait_until(
        "room-b's beds judged from data",
        lambda: all(beds(ward)[w]["judging"] != "no data" for w in WRAPS["room-b"]),
        10,
    )
    heard = {w: beds(ward)[w]["last_heard_us"] for w in WRAPS["room-b"]}
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    # The socket closes, the broker sends the Last Will at once, and the tiles say "no data".
    tiles_s = wait_until(
        "room-b's tiles showing no data after its gateway's Last Will",
        lambda: all(beds(ward)[w]["judging"] == "no data" for w in WRAPS["room-b"]),
        5.0,
        every_s=0.1,
    )
    shown_at = time.time()
    logger.info("no data shown %.1f s after the gateway was killed", tiles_s)
    # Before the silence rule could have said so: it was the Last Will, not stale_after.
    for w in WRAPS["room-b"]:
        silent_s = shown_at - beds(ward)[w]["last_heard_us"] / 1e6
        assert silent_s < STALE_AFTER_S, (w, silent_s, "no data by the silence rule, not the Last Will")

    # The no_data alarm keeps the rules' clock: stale_after after each wrap's last reading, not earlier.
    def alarmed() -> set[str]:
        return {w for w in WRAPS["room-b"] if any(a["kind"] == "no_data" for a in beds(ward)[w]["alarms"])}

    assert not alarmed()
    wait_until(
        "room-b's no_data alarms", lambda: alarmed() == set(WRAPS["room-b"]), STALE_AFTER_S + 5, every_s=0.25
    )
    for w in WRAPS["room-b"]:
        (alarm,) = [a for a in beds(ward)[w]["alarms"] if a["kind"] == "no_data"]
        last_us = beds(ward)[w]["last_heard_us"]
        assert last_us >= heard[w]
        # Raised stale_after after the last reading, plus at most a tick and this loop's polling.
        late_us = alarm["raised_us"] - last_us
        assert STALE_AFTER_S * 1e6 <= late_us <= (STALE_AFTER_S + scaled(1.5)) * 1e6, (w, late_us)
    # The other room carries on.
    current = beds(ward)
    assert all(current[w]["judging"] != "no data" for w in WRAPS["room-a"])
    # The broker published the killed gateway's Last Will: retained "offline".
    status = asyncio.run(_retained_status(ward.broker, "room-b"))
    assert status["state"] == "offline" and "t" not in status
    # Restarted on its data directory, the gateway sends what it had on disk, then carries on.
    ward.gateways["room-b"] = restarted = ward.start_gateway("room-b", "room-b-restarted")
    wait_until(
        "room-b's wraps back",
        lambda: all(beds(ward)[w]["judging"] != "no data" for w in WRAPS["room-b"]),
        20,
    )
    want = produced(ward, str(victim.record))

    def missing() -> dict[str, list[int]]:
        have = stored(ward)
        gaps = {w: sorted(set(ts) - set(have.get(w, []))) for w, ts in want.items()}
        return {w: ts for w, ts in gaps.items() if ts}

    # Readings are committed at least every second: wait for what the killed gateway had on disk.
    wait_until("every reading of the killed gateway stored", lambda: not missing(), 10, every_s=0.25)
    assert restarted.proc.poll() is None


async def _retained_status(broker: Mosquitto, gateway: str) -> dict[str, Any]:
    assert broker.users is not None
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=SERVICE_USER,
        password=broker.users[SERVICE_USER],
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:
        await client.subscribe(f"kmc/ward/{gateway}/status", qos=1)
        async with asyncio.timeout(5):
            async for message in client.messages:
                assert message.retain
                assert isinstance(message.payload, bytes)
                return dict(json.loads(message.payload))
    raise AssertionError("no retained status")
