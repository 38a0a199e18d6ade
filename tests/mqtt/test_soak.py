"""Soak (issue #6): 100 simulated wraps x 1 h of readings through real gateway processes, a real
Mosquitto and ``kmc-monitor serve --mqtt``, at replay speed: every reading arrives and the service's
memory stays flat.

Two ``kmc-monitor gateway --simulate 50 --speed X --seconds 3600`` processes (rooms ``A-`` and
``B-``) each run the last hour of a simulated room X times faster than the wall clock (readings keep
their simulated times, so they are never ahead of the service's clock: what the service sees is what
it would see when a room's gateway delivers an hour's backlog). The wraps are registered and put on
beds first, so every reading runs through a wrap's rules, trend, tile and the store, not only the
unassigned list.

While the rooms run, the service's ``VmRSS`` is sampled from ``/proc``. The warm-up is the first
half hour of the replayed hour: until then each wrap's rules are still filling their longest window
short of a day (the cooling trend's 30 min), and SQLite's page cache and the MQTT source's
duplicate window fill too. Of the second half hour, the median RSS of the last third must not exceed
the median of the first third by more than 10 MB or 7 %, whichever is larger. For scale: the two
medians are about 60,000 readings apart, so keeping 170 bytes per reading (less than one
``Reading`` object with its floats) would fail it; what legitimately grows for a day (chart bins,
contact runs of the rolling 24 h) adds about 1 MB per half hour for 100 wraps.

Loss: every reading a gateway produced (its ``--record`` trace, written as readings enter its
outbox) is in the service's store, and nothing else is. The hour runs at ``SPEED_MEMORY`` 10 (500
readings a second into the service, 6 minutes) plus start-up and drain. The service must keep up
for the memory figure to mean anything (readings waiting in its MQTT client's queue are memory
too): that is checked first, as a failure of its own (``KEPT_UP_END_S``, ``KEPT_UP_RUNNING_S``),
so a slow machine is not reported as a leak.

Both run in ``make test-long`` (marked ``long``): the hour, and ten replayed minutes at
``SPEED_LOSS`` 25 (1,250 readings a second, 24 s) where every reading must arrive and nothing else
be stored even when the service falls behind. ``make test`` carries the MQTT path with the broker
end-to-end tests.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kmc_monitor.mqtt.publisher import simulated_ward
from tests.mqtt.conftest import Mosquitto
from tests.serving import wait_announced
from tests.timing import scaled

pytestmark = [pytest.mark.slow]

#: Replayed seconds in ``make test`` (loss only) and in ``make test-long`` (loss and memory).
SHORT_S = 600.0

logger = logging.getLogger(__name__)

STAFF_TOKEN = "mqtt-soak-staff-token-0123456789"
ROOMS = {"room-a": "A-", "room-b": "B-"}
WRAPS_PER_ROOM = 50
HOURS_S = 3600.0
#: Simulated seconds per wall second. The ten minutes run at 25x (1,250 readings a second into the
#: service): every reading must arrive even when the service falls behind, as it may on a slow or
#: shared machine (its readings then wait in the MQTT client's queue). The hour, which measures
#: memory, runs at 10x (500 a second, ten times a full 100-wrap ward; 6 minutes): the service must
#: keep up for its memory to mean anything, because a queue is memory too. Measured on this project's
#: 2-core machine, shared with the gateways and the broker: it kept up to about 1,150 a second on
#: 2026-12-06 and 1,500 a second on 2026-12-04, and the CI machine managed about 800 under load (at
#: 25x it fell 68,000 readings behind and RSS climbed to 594 MB with its queue). ``KMC_SOAK_SPEED``
#: sets both.
SPEED_LOSS = float(os.environ.get("KMC_SOAK_SPEED", "25"))
SPEED_MEMORY = float(os.environ.get("KMC_SOAK_SPEED", "10"))
#: Keeping up, in seconds of the incoming rate: readings not yet stored when the rooms finished (the
#: writer commits within a second) and, at any gauge while running, readings due and not stored (a
#: stream checkpoint or a prune may hold a few ticks up; a queue that keeps growing is what fails).
KEPT_UP_END_S = 5.0
KEPT_UP_RUNNING_S = 15.0
MEASURE_S = 2.0


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "KMC_STAFF_TOKEN": STAFF_TOKEN,
        "KMC_MQTT_GATEWAYS": ",".join(ROOMS),
        "KMC_BEDS": str(len(ROOMS) * WRAPS_PER_ROOM),
        "KMC_SIMULATE_MEASURE_S": str(MEASURE_S),
    }
    env.pop("KMC_CONFIG", None)
    env.pop("KMC_REORDER_S", None)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "kmc_monitor.cli", *args]


def _http(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data)
    req.add_header("Authorization", f"Bearer {STAFF_TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _produced(path: Path) -> set[tuple[str, int]]:
    with path.open(newline="") as f:
        rows = [line for line in f if not line.startswith("#")]
    return {(row["wrap_id"], round(float(row["t"]) * 1e6)) for row in csv.DictReader(rows)}


def _stored(db_path: Path) -> set[tuple[str, int]]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return {(w, round(t * 1e6)) for w, t in db.execute("SELECT wrap_id, t FROM readings")}
    finally:
        db.close()


def _stored_count(db_path: Path) -> int:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return int(db.execute("SELECT count(*) FROM readings").fetchone()[0])
    finally:
        db.close()


def _case(replayed_s: float, speed: float, check_memory: bool, name: str) -> Any:
    """One soak, marked ``long``, its time limit the replay plus start-up, registration and the
    drain (scaled)."""
    limit = replayed_s / speed + scaled(240)
    return pytest.param(
        replayed_s, speed, check_memory, id=name, marks=[pytest.mark.long, pytest.mark.timeout(limit)]
    )


# Both in make test-long (the broker e2e tests carry the MQTT path in every make test).
@pytest.mark.parametrize(
    ("replayed_s", "speed", "check_memory"),
    [
        _case(SHORT_S, SPEED_LOSS, False, "10min-loss"),
        _case(HOURS_S, SPEED_MEMORY, True, "1h-loss-and-memory"),
    ],
)
def test_100_wraps_arrive_whole_and_memory_stays_flat(
    mosquitto: Mosquitto, tmp_path: Path, replayed_s: float, speed: float, check_memory: bool
) -> None:
    data_dir = tmp_path / "service"
    db_path = data_dir / "kmc-monitor.sqlite3"
    service_log = tmp_path / "service.log"
    procs: list[subprocess.Popen[Any]] = []
    with service_log.open("w") as err:
        service = subprocess.Popen(
            _cli("serve", "--mqtt", mosquitto.url, "--port", "0", "--data-dir", str(data_dir)),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=_env(),
        )
    procs.append(service)
    try:
        base = wait_announced(service).base
        assert base, service_log.read_text()[-3000:]

        # Every wrap registered and on a bed before the rooms start.
        bed = 0
        for n, prefix in enumerate(ROOMS.values()):
            # The rooms' simulated wraps, with the keys their sealed packets are verified with.
            room = simulated_ward(WRAPS_PER_ROOM, start_s=0, seed=n, prefix=prefix).wraps()
            for wrap_id, mac, key in room:
                bed += 1
                assert key is not None
                _http("POST", f"{base}/api/wraps", {"wrap_id": wrap_id, "mac": mac, "key": key.hex()})
                _http("POST", f"{base}/api/beds/B{bed:02d}/wrap", {"wrap_id": wrap_id})

        gateways: dict[str, tuple[subprocess.Popen[bytes], Path, Path]] = {}
        t_start = time.monotonic()
        for n, (gateway_id, prefix) in enumerate(ROOMS.items()):
            log = tmp_path / f"{gateway_id}.log"
            record = tmp_path / f"{gateway_id}.csv"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    _cli(
                        "gateway",
                        "--mqtt",
                        mosquitto.url,
                        "--gateway-id",
                        gateway_id,
                        "--simulate",
                        str(WRAPS_PER_ROOM),
                        "--seed",
                        str(n),
                        "--wrap-prefix",
                        prefix,
                        "--speed",
                        str(speed),
                        "--seconds",
                        str(replayed_s),
                        "--data-dir",
                        str(tmp_path / gateway_id),
                        "--record",
                        str(record),
                    ),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=_env(),
                )
            procs.append(proc)
            gateways[gateway_id] = (proc, record, log)

        # Sample the service's memory while the hour is replayed.
        samples: list[tuple[float, int]] = []
        rate = len(ROOMS) * WRAPS_PER_ROOM / MEASURE_S * speed
        behind = 0.0
        while any(p.poll() is None for p, _, _ in gateways.values()):
            samples.append((time.monotonic() - t_start, _rss_kb(service.pid)))
            if len(samples) % 10 == 0:  # readings due by now that are not stored yet
                due = min(rate * (time.monotonic() - t_start), rate * replayed_s / speed)
                behind = max(behind, due - _stored_count(db_path))
            assert service.poll() is None, service_log.read_text()[-3000:]
            assert time.monotonic() - t_start < replayed_s / speed + scaled(60), "the rooms did not finish"
            time.sleep(0.5)
        ran_s = time.monotonic() - t_start
        unstored_at_end = _stored_count(db_path)
        for proc, _, log in gateways.values():
            text = log.read_text()
            assert proc.returncode == 0, text[-3000:]
            assert "0 left on disk" in text, text[-3000:]

        produced: set[tuple[str, int]] = set()
        for _, record, _ in gateways.values():
            produced |= _produced(record)
        expected = len(ROOMS) * WRAPS_PER_ROOM * replayed_s / MEASURE_S
        assert len(produced) >= 0.99 * expected, (len(produced), expected)
        unstored_at_end = len(produced) - unstored_at_end

        # Every reading stored (the service writes within a second of receiving).
        deadline = time.monotonic() + scaled(30)  # what is still missing then is reported below
        while _stored_count(db_path) < len(produced) and time.monotonic() < deadline:
            time.sleep(0.5)
        stored = _stored(db_path)
        missing = sorted(produced - stored)
        assert not missing, (len(missing), missing[:5])
        assert stored == produced  # and nothing no gateway produced
        logger.warning(
            "soak: %d readings in %.0f s; not yet stored when the rooms finished: %d (at most about %.0f "
            "behind while running)",
            len(produced),
            ran_s,
            unstored_at_end,
            behind,
        )
        if check_memory:
            # The premise first: a service that fell behind holds a queue, and its memory would
            # measure the queue, not the service. Its own failure, so that it is not read as a leak.
            kept_up = unstored_at_end <= KEPT_UP_END_S * rate and behind <= KEPT_UP_RUNNING_S * rate
            assert kept_up, (
                f"the service fell behind: {unstored_at_end} readings not stored when the rooms finished, "
                f"at most about {behind:.0f} behind while running, at {rate:.0f} a second; this machine "
                "cannot judge its memory at this speed (lower KMC_SOAK_SPEED). " + _memory_report(samples)
            )
            _assert_memory_flat(samples, replayed_s / speed)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if service.stdout is not None:
            service.stdout.close()
    log_text = service_log.read_text()
    assert "Traceback" not in log_text, log_text[-4000:]


def _assert_memory_flat(samples: list[tuple[float, int]], run_s: float) -> None:
    """The service's RSS after the warm-up (the first half of the ``run_s`` wall seconds the replay
    takes): the median of the last third at most 10 MB or 7 % above the first third's."""
    half_s = run_s / 2
    kept = [kb for t, kb in samples if t >= half_s]
    third = len(kept) // 3
    assert third >= 20, f"too few samples ({len(samples)} over {samples[-1][0]:.0f} s)"
    first, last = statistics.median(kept[:third]), statistics.median(kept[-third:])
    margin = max(10 * 1024, 0.07 * first)
    report = (
        f"service RSS first third {first / 1024:.1f} MB, last third {last / 1024:.1f} MB; "
        + _memory_report(samples)
    )
    logger.warning("soak: %s", report)  # shown with -rA or on failure
    assert last <= first + margin, report


def _memory_report(samples: list[tuple[float, int]]) -> str:
    """The RSS's peak and its shape: every tenth of the run."""
    step = max(1, len(samples) // 10)
    shape = ", ".join(f"{samples[i][1] / 1024:.0f}" for i in range(0, len(samples), step))
    return f"peak {max(kb for _, kb in samples) / 1024:.1f} MB; RSS every tenth of the run (MB): {shape}"
