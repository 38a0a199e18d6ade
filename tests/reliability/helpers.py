"""Shared pieces of the reliability suite: a fake clock and source, and the app served by a real
uvicorn on 127.0.0.1 in a background thread (the runtime's tick loop off, stepped by the test)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.app import create_app
from kmc_monitor.service.config import Settings
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.sources import ReadingSource
from tests.clock import Clock

TOKEN = "reliability-staff-token-0123456789"
#: 2026-01-01 10:00 UTC.
T0 = 1767261600.0


class TwoWraps(ReadingSource):
    """Two demo wraps sending every 2 s: W1 warm and in contact, W2 apart and cold."""

    demo = True

    def __init__(self, start_s: float = T0) -> None:
        self.next_t = start_s

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [("W1", "54:48:E6:8F:80:A5", None), ("W2", "54:48:E6:8F:80:A6", None)]

    def readings_until(self, t_s: float) -> list[Reading]:
        out = []
        while self.next_t <= t_s:
            t = self.next_t
            out.append(Reading(t, "W1", 36.8, 30.0, 1.0, 80.0, -60.0))
            out.append(Reading(t, "W2", 35.4, 30.0, 0.0, 70.0, -70.0))
            self.next_t += 2.0
        return out


def settings_for(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, staff_token=TOKEN, ward_tz="UTC", ward_name="Reliability ward")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadServer:
    """The app on a real uvicorn in a background thread; :meth:`call` runs code on its loop."""

    def __init__(self, settings: Settings, runtime: WardRuntime) -> None:
        self.runtime = runtime
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings, runtime=runtime),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            ws_per_message_deflate=False,
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="uvicorn-test", daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.serve())
        finally:
            self.loop.close()

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the server's event loop (where the runtime lives) and return its result."""
        assert self.loop is not None

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@contextmanager
def thread_server(data_dir: Path, *, minutes: float = 20.0) -> Iterator[tuple[ThreadServer, Clock]]:
    """A demo ward of two wraps, ``minutes`` of ward time already run (W2 has a cold alarm)."""
    clock = Clock(T0)
    settings = settings_for(data_dir)
    rt = WardRuntime(settings, source=TwoWraps(), clock=clock, tick_s=None)
    server = ThreadServer(settings, rt)
    server.start()
    try:
        end = clock.t + minutes * 60
        while clock.t < end:
            clock.t = min(end, clock.t + 10.0)
            server.call(rt.step)
        yield server, clock
    finally:
        server.stop()
