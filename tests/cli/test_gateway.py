"""``kmc-monitor gateway``: bad input is one line and exit status 2, never a traceback; an
unreachable broker keeps readings on disk; the gateway keeps its registry and counters in its own
small store, never in a ward database. (``serve --mqtt``'s options: ``test_serve.py``.)"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kmc_monitor.cli import main
from tests.mqtt.conftest import free_port
from tests.timing import wait_until


@pytest.mark.parametrize(
    "url",
    ["127.0.0.1:1883", "http://host", "mqtt://", "mqtt://host:99999", "mqtt://host/path", "mqtt://host:0"],
)
@pytest.mark.parametrize("command", ["gateway", "serve"])
def test_bad_broker_url(command: str, url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [command, "--mqtt", url, "--data-dir", str(tmp_path)]
    if command == "gateway":
        args += ["--gateway-id", "room-1", "--simulate", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broker URL" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--gateway-id", "room/1", "--simulate", "1"], "gateway id"),
        (["--gateway-id", "room-1", "--simulate", "1", "--site", "a+b"], "site id"),
        (["--gateway-id", "room-1", "--seed", "3"], "--simulate"),
        (["--gateway-id", "room-1", "--simulate", "1", "--wrap-prefix", "a b"], "wrap id"),
        (["--gateway-id", "room-1", "--speed", "10", "--seconds", "60"], "--simulate"),
        (["--gateway-id", "room-1", "--simulate", "1", "--speed", "10"], "--seconds"),
    ],
)
def test_bad_gateway_arguments(
    extra: list[str], says: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["gateway", "--mqtt", "mqtt://127.0.0.1", "--data-dir", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_gateway_without_broker(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KMC_MQTT_URL", raising=False)
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    assert main(["gateway", "--gateway-id", "room-1", "--simulate", "1", "--data-dir", str(tmp_path)]) == 2
    assert "no broker" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_gateway_keeps_readings_on_disk_while_the_broker_is_unreachable(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmc_monitor.cli", "gateway", "--mqtt", f"mqtt://127.0.0.1:{port}"]
        + ["--gateway-id", "room-1", "--simulate", "2", "--data-dir", str(tmp_path), "--outbox-rows", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    outbox = tmp_path / "mqtt-outbox.sqlite3"

    def kept() -> int:
        if not outbox.exists():
            return 0
        try:
            db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=1)
            try:
                return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
            finally:
                db.close()
        except sqlite3.Error:  # created but its table not yet there
            return 0

    # Two wraps, a reading every 2 s: four kept readings take about 4 s.
    wait_until("four readings kept in the outbox", lambda: kept() >= 4, 20, every_s=0.2)
    assert proc.poll() is None, proc.communicate()[1]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "unreachable" in err and "retrying" in err
    db = sqlite3.connect(tmp_path / "mqtt-outbox.sqlite3")
    rows = db.execute("SELECT seq, t FROM outbox ORDER BY seq").fetchall()
    db.close()
    assert len(rows) >= 4
    assert [t for _, t in rows] == sorted(t for _, t in rows)


@pytest.mark.timeout(60)
def test_a_bluetooth_gateway_keeps_its_registry_in_its_own_store(tmp_path: Path) -> None:
    """The registry file and a ward database an older gateway left in the data directory both end
    up in ``gateway.sqlite3``; no ward database is created (and the old one is only read)."""
    from kmc_monitor.devices.simulation.simulator import WardSimulator
    from kmc_monitor.mqtt.gateway_store import GatewayStore
    from kmc_monitor.service.store import DB_FILENAME, Store

    data = tmp_path / "data"
    old = WardSimulator(1, start_s=1.767e9, seed=3).identities()[0]
    with Store.in_data_dir(data) as store:  # what a gateway before its own store kept
        store.add_wrap("OLD1", old.mac, old.key, now=1.767e9)
        store.save_wrap_counters({"OLD1": 4242})
    before = (data / DB_FILENAME).read_bytes()
    registry = tmp_path / "room.toml"
    registry.write_text(WardSimulator(2, start_s=1.767e9, seed=4).registry_toml(), encoding="utf-8")
    registry.chmod(0o600)
    port = free_port()  # nothing listens there: the gateway fails at the adapter or waits for --seconds
    proc = subprocess.run(
        [sys.executable, "-m", "kmc_monitor.cli", "gateway", "--mqtt", f"mqtt://127.0.0.1:{port}"]
        + ["--gateway-id", "room-1", "--registry", str(registry), "--data-dir", str(data)]
        + ["--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: no usable Bluetooth adapter here
    assert "Traceback" not in proc.stderr
    with GatewayStore.in_data_dir(data) as book:
        wraps = {e.wrap_id: e.mac for e in book.wrap_registry()}
        assert set(wraps) == {"OLD1", "W01", "W02"} and wraps["OLD1"] == old.mac
        assert book.wrap_counters()["OLD1"] == 4242
    assert (data / DB_FILENAME).read_bytes() == before
