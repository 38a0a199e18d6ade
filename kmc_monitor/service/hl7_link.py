"""The connection to the hospital's HL7 interface engine: send the queue in order, watch the link.

:class:`Hl7Link` runs one task on the service's event loop. It keeps one MLLP connection, sends the
oldest queued message (:class:`~kmc_monitor.service.hl7_outbox.Hl7Outbox`), waits for the engine's
acknowledgement, and only then deletes it and sends the next: a backlog goes out in the order it was
made. When the queue is empty it sends the watchdog keep-alive every ``keepalive_s``.

The watchdog is what makes a silent engine visible: an acknowledgement that does not come within
``ack_timeout_s`` (5 s, as IHE PCD's Alert Communication Management asks), a refused or dropped
connection, or an answer that is not an acknowledgement marks the link down. The runtime reads
:meth:`Hl7Link.alarm_due` every tick and raises the ward-level ``hl7_link_failure`` technical alarm
on the ward screen (alarms then reach the nurses only through the ward screen), and ends it at the
next accepted message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from kmc_monitor.service.hl7 import Ack, Hl7Error, Identity, build_watchdog, parse_ack
from kmc_monitor.service.hl7_outbox import Hl7Outbox, Hl7OutboxError
from kmc_monitor.service.mllp import MllpError, MllpUrl, frame, read_frame
from kmc_monitor.signal.params import US

__all__ = ["ACK_TIMEOUT_S", "Hl7Link"]

logger = logging.getLogger(__name__)

#: IHE PCD ACM: the watchdog's acknowledgement is due within 5 s.
ACK_TIMEOUT_S = 5.0
#: Seconds between reconnection attempts while the engine is away.
RETRY_S = 1.0


class Hl7Link:
    """See the module docstring.

    Parameters
    ----------
    url
        The interface engine's MLLP address.
    outbox
        The durable queue the feed writes to and this link empties.
    ident
        The MSH sender and receiver of the watchdog messages.
    keepalive_s
        Seconds of an idle link between watchdog messages.
    ack_timeout_s
        How long an acknowledgement may take before the link counts as down.
    """

    def __init__(
        self,
        url: MllpUrl,
        outbox: Hl7Outbox,
        ident: Identity,
        *,
        keepalive_s: float = 10.0,
        ack_timeout_s: float = ACK_TIMEOUT_S,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.outbox = outbox
        self.ident = ident
        self.keepalive_s = keepalive_s
        self.ack_timeout_s = ack_timeout_s
        self.retry_s = retry_s
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_exchange = -float("inf")
        self._watchdog_n = 0
        #: Monotonic time the link went down (None while it is up), and why, in words.
        self._down_since: float | None = None
        self.down_reason: str | None = None
        #: Messages the engine accepted, refused (kept aside), and watchdog messages acknowledged.
        self.accepted = 0
        self.rejected = 0
        self.watchdogs = 0
        self.failures = 0

    # Lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        # Down until the first acknowledgement: a service whose engine never answers must say so.
        self._down_since = time.monotonic()
        self.down_reason = f"no acknowledgement yet from the HL7 interface engine at {self.url}"
        self._task = asyncio.create_task(self._run(), name="kmc-hl7-link")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    def wake(self) -> None:
        """New messages are queued: send them now rather than at the next keep-alive."""
        self._wake.set()

    # State ----------------------------------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self._down_since is None

    def alarm_due(self) -> bool:
        """Whether the link has been down for a full acknowledgement timeout (the alarm's cue)."""
        return self._down_since is not None and time.monotonic() - self._down_since >= self.ack_timeout_s

    def queue_failed(self, reason: str) -> None:
        """Messages could not be queued (the disk): the hospital is not being told, say so now."""
        self._mark_down(reason, self.ack_timeout_s)

    def _mark_up(self) -> None:
        if self._down_since is not None:
            logger.info("HL7 interface engine at %s acknowledges again", self.url)
        self._down_since = None
        self.down_reason = None

    def _mark_down(self, reason: str, waited_s: float = 0.0) -> None:
        self.failures += 1
        if self._down_since is None:
            logger.warning(
                "HL7 link down: %s; retrying every %g s, messages kept in the queue", reason, self.retry_s
            )
            # A missed acknowledgement has already waited the timeout: the alarm is due now.
            self._down_since = time.monotonic() - waited_s
        self.down_reason = reason

    # The loop -------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                self._mark_down(
                    f"the HL7 interface engine at {self.url} did not acknowledge within "
                    f"{self.ack_timeout_s:g} s",
                    self.ack_timeout_s,
                )
                await self._close()
                await asyncio.sleep(self.retry_s)
            except (OSError, EOFError, asyncio.IncompleteReadError, MllpError, Hl7Error) as exc:
                self._mark_down(f"the HL7 interface engine at {self.url} is unreachable: {_why(exc)}")
                await self._close()
                await asyncio.sleep(self.retry_s)
            except Hl7OutboxError as exc:
                self._mark_down(str(exc))
                await asyncio.sleep(self.retry_s)
            except Exception as exc:  # a bug must not end the link silently: down, said, retried
                logger.exception("HL7 link: unexpected error")
                self._mark_down(f"the HL7 link failed unexpectedly: {_why(exc)}", self.ack_timeout_s)
                await self._close()
                await asyncio.sleep(self.retry_s)

    async def _step(self) -> None:
        if self._writer is None:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.url.host, self.url.port), self.ack_timeout_s
            )
        queued = self.outbox.first()
        if queued is None:
            idle_s = time.monotonic() - self._last_exchange
            if idle_s < self.keepalive_s and self.up:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.keepalive_s - idle_s)
                return
            self._watchdog_n += 1
            control_id = f"W{self._watchdog_n}"
            watchdog = build_watchdog(control_id, self.ident, round(self.clock() * US))
            ack = await self._exchange(watchdog, control_id)
            if not ack.accepted:
                raise Hl7Error(f"the engine answered the watchdog with {ack.code}")
            self.watchdogs += 1
            self._mark_up()
            return
        ack = await self._exchange(queued.message, queued.control_id)
        if ack.accepted:
            self.outbox.delete(queued.seq)
            self.accepted += 1
        else:
            reason = ack.text or "no reason given"
            self.outbox.reject(queued.seq, ack.code, reason)
            self.rejected += 1
            logger.error(
                "the HL7 interface engine refused message %s (%s, %s): kept aside in %s, not resent",
                queued.control_id,
                ack.code,
                reason,
                self.outbox.path,
            )
        self._mark_up()

    async def _exchange(self, message: str, control_id: str) -> Ack:
        """Send one message and wait for the acknowledgement that names it."""
        assert self._reader is not None and self._writer is not None
        self._writer.write(frame(message))
        await self._writer.drain()
        deadline = time.monotonic() + self.ack_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            answer = await asyncio.wait_for(read_frame(self._reader), remaining)
            ack = parse_ack(answer)
            if ack.control_id == control_id:
                self._last_exchange = time.monotonic()
                return ack
            # An acknowledgement of an earlier message (a late one after a retry): not ours, wait on.
            logger.info("HL7 acknowledgement for %s ignored while waiting for %s", ack.control_id, control_id)

    async def _close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _why(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "it closed the connection"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
