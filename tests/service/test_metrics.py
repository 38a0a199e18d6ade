"""``GET /metrics``: scraped after real ticks, each value equals the runtime's own counter; labels
stay few and never name a wrap, a bed, a baby or a token; the Bluetooth and MQTT sources' refusals
are reported by reason."""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.exceptions import StarletteDeprecationWarning

from kmc_monitor.devices.reading import Reading
from kmc_monitor.mqtt.broker import BrokerUrl
from kmc_monitor.mqtt.subscriber import MqttSource
from kmc_monitor.service.app import create_app
from kmc_monitor.service.config import Settings
from kmc_monitor.service.metrics import WardCollector, source_kind
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.tickstats import TickStats
from kmc_monitor.service.wrap_book import WardWrapBook
from kmc_monitor.sources import GatewaySource, ReadingSource, SimulatedSource
from tests.clock import Clock

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

T0 = 1767261600.0
TOKEN = "metrics-test-staff-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = pytest.mark.timeout(60)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


class WarmingWrap(ReadingSource):
    """One demo wrap every 2 s, warming 0.01 °C a reading from 36.5 °C (hyperthermia after ~100 s);
    every fifth batch also sends a reading again (duplicate) and one from a minute back (late)."""

    demo = True

    def __init__(self) -> None:
        self.next_t = T0
        self.k = 0
        self.batches = 0

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [("W1", "54:48:E6:8F:80:A5", None)]

    def readings_until(self, t_s: float) -> list[Reading]:
        out = []
        while self.next_t <= t_s:
            out.append(Reading(self.next_t, "W1", 36.5 + 0.01 * self.k, 28.0, 1.0, 80.0, -60.0))
            self.next_t += 2.0
            self.k += 1
        self.batches += 1
        if out and self.batches % 5 == 0:
            out += [out[-1], Reading(out[-1].t - 60, "W1", 36.6, 28.0, 1.0, 80.0)]
        return out


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, WardRuntime]]:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC")
    clock = Clock(T0)
    rt = WardRuntime(settings, source=WarmingWrap(), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt)) as c:
        assert c.portal is not None
        for _ in range(30):  # 5 min of ward time, one step per 10 s
            clock.t += 10
            c.portal.call(rt.step)
        yield c, rt


