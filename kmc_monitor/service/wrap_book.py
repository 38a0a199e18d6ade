"""The ward's database as the :class:`~kmc_monitor.sources.WrapBook` of its Bluetooth source."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kmc_monitor.devices.protocol.verify import WrapEntry, WrapRegistry
from kmc_monitor.service.store import Store
from kmc_monitor.service.ward_model import WardConflictError
from kmc_monitor.sources.bluetooth import RegistryConflictError

__all__ = ["WardWrapBook"]


class WardWrapBook:
    """The wraps table of the ward's database (its own connection: SQLite in WAL mode takes two)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def in_data_dir(cls, data_dir: str | os.PathLike[str]) -> WardWrapBook:
        return cls(Store.in_data_dir(data_dir))

    @property
    def path(self) -> Path:
        return self.store.path

    def fresh(self) -> bool:
        """No beds yet: the runtime's set-up has not run on this data directory."""
        return not self.store.beds()

    def import_registry(self, registry: WrapRegistry, *, now: float) -> int:
        try:
            return self.store.import_registry(registry, now=now)
        except WardConflictError as exc:
            raise RegistryConflictError(str(exc)) from None

    def wrap_registry(self) -> list[WrapEntry]:
        return list(self.store.wrap_registry())

    def wrap_counters(self) -> dict[str, int]:
        return self.store.wrap_counters()

    def save_wrap_counters(self, counters: Mapping[str, int]) -> None:
        self.store.save_wrap_counters(counters)

    def close(self) -> None:
        self.store.close()
