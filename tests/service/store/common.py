"""What the store's tests share: a ward-local day across a DST change, readings, a store with beds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.store import Store
from kmc_monitor.service.ward_model import Bed

REPO = Path(__file__).resolve().parents[3]
TZ = "Europe/Berlin"
#: 2025-03-30 00:00 in Berlin (UTC+1): a 23 h day (daylight saving starts at 02:00).
DAY = dt.date(2025, 3, 30)
T0 = dt.datetime(2025, 3, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp()
#: 2026-01-01 08:00 UTC, for the people tables.
T = 1_767_254_400.0


def reading(t: float, wrap: str = "W1", skin: float | None = 36.8) -> Reading:
    return Reading(t, wrap, skin, 30.0, 1.0, 88.0, -60.0)


def store_with_beds(tmp_path: Path) -> Store:
    """A store (default busy timeout) with beds B01 and B02."""
    s = Store.in_data_dir(tmp_path / "data")
    for i in (1, 2):
        s.add_bed(Bed(f"B0{i}", f"Bed {i}", i), now=T)
    return s
