"""Running a real ``kmc-monitor serve`` (or gateway) process in a test, on 127.0.0.1.

One place for what every end-to-end test needs: start the command, read its announced address
(and, for a simulated ward, the bedside link it prints) from stdout, and stop it — politely first,
then by force — without leaving a process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from tests.forkserve import ForkedProcess, fork_server, fresh_wanted

__all__ = ["Announced", "ServeProcess", "stop", "wait_announced"]


class Announced:
    """What ``serve`` printed on start: its base URL, the bedside link's token, every line read."""

    def __init__(self) -> None:
        self.base = ""
        self.family_token = ""
        self.lines: list[str] = []


def wait_announced(
    proc: subprocess.Popen[str] | ForkedProcess, *, family_link: bool = False, timeout_s: float = 30.0
) -> Announced:
    """Read the process's stdout until it says where it listens (and, with ``family_link``, until
    it prints the bedside link); what it said so far if it ends or ``timeout_s`` passes first."""
    out = Announced()
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.lines.append(line)
        if line.startswith("ward service listening on "):
            out.base = line.split()[-1]
            if not family_link:
                break
        if line.startswith("bedside link: "):
            out.family_token = line.strip().rsplit("#", 1)[1]
            break
    return out


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> str:
    """Send ``sig`` (unless it has ended), wait, kill if it must; its remaining stderr ("" if not piped).
    For a process whose pipes nobody else reads: ``communicate`` drains them while it waits."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err or ""


class ServeProcess:
    """``kmc-monitor serve --host 127.0.0.1 --port PORT --data-dir D ARGS...`` with ``token`` as
    the staff token; started and announced, or an AssertionError saying what it printed."""

    def __init__(
        self,
        data_dir: Path,
        args: list[str],
        *,
        token: str,
        port: int = 0,
        family_link: bool = True,
        timeout_s: float = 30.0,
        fresh: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.args = args
        env = {**os.environ, "KMC_STAFF_TOKEN": token}
        env.pop("KMC_CONFIG", None)
        argv = ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), *args]
        # A child of the tests' fork server (tests/forkserve.py: the same program without a second
        # of imports per start), or, with ``fresh`` or KMC_TEST_FRESH_SERVE=1, a new interpreter.
        self.proc: subprocess.Popen[str] | ForkedProcess
        if fresh or fresh_wanted():
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kmc_monitor.cli", *argv],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        else:
            self.proc = fork_server().spawn(argv, env)
        # stderr is read all along (and stdout after the announcement) by threads of their own: a
        # pipe nobody reads fills at 64 KiB and then stops the service mid-write, which a test
        # would see as a server that no longer answers.
        self._err: list[str] = []
        self._readers = [threading.Thread(target=_drain, args=(self.proc.stderr, self._err), daemon=True)]
        self._readers[0].start()
        said = wait_announced(self.proc, family_link=family_link, timeout_s=timeout_s)
        self.base, self.family_token, self.stdout = said.base, said.family_token, said.lines
        out = threading.Thread(target=_drain, args=(self.proc.stdout, self.stdout), daemon=True)
        out.start()
        self._readers.append(out)
        if not (self.base and (self.family_token or not family_link)):
            err = self.stop()
            raise AssertionError(f"the service did not start: {self.stdout} {err[-3000:]}")
        self.ws = self.base.replace("http://", "ws://")

    @property
    def stderr(self) -> str:
        """What the service has written to stderr so far."""
        return "".join(self._err)

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Stop the service (``sig``, then SIGKILL after 15 s); everything it wrote to stderr."""
        # Its pipes are read by this object's threads, so this waits rather than communicate()s.
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=15.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=5.0)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.stderr


def _drain(stream: IO[str] | None, into: list[str]) -> None:
    """Append every line of ``stream`` to ``into`` until it ends."""
    if stream is None:
        return
    for line in stream:
        into.append(line)
