"""The ward service's MQTT source: every room gateway's readings, from the hospital's broker.

:class:`MqttSource` is a :class:`~kmc_monitor.sources.ReadingSource` like the simulator or the
Bluetooth gateway: the runtime polls :meth:`MqttSource.readings_until`, and nothing after it knows
the readings crossed a network. What it does on the way in:

- **Subscriptions.** ``kmc/<site>/+/wrap/+/reading`` with QoS 1, and ``kmc/<site>/+/status``.
  With a ``share_group`` the readings are subscribed as a *shared subscription*
  (``$share/<group>/...``, MQTT 5.0 §4.8.2) where the broker offers them; the status filter stays
  plain, as retained messages are not sent for shared subscriptions (§4.8.2) and every instance
  needs every gateway's presence anyway. Whether shared subscriptions are offered is learnt from
  the SUBACK: reason code 0x9E ("Shared Subscriptions not supported", §3.9.3) makes the source
  fall back to a plain subscription (aiomqtt does not expose the CONNACK's
  ``SharedSubscriptionAvailable`` property, which would say it one packet earlier).

  Why plain is the default (``share_group=None``): Mosquitto 2.0 does not restore a persistent
  session's *shared* subscriptions after a broker restart (measured with 2.0.11: a plain
  subscription's readings published while the service was still reconnecting were queued and
  delivered, a shared one's were lost). And a share group spreads messages *across* its members,
  which a ward service, whose rules need every reading of a wrap, cannot use with more than one
  active member. Use a group only with a broker that keeps shared subscriptions in its sessions.
- **A persistent session**: a fixed client id, Clean Start 0 and a Session Expiry Interval, so
  while the service restarts the broker keeps its subscriptions and queues its QoS 1 readings
  (up to the broker's own limit: Mosquitto's ``max_queued_messages``, 1000 by default, must be
  raised for a ward; see the README).
- **Validation.** Every message is checked (:mod:`kmc_monitor.mqtt.topics`,
  :mod:`kmc_monitor.mqtt.payload`): a malformed payload or a forged topic is refused, counted by
  reason and logged (at most once a minute per reason), never handed on. A reading stamped more
  than ``max_future_s`` ahead of the service's clock is refused as ``future`` (a gateway with a
  wrong clock would otherwise hold its readings back for ever).
- **The wrap's seal.** Every reading is checked by :class:`~kmc_monitor.mqtt.sealed.SealedReadings`:
  the sealed packet the gateway forwarded must authenticate with the wrap's key and carry a new
  counter, and the values handed on are the packet's; a reading without one is refused
  (``unsealed``) unless ``allow_unsealed`` (a lab setting); with ``gateways`` only those gateways
  are heard (readings and presence). Refusals are counted by reason like malformed payloads.
- **Duplicates.** A reading that carries the wrap's measurement id (``counter``, payload version 2)
  is a copy when its ``(wrap_id, counter)`` was seen among the wrap's last :data:`_RECENT`
  measurements: two gateways hearing one advertisement stamp different receive times, so only the
  counter tells their copies apart. The first copy is handed on, with its ``t``; later ones are
  dropped and counted. A reading without one (version 1, a plaintext wrap) is a copy when its
  ``(wrap_id, t)`` was seen (QoS 1 redelivery, a gateway resending after a broken link). Copies
  older than the window cannot reach the ward either: by then the engine has fed a later reading of
  the wrap and drops them as ``late``.
- **Order.** ``reorder_s`` is 0: readings go to the engine at the next poll. One gateway's readings
  of a wrap arrive in order (one topic, QoS 1: MQTT 5.0 §4.6), and with copies dropped by counter
  what is left out of order (a measurement only a slower gateway heard, delivered after a later one)
  is rare and costs one sample, counted by the engine as ``late``; a hold would delay every reading
  on every screen, and every alarm, by as much (docs/rules.md, "The live engine").
- **Presence.** Each gateway's retained ``status``. When a gateway goes ``offline`` (its Last
  Will, or a clean stop), the wraps it delivered and no other online gateway delivered in the last
  :data:`_ALSO_HEARD_S` are handed to the ward by :meth:`MqttSource.silenced`: their tiles show "no
  data" at once instead of an old reassuring value; the ``no_data`` alarm keeps the rules' clock
  (``stale_after_s`` after the last reading). The source never fakes readings.

The broker being unreachable never stops the service: the source retries with a doubling back-off
(at most ``backoff_s[1]``), says so in the log, and the screens show the wraps as "no data" until
readings flow again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kmc_monitor.devices.protocol.verify import WrapEntry, WrapRegistry
from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.broker import BrokerUrl
from kmc_monitor.mqtt.payload import PayloadError, PayloadReason, StatusMessage, decode_reading, decode_status
from kmc_monitor.mqtt.sealed import SealedReadings, SealReason
from kmc_monitor.mqtt.topics import (
    ReadingTopic,
    TopicError,
    check_id,
    parse_topic,
    reading_filter,
    shared,
    status_filter,
)
from kmc_monitor.sources import ReadingSource, WrapIdentity

__all__ = ["GatewayPresence", "MqttSource", "MqttStats"]

logger = logging.getLogger(__name__)

#: Reason code 0x9E, "Shared Subscriptions not supported" (MQTT 5.0 §3.9.3).
_SHARED_NOT_SUPPORTED = 0x9E
#: Measurements remembered per wrap for duplicate detection (by counter, or by time without one):
#: a copy from another gateway arrives within seconds; 256 is minutes of measurements at 1 Hz.
_RECENT = 256
#: A wrap another online gateway delivered this recently is still heard when one goes offline.
_ALSO_HEARD_S = 10.0
_LOG_EVERY_S = 60.0


@dataclass(slots=True)
class GatewayPresence:
    """What the ward knows of one gateway: its last announced state and the wraps it delivered."""

    gateway: str
    online: bool
    since_s: float
    wraps: set[str] = field(default_factory=set)
    last_seq: int | None = None


@dataclass(frozen=True, slots=True)
class MqttStats:
    """Counters for an engineer: messages by outcome, refusals by reason, gaps in gateways' ``seq``."""

    connected: bool
    shared_subscription: bool | None
    received: int
    readings: int
    duplicates: int
    rejected: dict[str, int]
    seq_gaps: int
    dropped_pending: int
    gateways: dict[str, bool]


