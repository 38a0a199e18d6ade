"""Replaying recorded traces into a running ward: over HTTP to the ward service, or over MQTT as a
room gateway would publish them.

``serve --replay`` runs a ward *on* a trace; this sends a trace *into* a ward that is already
running (a staging service, a demo, a broker shared with real gateways), so the whole path a reading
takes in production is exercised. Readings go out in time order at ``speed`` times the recorded
pace: the schedule is the trace's own timing scaled, and everything due at a moment goes as one
batch (an HTTP request, or pipelined QoS 1 publishes), so a high speed sends as fast as the other
side acknowledges rather than piling up.

Readings keep their recorded times unless ``retime`` shifts the whole trace to start now, which is
what a ward running in real time needs to judge them as current.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.trace import TraceChunks, TraceSet
from kmc_monitor.errors import KmcError
from kmc_monitor.signal.params import US, RuleParams

__all__ = [
    "HttpSender",
    "MqttSender",
    "ReplayError",
    "ReplayRefused",
    "ReplayUnreachable",
    "ReplaySummary",
    "Sender",
    "TraceReplay",
    "replay",
    "trace_readings",
]

#: Readings per HTTP request (the service accepts up to 1000).
HTTP_BATCH = 500
#: QoS 1 publishes in flight at once.
MQTT_BATCH = 200


class ReplayError(KmcError):
    """The replay cannot go on."""


class ReplayRefused(ReplayError):
    """The other side refused what was sent (a bad token, readings it does not accept): bad input."""


class ReplayUnreachable(ReplayError):
    """The ward service or broker cannot be reached."""


def trace_readings(traces: TraceSet, *, shift_s: float = 0.0) -> list[Reading]:
    """Every reading of the traces in time order (wraps interleaved as they were recorded)."""
    series = [s for s in traces.series if len(s)]
    if not series:
        return []
    t_us = np.concatenate([s.t_us for s in series])
    order = np.argsort(t_us, kind="stable")
    wrap = np.repeat(np.arange(len(series)), [len(s) for s in series])[order]
    names = [s.wrap_id for s in series]

    def col(name: str, scale: float) -> list[float | None]:
        values = np.concatenate([getattr(s, name) for s in series])[order] / scale
        return [None if v != v else v for v in values.tolist()]  # NaN (missing) becomes None

    t = ((t_us[order] / US) + shift_s).tolist()
    skin, amb = col("skin_mc", 1000.0), col("ambient_mc", 1000.0)
    contact, batt = col("contact", 1.0), col("battery_pct", 1.0)
    return [
        Reading(t[i], names[w], skin[i], amb[i], contact[i], batt[i]) for i, w in enumerate(wrap.tolist())
    ]


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What a replay will send, known before it starts: the counts its first line reports."""

    readings: int
    wrap_ids: tuple[str, ...]  # wraps with at least one reading, sorted
    first_t: float | None  # the first and last reading's recorded time, s since the epoch
    last_t: float | None
    invalid_readings: int  # as ``TraceSet.invalid_readings``


class TraceReplay:
    """Trace files read for a replay in time-ordered chunks, so that memory stays flat whatever
    the trace's size (``trace_readings`` of a whole :class:`TraceSet` holds every reading at once).

    The readings, their order and the counts are exactly those of ``read_traces`` followed by
    :func:`trace_readings`. Files that are not traces fail here, with the reader's
    :class:`~kmc_monitor.errors.TraceError`; :attr:`warnings` are the reader's.
    """

    def __init__(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        latest_us: int | None = None,
        params: RuleParams | None = None,
    ) -> None:
        self.chunks = TraceChunks(paths, params, latest_us=latest_us)
        self.warnings = self.chunks.warnings
        self._summary: ReplaySummary | None = None

    def summary(self) -> ReplaySummary:
        """Count what the replay will send (one reading pass over the files, done once)."""
        if self._summary is None:
            n = 0
            first: int | None = None
            last: int | None = None
            wraps: set[int] = set()
            names: tuple[str, ...] = ()
            for chunk in self.chunks:
                if first is None:
                    first = int(chunk.t_us[0])
                last = int(chunk.t_us[-1])
                n += len(chunk)
                wraps.update(np.unique(chunk.codes).tolist())
                names = chunk.wrap_ids
            invalid = self.chunks.invalid_readings or 0
            self._summary = ReplaySummary(
                n,
                tuple(sorted(names[c] for c in wraps)) if n else (),
                None if first is None else first / US,
                None if last is None else last / US,
                invalid,
            )
        return self._summary

    def readings(self, *, shift_s: float = 0.0) -> Iterator[Reading]:
        """Every reading in time order (wraps interleaved as recorded), read as it is needed."""
        for chunk in self.chunks:
            yield from chunk.readings(shift_s)


class Sender(Protocol):
    """Where replayed readings go."""

    batch: int

    async def send(self, readings: Sequence[Reading]) -> None: ...

    async def close(self) -> None: ...


