"""A real Mosquitto broker on a free loopback port, for the tests that need one.

The broker runs from a configuration written into the test's temporary directory (listener on
127.0.0.1 only, persistence in the same directory) and can be stopped and started again on the same
port, which is how the outage test takes the broker away and back. Plain brokers allow anonymous
clients; a *secured* one (:func:`secured_mosquitto`) is configured as docs/security.md tells a
hospital to: no anonymous access, one password per gateway and for the ward service, and an ACL in
which a gateway may publish only under its own id and only the ward service may subscribe.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
#: The ward service's broker user in a secured broker.
SERVICE_USER = "kmc-ward"
#: The ACL of docs/security.md for site ``ward``: %u is the connected client's username, so a
#: gateway (username = gateway id) can publish only below kmc/ward/<its id>/.
ACL = """# the ward service reads every gateway of its site
user kmc-ward
topic read kmc/ward/#

# each gateway writes only under its own id (its readings, its presence and its Last Will)
pattern write kmc/ward/%u/#
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """One broker process; :meth:`stop` and :meth:`start` keep the port and the persistence."""

    def __init__(self, directory: Path, users: dict[str, str] | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.log = self.dir / "mosquitto.log"
        #: username -> password of a secured broker (None: anonymous access).
        self.users = users
        access = "allow_anonymous true\n"
        if users is not None:
            passwd, acl = self.dir / "passwd", self.dir / "acl"
            passwd.write_text("")
            for user, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwd), user, password], check=True)
            acl.write_text(ACL)
            for f in (passwd, acl):
                f.chmod(0o600)
            access = f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n" + access + "persistence true\n"
            f"persistence_location {self.dir}/\n"
            # A ward's backlog after an outage is more than the default 1000 queued messages.
            "max_queued_messages 100000\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            # Started as root, Mosquitto switches to the user "mosquitto", who cannot write the
            # persistence file here; stay the user who runs the tests.
             + (f"user {getpass.getuser()}\n" if os.geteuid() == 0 else "")
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def url_for(self, user: str) -> str:
        """The broker's URL with ``user``'s credentials (a secured broker)."""
        assert self.users is not None and user in self.users, user
        return f"mqtt://{user}:{self.users[user]}@127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        assert self.proc is None, "already running"
        log = self.log.open("ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"mosquitto exited at start ({self.proc.returncode}): {self.log.read_text()[-2000:]}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"mosquitto did not listen on 127.0.0.1:{self.port} within {timeout_s} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)  # it saves its persistence file on the way out
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A started broker on 127.0.0.1 (stopped after the test)."""
    broker = _broker(tmp_path / "mosquitto")
    try:
        yield broker
    finally:
        broker.stop()


def _broker(directory: Path, users: dict[str, str] | None = None) -> Mosquitto:
    if not Path(MOSQUITTO).exists():
        pytest.fail("Mosquitto is not installed: apt-get install mosquitto (make test installs it as root)")
    broker = Mosquitto(directory, users)
    broker.start()
    return broker


@pytest.fixture(scope="module")
def module_mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A broker shared by one module's tests."""
    broker = _broker(tmp_path_factory.mktemp("mosquitto"))
    try:
        yield broker
    finally:
        broker.stop()


def secured_broker(directory: Path, gateways: list[str]) -> Mosquitto:
    """A started broker with a password per gateway and for the ward service, and the ACL."""
    users = {SERVICE_USER: secrets.token_urlsafe(16)} | {g: secrets.token_urlsafe(16) for g in gateways}
    return _broker(directory, users)
