"""The one value every source yields: a :class:`Reading`.

BLE advertisements, connected thermometers, the simulator, a replayed trace and a remote gateway over
MQTT all produce the same ``Reading``, so nothing after the sources knows or cares where a reading
came from. Fields mirror the trace-format columns; a field a source did not measure is ``None``.
Readings are not range-checked here: :func:`~kmc_monitor.signal.series.build_series` is the one place
that validates values, blanking an implausible field (and counting it) while keeping the others.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from kmc_monitor.signal.params import RuleParams
from kmc_monitor.signal.series import WrapSeries, build_series

__all__ = ["Reading", "readings_to_series"]


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading from one wrap.

    Attributes
    ----------
    t
        When it was received, seconds since the Unix epoch (the gateway's clock, injected).
    wrap_id
        The wrap's identifier from the ward's registry.
    skin_temp_c, ambient_temp_c
        Skin and outer/ambient thermistor temperatures, °C.
    contact
        Skin-contact level 0..1 (the wrap's 0..100 % level divided by 100).
    battery_pct
        Battery charge, 0..100 %.
    rssi_dbm
        Received signal strength of the advertisement, dBm (diagnostic only; not used by the rules).
    counter
        The wrap's own measurement id, when its packets carry one: the BTHome encryption counter,
        which the wrap raises once per new measurement and which every copy of that measurement's
        advertisements repeats. Two room gateways that hear the same advertisement stamp different
        receive times ``t``, so ``(wrap_id, t)`` cannot tell the copies apart; ``(wrap_id, counter)``
        can (the MQTT source drops the second copy by it). None for plaintext packets (whose 8-bit
        packet id wraps every 256 measurements, too soon to identify one) and for sources without
        packets (a replayed trace). Not part of equality: it says which transmission carried the
        values, not what was measured, so a reading read back from the store (which keeps no
        counter) equals the one that was stored.
    sealed
        The wrap's own sealed packet this reading was decoded from (BTHome service data, AES-CCM
        with the wrap's key and counter), when a gateway heard one. A room gateway forwards it with
        the reading so that the ward service checks the wrap's MIC and counter itself: neither the
        broker nor a gateway can then forge or replay a reading (docs/security.md). None for
        sources without packets. Not part of equality, like ``counter``.
    """

    t: float
    wrap_id: str
    skin_temp_c: float | None = None
    ambient_temp_c: float | None = None
    contact: float | None = None
    battery_pct: float | None = None
    rssi_dbm: float | None = None
    counter: int | None = field(default=None, compare=False)
    sealed: bytes | None = field(default=None, compare=False, repr=False)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def readings_to_series(readings: Iterable[Reading], params: RuleParams | None = None) -> list[WrapSeries]:
    """Group readings by wrap and build each wrap's validated series, ordered by wrap id.

    Missing fields become NaN; ordering, de-duplication and range checks are
    :func:`~kmc_monitor.signal.series.build_series`'s, exactly as for a trace file.
    """
    columns: defaultdict[str, tuple[list[float], list[float], list[float], list[float], list[float]]]
    columns = defaultdict(lambda: ([], [], [], [], []))
    for r in readings:
        t, skin, amb, contact, batt = columns[r.wrap_id]
        t.append(r.t)
        skin.append(_nan(r.skin_temp_c))
        amb.append(_nan(r.ambient_temp_c))
        contact.append(_nan(r.contact))
        batt.append(_nan(r.battery_pct))
    return [
        build_series(wrap_id, t, skin, amb, contact, batt, params=params)
        for wrap_id, (t, skin, amb, contact, batt) in sorted(columns.items())
    ]
