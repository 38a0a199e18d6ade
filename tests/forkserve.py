"""Start ``kmc-monitor`` processes for the tests by forking one that has already imported the service.

Every end-to-end test runs a real ``kmc-monitor serve``: its own process, its own uvicorn on
127.0.0.1, its own SQLite files. Started as ``python -m kmc_monitor.cli serve``, each spends about
1.2 s of CPU before it listens, most of it importing FastAPI, pydantic, uvicorn and numpy, and the
fast tier starts some sixty of them on a two-core machine (issue #15 measured that at about a sixth
of the suite's CPU). The work is the same every time, so each pytest process keeps one *fork
server*: a Python process that imports the service once and then forks a child per request. The
child sets the environment, working directory, standard streams and command line it was given, and
runs the command line exactly as ``python -m kmc_monitor.cli`` does (``runpy``): from there on it is
the same program, listening on its own port, and it exits with the command's status.

What a forked child does not share with a fresh interpreter, and why that is sound here:

- the imports: module-level code ran once in the fork server, with the environment the fork server
  was started with. The service reads its settings (``KMC_*``) when it builds them at start, never at
  import, which ``tests/test_forkserve.py`` checks by starting one with a setting of its own;
- numpy's OpenBLAS, which runs single-threaded in the fork server and so in every child (forking a
  process with threads is unsafe); the service does no linear algebra;
- Python's hash seed and the ``random`` module's state, reseeded in every child (tokens come from
  ``secrets``, i.e. the kernel, in any case).

Starting the program from nothing stays tested too: ``KMC_TEST_FRESH_SERVE=1`` (or ``fresh=True``
for one test) runs every service as a new interpreter, which the restart tests always do, and the
CLI's own tests run ``kmc-monitor`` as a new process.

The protocol is small: the client sends a JSON request (argv, env, cwd) on a Unix socket with four
descriptors (stdin, stdout and stderr for the child, and one end of a socket pair of its own); the
fork server answers on that pair with the child's pid, and later its wait status.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["ForkedProcess", "fork_server", "fresh_wanted"]

ROOT = Path(__file__).resolve().parents[1]
#: What the fork server imports before it forks anything: what ``serve`` loads on its way up.
PRELOAD = (
    "kmc_monitor.cli",
    "kmc_monitor.cli.dispatch",
    "kmc_monitor.cli.serve",
    "kmc_monitor.service.app",
    "uvicorn",
    "uvicorn.config",
    "uvicorn.server",
    "uvicorn.lifespan.on",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.websockets_impl",
    "uvicorn.protocols.websockets.wsproto_impl",
    "uvicorn.loops.asyncio",
    "uvicorn.loops.uvloop",
)


def fresh_wanted() -> bool:
    """Whether ``KMC_TEST_FRESH_SERVE`` asks for a new interpreter per service."""
    return os.environ.get("KMC_TEST_FRESH_SERVE", "") not in ("", "0")


# The client (in the test process) ---------------------------------------------------------------


class ForkedProcess:
    """A child of the fork server, with the part of :class:`subprocess.Popen`'s interface the
    tests use: ``pid``, ``args``, ``stdout``/``stderr`` (text), ``poll``, ``wait``,
    ``send_signal``, ``kill`` and ``returncode`` (negative for a signal, as Popen)."""

    def __init__(
        self, pid: int, args: list[str], status: socket.socket, stdout: IO[str], stderr: IO[str]
    ) -> None:
        self.pid = pid
        self.args = args
        self.stdout: IO[str] | None = stdout
        self.stderr: IO[str] | None = stderr
        self.returncode: int | None = None
        self._status = status
        self._buf = b""
        self._lock = threading.Lock()

    def _read_status(self, timeout: float | None) -> None:
        with self._lock:
            if self.returncode is not None:
                return
            deadline = None if timeout is None else time.monotonic() + timeout
            while b"\n" not in self._buf:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                self._status.settimeout(left)
                try:
                    chunk = self._status.recv(64)
                except (TimeoutError, BlockingIOError):
                    raise subprocess.TimeoutExpired(self.args, timeout or 0.0) from None
                if not chunk:  # the fork server is gone: so is the child (it kills them on exit)
                    self.returncode = -signal.SIGKILL
                    self._status.close()
                    return
                self._buf += chunk
            self.returncode = os.waitstatus_to_exitcode(int(self._buf.split(b"\n", 1)[0]))
            self._status.close()

    def poll(self) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._read_status(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._read_status(timeout)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The client's end: one fork server per test process, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        fd, name = tempfile.mkstemp(prefix="kmc-forkserve-", suffix=".log")
        os.close(fd)
        self._log = Path(name)

    def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", f"import tests.forkserve as f; f.serve_forever({theirs.fileno()})"],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=ROOT,
                env=env,
            )
        theirs.close()
        self._ctl = ours
        atexit.register(self.close)
        return ours

    def start(self) -> None:
        """Start the fork server now if it is not running (it imports while the caller goes on)."""
        with self._lock:
            if self._ctl is None:
                self._start()

    def spawn(self, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> ForkedProcess:
        """``python -m kmc_monitor.cli ARGV`` in a forked child, its stdout and stderr piped (text)."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        status, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        null = os.open(os.devnull, os.O_RDONLY)
        request = json.dumps({"argv": argv, "env": env, "cwd": str(cwd or Path.cwd())}).encode()
        try:
            with self._lock:
                ctl = self._ctl or self._start()
                message = len(request).to_bytes(4, "big") + request
                socket.send_fds(ctl, [message], [null, out_w, err_w, theirs.fileno()])
        finally:
            for fd in (null, out_w, err_w):
                os.close(fd)
            theirs.close()
        status.settimeout(60.0)
        line = b""
        try:
            while not line.endswith(b"\n"):
                chunk = status.recv(1)
                if not chunk:
                    break
                line += chunk
        except TimeoutError:
            line = b""
        if not line.strip():
            status.close()
            for fd in (out_r, err_r):
                os.close(fd)
            raise RuntimeError(f"the tests' fork server did not start a process: {self.log_tail()}")
        stdout = open(out_r, encoding="utf-8", errors="replace")
        stderr = open(err_r, encoding="utf-8", errors="replace")
        return ForkedProcess(int(line), ["-m", "kmc_monitor.cli", *argv], status, stdout, stderr)

    def log_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-3000:] or "(it wrote nothing)"
        except OSError as exc:
            return f"(its log {self._log} is unreadable: {exc})"

    def close(self) -> None:
        with self._lock:
            if self._ctl is not None:
                self._ctl.close()  # the fork server kills what is left and exits
                self._ctl = None
            if self._proc is not None:
                try:
                    self._proc.wait(timeout=10.0)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                self._proc = None
        with contextlib.suppress(OSError):
            self._log.unlink()


