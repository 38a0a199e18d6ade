"""A wrap that seals its readings as the firmware does, for tests that play a room gateway."""

from __future__ import annotations

from dataclasses import dataclass

from kmc_monitor.devices.protocol.bthome import encode_service_data, wrap_objects
from kmc_monitor.devices.reading import Reading


@dataclass
class SealedWrap:
    """A registered wrap's identity and its counter; :meth:`reading` is one new measurement."""

    wrap_id: str
    mac: str
    key: bytes
    counter: int = 1000
    packet_id: int = 0

    def reading(
        self,
        t: float,
        skin_temp_c: float,
        *,
        ambient_temp_c: float = 26.0,
        contact: float = 0.9,
        key: bytes | None = None,
    ) -> Reading:
        """The reading a gateway forwards for a new measurement, sealed with the wrap's key (or
        with ``key``: a forger's)."""
        self.counter += 1
        self.packet_id = (self.packet_id + 1) & 0xFF
        level = round(contact * 100)
        objects = wrap_objects(
            packet_id=self.packet_id,
            battery_pct=80,
            skin_temp_c=skin_temp_c,
            ambient_temp_c=ambient_temp_c,
            contact_level=level,
            contact=level >= 60,
        )
        data = encode_service_data(objects, key=key or self.key, mac=self.mac, counter=self.counter)
        return Reading(
            t, self.wrap_id, skin_temp_c, ambient_temp_c, level / 100, 80.0, -60.0, self.counter, data
        )