def scrape(client: TestClient) -> tuple[str, Samples]:
    r = client.get("/metrics", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text, samples(r.text)


def test_values_are_the_runtime_counters(setup: tuple[TestClient, WardRuntime]) -> None:
    client, rt = setup
    _, found = scrape(client)
    engine, stats = rt.engine, rt.tick_stats
    assert engine.late > 0 and engine.duplicates > 0  # the source's repeats reached the engine
    received = value(found, "kmc_readings_received_total", source="other")
    assert received == stats.readings == 151 + 2 * 6  # T0..T0+300 s every 2 s, 6 batches of 2 repeats
    refused = engine.late + engine.duplicates + engine.invalid_time
    assert value(found, "kmc_readings_accepted_total", source="other") == received - refused == 151
    assert value(found, "kmc_readings_refused_total", reason="late") == engine.late
    assert value(found, "kmc_readings_refused_total", reason="duplicate") == engine.duplicates
    assert value(found, "kmc_engine_tick_seconds_count") == stats.ticks == 30
    assert value(found, "kmc_engine_tick_seconds_sum") == pytest.approx(stats.seconds)
    assert value(found, "kmc_engine_tick_seconds_bucket", le="+Inf") == 30
    buckets = sorted(
        (float(dict(labels)["le"]), v) for (name, labels), v in found.items() if name.endswith("_bucket")
    )
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    writer = rt.writer
    assert value(found, "kmc_store_readings_written_total") == writer.written > 0
    assert value(found, "kmc_store_readings_pending") == writer.pending
    assert value(found, "kmc_store_write_failing") == 0
    assert value(found, "kmc_store_checkpoint_failures_total") == rt.checkpoint_failures == 0
    for reason in ("locked", "full", "io", "other"):
        assert value(found, "kmc_store_failing", reason=reason) == 0


def test_a_locked_database_shows_as_failing_by_reason(setup: tuple[TestClient, WardRuntime]) -> None:
    client, rt = setup
    assert client.portal is not None
    other = sqlite3.connect(rt.store.path, timeout=0.1)
    try:
        other.execute("BEGIN EXCLUSIVE")
        clock = rt.clock
        assert isinstance(clock, Clock)
        for _ in range(3):  # the writer is due within a second of ward time
            clock.t += 1.0
            client.portal.call(rt.step)
        _, found = scrape(client)
        assert value(found, "kmc_store_failing", reason="locked") == 1
        assert value(found, "kmc_store_failing", reason="full") == 0
    finally:
        other.rollback()
        other.close()


def test_alarms_by_kind_and_priority(setup: tuple[TestClient, WardRuntime]) -> None:
    client, rt = setup
    _, found = scrape(client)
    (alarm,) = rt.engine.board.visible(rt.now_us())
    assert (alarm.kind.value, alarm.priority.value, alarm.state.value) == ("hyperthermia", "medium", "active")
    assert value(found, "kmc_alarms_shown", kind="hyperthermia", priority="medium", state="active") == 1
    assert value(found, "kmc_alarms_raised_total", kind="hyperthermia", priority="medium") == 1
    client.post(f"/api/alarms/{alarm.alarm_id}/ack", headers=AUTH)
    _, found = scrape(client)
    assert value(found, "kmc_alarms_shown", kind="hyperthermia", priority="medium", state="acknowledged") == 1
    assert (
        "kmc_alarms_shown",
        (("kind", "hyperthermia"), ("priority", "medium"), ("state", "active")),
    ) not in found


def test_websocket_clients_and_resyncs(setup: tuple[TestClient, WardRuntime]) -> None:
    client, rt = setup
    _, found = scrape(client)
    assert value(found, "kmc_websocket_clients", channel="ward") == 0
    with client.websocket_connect("/ws/ward", headers=AUTH) as ws:
        assert ws.receive_json()["type"] == "snapshot"
        _, found = scrape(client)
        assert value(found, "kmc_websocket_clients", channel="ward") == 1
    # A client that reads nothing while more than its queue is published falls to a resync.
    assert client.portal is not None
    sub = client.portal.call(rt.ward_channel.subscribe)
    client.portal.call(sub.next)  # its first snapshot: from here on it queues
    for _ in range(300):
        rt.ward_channel.publish({"type": "noise"})
    _, found = scrape(client)
    assert value(found, "kmc_websocket_resyncs_total", channel="ward") == rt.ward_channel.resyncs == 1
    assert (
        value(found, "kmc_websocket_queue_dropped_messages_total", channel="ward")
        == 256 + 1
        == sub.resyncs * 257
    )
    sub.close()
    assert value(found, "kmc_websocket_messages_published_total", channel="ward") == rt.ward_channel.seq


def test_labels_are_few_and_name_nobody(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """20 simulated wraps: no wrap id, bed id, name or token in the scrape, and a series count that
    does not depend on the ward's size."""
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC")
    clock = Clock(T0)
    rt = WardRuntime(settings, source=SimulatedSource(20, start_s=T0), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt)) as client:
        assert client.portal is not None
        for _ in range(12):
            clock.t += 10
            client.portal.call(rt.step)
        text, found = scrape(client)
        wraps = [w for w, _, _ in rt.source.wraps()] if rt.source is not None else []
        assert len(wraps) == 20
        names = [a.display_name for a in rt.ward.current_admissions()]
        for word in [*wraps, *names, TOKEN, "B01", "B20"]:
            assert word not in text
        assert value(found, "kmc_readings_received_total", source="simulated") == rt.tick_stats.readings > 0
        assert len(found) < 150
        label_names = {k for _, labels in found for k, _ in labels}
        assert label_names <= {"source", "reason", "kind", "priority", "state", "channel", "le"}


def test_staff_only(setup: tuple[TestClient, WardRuntime]) -> None:
    client, _ = setup
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_each_app_has_its_own_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    counts = []
    for i, steps in enumerate((2, 5)):
        settings = Settings(data_dir=tmp_path / f"data{i}", staff_token=TOKEN, ward_tz="UTC")
        clock = Clock(T0)
        rt = WardRuntime(settings, source=WarmingWrap(), clock=clock, tick_s=None)
        with TestClient(create_app(settings, runtime=rt)) as client:
            assert client.portal is not None
            for _ in range(steps):
                clock.t += 10
                client.portal.call(rt.step)
            _, found = scrape(client)
            counts.append(value(found, "kmc_engine_tick_seconds_count"))
    assert counts == [2, 5]


# Sources' refusals -----------------------------------------------------------------------------
def collect(rt: WardRuntime) -> Samples:
    out: Samples = {}
    for family in WardCollector(lambda: rt).collect():
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_bluetooth_refusals_by_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC")
    source = GatewaySource.simulated(2, WardWrapBook.in_data_dir(settings.data_dir))
    rt = WardRuntime(settings, source=source, clock=Clock(T0), tick_s=None)
    rt.open()
    try:
        verifier = source.gateway.verifier
        (mac, _) = next((e.mac, e.wrap_id) for e in source.gateway.registry)
        verifier.process("00:11:22:33:44:55", bytes.fromhex("40000701"), T0)  # not a registered wrap
        verifier.process(mac, b"\x40", T0)  # a registered wrap, a packet cut short
        found = collect(rt)
        assert source_kind(source) == "ble"
        assert value(found, "kmc_packets_rejected_total", source="ble", reason="unknown_device") == 1
        stats = source.gateway.stats()
        per_reason: dict[str, int] = {}
        for w in stats.wraps.values():
            for reason, n in w.rejected.items():
                per_reason[reason.value] = per_reason.get(reason.value, 0) + n
        assert sum(per_reason.values()) == 1
        for reason, n in per_reason.items():
            assert value(found, "kmc_packets_rejected_total", source="ble", reason=reason) == n
    finally:
        rt.store.close()


def test_mqtt_refusals_by_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token=TOKEN, ward_tz="UTC")
    source = MqttSource(BrokerUrl.parse("mqtt://127.0.0.1:1"), clock=lambda: T0)
    rt = WardRuntime(settings, source=source, clock=Clock(T0), tick_s=None)
    rt.open()  # no start: nothing connects
    try:
        source.handle("kmc/ward/room-1/wrap/W1/reading", b"not json")
        source.handle("kmc/other-site/room-1/wrap/W1/reading", b"{}")
        found = collect(rt)
        assert source_kind(source) == "mqtt"
        for reason, n in source.stats().rejected.items():
            assert value(found, "kmc_packets_rejected_total", source="mqtt", reason=reason) == n
        assert sum(source.stats().rejected.values()) == 2
        assert value(found, "kmc_mqtt_connected") == 0
    finally:
        rt.store.close()


def test_tick_stats_buckets() -> None:
    stats = TickStats(buckets=(0.01, 0.1))
    for seconds in (0.005, 0.01, 0.05, 2.0):
        stats.observe(seconds, 3)
    assert stats.cumulative() == [("0.01", 2.0), ("0.1", 3.0), ("+Inf", 4.0)]
    assert (stats.ticks, stats.readings) == (4, 12)