class MqttSource(ReadingSource):
    """Readings of every gateway on ``site`` from the broker: see the module docstring.

    Parameters
    ----------
    broker
        The broker's address and credentials.
    site
        The ward's site id in the topics.
    client_id
        The service's fixed MQTT client id (its persistent session).
    share_group
        Shared-subscription group for the readings, or None for a plain subscription.
    session_expiry_s
        How long the broker keeps the session (subscriptions, queued readings) while disconnected.
    clock
        Seconds since the epoch: the time readings are judged against (``max_future_s``).
    max_pending
        Readings waiting for :meth:`readings_until` at most; beyond it the oldest are dropped
        (counted). Only a gateway clock far ahead can fill it.
    gateways
        The gateway ids registered for the ward (None: every gateway the broker lets publish).
    allow_unsealed
        The lab setting: accept plain readings without the wrap's sealed packet.
    """

    #: A real ward: beds start empty; heard wraps appear as unassigned until staff assign them.
    demo = False
    #: No hold: see "Order" in the module docstring.
    reorder_s = 0.0
    #: Readings are verified with the ward's registry (:meth:`set_registry`), handed over at start.
    verifies_with_registry = True

    def __init__(
        self,
        broker: BrokerUrl,
        *,
        site: str = "ward",
        client_id: str = "kmc-ward",
        share_group: str | None = None,
        session_expiry_s: int = 86_400,
        clock: Callable[[], float] = time.time,
        max_future_s: float = 300.0,
        max_pending: int = 200_000,
        keepalive_s: int = 30,
        backoff_s: tuple[float, float] = (1.0, 10.0),
        gateways: tuple[str, ...] | None = None,
        allow_unsealed: bool = False,
    ) -> None:
        self.broker = broker
        self.sealed = SealedReadings(
            gateways=None if gateways is None else tuple(check_id("gateway", g) for g in gateways),
            allow_unsealed=allow_unsealed,
        )
        self.site = check_id("site", site)
        if not client_id or len(client_id) > 64:
            raise ValueError("client_id must be 1 to 64 characters")
        self.client_id = client_id
        self.share_group = None if share_group is None else check_id("share group", share_group)
        self._expiry_s = session_expiry_s
        self._clock = clock
        self._max_future_s = max_future_s
        self._max_pending = max_pending
        self._keepalive_s = keepalive_s
        self._backoff_s = backoff_s
        self._pending: list[Reading] = []
        self._recent: dict[str, tuple[deque[float], set[float]]] = {}
        self._gateway_of: dict[str, str] = {}
        #: wrap -> gateway -> when (this source's clock) it last delivered a message of the wrap.
        self._heard: dict[str, dict[str, float]] = {}
        self._silenced: list[str] = []
        self.gateways: dict[str, GatewayPresence] = {}
        self._shared: bool | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._last_log: dict[str, float] = {}
        self.rejected: Counter[str] = Counter()
        self.received = 0
        self.readings = 0
        self.duplicates = 0
        self.seq_gaps = 0
        self.dropped_pending = 0

    # Source ---------------------------------------------------------------------------------------
    def wraps(self) -> list[WrapIdentity]:
        """None known in advance: wraps appear as they are heard (then staff register them)."""
        return []

    def readings_until(self, t_s: float) -> list[Reading]:
        """Readings received and stamped up to ``t_s`` (later-stamped ones wait)."""
        if not self._pending:
            return []
        if all(r.t <= t_s for r in self._pending):
            out, self._pending = self._pending, []
            return out
        out = [r for r in self._pending if r.t <= t_s]
        self._pending = [r for r in self._pending if r.t > t_s]
        return out

    def silenced(self) -> list[str]:
        """The wraps that lost their gateway (it went offline) since the last call, for the
        runtime to show as "no data" at once (:meth:`LiveEngine.mark_silent`)."""
        out, self._silenced = self._silenced, []
        return sorted(set(out))

    def set_registry(
        self, registry: WrapRegistry | list[WrapEntry], *, last_counters: dict[str, int] | None = None
    ) -> None:
        """The ward's registered wraps (and their stored counters): what readings are verified with.
        The runtime calls it at start and whenever staff register, re-key or reset a wrap."""
        self.sealed.set_registry(registry, last_counters=last_counters)

    def reset_counter(self, wrap_id: str) -> None:
        """Accept the wrap's restarted counter (an audited admin action: the runtime's)."""
        self.sealed.reset_counter(wrap_id)
        self._recent.pop(wrap_id, None)

    def gateway_of(self, wrap_id: str) -> str | None:
        """The gateway that last delivered the wrap's readings."""
        return self._gateway_of.get(wrap_id)

    def stats(self) -> MqttStats:
        return MqttStats(
            self._connected,
            self._shared,
            self.received,
            self.readings,
            self.duplicates,
            dict(self.rejected),
            self.seq_gaps,
            self.dropped_pending,
            {g: p.online for g, p in sorted(self.gateways.items())},
        )

    # Messages -------------------------------------------------------------------------------------
    def handle(self, topic: str, payload: object, *, retained: bool = False) -> Reading | None:
        """Take one received message; the reading it carried if it was a new one.

        Never raises for bad input: a refusal is counted in :attr:`rejected` by reason and logged.
        """
        self.received += 1
        now = self._clock()
        try:
            where = parse_topic(topic, self.site)
            data = payload if isinstance(payload, bytes | bytearray) else b"" if payload is None else None
            if data is None:
                raise PayloadError("payload is not bytes", PayloadReason.NOT_JSON)
            if isinstance(where, ReadingTopic):
                msg = decode_reading(bytes(data), where)
            else:
                self._on_status(decode_status(bytes(data), where), now, retained)
                return None
        except (TopicError, PayloadError) as exc:
            self._reject(exc.reason.value, f"message on {topic[:120]!r} refused: {exc}")
            return None
        except Exception:  # a bug here must cost one message, never the ward's source
            self.rejected["internal"] += 1
            logger.exception("message on %r could not be handled", topic[:120])
            return None
        r = msg.reading
        if r.t > now + self._max_future_s:
            self._reject(
                "future",
                f"reading of wrap {r.wrap_id} from gateway {msg.gateway} is stamped {r.t - now:.0f} s "
                "ahead of this service's clock: check the gateway's clock (NTP)",
            )
            return None
        checked = self.sealed.check(msg.gateway, r)
        if checked.refused is not None:
            self._reject(checked.refused, f"reading refused ({checked.refused}): {checked.detail}")
            return None
        self._track(msg.gateway, msg.seq, r.wrap_id, now)
        if checked.duplicate or checked.reading is None:
            self.duplicates += 1
            return None
        r = checked.reading
        if self._seen(r):
            self.duplicates += 1
            return None
        self.readings += 1
        self._pending.append(r)
        if len(self._pending) > self._max_pending:
            excess = len(self._pending) - self._max_pending
            del self._pending[:excess]
            self.dropped_pending += excess
        return r

    def _seen(self, r: Reading) -> bool:
        """Whether the reading is a copy of one of the wrap's recent measurements (see
        "Duplicates"); remembers it if not. A counter (>= 0) and a time (kept as -t, < 0) never
        collide in the one window."""
        key = float(r.counter) if r.counter is not None else -r.t
        order, keys = self._recent.setdefault(r.wrap_id, (deque(), set()))
        if key in keys:
            return True
        order.append(key)
        keys.add(key)
        if len(order) > _RECENT:
            keys.discard(order.popleft())
        return False

    def _track(self, gateway: str, seq: int, wrap_id: str, now: float) -> None:
        p = self.gateways.get(gateway)
        if p is None:
            p = self.gateways[gateway] = GatewayPresence(gateway, True, now)
        p.wraps.add(wrap_id)
        self._gateway_of[wrap_id] = gateway
        self._heard.setdefault(wrap_id, {})[gateway] = now
        if p.last_seq is not None and seq > p.last_seq + 1:
            # Readings the gateway numbered but nobody here received: its outbox overflowed, the
            # broker dropped a queue, or another member of the share group took them.
            self.seq_gaps += seq - p.last_seq - 1
        if p.last_seq is None or seq > p.last_seq:
            p.last_seq = seq

    def _on_status(self, status: StatusMessage, now: float, retained: bool) -> None:
        allowed = self.sealed.gateways
        if allowed is not None and status.gateway not in allowed:
            self._reject(
                SealReason.UNKNOWN_GATEWAY.value,
                f"presence of gateway {status.gateway!r} ignored: not registered for this ward "
                "(mqtt_gateways)",
            )
            return
        online = status.state == "online"
        p = self.gateways.get(status.gateway)
        if p is None:
            p = self.gateways[status.gateway] = GatewayPresence(status.gateway, online, now)
        changed = p.online != online
        p.online = online
        p.wraps.update(status.wraps)
        if changed:
            p.since_s = now
        if online:
            if changed:
                logger.info("gateway %s online", status.gateway)
            return
        mine = sorted(w for w, g in self._gateway_of.items() if g == status.gateway)
        if changed or not retained:
            lost = self._lost_with(status.gateway, now)
            self._silenced += lost
            logger.log(
                logging.INFO if retained else logging.WARNING,
                "gateway %s is offline%s: its wraps (%s) show no data now; their no_data alarm "
                "follows the ward's stale_after_s",
                status.gateway,
                " (its Last Will)" if status.t is None else "",
                ", ".join(lost or mine) or "none heard yet",
            )

    def _lost_with(self, gateway: str, now: float) -> list[str]:
        """The wraps ``gateway`` delivered that no other online gateway delivered lately: going
        offline, it leaves them unheard. A wrap two rooms hear keeps its data."""
        lost: list[str] = []
        for wrap_id, by in self._heard.items():
            if gateway not in by:
                continue
            others = (
                g
                for g, t in by.items()
                if g != gateway and now - t <= _ALSO_HEARD_S and self.gateways[g].online
            )
            if next(others, None) is None:
                lost.append(wrap_id)
        return sorted(lost)

    def _reject(self, reason: str, message: str) -> None:
        self.rejected[reason] += 1
        now = time.monotonic()
        if now - self._last_log.get(reason, -math.inf) >= _LOG_EVERY_S:
            self._last_log[reason] = now
            logger.warning(
                "%s (%d refused for %s so far; said at most once a minute)",
                message,
                self.rejected[reason],
                reason,
            )

    # Connection -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start receiving in the background; returns at once, reachable broker or not."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="kmc-mqtt-source")

    async def stop(self) -> None:
        """Disconnect (the session and its subscriptions stay on the broker until they expire)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _client(self) -> aiomqtt.Client:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._expiry_s
        return aiomqtt.Client(
            **self.broker.client_kwargs(),
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=props,
            keepalive=self._keepalive_s,
            timeout=10.0,
        )

    async def _run(self) -> None:
        delay = self._backoff_s[0]
        failing_since: float | None = None
        last_said = -math.inf
        while True:
            try:
                async with self._client() as client:
                    await self._subscribe(client)
                    self._connected = True
                    if failing_since is not None:
                        logger.info(
                            "broker %s reachable again after %.0f s",
                            self.broker,
                            time.monotonic() - failing_since,
                        )
                    else:
                        logger.info("subscribed to site %s on broker %s", self.site, self.broker)
                    failing_since, delay = None, self._backoff_s[0]
                    async for message in client.messages:
                        self.handle(message.topic.value, message.payload, retained=bool(message.retain))
            except aiomqtt.MqttError as exc:
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    last_said = -math.inf
                if now - last_said >= _LOG_EVERY_S:
                    last_said = now
                    logger.warning(
                        "broker %s unreachable (%s): the ward shows its wraps as no data until it is back; "
                        "retrying",
                        self.broker,
                        exc,
                    )
            except Exception:  # never let the ward lose its source for good
                logger.exception("the MQTT source failed; reconnecting")
            finally:
                self._connected = False
            await asyncio.sleep(delay * random.uniform(0.8, 1.0))
            delay = min(delay * 2, self._backoff_s[1])

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        readings = reading_filter(self.site)
        if self.share_group is not None and self._shared is not False:
            codes = await client.subscribe(shared(self.share_group, readings), qos=1)
            code = _code(codes)
            if code == _SHARED_NOT_SUPPORTED:
                self._shared = False
                logger.info("broker %s offers no shared subscriptions: subscribing plainly", self.broker)
            elif code >= 0x80:
                raise aiomqtt.MqttError(f"subscription to {readings} refused (reason code {code:#04x})")
            else:
                self._shared = True
        if self._shared is not True:
            code = _code(await client.subscribe(readings, qos=1))
            if code >= 0x80:
                raise aiomqtt.MqttError(f"subscription to {readings} refused (reason code {code:#04x})")
        code = _code(await client.subscribe(status_filter(self.site), qos=1))
        if code >= 0x80:
            raise aiomqtt.MqttError(
                f"subscription to {status_filter(self.site)} refused (reason code {code:#04x})"
            )


def _code(codes: object) -> int:
    """The first reason code of a SUBACK (MQTT 5 ``ReasonCode`` or 3.1.1 granted QoS int)."""
    first = next(iter(codes), 0) if isinstance(codes, list | tuple) else 0
    return int(getattr(first, "value", first))
