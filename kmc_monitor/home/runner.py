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
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

from kmc_monitor.home.forwarder import Forwarder
from kmc_monitor.home.gateway import HOT_KINDS, AlarmChange, HomeGateway
from kmc_monitor.home.sources import BleWraps, SimulatedWraps
from kmc_monitor.home.store import HomeStore
from kmc_monitor.home.web import HomeView, WrapView, create_home_app
from kmc_monitor.signal.params import US

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
    keep_days: float = 35.0


async def run_home(opts: HomeOptions) -> int:
    """Run until SIGTERM/SIGINT; a clean stop is recorded so it is not counted as a power cut."""
    import uvicorn

    store = HomeStore(opts.data_dir)
    code = store.pairing()
    if code is None:
        sys.stderr.write(
            f"error: {opts.data_dir} is not paired: run 'kmc-monitor home pair CODE --data-dir DIR' first\n"
        )
        return 2
    cuts = store.begin_run()
    alarm = AlarmCommand(opts.alarm_command) if opts.alarm_command else None
    gateway = HomeGateway(store, keep_days=opts.keep_days, on_alarm=alarm)
    clock: Callable[[], float] = time.time
    if opts.simulate:
        clock = SimClock(
            opts.simulate_from if opts.simulate_from is not None else time.time(), opts.simulate_speed
        )
        source: SimulatedWraps | BleWraps = SimulatedWraps(
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

    def view() -> HomeView:
        now = clock()
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
        return HomeView(
            display_name=code.baby.display_name,
            language=code.baby.language,
            goal_s=code.baby.daily_goal_s,
            now_t=now,
            wraps=wraps,
            pending=store.pending(),
            last_sync_t=forwarder.last_ok_t,
        )

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None]:
            yield  # the home's own handlers stop it (and record a clean shutdown)

    server = _Server(
        uvicorn.Config(create_home_app(view), host=opts.host, port=opts.port, log_level="warning")
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    if serving.done():
        serving.result()
        return 2
    port = server.servers[0].sockets[0].getsockname()[1]
    sys.stdout.write(f"home gateway listening on http://{opts.host}:{port}/\n")
    sys.stdout.write(f"home {code.home_id}, data in {store.path}, power cuts so far: {cuts}\n")
    sys.stdout.flush()
    try:
        while not stopping.is_set():
            now = clock()
            gateway.step(source.readings_until(now), now)
            try:
                await asyncio.wait_for(stopping.wait(), opts.tick_s)
            except TimeoutError:
                pass
    finally:
        server.should_exit = True
        await serving
        stop_forwarding.set()
        thread.join(timeout=forwarder.timeout_s + 5)
        if isinstance(source, BleWraps):
            await source.stop()
        forwarder.close()
        if alarm is not None:
            alarm.close()
        store.end_run()
        store.close()
    return 0
