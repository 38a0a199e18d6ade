"""The live streams: ``/ws/ward`` (staff: every tile and alarm of the ward) and
``/ws/bed/{family_token}`` (one family: its bed in plain words).

Both only send. A revoked, renewed or discharged family link closes its open streams at once (the
runtime signals each of them); the token is also re-checked every second as a backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from kmc_monitor.service.auth import Role, StaffAuth
from kmc_monitor.service.hub import Subscriber
from kmc_monitor.service.runtime import WardRuntime

__all__ = ["FAMILY_RECHECK_S", "WS_UNAUTHORIZED", "WS_UNSUPPORTED", "streams_router"]

logger = logging.getLogger(__name__)

#: Close code of a WebSocket refused for want of a valid token.
WS_UNAUTHORIZED = 4401
#: Close code for a client that sends on a send-only stream (RFC 6455 "unsupported data").
WS_UNSUPPORTED = 1003
#: Close codes of the protocol layer (uvicorn's WebSocket implementation) that mean the client
#: sent something broken, by the reason they are counted under.
_PROTOCOL_CLOSES: dict[int, str] = {1002: "protocol", 1007: "invalid_utf8", 1009: "too_big"}
#: A family stream re-checks its token at least this often (seconds).
FAMILY_RECHECK_S = 1.0


def streams_router() -> APIRouter:
    """The ward's and the families' WebSocket streams."""
    router = APIRouter()

    @router.websocket("/ws/ward")
    async def ws_ward(websocket: WebSocket, since: int | None = None) -> None:
        auth: StaffAuth = websocket.app.state.auth
        ident = auth.identity(websocket.headers, websocket.cookies, {})
        await websocket.accept()
        if ident is None or ident.role < Role.SCREEN:
            await websocket.close(WS_UNAUTHORIZED, "a staff token is needed")
            return
        rt: WardRuntime = websocket.app.state.runtime
        sub = rt.ward_channel.subscribe(since)
        await _pump(websocket, sub, None)

    @router.websocket("/ws/bed/{family_token}")
    async def ws_bed(websocket: WebSocket, family_token: str) -> None:
        rt: WardRuntime = websocket.app.state.runtime
        adm = rt.ward.admission_for_family_token(family_token)
        await websocket.accept()
        if adm is None:
            await websocket.close(WS_UNAUTHORIZED, "this link is not valid (any more)")
            return
        admission_id = adm.admission_id

        def still_valid() -> bool:
            now = rt.ward.admission_for_family_token(family_token)
            return now is not None and now.admission_id == admission_id

        ended = rt.open_family_stream(admission_id)
        try:
            # Checked again once registered: a revoke in between must not be missed.
            if not still_valid():
                await websocket.close(WS_UNAUTHORIZED, "this link is not valid any more")
                return
            sub = rt.bed_channel(adm.bed_id).subscribe(None)
            await _pump(websocket, sub, still_valid, ended)
        finally:
            rt.close_family_stream(admission_id, ended)

    return router


async def _pump(
    websocket: WebSocket,
    sub: Subscriber,
    still_valid: Callable[[], bool] | None,
    ended: asyncio.Event | None = None,
) -> None:
    """Send the subscriber's messages until the client leaves or its token stops being valid
    (``ended`` set by the runtime at once, or ``still_valid`` false at the next re-check)."""

    async def receive() -> None:
        """Watch the client: the streams only send, so a client that sends anything is closed
        (1003), and one the protocol layer refused (a frame over the size limit: 1009, text that
        is not UTF-8: 1007, a broken frame: 1002) has gone; each is counted by reason."""
        refused = websocket.app.state.runtime.hub.refused_clients
        while True:
            try:
                message = await websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                reason = _PROTOCOL_CLOSES.get(int(message.get("code") or 1000))
                if reason is not None:
                    refused[reason] += 1
                    logger.warning("a stream client was closed by the protocol layer (%s)", reason)
                return
            if message["type"] != "websocket.receive":
                continue
            reason = "binary" if message.get("bytes") is not None else "text"
            refused[reason] += 1
            logger.warning("a stream client sent a %s message; closing it (these streams only send)", reason)
            with contextlib.suppress(Exception):
                await websocket.close(WS_UNSUPPORTED, "this stream only sends; send nothing")
            return

    async def send() -> None:
        while True:
            text: str | None
            if still_valid is None:
                text = await sub.next()
            else:
                try:
                    text = await asyncio.wait_for(sub.next(), FAMILY_RECHECK_S)
                except TimeoutError:
                    text = None
                if not still_valid():
                    await websocket.close(WS_UNAUTHORIZED, "this link is not valid any more")
                    return
            if text is not None:
                await websocket.send_text(text)

    receiver = asyncio.create_task(receive())
    sender = asyncio.create_task(send())
    tasks: set[asyncio.Task[Any]] = {receiver, sender}
    watcher: asyncio.Task[Any] | None = None
    if ended is not None:
        watcher = asyncio.create_task(ended.wait())
        tasks.add(watcher)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if watcher is not None and watcher in done:
            # The link was revoked: stop sending (even mid-send), then close with the refusal code.
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            with contextlib.suppress(Exception):
                await websocket.close(WS_UNAUTHORIZED, "this link is not valid any more")
    finally:
        sub.close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
