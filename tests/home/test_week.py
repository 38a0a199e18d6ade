"""A simulated family week at home: two power cuts (one a real ``kill -9``), three days offline.

The home gateway's real code runs on its real SQLite file with time injected (a step every five
simulated minutes). The station is, once, the stand-in of ``station.py`` (which also counts every
delivery of every item, so "exactly once" is observed, not inferred) stopped for the three-day
outage, and once the real station of issue-17b (``create_app`` on uvicorn with its own SQLite
file) behind a relay the test cuts. The middle of the outage is run by a real
``kmc-monitor home run --simulate`` process at 1 800 times real time, killed with SIGKILL while it
writes. The week passes when the station holds every item the home ever numbered, each exactly
once and in order, every sealed packet verifies, no reading was queued twice, and every day of
the week has exactly one complete summary.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import uvicorn

from kmc_monitor.devices.protocol.bthome import decode_service_data
from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulation.simulator import SimConfig, WardSimulator
from kmc_monitor.home.forwarder import Forwarder, SyncError
from kmc_monitor.home.gateway import HomeGateway
from kmc_monitor.home.sources import SimulatedWraps
from kmc_monitor.home.store import DB_NAME, HomeStore
from kmc_monitor.service.app import create_app
from kmc_monitor.service.config import Settings
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.sources import ReadingSource
from kmc_monitor.station.wire import MAX_BATCH_DAYS, MAX_BATCH_READINGS, PairingCode
from tests.clock import Clock
from tests.home.netcut import NetLink
from tests.home.station import StandInStation, pairing_for
from tests.serving import stop
from tests.timing import wait_until

TZ = "Asia/Ho_Chi_Minh"
#: Monday 5 January 2026, midnight in the home's time zone.
T0 = dt.datetime(2026, 1, 5, tzinfo=ZoneInfo(TZ)).timestamp()
DAY = 86400.0
STEP = 300.0
#: In-process wraps measure every 10 s (a week in seconds of CPU); the subprocess runs the defaults.
FAST = SimConfig(measure_s=10.0, adv_interval_s=10.0)


@pytest.fixture
def station() -> Iterator[StandInStation]:
    st = StandInStation()
    st.up()
    yield st
    st.down()


@dataclass
class Net:
    """The home's way to its station: cut it, restore it, and the station's clock to follow."""

    down: Callable[[], None]
    up: Callable[[], None]
    clock: Clock | None = None


class Home:
    """The home gateway in this process: store, rules, simulated wraps and forwarder on one data dir."""

    def __init__(self, net: Net, data_dir: Path, t: float, seed: int) -> None:
        self.net = net
        self.store = HomeStore(data_dir)
        self.store.begin_run()
        self.gateway = HomeGateway(self.store)
        self.t = t
        code = self.store.pairing()
        assert code is not None
        self.source = SimulatedWraps(
            code, start_s=t, seed=seed, config=FAST, last_counters=self.gateway.counters
        )
        self.forwarder = Forwarder(data_dir, clock=lambda: self.t)

    def run_until(self, end: float, *, sync_every: float = 3600.0) -> list[int]:
        """Step to ``end``, trying to sync every ``sync_every``; the outbox size after each try."""
        pending: list[int] = []
        next_sync = self.t + sync_every
        while self.t < end:
            self.t = min(end, self.t + STEP)
            self.gateway.step(self.source.readings_until(self.t), self.t)
            if self.t >= next_sync:
                next_sync += sync_every
                try:
                    self.sync()
                except SyncError:
                    pass
                pending.append(self.store.pending())
        return pending

    def sync(self) -> None:
        if self.net.clock is not None:
            self.net.clock.t = self.t  # the station's clock is the home's simulated one
        self.forwarder.sync_all()

    def power_cut(self) -> None:
        """The plug is pulled: nothing is closed cleanly, what was not committed is gone."""
        self.forwarder.close()
        self.store.close()  # each step is its own transaction: closing commits nothing new

    def shut_down(self) -> None:
        self.forwarder.close()
        self.store.end_run()
        self.store.close()


def _db_state(path: Path) -> tuple[int, int, float | None]:
    """(last seq handed out, items queued, last reading's time), read without disturbing the writer."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        n = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        t = db.execute("SELECT max(t) FROM readings").fetchone()[0]
        return (0 if row is None else int(row[0])), int(n), t
    finally:
        db.close()


def _week(tmp_path: Path, code: PairingCode, net: Net) -> int:
    """Run the week against ``net``; the last sequence number the home handed out."""
    data = tmp_path / "home"
    store = HomeStore(data)
    store.set_pairing(code)
    store.close()

    # Days 0-1.3 online; the first power cut (in process) at 07:12 on day 1, the board off for 2 h.
    home = Home(net, data, T0, seed=1)
    home.run_until(T0 + 1.3 * DAY)
    home.power_cut()
    home = Home(net, data, T0 + 1.3 * DAY + 7200, seed=2)
    home.run_until(T0 + 2 * DAY)
    assert home.store.pending() < 100, "online, the outbox drains every hour"

    # Three days without network from the start of day 2.
    net.down()
    offline = home.run_until(T0 + 3.5 * DAY)
    home.shut_down()

    # The middle of the outage on a real process, killed with SIGKILL while it writes.
    db = data / DB_NAME
    seq_before, _, t_before = _db_state(db)
    assert t_before is not None
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kmc_monitor.cli",
            "home",
            "run",
            "--data-dir",
            str(data),
            "--simulate",
            "--simulate-from",
            str(T0 + 3.5 * DAY),
            "--simulate-speed",
            "1800",
            "--seed",
            "3",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--tick",
            "0.2",
            "--sync-every",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("home gateway listening on http://127.0.0.1:"), first + stop(proc)
        # Six simulated hours (about 12 s of wall time) queued by the process, then the plug.
        wait_until(
            "the home process queued six hours of readings",
            lambda: _db_state(db)[0] >= seq_before + 360,
            timeout_s=120,
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == -signal.SIGKILL

    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    accepted = int(check.execute("SELECT value FROM meta WHERE key = 'accepted_through'").fetchone()[0])
    seqs = [s for (s,) in check.execute("SELECT seq FROM outbox ORDER BY seq")]
    check.close()
    seq_after, queued, t_killed = _db_state(db)
    assert seqs == list(range(accepted + 1, seq_after + 1)), (
        "acknowledged or queued: nothing lost after SIGKILL"
    )
    assert queued == len(seqs) and t_killed is not None and t_killed > T0 + 3.5 * DAY

    # The board comes back 10 simulated minutes after the kill; the network at the start of day 5.
    home = Home(net, data, t_killed + 600, seed=4)
    offline += home.run_until(T0 + 5 * DAY)
    net.up()
    home.run_until(T0 + 7 * DAY + 1800)  # the last day's complete summary goes out after midnight
    home.sync()
    last_seq = home.store.last_seq()
    assert home.store.pending() == 0
    assert home.store.power_cuts == 2
    home.shut_down()

    # Three days offline: about 3 x 1 440 one-a-minute readings waited on the board, and went.
    assert max(offline) > 3 * 1440 * 0.8
    return last_seq


@pytest.mark.long  # a simulated week: make test-long (CI runs it after make test)
def test_family_week_arrives_whole_once_and_in_order(tmp_path: Path, station: StandInStation) -> None:
    sim = WardSimulator(1, start_s=T0, seed=17)
    code = pairing_for(sim, station.url, tz=TZ)
    station.code = code
    last_seq = _week(tmp_path, code, Net(station.down, station.up))
    got = station.received
    assert sorted(got.items) == list(range(1, last_seq + 1)), "every item the home numbered arrived"
    assert set(got.deliveries.values()) == {1}, "each item arrived exactly once"
    assert got.conflicts == [] and got.out_of_order == [] and got.bad_seals == 0
    assert got.max_batch <= MAX_BATCH_READINGS + MAX_BATCH_DAYS

    items = [json.loads(got.items[s]) for s in range(1, last_seq + 1)]
    readings = [x for x in items if "sealed" in x]
    days = [x for x in items if "day" in x]
    key = bytes.fromhex(code.wraps[0].key or "")
    counters = [
        decode_service_data(bytes.fromhex(x["sealed"]), mac=code.wraps[0].mac, key=key).counter
        for x in readings
    ]
    assert len(set(counters)) == len(counters), "no reading queued twice"
    times = [x["t"] for x in readings]
    assert times == sorted(times), "readings leave in the order they were heard"
    complete = [x["day"] for x in days if x["complete"]]
    week = [(dt.date(2026, 1, 5) + dt.timedelta(days=i)).isoformat() for i in range(7)]
    assert sorted(complete) == week, "one complete summary of each day of the week"
    by_day = {x["day"]: x for x in days if x["complete"]}
    assert by_day[week[1]]["measured_s"] < by_day[week[0]]["measured_s"] - 3600, "the cut shows as unmeasured"


class _NoLiveWrap(ReadingSource):
    """The ward beside the station: the family's wrap is registered on bed 1 (its baby admitted by
    the demo ward); nothing is heard on the ward itself."""

    demo = True

    def __init__(self, sim: WardSimulator) -> None:
        self.entries = sim.identities()

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [(e.wrap_id, e.mac, e.key) for e in self.entries]

    def readings_until(self, t_s: float) -> list[Reading]:
        return []


@pytest.mark.long  # a simulated week: make test-long (CI runs it after make test)
def test_family_week_reaches_the_real_station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same week against the station of issue-17b (``create_app`` on real uvicorn, its SQLite
    file), the home's network a relay the test cuts for three days."""
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        link_port = probe.getsockname()[1]
    nurse = "home-week-nurse-token-0123456789ab"
    settings = Settings(
        data_dir=tmp_path / "station",
        staff_token="home-week-staff-token-0123456789ab",
        nurse_tokens=(nurse,),
        ward_tz=TZ,
        public_url=f"http://127.0.0.1:{link_port}",
    )
    clock = Clock(T0)
    sim = WardSimulator(1, start_s=T0, seed=17)
    rt = WardRuntime(settings, source=_NoLiveWrap(sim), clock=clock, tick_s=None)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, runtime=rt), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    link = NetLink(0)
    try:
        wait_until("the station started", lambda: server.started, 30)
        link.target_port = server.servers[0].sockets[0].getsockname()[1]
        link.port = link_port
        link.restore()
        body = {
            "admission_id": 1,
            "consent": {"name": "Nie", "relation": "mother"},
            "tz": TZ,
            "language": "vi",
        }
        req = urllib.request.Request(
            f"{link.url}/api/station/homes",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {nurse}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            code = PairingCode.model_validate(json.loads(r.read())["pairing"])
        assert code.station_url == link.url and code.wraps[0].mac == sim.identities()[0].mac

        last_seq = _week(tmp_path, code, Net(link.cut, link.restore, clock))

        rows = rt.store._read(
            "test",
            "SELECT seq, kind, t, refused FROM station_items WHERE home_id = ? ORDER BY seq",
            (code.home_id,),
        )
        assert [int(r[0]) for r in rows] == list(range(1, last_seq + 1)), "every item, once, by sequence"
        assert [r for r in rows if r[3] is not None] == [], "every seal verified, no counter replayed"
        times = [float(r[2]) for r in rows if r[1] == "reading"]
        assert times == sorted(times) and len(set(times)) == len(times)
        days = rt.store._read(
            "test", "SELECT day, complete FROM station_days WHERE home_id = ? ORDER BY day", (code.home_id,)
        )
        week = [(dt.date(2026, 1, 5) + dt.timedelta(days=i)).isoformat() for i in range(7)]
        assert [str(d) for d, c in days if c] == week
    finally:
        link.cut()
        server.should_exit = True
        thread.join(timeout=30)
