"""A room gateway: readings heard near the wraps, published to the hospital's MQTT broker.

Two loops share one :class:`~kmc_monitor.mqtt.buffer.Outbox`:

- **produce** polls the reading source (the Bluetooth gateway, or a simulated ward) every
  ``poll_s`` (50 ms) on the wall clock, checks each reading can be sent (a wrap id a topic can carry,
  values a payload allows; refusals are counted by reason and logged), and appends the batch to the
  outbox in one transaction. It never waits for the network. Why 50 ms: a reading waits in the
  gateway until the next poll, and that wait is part of every reading's way to the ward screen
  (the service polls its source at the same rate for the same reason); 20 small commits a second
  cost a gateway little.
- **publish** connects (MQTT 5), announces the gateway ``online`` as a retained message on
  ``kmc/<site>/<gateway>/status`` with the same topic's retained ``offline`` as its Last Will, and
  sends the outbox in ``seq`` order with QoS 1, deleting rows only once the broker has acknowledged
  them. When the broker is unreachable it retries with a doubling back-off (``backoff_s``), and the
  readings wait on disk.

Why the gateway connects with a clean start rather than a persistent session: a publisher's
session would only hold its unacknowledged QoS 1 messages, and the outbox already holds those, on
disk, across a crash too; a persistent session would add broker state without adding safety.

Ordering: batches are pipelined (up to ``batch`` publishes in flight), which MQTT keeps in order
(MQTT 5.0 §4.6: a server forwards an ordered topic's messages in the order it received them). Only
the acknowledged *prefix* of a batch is deleted, so after a broken connection the rest is sent again
in order; a message the broker had received but not yet acknowledged then arrives twice, and the
ward drops the copy by ``(wrap_id, t)``.

Liveness: the keep-alive is ``keepalive_s`` (10 s), so a broker publishes the Last Will at most
15 s (1.5 × keep-alive, MQTT 5.0 §3.1.2.10) after a gateway lost power or network; after a crashed
process (the socket closes) it does so at once. A clean stop publishes ``offline`` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import aiomqtt

from kmc_monitor.devices.reading import Reading
from kmc_monitor.errors import KmcError
from kmc_monitor.mqtt.broker import BrokerUrl
from kmc_monitor.mqtt.buffer import Outbox, OutboxError
from kmc_monitor.mqtt.payload import PayloadError, encode_reading, encode_status
from kmc_monitor.mqtt.topics import TopicError, check_id, reading_topic, status_topic
from kmc_monitor.sources import ReadingSource, WrapIdentity, simulated_source

__all__ = ["GatewayPublisher", "PrefixedSource", "simulated_ward"]

logger = logging.getLogger(__name__)

#: How often a long outage is mentioned again in the log.
_REMIND_S = 60.0


class PrefixedSource(ReadingSource):
    """A producer whose wrap ids carry a prefix (``R1-`` + ``W01``): two simulated rooms then send
    different wraps, as two real rooms would."""

    def __init__(self, inner: ReadingSource, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def wraps(self) -> list[WrapIdentity]:
        return [(self.prefix + w, mac, key) for w, mac, key in self.inner.wraps()]

    def readings_until(self, t_s: float) -> list[Reading]:
        return [
            Reading(
                r.t,
                self.prefix + r.wrap_id,
                r.skin_temp_c,
                r.ambient_temp_c,
                r.contact,
                r.battery_pct,
                r.rssi_dbm,
                r.counter,
                r.sealed,
            )
            for r in self.inner.readings_until(t_s)
        ]

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()


def simulated_ward(
    n_wraps: int,
    *,
    start_s: float,
    seed: int = 0,
    measure_s: float | None = None,
    prefix: str | None = None,
) -> ReadingSource:
    """A room of ``n_wraps`` simulated wraps starting at ``start_s`` (``--simulate``), their ids
    behind ``prefix``.

    The wraps' measurement counters continue from the wall clock (``2 * start_s`` on top of the
    seeded start) instead of the seed alone: a real wrap's counter lives in its flash and keeps
    rising across a gateway restart, and the ward drops a reading whose ``(wrap, counter)`` it has
    just seen as a copy. A simulated room restarted with the same seed would otherwise send its
    first measurements again under counters the ward still remembers. A wrap measures at most
    twice a second (``simulate_measure_s >= 0.5``), so two counts per second of start time stay
    ahead of any count it reached before.
    """
    source = simulated_source(n_wraps, start_s=start_s, seed=seed, measure_s=measure_s, sealed=True)
    base = 2 * int(start_s)
    for w in source.sim.wraps:
        w.counter = (w.counter + base) & 0xFFFFFFFF
    return PrefixedSource(source, prefix) if prefix else source


class GatewayPublisher:
    """One room gateway: see the module docstring.

    Parameters
    ----------
    source
        Where readings come from (polled with the wall-clock time).
    outbox
        The on-disk queue (owned by the caller, who closes it).
    broker
        The broker's address and credentials.
    site, gateway_id
        Topic ids: the ward (site) and this gateway, unique on the site.
    clock
        Wall-clock seconds since the epoch (what the source is polled with).
    on_produced
        Called with every batch of readings appended to the outbox (a recording, a test).
    drain_s
        After :meth:`stop`, how long :meth:`run` keeps publishing what the outbox holds before it
        gives up (what is left stays on disk for the next start).
    """

    def __init__(
        self,
        source: ReadingSource,
        outbox: Outbox,
        broker: BrokerUrl,
        *,
        site: str,
        gateway_id: str,
        clock: Callable[[], float] = time.time,
        poll_s: float = 0.05,
        batch: int = 100,
        keepalive_s: int = 10,
        backoff_s: tuple[float, float] = (1.0, 10.0),
        status_every_s: float = 30.0,
        on_produced: Callable[[list[Reading]], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        drain_s: float = 5.0,
    ) -> None:
        if not (poll_s > 0 and batch >= 1 and keepalive_s >= 1 and 0 < backoff_s[0] <= backoff_s[1]):
            raise ValueError("poll_s, batch, keepalive_s must be positive and backoff_s (first, largest)")
        self.source = source
        self.outbox = outbox
        self.broker = broker
        self.site = check_id("site", site)
        self.gateway_id = check_id("gateway", gateway_id)
        self.status_topic = status_topic(site, gateway_id)
        self._clock = clock
        self._poll_s = poll_s
        self._batch = batch
        self._keepalive_s = keepalive_s
        self._backoff_s = backoff_s
        self._status_every_s = status_every_s
        self._on_produced = on_produced
        self._sleep = sleep
        self._drain_s = drain_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        #: Set by :meth:`run` once the last poll after a stop is in the outbox: only then may the
        #: session send ``offline`` and end (a stop could otherwise leave that poll on disk).
        self._finishing = asyncio.Event()
        self._unsaved: list[Reading] = []
        self._refused_wraps: set[str] = set()
        #: Readings refused before they reached the outbox, by reason.
        self.rejected: Counter[str] = Counter()
        self.produced = 0
        self.published = 0
        self.connected = False

    @property
    def client_id(self) -> str:
        return f"kmc-gw-{self.site}-{self.gateway_id}"

    # Lifecycle ------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Start the source and both loops; returns after :meth:`stop` (``offline`` published when
        the broker is reachable) or raises what the source's ``start`` raised."""
        await self.source.start()
        producer = asyncio.create_task(self._produce_loop(), name="kmc-gw-produce")
        publisher = asyncio.create_task(self._publish_loop(), name="kmc-gw-publish")
        try:
            await self._stopping.wait()
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
            self._produce_once()  # what was heard up to the stop is kept, and sent
            self._finishing.set()
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(publisher), timeout=self._drain_s)
            except TimeoutError:
                pass
        finally:
            for task in (producer, publisher):
                task.cancel()
            for task in (producer, publisher):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self.source.stop()

    def stop(self) -> None:
        """Ask :meth:`run` to finish (safe from a signal handler)."""
        self._stopping.set()
        self._wake.set()

    # Producing ------------------------------------------------------------------------------------
    async def _produce_loop(self) -> None:
        while True:
            try:
                self._produce_once()
            except Exception:  # a faulty source must not stop the gateway for good
                logger.exception("reading the source failed")
            await self._sleep(self._poll_s)

    def _produce_once(self) -> int:
        """Move what the source heard up to now into the outbox; how many readings."""
        fresh = self._checked(self.source.readings_until(self._clock()))
        pending = self._unsaved + fresh
        if not pending:
            return 0
        try:
            self.outbox.append(pending)
        except OutboxError as exc:
            # Kept in memory (bounded like the outbox) and retried at the next poll.
            self._unsaved = pending[-self.outbox.max_rows :]
            logger.error("%s; %d reading(s) held in memory until it works again", exc, len(self._unsaved))
            return 0
        self._unsaved = []
        self.produced += len(pending)
        if self._on_produced is not None:
            self._on_produced(pending)
        self._wake.set()
        return len(pending)

    def _checked(self, readings: list[Reading]) -> list[Reading]:
        """The readings a payload can carry; the others are counted and logged (once per wrap id)."""
        out: list[Reading] = []
        for r in readings:
            try:
                encode_reading(self.gateway_id, 1, r)
            except (PayloadError, TopicError) as exc:
                self.rejected[exc.reason.value] += 1
                if r.wrap_id not in self._refused_wraps:
                    self._refused_wraps.add(r.wrap_id)
                    logger.warning(
                        "reading of wrap %r not sent: %s (counted; said once per wrap)", r.wrap_id, exc
                    )
                continue
            out.append(r)
        return out

    # Publishing -----------------------------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(self.status_topic, encode_status(self.gateway_id, "offline"), qos=1, retain=True)
        return aiomqtt.Client(
            **self.broker.client_kwargs(),
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=True,
            will=will,
            keepalive=self._keepalive_s,
            timeout=10.0,
        )

    async def _publish_loop(self) -> None:
        delay = self._backoff_s[0]
        failing_since: float | None = None
        last_said = -float("inf")
        while not self._stopping.is_set():
            try:
                async with self._client() as client:
                    client.pending_calls_threshold = self._batch + 10
                    self.connected = True
                    if failing_since is not None:
                        logger.info(
                            "broker %s reachable again after %.0f s: sending %d buffered reading(s)",
                            self.broker,
                            self._clock() - failing_since,
                            len(self.outbox),
                        )
                    else:
                        logger.info("connected to broker %s as %s", self.broker, self.client_id)
                    failing_since, delay = None, self._backoff_s[0]
                    await self._session(client)
                    return
            except (aiomqtt.MqttError, KmcError, OSError) as exc:
                now = self._clock()
                if failing_since is None:
                    failing_since = now
                    last_said = -float("inf")
                if now - last_said >= _REMIND_S:
                    last_said = now
                    logger.warning(
                        "broker %s unreachable (%s): %d reading(s) kept on disk, retrying",
                        self.broker,
                        exc,
                        len(self.outbox),
                    )
            except Exception:  # a bug in one connection must not end the gateway's publishing
                logger.exception("publishing to broker %s failed; reconnecting", self.broker)
            finally:
                self.connected = False
            # Jitter: gateways that lost the broker together do not all come back in one instant.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay * random.uniform(0.8, 1.0))
            delay = min(delay * 2, self._backoff_s[1])

    async def _session(self, client: aiomqtt.Client) -> None:
        """One connection: announce, send the outbox as it fills, say ``offline`` on a clean stop."""
        await self._publish_status(client)
        last_status = self._clock()

        async def watch() -> None:
            # A publisher receives nothing; iterating ends with MqttError when the link drops,
            # which is how an idle gateway notices a lost broker before its next reading.
            async for _ in client.messages:
                pass

        watcher = asyncio.create_task(watch(), name="kmc-gw-link")
        try:
            while True:
                if watcher.done():
                    watcher.result()
                    raise aiomqtt.MqttError("disconnected")
                sent = await self._send_batch(client)
                if self._clock() - last_status >= self._status_every_s:
                    await self._publish_status(client)
                    last_status = self._clock()
                if self._finishing.is_set() and (not sent or not len(self.outbox)):
                    await client.publish(
                        self.status_topic,
                        encode_status(self.gateway_id, "offline", t=self._clock()),
                        qos=1,
                        retain=True,
                    )
                    logger.info(
                        "gateway %s offline (stopped); %d reading(s) left on disk",
                        self.gateway_id,
                        len(self.outbox),
                    )
                    return
                if not sent:
                    self._wake.clear()
                    wait = asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait(
                        {wait, watcher}, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED
                    )
                    wait.cancel()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await watcher

    async def _send_batch(self, client: aiomqtt.Client) -> int:
        """Publish the oldest ``batch`` readings; delete the acknowledged prefix. Raises the first
        failure (the caller reconnects)."""
        rows = self.outbox.peek(self._batch)
        if not rows:
            return 0
        results = await asyncio.gather(
            *(
                client.publish(
                    reading_topic(self.site, self.gateway_id, r.wrap_id),
                    encode_reading(self.gateway_id, seq, r),
                    qos=1,
                )
                for seq, r in rows
            ),
            return_exceptions=True,
        )
        acked = 0
        for (seq, _), result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                break
            acked = seq
            self.published += 1
        if acked:
            self.outbox.ack(acked)
        failure = next((x for x in results if isinstance(x, BaseException)), None)
        if failure is not None:
            if isinstance(failure, aiomqtt.MqttError):
                raise failure
            raise KmcError(f"publishing failed: {failure}") from failure
        return len(rows)

    async def _publish_status(self, client: aiomqtt.Client) -> None:
        wraps: list[str] = []
        for w, _mac, _key in self.source.wraps():
            try:
                wraps.append(check_id("wrap", w))
            except TopicError:
                continue
        payload = encode_status(
            self.gateway_id,
            "online",
            t=self._clock(),
            wraps=wraps[:200],
            buffered=len(self.outbox),
            dropped=self.outbox.dropped,
        )
        await client.publish(self.status_topic, payload, qos=1, retain=True)
