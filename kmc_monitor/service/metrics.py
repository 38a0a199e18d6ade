"""``GET /metrics``: the ward service's live counters in the Prometheus text format.

Why a custom collector rather than counters incremented where things happen: the service already
counts what matters (the engine's late and duplicate readings, the verifier's refusals by reason, the
MQTT source's rejected messages, the reading writer's pending rows, the hub's subscribers). A
:class:`WardCollector` reads those at scrape time, so nothing is counted twice and the hot paths
carry no metrics code. The only thing measured for metrics alone is the tick: the runtime's
:class:`~kmc_monitor.service.tickstats.TickStats`, which ``WardRuntime.step`` feeds at its end
(duration, readings taken, alarm events), a few additions per tick.

Why a registry per app, not prometheus-client's global one: tests (and the benchmarks) build many
apps in one process; a global registry would refuse the second app's collector, or mix two wards.

Access: the route needs a staff token like every staff route (``Authorization: Bearer <token>`` is
what Prometheus' ``authorization`` scrape option sends). The numbers are not clinical, but alarm
counts by kind say how a ward's babies are doing, and the endpoint must not be a way to probe
tokens. No label ever carries a wrap id, a bed id, a name or a token: every label takes a fixed,
small set of values (source kind, rejection reason, alarm kind, priority and state, channel kind),
so the series count does not grow with the ward (a few dozen series, whatever its size). Per-wrap
figures (last heard, battery, signal strength) are in ``GET /api/wraps``.

The collector runs on the event loop (the route is ``async``): the board and the engine belong to
the loop, and a scrape takes well under a millisecond even for a few hundred wraps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from kmc_monitor.service.alarms import AlarmState
from kmc_monitor.service.deps import MetricsReader, Runtime
from kmc_monitor.service.routes.station import StationCollector
from kmc_monitor.service.tickstats import TICK_BUCKETS_S, TickStats

if TYPE_CHECKING:
    from kmc_monitor.service.runtime import WardRuntime

__all__ = ["TICK_BUCKETS_S", "TickStats", "WardCollector", "metrics_router", "source_kind"]


def source_kind(source: object) -> str:
    """The source's kind as a label value: one of a few words, whatever the source's class."""
    name = type(source).__name__
    return {
        "SimulatedSource": "simulated",
        "ReplaySource": "replay",
        "GatewaySource": "ble",
        "MqttSource": "mqtt",
    }.get(name, "other")


class WardCollector(Collector):
    """Reads a :class:`WardRuntime`'s counters at each scrape; see the module docstring.

    ``runtime`` returns the runtime to read, or None before the app has started (then nothing is
    reported).
    """

    def __init__(
        self,
        runtime: Callable[[], WardRuntime | None],
        refusals: Callable[[], Counter[str]] = Counter,
    ) -> None:
        self._runtime = runtime
        self._refusals = refusals

    def collect(self) -> Iterable[Metric]:
        rt = self._runtime()
        if rt is None or rt.source is None:
            return []
        return [
            *self._readings(rt),
            *self._sources(rt),
            *self._alarms(rt),
            *self._hub(rt),
            *self._store(rt),
            *self._hl7(rt),
            *self._requests(rt, self._refusals()),
        ]

    # Requests refused before the app (service/guard.py) ----------------------------------------
    @staticmethod
    def _requests(rt: WardRuntime, refusals: Counter[str]) -> list[Metric]:
        refused = CounterMetricFamily(
            "kmc_http_refused",
            "Requests refused before the app read them (origin, unauthenticated, csrf, too_large, "
            "rate_limited, ...), by reason.",
            labels=["reason"],
        )
        for reason in ("origin", "unauthenticated", "csrf", "too_large", "rate_limited", "bad_length"):
            refused.add_metric([reason], refusals.get(reason, 0))
        forgotten = CounterMetricFamily(
            "kmc_unassigned_wraps_forgotten",
            "Wraps heard on no bed that were forgotten (unheard too long, too many, or cleared by staff).",
        )
        forgotten.add_metric([], rt.unassigned_forgotten)
        return [refused, forgotten]

    # Readings ------------------------------------------------------------------------------------
    @staticmethod
    def _readings(rt: WardRuntime) -> list[Metric]:
        kind = source_kind(rt.source)
        engine = rt.engine
        stats = rt.tick_stats
        refused = engine.late + engine.duplicates + engine.invalid_time + engine.clock_faults
        received = CounterMetricFamily(
            "kmc_readings_received",
            "Readings the source handed to the engine.",
            labels=["source"],
        )
        received.add_metric([kind], stats.readings)
        accepted = CounterMetricFamily(
            "kmc_readings_accepted",
            "Readings the engine took (received minus late, duplicate and invalid-time ones); "
            "rate() gives readings per second.",
            labels=["source"],
        )
        accepted.add_metric([kind], max(0, stats.readings - refused))
        dropped = CounterMetricFamily(
            "kmc_readings_refused",
            "Readings the engine refused, by reason: late (behind what it already fed the rules), "
            "duplicate (same wrap and time), invalid_time (not a finite time), clock_fault (stamped "
            "before 2015 or too far ahead of the ward's clock).",
            labels=["reason"],
        )
        dropped.add_metric(["late"], engine.late)
        dropped.add_metric(["duplicate"], engine.duplicates)
        dropped.add_metric(["invalid_time"], engine.invalid_time)
        dropped.add_metric(["clock_fault"], engine.clock_faults)
        ticks = HistogramMetricFamily(
            "kmc_engine_tick_seconds",
            "Duration of one tick of the ward runtime (take readings, run the rules, publish, checkpoint).",
        )
        ticks.add_metric([], stats.cumulative(), sum_value=stats.seconds)
        return [received, accepted, dropped, ticks]

    # Sources -------------------------------------------------------------------------------------
    @staticmethod
    def _sources(rt: WardRuntime) -> list[Metric]:
        """Packets refused before they became readings: by the Bluetooth gateway's verifier, or by
        the MQTT source. Other sources refuse nothing and report no series."""
        from kmc_monitor.mqtt.subscriber import MqttSource
        from kmc_monitor.sources import GatewaySource

        source = rt.source
        rejected = CounterMetricFamily(
            "kmc_packets_rejected",
            "Packets (advertisements, notifications or MQTT messages) that did not become readings, "
            "by source and reason.",
            labels=["source", "reason"],
        )
        out: list[Metric] = [rejected]
        if isinstance(source, GatewaySource):
            g = source.gateway.stats()
            reasons: Counter[str] = Counter()
            for w in g.wraps.values():
                reasons["duplicate"] += w.duplicate
                reasons["replayed"] += w.replayed
                for why, n in w.rejected.items():
                    reasons[why.value] += n
                for why, n in w.link.rejected.items():
                    reasons[why.value] += n
            reasons["unknown_device"] += g.unknown_devices
            for label, n in sorted(reasons.items()):
                rejected.add_metric(["ble", label], n)
            dropped = CounterMetricFamily(
                "kmc_source_readings_dropped",
                "Readings the source had to drop before the engine took them (its queue was full).",
                labels=["source"],
            )
            dropped.add_metric(["ble"], g.readings_dropped)
            restarts = CounterMetricFamily(
                "kmc_ble_scanner_restarts", "Times the scan watchdog restarted a silent scanner."
            )
            restarts.add_metric([], g.scanner_restarts)
            failures = CounterMetricFamily(
                "kmc_ble_scanner_failures", "Scanner (re)starts that failed (adapter gone or refusing)."
            )
            failures.add_metric([], g.scanner_failures)
            scanning = GaugeMetricFamily("kmc_ble_scanning", "1 while the Bluetooth scanner runs.")
            scanning.add_metric([], 1.0 if g.scanning else 0.0)
            out += [dropped, restarts, failures, scanning]
        elif isinstance(source, MqttSource):
            m = source.stats()
            for label, n in sorted(m.rejected.items()):
                rejected.add_metric(["mqtt", label], n)
            rejected.add_metric(["mqtt", "duplicate"], m.duplicates)
            dropped = CounterMetricFamily(
                "kmc_source_readings_dropped",
                "Readings the source had to drop before the engine took them (its queue was full).",
                labels=["source"],
            )
            dropped.add_metric(["mqtt"], m.dropped_pending)
            gaps = CounterMetricFamily(
                "kmc_mqtt_seq_gaps", "Gaps in the gateways' message sequence numbers (messages lost)."
            )
            gaps.add_metric([], m.seq_gaps)
            connected = GaugeMetricFamily("kmc_mqtt_connected", "1 while connected to the broker.")
            connected.add_metric([], 1.0 if m.connected else 0.0)
            up = sum(1 for v in m.gateways.values() if v)
            online = GaugeMetricFamily(
                "kmc_mqtt_gateways", "Room gateways known, by announced state.", labels=["state"]
            )
            online.add_metric(["online"], up)
            online.add_metric(["offline"], len(m.gateways) - up)
            out += [dropped, gaps, connected, online]
        return out

    # Alarms --------------------------------------------------------------------------------------
    @staticmethod
    def _alarms(rt: WardRuntime) -> list[Metric]:
        shown = GaugeMetricFamily(
            "kmc_alarms_shown",
            "Alarms on the ward screen now, by kind, effective priority and state "
            "(active, acknowledged, latched).",
            labels=["kind", "priority", "state"],
        )
        now: Counter[tuple[str, str, str]] = Counter()
        for a in rt.engine.board.visible(rt.now_us()):
            if a.state is not AlarmState.CLEARED:
                now[(a.kind.value, a.priority.value, a.state.value)] += 1
        for labels, n in sorted(now.items()):
            shown.add_metric(list(labels), n)
        raised = CounterMetricFamily(
            "kmc_alarms_raised",
            "Alarms raised by this process's ticks, by kind and priority.",
            labels=["kind", "priority"],
        )
        for (kind, priority), n in sorted(rt.tick_stats.raised.items()):
            raised.add_metric([kind, priority], n)
        escalated = CounterMetricFamily(
            "kmc_alarms_escalated",
            "Medium patient alarms that escalated to high for want of an acknowledgement, by kind.",
            labels=["kind"],
        )
        for kind, n in sorted(rt.tick_stats.escalated.items()):
            escalated.add_metric([kind], n)
        reminded = CounterMetricFamily(
            "kmc_alarms_reminded",
            "Technical alarms sounded again at their own priority for want of an acknowledgement, by kind.",
            labels=["kind"],
        )
        for kind, n in sorted(rt.tick_stats.reminded.items()):
            reminded.add_metric([kind], n)
        return [shown, raised, escalated, reminded]

    # Hub -----------------------------------------------------------------------------------------
    @staticmethod
    def _hub(rt: WardRuntime) -> list[Metric]:
        """WebSocket clients and their resyncs, by channel kind: ``ward`` (staff screens) and
        ``bed`` (all family pages together: one series, however many beds)."""
        clients: Counter[str] = Counter({"ward": 0, "bed": 0})
        resyncs: Counter[str] = Counter({"ward": 0, "bed": 0})
        dropped: Counter[str] = Counter({"ward": 0, "bed": 0})
        published: Counter[str] = Counter({"ward": 0, "bed": 0})
        for ch in rt.hub.channels():
            kind = "bed" if ch.name.startswith("bed:") else ch.name if ch.name == "ward" else "other"
            clients[kind] += ch.subscribers
            resyncs[kind] += ch.resyncs
            dropped[kind] += ch.dropped
            published[kind] += ch.seq
        g = GaugeMetricFamily("kmc_websocket_clients", "WebSocket clients connected.", labels=["channel"])
        r = CounterMetricFamily(
            "kmc_websocket_resyncs",
            "Clients that fell behind and were sent a fresh snapshot instead of their queue.",
            labels=["channel"],
        )
        d = CounterMetricFamily(
            "kmc_websocket_queue_dropped_messages",
            "Messages dropped from slow clients' queues (each drop ends in a resync).",
            labels=["channel"],
        )
        p = CounterMetricFamily(
            "kmc_websocket_messages_published", "Messages published, by channel kind.", labels=["channel"]
        )
        for kind in sorted(clients):
            g.add_metric([kind], clients[kind])
            r.add_metric([kind], resyncs[kind])
            d.add_metric([kind], dropped[kind])
            p.add_metric([kind], published[kind])
        refused = CounterMetricFamily(
            "kmc_websocket_refused_clients",
            "Connections closed for what the client sent (the streams only send), by reason.",
            labels=["reason"],
        )
        for reason, n in sorted(rt.hub.refused_clients.items()):
            refused.add_metric([reason], n)
        return [g, r, d, p, refused]

    # Store ---------------------------------------------------------------------------------------
    @staticmethod
    def _store(rt: WardRuntime) -> list[Metric]:
        writer = rt.writer
        pending = GaugeMetricFamily(
            "kmc_store_readings_pending", "Readings waiting to be written to the database."
        )
        pending.add_metric([], writer.pending)
        written = CounterMetricFamily("kmc_store_readings_written", "Readings written to the database.")
        written.add_metric([], writer.written)
        lost = CounterMetricFamily(
            "kmc_store_readings_dropped",
            "Readings dropped because the database refused writes for too long (a gap in the history).",
        )
        lost.add_metric([], writer.dropped)
        failing = GaugeMetricFamily(
            "kmc_store_write_failing",
            "1 while the last write of readings failed (they are kept and retried).",
        )
        failing.add_metric([], 0.0 if writer.last_error is None else 1.0)
        out: list[Metric] = [pending, written, lost, failing]
        refused = CounterMetricFamily(
            "kmc_store_checkpoint_failures",
            "Checkpoints (alarm board, sessions, audit) the database refused; each is retried.",
        )
        refused.add_metric([], rt.checkpoint_failures)
        error = rt.storage_error()
        storage = GaugeMetricFamily(
            "kmc_store_failing",
            "1 while the database refuses writes (a storage_failure alarm follows after a few "
            "seconds), by reason (locked, full, io, other).",
            labels=["reason"],
        )
        for reason in ("locked", "full", "io", "other"):
            storage.add_metric([reason], 1.0 if error is not None and error.reason == reason else 0.0)
        out += [refused, storage]
        return out

    # HL7 interface ---------------------------------------------------------------------------------
    @staticmethod
    def _hl7(rt: WardRuntime) -> list[Metric]:
        link = rt.hl7_link
        if link is None:
            return []
        up = GaugeMetricFamily(
            "kmc_hl7_link_up", "1 while the HL7 interface engine acknowledges (0: hl7_link_failure)."
        )
        up.add_metric([], 1.0 if link.up else 0.0)
        queued = GaugeMetricFamily("kmc_hl7_queue_messages", "HL7 messages waiting for the interface engine.")
        queued.add_metric([], link.outbox.pending())
        sent = CounterMetricFamily(
            "kmc_hl7_messages",
            "HL7 messages answered by the interface engine, by outcome.",
            labels=["outcome"],
        )
        sent.add_metric(["accepted"], link.accepted)
        sent.add_metric(["rejected"], link.rejected)
        sent.add_metric(["watchdog"], link.watchdogs)
        dropped = CounterMetricFamily(
            "kmc_hl7_queue_dropped", "HL7 messages dropped because the queue was full (oldest first)."
        )
        dropped.add_metric([], link.outbox.dropped())
        failures = CounterMetricFamily(
            "kmc_hl7_link_failures", "Failed exchanges with the HL7 interface engine (each retried)."
        )
        failures.add_metric([], link.failures)
        return [up, queued, sent, dropped, failures]


def metrics_router() -> APIRouter:
    """``GET /metrics`` (staff only) with its own registry; include it once per app."""
    router = APIRouter(tags=["service"])
    holder: list[WardRuntime] = []
    refusals: list[Counter[str]] = []
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        WardCollector(lambda: holder[0] if holder else None, lambda: refusals[0] if refusals else Counter())
    )
    stations: list[Any] = []
    registry.register(StationCollector(lambda: stations[0] if stations else None))  # issue-17b

    @router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def metrics(request: Request, who: MetricsReader, rt: Runtime) -> Response:
        """The ward service's counters in the Prometheus text format (see docs/operations.md)."""
        holder[:] = [rt]
        stations[:] = [getattr(request.app.state, "station", None)]
        published: Counter[str] = getattr(request.app.state, "http_refusals", None) or Counter()
        refusals[:] = [published]
        return Response(
            generate_latest(registry), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
        )

    return router
