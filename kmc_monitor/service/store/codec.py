"""Python values to the database's columns: JSON for settings and snapshots, times for messages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from pathlib import Path

from kmc_monitor.service.store.errors import StoreError, StoreErrorReason

__all__ = ["encode_json", "utc_text"]


def utc_text(t: float) -> str:
    """A time (seconds since the epoch) as messages to staff write it: ``2026-03-01 10:15 UTC``."""
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def encode_json(value: object) -> str:
    """``value`` as compact, sorted JSON (dataclasses, enums, dates, paths and sets included); a
    value JSON cannot hold is a :class:`StoreError` (``invalid``)."""

    def default(obj: object) -> object:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.asdict(obj)
        if isinstance(obj, enum.Enum):
            return obj.value
        if isinstance(obj, dt.date | dt.datetime):
            return obj.isoformat()
        if isinstance(obj, Path):
            return str(obj)
        if isinstance(obj, tuple | set | frozenset):
            return list(obj)
        raise TypeError(f"{type(obj).__name__} cannot be stored as JSON")

    try:
        return json.dumps(value, default=default, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store this value: {exc}", reason=StoreErrorReason.INVALID) from None
