"""Connection limits uvicorn does not have: a deadline for request headers, a ceiling on sockets.

uvicorn times out a kept-alive connection between requests (``timeout_keep_alive``) but not one
that never finishes sending its headers: 1030 such idle sockets filled a 1024 open-file limit and
locked every screen out (finding 4 of the attack review). :func:`guarded_h11` makes uvicorn's h11
protocol class close a connection that has not sent a complete request head within
``header_timeout_s`` of connecting (or of its last response), and close at once a connection
beyond ``max_connections`` (before it holds anything but the socket). WebSocket connections are
handed over at the upgrade and are bounded by the hub (slow clients are dropped) instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["guarded_h11"]


def guarded_h11(*, header_timeout_s: float, max_connections: int) -> type[H11Protocol]:
    """An :class:`H11Protocol` subclass with these limits (pass it as ``uvicorn.Config(http=...)``)."""
    if not (header_timeout_s > 0 and max_connections >= 1):
        raise ValueError("header_timeout_s must be positive and max_connections at least 1")

    class GuardedH11Protocol(H11Protocol):
        refused_connections = 0
        header_timeouts = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_timer: asyncio.TimerHandle | None = None
            if len(self.connections) > max_connections:
                type(self).refused_connections += 1
                transport.close()
                return
            self._arm()

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout_s, self._header_deadline)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _waiting_for_head(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _header_deadline(self) -> None:
            self._header_timer = None
            if self._waiting_for_head() and not self.transport.is_closing():
                type(self).header_timeouts += 1
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._waiting_for_head():
                self._arm()  # a new request head is coming: it has the deadline to finish
            super().data_received(data)
            if not self._waiting_for_head():
                self._disarm()

        def handle_websocket_upgrade(self, event: Any) -> None:
            self._disarm()
            super().handle_websocket_upgrade(event)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()  # idle until the next request: uvicorn's keep-alive timeout applies

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol
