"""One base class for every reading source: what each kind inherits, and the one default ward."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from kmc_monitor.devices.simulation.simulator import WardSimulator
from kmc_monitor.home.sources import BleWraps, SimulatedWraps
from kmc_monitor.mqtt.publisher import PrefixedSource, simulated_ward
from kmc_monitor.mqtt.subscriber import MqttSource
from kmc_monitor.sources import (
    DEFAULT_SIMULATED_WRAPS,
    GatewaySource,
    ReadingSource,
    ReplaySource,
    SimulatedSource,
    simulated_source,
)
from kmc_monitor.station.service import NoWard

T0 = 1_767_225_600.0


@pytest.mark.parametrize(
    "kind",
    [
        SimulatedSource,
        ReplaySource,
        GatewaySource,
        MqttSource,
        PrefixedSource,
        NoWard,
        SimulatedWraps,
        BleWraps,
    ],
)
def test_every_source_derives_from_the_one_base_class(kind: type) -> None:
    assert issubclass(kind, ReadingSource)


def test_the_base_class_is_abstract_and_its_optional_members_are_harmless() -> None:
    with pytest.raises(TypeError):
        ReadingSource()  # type: ignore[abstract]
    src = NoWard()
    assert src.wraps() == [] and src.readings_until(T0) == []
    assert src.demo is False  # the station's own choice; the base's default is a demo ward
    assert ReadingSource.demo is True and src.reorder_s == 0.0 and src.verifies_with_registry is False
    assert src.silenced() == []
    src.reset_counter("W01")
    src.set_registry([], last_counters={"W01": 3})
    asyncio.run(src.start())
    asyncio.run(src.stop())


def test_only_the_mqtt_source_asks_for_the_wards_registry() -> None:
    assert MqttSource.verifies_with_registry is True
    assert MqttSource.demo is False
    for kind in (SimulatedSource, ReplaySource, GatewaySource, NoWard):
        assert kind.verifies_with_registry is False


def test_the_default_simulated_ward_is_built_one_way() -> None:
    default = simulated_source(None, start_s=T0)
    assert len(default.wraps()) == DEFAULT_SIMULATED_WRAPS == 12
    assert simulated_source(0, start_s=T0).wraps() == default.wraps()
    three = simulated_source(3, start_s=T0, seed=4)
    assert three.wraps() == SimulatedSource(3, start_s=T0, seed=4).wraps()
    sim = WardSimulator(3, start_s=T0, seed=4)
    assert three.wraps() == [(e.wrap_id, e.mac, e.key) for e in sim.identities()]
    assert three.readings_until(T0 + 30) == SimulatedSource(3, start_s=T0, seed=4).readings_until(T0 + 30)


def test_a_rooms_simulated_ward_is_sealed_and_prefixed() -> None:
    room = simulated_ward(2, start_s=T0, seed=1, prefix="R1-")
    assert isinstance(room, PrefixedSource)
    assert [w for w, _, _ in room.wraps()] == ["R1-W01", "R1-W02"]
    got = room.readings_until(T0 + 20)
    assert got and all(r.wrap_id.startswith("R1-") and r.sealed is not None for r in got)


def test_the_sources_and_mqtt_layers_import_nothing_of_the_service() -> None:
    """mqtt -> service would be an upward import (docs/architecture.md's layer table)."""
    code = (
        "import sys\n"
        "import kmc_monitor.sources, kmc_monitor.mqtt.publisher, kmc_monitor.mqtt.subscriber\n"
        "import kmc_monitor.mqtt.gateway_store\n"
        "up = sorted(m for m in sys.modules if m.startswith(('kmc_monitor.service', 'kmc_monitor.cli')))\n"
        "print(up)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
