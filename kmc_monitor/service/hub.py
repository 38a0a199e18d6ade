"""WebSocket fan-out: encode each message once, bounded per-client queues, resync on overflow.

A :class:`Channel` is one stream of messages (the ward screen's, or one bed's for its family page).
:meth:`Channel.publish` gives a message the next integer ``seq``, encodes it to JSON text once, keeps
it in a bounded ring buffer and offers the same text to every subscriber's bounded queue without
waiting. A subscriber whose queue is full is not waited for: its queue is emptied and it is marked
for a *resync* — its sender sends a fresh snapshot (which carries the ``seq`` it is current to) and
then carries on with the live messages. Nobody else is delayed: publishing never awaits.

A client that reconnects with ``?since=SEQ`` gets the messages after ``SEQ`` from the ring buffer
when they are all still there, else a fresh snapshot.

The hub knows no FastAPI: the web layer pumps :meth:`Subscriber.next` into a WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["Channel", "Hub", "Subscriber"]

logger = logging.getLogger(__name__)

#: Default per-client queue length: a few minutes of 1 Hz updates plus alarm bursts.
QUEUE_SIZE: Final = 256
#: Default ring buffer length for ``?since=`` resumes.
RING_SIZE: Final = 1024

SnapshotFactory = Callable[[int], Mapping[str, Any]]


def encode(message: Mapping[str, Any]) -> str:
    """The one JSON encoding of a message (compact, no NaN: a NaN is not JSON)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


class Subscriber:
    """One client's bounded queue of encoded messages, with its resync flag."""

    def __init__(self, channel: Channel, queue_size: int) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        #: Set when the client must be sent a fresh snapshot before anything else.
        self.needs_snapshot = False
        #: How many times this client fell behind and was resynced.
        self.resyncs = 0

    def offer(self, text: str) -> None:
        """Queue ``text`` without waiting; a full queue drops this client to a resync."""
        if self.needs_snapshot:
            return  # the coming snapshot covers it
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._drop_to_resync()

    def _drop_to_resync(self) -> None:
        # Counted on the channel too (for /metrics): a subscriber's own count goes when it leaves.
        self.channel.resyncs += 1
        self.channel.dropped += self.queue.qsize() + 1  # the queued texts and the one that did not fit
        while not self.queue.empty():
            self.queue.get_nowait()
        self.needs_snapshot = True
        self.resyncs += 1
        logger.info("a client fell behind on %s; it will be resynced from a snapshot", self.channel.name)

    async def next(self) -> str:
        """The next text to send: a fresh snapshot when resyncing, else the next queued message."""
        if self.needs_snapshot:
            # Synchronous from here to the return: nothing is published in between, so the
            # snapshot's seq is exactly the last message it covers, and the queue is empty.
            self.needs_snapshot = False
            while not self.queue.empty():
                self.queue.get_nowait()
            return self.channel.snapshot_text()
        # A sender waiting here has an empty queue, which cannot overflow: the resync flag is
        # only ever set while the sender is busy elsewhere (stuck sending to a slow client).
        return await self.queue.get()

    def close(self) -> None:
        self.channel.unsubscribe(self)


class Channel:
    """One ordered stream: a ``seq`` counter, a ring buffer and its subscribers."""

    def __init__(
        self,
        name: str,
        snapshot: SnapshotFactory,
        *,
        queue_size: int = QUEUE_SIZE,
        ring_size: int = RING_SIZE,
    ) -> None:
        if queue_size < 1 or ring_size < 1:
            raise ValueError("queue_size and ring_size must be at least 1")
        self.name = name
        self._snapshot = snapshot
        self._queue_size = queue_size
        self._ring: deque[tuple[int, str]] = deque(maxlen=ring_size)
        self._subscribers: set[Subscriber] = set()
        self._snapshot_cache: tuple[int, str] | None = None
        #: The seq of the last message published (0: none yet).
        self.seq = 0
        #: Subscribers dropped to a resync, and the messages their queues lost (metrics).
        self.resyncs = 0
        self.dropped = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, message: Mapping[str, Any]) -> int:
        """Number, encode once, remember and offer to every subscriber; returns the message's seq.

        Never waits: a subscriber that cannot take it is dropped to a resync.
        """
        self.seq += 1
        text = encode({**message, "seq": self.seq})
        self._ring.append((self.seq, text))
        self._snapshot_cache = None
        for sub in tuple(self._subscribers):
            sub.offer(text)
        return self.seq

    def snapshot_text(self) -> str:
        """The current snapshot (``seq`` = last message it covers), encoded once per seq."""
        cached = self._snapshot_cache
        if cached is not None and cached[0] == self.seq:
            return cached[1]
        text = encode({**self._snapshot(self.seq), "seq": self.seq})
        self._snapshot_cache = (self.seq, text)
        return text

    def subscribe(self, since: int | None = None) -> Subscriber:
        """A new subscriber: resumed after ``since`` from the ring buffer when possible, else it
        starts with a fresh snapshot."""
        sub = Subscriber(self, self._queue_size)
        sub.needs_snapshot = True
        if since is not None and self._can_resume(since):
            missed = [text for seq, text in self._ring if seq > since]
            if len(missed) <= self._queue_size:
                sub.needs_snapshot = False
                for text in missed:
                    sub.queue.put_nowait(text)
        self._subscribers.add(sub)
        return sub

    def _can_resume(self, since: int) -> bool:
        if since == self.seq:
            return True
        if since > self.seq or since < 0 or not self._ring:
            return False
        return self._ring[0][0] <= since + 1

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)


class Hub:
    """The service's channels by name, made on first use."""

    def __init__(self, *, queue_size: int = QUEUE_SIZE, ring_size: int = RING_SIZE) -> None:
        self.queue_size = queue_size
        self.ring_size = ring_size
        self._channels: dict[str, Channel] = {}
        #: Client connections closed for what they sent, by reason (``binary``, ``text``,
        #: ``too_big``, ``invalid_utf8``, ``protocol``): the streams only send, so anything a
        #: client sends is a broken or hostile client, counted for the engineer (metrics).
        self.refused_clients: Counter[str] = Counter()

    def channel(self, name: str, snapshot: SnapshotFactory) -> Channel:
        ch = self._channels.get(name)
        if ch is None:
            ch = self._channels[name] = Channel(
                name, snapshot, queue_size=self.queue_size, ring_size=self.ring_size
            )
        return ch

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def channels(self) -> list[Channel]:
        """Every channel made so far (metrics read their subscribers and counters)."""
        return list(self._channels.values())
