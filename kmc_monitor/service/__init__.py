"""The ward service: the layers above the signal core and the devices that a ward runs.

``alarms`` (the live alarm lifecycle: latching, acknowledgement, audio pause, escalation, audit),
``engine`` (the sans-I/O live engine) and ``ward`` (beds, admissions, family links) are pure logic;
``store`` keeps them and the readings in SQLite, ``persistence`` writes what the engine says to keep;
``config`` is the hospital's configuration. The names below are loaded on first use, so importing
one module (the alarm board, say) loads neither the store nor the web app nor the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmc_monitor._lazy import load

if TYPE_CHECKING:
    from kmc_monitor.service.alarms import (
        SYSTEM,
        AlarmAction,
        AlarmBoard,
        AlarmEvent,
        AlarmParams,
        AlarmState,
        AlarmView,
        AuditRecord,
        ConditionKey,
    )
    from kmc_monitor.service.config import (
        ClinicalParams,
        ConfigError,
        Settings,
    )
    from kmc_monitor.service.engine import (
        BedAlarm,
        BedView,
        LiveEngine,
        TickResult,
        TrendBin,
        UnassignedWrap,
    )
    from kmc_monitor.service.store import (
        BedSession,
        ReadingWriter,
        SessionRecord,
        Store,
        StoreError,
    )
    from kmc_monitor.service.ward import BedStatus, FamilyLink, Ward
    from kmc_monitor.service.ward_model import (
        Admission,
        AdmissionDetails,
        AlreadyDischargedError,
        Bed,
        BedOccupiedError,
        GestationalAge,
        InvalidAdmissionError,
        NotFoundError,
        WardConflictError,
        WardError,
        WrapInfo,
        WrapInUseError,
    )
    from kmc_monitor.service.ward_time import day_bounds

#: Where each public name lives. Loaded on first use (PEP 562), so that importing one module of
#: the package (the alarm board, say) does not load the store, the web app or the settings.
_WHERE: dict[str, str] = {
    "SYSTEM": "kmc_monitor.service.alarms",
    "AlarmAction": "kmc_monitor.service.alarms",
    "AlarmBoard": "kmc_monitor.service.alarms",
    "AlarmEvent": "kmc_monitor.service.alarms",
    "AlarmParams": "kmc_monitor.service.alarms",
    "AlarmState": "kmc_monitor.service.alarms",
    "AlarmView": "kmc_monitor.service.alarms",
    "AuditRecord": "kmc_monitor.service.alarms",
    "ConditionKey": "kmc_monitor.service.alarms",
    "ClinicalParams": "kmc_monitor.service.config",
    "ConfigError": "kmc_monitor.service.config",
    "Settings": "kmc_monitor.service.config",
    "BedAlarm": "kmc_monitor.service.engine",
    "BedView": "kmc_monitor.service.engine",
    "LiveEngine": "kmc_monitor.service.engine",
    "TickResult": "kmc_monitor.service.engine",
    "TrendBin": "kmc_monitor.service.engine",
    "UnassignedWrap": "kmc_monitor.service.engine",
    "BedSession": "kmc_monitor.service.store",
    "ReadingWriter": "kmc_monitor.service.store",
    "SessionRecord": "kmc_monitor.service.store",
    "Store": "kmc_monitor.service.store",
    "StoreError": "kmc_monitor.service.store",
    "day_bounds": "kmc_monitor.service.ward_time",
    "Admission": "kmc_monitor.service.ward_model",
    "AdmissionDetails": "kmc_monitor.service.ward_model",
    "AlreadyDischargedError": "kmc_monitor.service.ward_model",
    "Bed": "kmc_monitor.service.ward_model",
    "BedOccupiedError": "kmc_monitor.service.ward_model",
    "BedStatus": "kmc_monitor.service.ward",
    "FamilyLink": "kmc_monitor.service.ward",
    "GestationalAge": "kmc_monitor.service.ward_model",
    "InvalidAdmissionError": "kmc_monitor.service.ward_model",
    "NotFoundError": "kmc_monitor.service.ward_model",
    "Ward": "kmc_monitor.service.ward",
    "WardConflictError": "kmc_monitor.service.ward_model",
    "WardError": "kmc_monitor.service.ward_model",
    "WrapInfo": "kmc_monitor.service.ward_model",
    "WrapInUseError": "kmc_monitor.service.ward_model",
}


def __getattr__(name: str) -> Any:
    return load(__name__, _WHERE, globals(), name)


__all__ = [
    "SYSTEM",
    "Admission",
    "AdmissionDetails",
    "AlarmAction",
    "AlarmBoard",
    "AlarmEvent",
    "AlarmParams",
    "AlarmState",
    "AlarmView",
    "AlreadyDischargedError",
    "AuditRecord",
    "Bed",
    "BedAlarm",
    "BedOccupiedError",
    "BedSession",
    "BedStatus",
    "BedView",
    "ClinicalParams",
    "ConditionKey",
    "ConfigError",
    "FamilyLink",
    "GestationalAge",
    "InvalidAdmissionError",
    "LiveEngine",
    "NotFoundError",
    "ReadingWriter",
    "SessionRecord",
    "Settings",
    "Store",
    "StoreError",
    "TickResult",
    "TrendBin",
    "UnassignedWrap",
    "Ward",
    "WardConflictError",
    "WardError",
    "WrapInUseError",
    "WrapInfo",
    "day_bounds",
]
