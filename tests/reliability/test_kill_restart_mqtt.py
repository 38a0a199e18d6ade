"""The ward service SIGKILLed mid-stream and restarted while two room gateways keep publishing.

Real processes on 127.0.0.1: Mosquitto, two ``kmc-monitor gateway --simulate 2`` and
``kmc-monitor serve --mqtt``. The service is killed with SIGKILL (no clean-up at all) and started
again on the same data directory once the gateways have published while it was down.

What the design guarantees, and what is asserted:

- While the service is down, the broker keeps its persistent session (fixed client id, Clean Start
  0, session expiry) and queues the gateways' QoS 1 readings; the restarted service gets them all.
- What the killed process had *received* (and acknowledged to the broker) but not yet committed is
  lost: readings are committed at least every second, so that is at most the last ~1 s of readings
  before the kill (plus the 50 ms tick that had not handed them to the writer yet). The spec allows
  exactly that; every other reading produced must be stored, once, in order.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt.conftest import Mosquitto, module_mosquitto  # noqa: F401 (the broker fixture)
from tests.mqtt.test_broker_e2e import WRAPS, Gateway, Ward, _cli, _env, produced, stored
from tests.serving import wait_announced
from tests.timing import wait_until

pytestmark = [pytest.mark.slow(20), pytest.mark.timeout(120)]

logger = logging.getLogger(__name__)

#: Readings at most this long before the kill may be lost (committed at least every second).
LOSS_WINDOW_S = 1.5


def start_service(broker: Mosquitto, data_dir: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    with log.open("a") as err:
        proc = subprocess.Popen(
            _cli("serve", "--mqtt", broker.url, "--port", "0", "--data-dir", str(data_dir)),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=_env(),
        )
    base = wait_announced(proc).base
    if not base:
        proc.kill()
        raise AssertionError(log.read_text()[-3000:])
    return proc, base


@pytest.fixture
def ward(module_mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Ward]:  # noqa: F811
    procs: list[subprocess.Popen[bytes]] = []

    def start_gateway(gateway_id: str, record_name: str) -> Gateway:
        log = tmp_path / f"{record_name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                _cli(
                    "gateway",
                    "--mqtt",
                    module_mosquitto.url,
                    "--gateway-id",
                    gateway_id,
                    "--simulate",
                    "2",
                    "--seed",
                    str(len(procs)),
                    "--wrap-prefix",
                    gateway_id[-1].upper() + "-",
                    "--data-dir",
                    str(tmp_path / gateway_id),
                    "--record",
                    str(tmp_path / f"{record_name}.csv"),
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_env(),
            )
        procs.append(proc)
        return Gateway(gateway_id, proc, tmp_path / f"{record_name}.csv", log)

    data_dir = tmp_path / "service"
    log = tmp_path / "service.log"
    service, base = start_service(module_mosquitto, data_dir, log)
    w = Ward(module_mosquitto, base, service, log, data_dir, {}, start_gateway)
    try:
        w.gateways = {g: start_gateway(g, g) for g in WRAPS}
        yield w
    finally:
        for proc in [*procs, w.service]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*procs, w.service]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def test_sigkill_and_restart_loses_at_most_the_last_second(ward: Ward) -> None:
    every = {w for ws in WRAPS.values() for w in ws}
    # A few readings of every wrap committed before the kill (0.5 Hz per wrap).
    wait_until(
        "three readings of every wrap stored",
        lambda: (have := stored(ward)).keys() >= every and all(len(have[w]) >= 3 for w in every),
        30,
        every_s=0.25,
    )
    ward.service.send_signal(signal.SIGKILL)
    ward.service.wait(timeout=10)
    t_kill = time.time()
    if ward.service.stdout is not None:
        ward.service.stdout.close()

    # The gateways go on publishing and the broker queues for the session: restart once every
    # wrap has a reading from after the kill (and the broker has had it for a moment).
    def published_while_down() -> bool:
        want = produced(ward, *WRAPS)
        return want.keys() >= every and all(max(want[w]) > (t_kill + 0.5) * 1e6 for w in every)

    wait_until("a reading of every wrap produced while the service is down", published_while_down, 15)
    ward.service, ward.base = start_service(ward.broker, ward.data_dir, ward.service_log)
    t_back = time.time()
    target = t_back + 4.0

    def caught_up() -> bool:
        want, have = produced(ward, *WRAPS), stored(ward)
        return time.time() > target and all(
            max(have.get(w, [0])) >= max(t for t in ts if t <= target * 1e6) for w, ts in want.items()
        )

    wait_until("the queued readings delivered after the restart", caught_up, 30, every_s=0.5)
    want, have = produced(ward, *WRAPS), stored(ward)
    assert set(want) == every
    lost_total = 0
    for wrap_id, ts in want.items():
        got = set(have[wrap_id])
        assert got <= set(ts), wrap_id  # nothing stored that no gateway produced
        first = min(got)
        considered = [t for t in ts if first <= t <= target * 1e6]
        down = [t for t in considered if t_kill * 1e6 <= t <= t_back * 1e6]
        assert len(down) >= 1, (wrap_id, "no reading was produced while the service was down")
        assert set(down) <= got, (wrap_id, "readings queued by the broker while down were lost")
        missing = sorted(set(considered) - got)
        # Only readings of the last second or so before the kill may be missing.
        window = ((t_kill - LOSS_WINDOW_S) * 1e6, t_kill * 1e6)
        outside = [t for t in missing if not window[0] <= t <= window[1]]
        assert not outside, (wrap_id, [(t / 1e6 - t_kill) for t in outside])
        lost_total += len(missing)
    logger.info("readings lost to the kill: %d (allowed: the last %g s per wrap)", lost_total, LOSS_WINDOW_S)
    log = ward.service_log.read_text()
    assert "Traceback" not in log, log[-3000:]