_SERVER: ForkServer | None = None
_SERVER_LOCK = threading.Lock()


def fork_server() -> ForkServer:
    """This test process's fork server (started on first use)."""
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None:
            _SERVER = ForkServer()
        return _SERVER


# The fork server ---------------------------------------------------------------------------------


def _recv_request(ctl: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """One request: a 4-byte length, the JSON, and its four descriptors; None at EOF."""
    msg, fds, _flags, _addr = socket.recv_fds(ctl, 4, 4)
    if not msg:
        return None
    size = int.from_bytes(msg.ljust(4, b"\0")[:4], "big")
    body = msg[4:]
    while len(body) < size:
        chunk = ctl.recv(size - len(body))
        if not chunk:
            return None
        body += chunk
    return json.loads(body), list(fds)


def serve_forever(ctl_fd: int) -> None:
    """The fork server's loop: import, then fork a child per request until the client goes."""
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    ctl = socket.socket(fileno=ctl_fd)
    children: dict[int, socket.socket] = {}
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(ctl, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    try:
        while True:
            for key, _ in sel.select(timeout=1.0):
                if key.fileobj is wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 512)
                    continue
                got = _recv_request(ctl)
                if got is None:
                    return
                request, fds = got
                pid = os.fork()
                if pid == 0:  # the child: never returns
                    for sock in (ctl, *children.values()):
                        sock.close()
                    sel.close()
                    _child(request, fds, (wake_r, wake_w))
                status = socket.socket(fileno=fds[3])
                for fd in fds[:3]:
                    os.close(fd)
                with contextlib.suppress(OSError):
                    status.sendall(f"{pid}\n".encode())
                children[pid] = status
            _reap(children)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while children and time.monotonic() < deadline:
            _reap(children)
            time.sleep(0.05)


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, wstatus = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        status = children.pop(pid, None)
        if status is not None:
            with contextlib.suppress(OSError):
                status.sendall(f"{wstatus}\n".encode())
            status.close()


def _child(request: dict[str, Any], fds: list[int], close: tuple[int, int]) -> None:
    """Become ``python -m kmc_monitor.cli ARGV`` with the request's streams, environment and cwd."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as a fresh CPython: Ctrl-C raises
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as CPython sets it at start
        for fd in close:
            os.close(fd)
        os.close(fds[3])
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
        )
        import random
        import runpy

        random.seed()
        sys.argv = ["-m", *request["argv"]]
        try:
            runpy.run_module("kmc_monitor.cli", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                sys.stderr.write(f"{exc.code}\n")
                code = 1
    except BaseException:  # the child reports, then exits: it must never return to the loop
        import traceback

        with contextlib.suppress(BaseException):
            traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            import logging

            logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)
