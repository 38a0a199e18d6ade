"""``kmc-monitor home run``: the source, the rules, the family page, the alarm and the forwarder together.

Why one asyncio process with one extra thread: a cheap board has little memory and one or two
cores. The source and the rules run in the event loop a tick at a time (each tick one SQLite
transaction), the page is served by uvicorn in the same loop, and only the forwarder (blocking
HTTPS with long timeouts) has a thread and a connection to the data file of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

from kmc_monitor.home.forwarder import Forwarder
from kmc_monitor.home.gateway import HOT_KINDS, AlarmChange, HomeGateway
from kmc_monitor.home.pairing import decode_pairing
from kmc_monitor.home.sources import BleWraps, SimulatedWraps
from kmc_monitor.home.store import HomeStore
from kmc_monitor.home.web import HomeView, PairResult, WrapView, create_home_app
from kmc_monitor.signal.params import US
from kmc_monitor.sources import ReadingSource

__all__ = ["AlarmCommand", "HomeOptions", "SimClock", "run_home"]

logger = logging.getLogger(__name__)


class SimClock:
    """Simulated time: ``start_s`` now, running ``speed`` times faster than the wall clock."""

    def __init__(self, start_s: float, speed: float) -> None:
        self.start_s = start_s
        self.speed = speed
        self._m0 = time.monotonic()

    def __call__(self) -> float:
        return self.start_s + (time.monotonic() - self._m0) * self.speed


class AlarmCommand:
    """Runs the board's own alarm (a buzzer script) when a cold condition starts or clears.

    Called as ``CMD cold WRAP KIND`` when a wrap's baby becomes cold (or colder: a new kind) and
    ``CMD clear WRAP`` when it has recovered. Never waits for the command, never lets it fail the
    gateway: a command that cannot start is logged (with what to fix) and counted.
    """

    def __init__(self, command: str) -> None:
        self.argv = shlex.split(command)
        self.failures = 0
        self._running: list[subprocess.Popen[bytes]] = []

    def __call__(self, change: AlarmChange) -> None:
        self._running = [p for p in self._running if p.poll() is None]
        extra = (
            ["clear", change.wrap_id] if change.kind is None else ["cold", change.wrap_id, change.kind.value]
        )
        try:
            self._running.append(subprocess.Popen([*self.argv, *extra], stdin=subprocess.DEVNULL))
        except OSError as exc:
            self.failures += 1
            logger.error("alarm command %r could not run (%s): check --alarm-command", self.argv[0], exc)

    def close(self, timeout_s: float = 10.0) -> None:
        """Wait for commands still running (at shutdown), killing one that hangs."""
        for p in self._running:
            try:
                p.wait(timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._running = []


@dataclass(frozen=True, slots=True)
class HomeOptions:
    """What ``home run`` was asked to do."""

    data_dir: Path
    host: str = "0.0.0.0"
    port: int = 8080
    simulate: bool = False
    simulate_from: float | None = None
    simulate_speed: float = 1.0
    seed: int = 0
    adapter: str | None = None
    alarm_command: str | None = None
    sync_every_s: float = 60.0
    tick_s: float = 5.0
    keep_days: float = 14.0


class _Live:
    """What the page reads: nothing before pairing, then the running gateway and forwarder."""

    def __init__(self, store: HomeStore, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self.gateway: HomeGateway | None = None
        self.forwarder: Forwarder | None = None
        self.paired = asyncio.Event()

    def view(self) -> HomeView:
        now = self.clock()
        gateway, forwarder = self.gateway, self.forwarder
        if gateway is None or forwarder is None:
            return HomeView(paired=self.store.pairing() is not None, now_t=now)
        wraps = [
            WrapView(
                wrap_id=s.wrap_id,
                timer=s.timer.state,
                session_s=s.timer.elapsed_us / US,
                today_s=s.contact_today_us / US,
                judging=s.judging,
                band=s.band,
                temperature_c=s.temperature_c,
                cold_alarm=gateway.cold_alarm(s.wrap_id),
                hot=any(a.kind in HOT_KINDS for a in s.active_alarms),
                battery_pct=s.battery_pct,
                last_heard_t=None if s.last_us is None else s.last_us / US,
            )
            for s in gateway.statuses(now)
        ]
        baby = gateway.code.baby
        return HomeView(
            display_name=baby.display_name,
            language=baby.language,
            goal_s=baby.daily_goal_s,
            now_t=now,
            wraps=wraps,
            pending=self.store.pending(),
            last_sync_t=forwarder.last_ok_t,
        )

    def pair(self, text: str) -> PairResult:
        """Pair from the page (only while unpaired: the route checks before reading the code)."""
        code = decode_pairing(text)
        self.store.set_pairing(code)
        logger.info("paired from the home page: home %s", code.home_id)
        self.paired.set()
        return PairResult(home_id=code.home_id, display_name=code.baby.display_name)


async def run_home(opts: HomeOptions) -> int:
    """Run until SIGTERM/SIGINT; a clean stop is recorded so it is not counted as a power cut.

    An unpaired data dir serves the page's pairing form until a code is pasted (or ``home pair``
    is run and the process restarted), then starts hearing the wraps.
    """
    import uvicorn

    store = HomeStore(opts.data_dir)
    clock: Callable[[], float] = time.time
    if opts.simulate:
        start = opts.simulate_from if opts.simulate_from is not None else time.time()
        clock = SimClock(start, opts.simulate_speed)
    live = _Live(store, clock)

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None]:
            yield  # the home's own handlers stop it (and record a clean shutdown)

    app = create_home_app(live.view, live.pair)
    server = _Server(uvicorn.Config(app, host=opts.host, port=opts.port, log_level="warning"))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    if serving.done():
        serving.result()
        store.close()
        return 2
    port = server.servers[0].sockets[0].getsockname()[1]
    sys.stdout.write(f"home gateway listening on http://{opts.host}:{port}/\n")
    sys.stdout.flush()
    try:
        if store.pairing() is None:
            sys.stdout.write(
                "not paired yet: paste the pairing code on the page, or run 'kmc-monitor home pair'\n"
            )
            sys.stdout.flush()
            waiting = asyncio.create_task(live.paired.wait())
            halted = asyncio.create_task(stopping.wait())
            await asyncio.wait((waiting, halted), return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            halted.cancel()
            if stopping.is_set():
                return 0
        await _run_paired(opts, store, live, stopping)
    finally:
        server.should_exit = True
        await serving
        store.close()
    return 0


async def _run_paired(opts: HomeOptions, store: HomeStore, live: _Live, stopping: asyncio.Event) -> None:
    code = store.pairing()
    assert code is not None
    cuts = store.begin_run()
    alarm = AlarmCommand(opts.alarm_command) if opts.alarm_command else None
    gateway = HomeGateway(store, keep_days=opts.keep_days, on_alarm=alarm)
    clock = live.clock
    if opts.simulate:
        source: ReadingSource = SimulatedWraps(
            code, start_s=clock(), seed=opts.seed, last_counters=gateway.counters
        )
    else:
        source = BleWraps(code, last_counters=gateway.counters, adapter=opts.adapter)
    await source.start()
    forwarder = Forwarder(opts.data_dir, clock=clock, every_s=opts.sync_every_s)
    stop_forwarding = threading.Event()
    thread = threading.Thread(
        target=forwarder.run, args=(stop_forwarding,), name="home-forwarder", daemon=True
    )
    thread.start()
    live.gateway, live.forwarder = gateway, forwarder
    sys.stdout.write(f"home {code.home_id}, data in {store.path}, power cuts so far: {cuts}\n")
    sys.stdout.flush()
    try:
        failing = 0
        while not stopping.is_set():
            now = clock()
            try:
                gateway.step(source.readings_until(now), now)
                failing = 0
            except sqlite3.Error as exc:
                # The board's disk (full, worn out, removed): keep the rules and the alarm going;
                # this tick's readings are lost, and say so, once a minute at most.
                if failing % max(1, round(60 / opts.tick_s)) == 0:
                    logger.error(
                        "home: cannot write %s (%s): free space or replace the card", store.path, exc
                    )
                failing += 1
            try:
                await asyncio.wait_for(stopping.wait(), opts.tick_s)
            except TimeoutError:
                pass
    finally:
        stop_forwarding.set()
        thread.join(timeout=forwarder.timeout_s + 5)
        await source.stop()
        live.gateway = live.forwarder = None
        forwarder.close()
        if alarm is not None:
            alarm.close()
        store.end_run()
