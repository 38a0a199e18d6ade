"""The :class:`Store` façade: every table family over one connection, as callers have always used it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.store.admin_audit import AdminAuditStore
from kmc_monitor.service.store.admissions import AdmissionStore
from kmc_monitor.service.store.alarm_board import AlarmBoardStore
from kmc_monitor.service.store.connection import DB_FILENAME
from kmc_monitor.service.store.errors import StoreError, StoreErrorReason
from kmc_monitor.service.store.family_links import FamilyLinkStore
from kmc_monitor.service.store.layout import LayoutStore
from kmc_monitor.service.store.people import NurseStore
from kmc_monitor.service.store.programme import ProgrammeStore
from kmc_monitor.service.store.readings import ReadingStore
from kmc_monitor.service.store.sessions import SessionStore
from kmc_monitor.service.store.settings import SettingsStore
from kmc_monitor.service.store.stays import StayStore
from kmc_monitor.service.store.wraps import WrapStore
from kmc_monitor.service.ward_model import NotFoundError

if TYPE_CHECKING:
    from kmc_monitor.service.config import Settings

__all__ = ["Store"]


class Store(
    SettingsStore,
    LayoutStore,
    WrapStore,
    AdmissionStore,
    StayStore,
    ProgrammeStore,
    FamilyLinkStore,
    ReadingStore,
    SessionStore,
    AlarmBoardStore,
    NurseStore,
    AdminAuditStore,
):
    """The ward's SQLite database: open it once per process and share it.

    One connection behind a lock (:class:`~kmc_monitor.service.store.connection.StoreConnection`),
    thread-safe; each base class is one table family. Open with :meth:`in_data_dir` or
    ``Store(path)``; the file is created (readable by this user only) and upgraded if needed.
    """

    @classmethod
    def in_data_dir(
        cls, data_dir: str | os.PathLike[str], *, busy_timeout_s: float = 5.0, retention_days: float = 30
    ) -> Store:
        """Open (creating if needed) ``data_dir/kmc-monitor.sqlite3``; the directory is made private."""
        directory = Path(data_dir)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data directory {directory}: {exc.strerror or exc}",
                reason=StoreErrorReason.IO,
            ) from None
        return cls(directory / DB_FILENAME, busy_timeout_s=busy_timeout_s, retention_days=retention_days)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls.in_data_dir(settings.data_dir, retention_days=settings.retention_days)

    def readings_for_admission(self, admission_id: int, start_t: float, end_t: float) -> list[Reading]:
        """A bed's readings cut to one stay: what a family link may show, nothing of the bed's past."""
        admission = self.admission(admission_id)
        if admission is None:
            raise NotFoundError(f"no admission {admission_id}")
        lo, hi = admission.clamp(start_t, end_t)
        return self.readings_for_bed(admission.bed_id, lo, hi) if lo < hi else []
