"""Simulated wraps as a reading source: the measurements N simulated wraps send."""

from __future__ import annotations

from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulation.simulator import SimConfig, SimMeasurement, WardSimulator
from kmc_monitor.sources.base import ReadingSource, WrapIdentity

__all__ = ["DEFAULT_SIMULATED_WRAPS", "SimulatedSource", "simulated_source"]

#: How many wraps a simulated ward has when nobody said (``serve`` with no source and no adapter).
DEFAULT_SIMULATED_WRAPS = 12


class SimulatedSource(ReadingSource):
    """N simulated wraps; readings are the measurements the wraps send (the packets' content).

    ``sealed``: each reading also carries the wrap's sealed packet (:attr:`Reading.sealed`), as a
    room gateway forwards it over MQTT for the ward to verify.
    """

    def __init__(
        self,
        n_wraps: int,
        *,
        start_s: float,
        seed: int = 0,
        measure_s: float | None = None,
        sealed: bool = False,
    ) -> None:
        config = SimConfig() if measure_s is None else SimConfig(measure_s=measure_s)
        self.sim = WardSimulator(n_wraps, start_s=start_s, seed=seed, config=config)
        self.sealed = sealed

    def wraps(self) -> list[WrapIdentity]:
        return [(i.wrap_id, i.mac, i.key) for i in self.sim.identities()]

    def readings_until(self, t_s: float) -> list[Reading]:
        return [
            Reading(
                t=e.t,
                wrap_id=e.wrap_id,
                skin_temp_c=e.skin_temp_c,
                ambient_temp_c=e.ambient_temp_c,
                contact=e.contact_fraction,
                battery_pct=float(e.battery_pct),
                counter=e.counter,
                sealed=self.sim.wrap(e.wrap_id).seal(e) if self.sealed else None,
            )
            for e in self.sim.events_until(t_s)
            if isinstance(e, SimMeasurement)
        ]


def simulated_source(
    n_wraps: int | None,
    *,
    start_s: float,
    seed: int = 0,
    measure_s: float | None = None,
    sealed: bool = False,
) -> SimulatedSource:
    """The simulated ward, built the one way ``serve``, the runtime and a room gateway build it:
    ``n_wraps`` wraps (None or 0: :data:`DEFAULT_SIMULATED_WRAPS`) from ``start_s``."""
    return SimulatedSource(
        n_wraps or DEFAULT_SIMULATED_WRAPS, start_s=start_s, seed=seed, measure_s=measure_s, sealed=sealed
    )
