"""Where readings come from: one base class, four kinds of source.

:class:`ReadingSource` is what the ward runtime and a room gateway poll; :class:`SimulatedSource`
(simulated wraps), :class:`ReplaySource` (recorded traces), :class:`GatewaySource` (the Bluetooth
gateway) and :class:`~kmc_monitor.mqtt.subscriber.MqttSource` (the room gateways' readings from the
broker) derive from it. This layer sits on ``devices/`` and ``signal/`` and knows nothing of the
service above it: a Bluetooth source keeps its registry in a :class:`WrapBook` its owner hands it.
"""

from kmc_monitor.sources.base import ReadingSource, WrapIdentity
from kmc_monitor.sources.bluetooth import GatewaySource, RegistryConflictError, WrapBook
from kmc_monitor.sources.replay import ReplayClock, ReplaySource
from kmc_monitor.sources.simulated import DEFAULT_SIMULATED_WRAPS, SimulatedSource, simulated_source

__all__ = [
    "DEFAULT_SIMULATED_WRAPS",
    "GatewaySource",
    "ReadingSource",
    "RegistryConflictError",
    "ReplayClock",
    "ReplaySource",
    "SimulatedSource",
    "WrapBook",
    "WrapIdentity",
    "simulated_source",
]