class HttpSender:
    """``POST /api/readings`` of a ward service, with a staff token."""

    batch = HTTP_BATCH

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ReplayRefused(
                f"--to needs the ward service's URL, e.g. http://127.0.0.1:8000, not {base_url!r}"
            )
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/api/readings"
        self._token = token
        self._timeout_s = timeout_s
        self.accepted = 0

    def _post(self, body: bytes) -> dict[str, Any]:
        req = urllib.request.Request(self.url, data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(req, timeout=self._timeout_s) as resp:
                doc: dict[str, Any] = json.loads(resp.read() or b"{}")
                return doc
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise ReplayRefused(f"the ward service refused the staff token (HTTP {exc.code})") from None
            detail = exc.read()[:300].decode("utf-8", "replace")
            if exc.code == 422:
                raise ReplayRefused(f"the ward service refused the readings (HTTP 422): {detail}") from None
            raise ReplayError(f"the ward service answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReplayUnreachable(f"cannot reach the ward service at {self.url}: {reason}") from None

    async def send(self, readings: Sequence[Reading]) -> None:
        doc = {"readings": [_reading_json(r) for r in readings]}
        body = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
        answer = await asyncio.to_thread(self._post, body)
        self.accepted += int(answer.get("accepted", 0))

    async def close(self) -> None:
        return None


def _reading_json(r: Reading) -> dict[str, Any]:
    doc: dict[str, Any] = {"t": r.t, "wrap_id": r.wrap_id}
    for name in ("skin_temp_c", "ambient_temp_c", "contact", "battery_pct", "rssi_dbm"):
        value = getattr(r, name)
        if value is not None:
            doc[name] = value
    return doc


class MqttSender:
    """A room gateway's publishing: ``online`` presence (retained, with an ``offline`` Last Will),
    each reading on its wrap's topic with QoS 1, ``offline`` at the end."""

    batch = MQTT_BATCH

    def __init__(self, broker_url: str, *, site: str, gateway_id: str) -> None:
        from kmc_monitor.mqtt.broker import BrokerUrl
        from kmc_monitor.mqtt.topics import check_id, status_topic

        self.broker = BrokerUrl.parse(broker_url)
        self.site = check_id("site", site)
        self.gateway_id = check_id("gateway", gateway_id)
        self.status_topic = status_topic(site, gateway_id)
        self.seq = 0
        self._client: Any = None

    async def open(self, wraps: Sequence[str]) -> None:
        import aiomqtt

        from kmc_monitor.mqtt.payload import encode_status

        will = aiomqtt.Will(self.status_topic, encode_status(self.gateway_id, "offline"), qos=1, retain=True)
        client = aiomqtt.Client(
            **self.broker.client_kwargs(),
            identifier=f"kmc-replay-{self.gateway_id}",
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=True,
            will=will,
            timeout=10.0,
        )
        client.pending_calls_threshold = MQTT_BATCH + 10
        try:
            await client.__aenter__()
        except (aiomqtt.MqttError, OSError) as exc:
            raise ReplayUnreachable(f"cannot reach the broker {self.broker}: {exc}") from None
        self._client = client
        online = encode_status(self.gateway_id, "online", t=time.time(), wraps=list(wraps)[:200])
        await client.publish(self.status_topic, online, qos=1, retain=True)

    async def send(self, readings: Sequence[Reading]) -> None:
        import aiomqtt

        from kmc_monitor.mqtt.payload import encode_reading
        from kmc_monitor.mqtt.topics import reading_topic

        calls: list[Awaitable[None]] = []
        for r in readings:
            self.seq += 1
            payload = encode_reading(self.gateway_id, self.seq, r)
            calls.append(
                self._client.publish(reading_topic(self.site, self.gateway_id, r.wrap_id), payload, qos=1)
            )
        try:
            await asyncio.gather(*calls)
        except aiomqtt.MqttError as exc:
            raise ReplayUnreachable(f"lost the broker {self.broker}: {exc}") from None

    async def close(self) -> None:
        import aiomqtt

        from kmc_monitor.mqtt.payload import encode_status

        client, self._client = self._client, None
        if client is None:
            return
        try:
            await client.publish(
                self.status_topic,
                encode_status(self.gateway_id, "offline", t=time.time()),
                qos=1,
                retain=True,
            )
        except aiomqtt.MqttError:
            pass
        try:
            await client.__aexit__(None, None, None)
        except aiomqtt.MqttError:
            pass


async def replay(
    readings: Iterable[Reading],
    sender: Sender,
    speed: float,
    *,
    stop: asyncio.Event,
    progress: Callable[[int], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Send ``readings`` (in time order) at ``speed`` × their recorded pace; return how many were
    sent. Stops early, between batches, when ``stop`` is set.

    ``readings`` may be a list or any iterable (``TraceReplay.readings()``): they are taken one
    batch ahead, so a replay holds a batch, not the trace."""
    it = iter(readings)
    head = next(it, None)
    if head is None:
        return 0
    t_first = head.t
    start = clock()
    sent = 0
    while head is not None and not stop.is_set():
        wait = start + (head.t - t_first) / speed - clock()
        if wait > 0:
            try:
                await asyncio.wait_for(stop.wait(), wait)
                break
            except TimeoutError:
                pass
        now_trace = t_first + (clock() - start) * speed
        batch = [head]
        head = next(it, None)
        while head is not None and len(batch) < sender.batch and head.t <= now_trace:
            batch.append(head)
            head = next(it, None)
        await sender.send(batch)
        if progress is not None:
            progress(len(batch))
        sent += len(batch)
    return sent
