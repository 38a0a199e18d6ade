"""The home's network link in tests: a TCP relay on loopback that the test can cut and restore.

The pairing code names the station by address, so a test cannot move the station to cut the
home off; it puts this relay between them instead. ``cut()`` closes the listening socket and every
open connection (the home sees refused connections, as with no route); ``restore()`` listens again
on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading

__all__ = ["NetLink"]


class NetLink:
    """Relays 127.0.0.1:``port`` to 127.0.0.1:``target_port`` while up."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(16)
        self.port = lst.getsockname()[1]
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def cut(self) -> None:
        lst, self._listener = self._listener, None
        if lst is not None:
            with contextlib.suppress(OSError):
                lst.shutdown(socket.SHUT_RDWR)
            lst.close()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            done = threading.Barrier(2, action=lambda c=client, u=upstream: self._close(c, u))
            threading.Thread(target=self._pipe, args=(client, upstream, done), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, done), daemon=True).start()

    def _close(self, *socks: socket.socket) -> None:
        with self._lock:
            for s in socks:
                self._open.discard(s)
                s.close()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, done: threading.Barrier) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with contextlib.suppress(threading.BrokenBarrierError):
            done.wait()
