"""The ward service: the layers above the signal core and the devices that a ward runs.

``alarms`` (the live alarm lifecycle: latching, acknowledgement, audio pause, escalation, audit) and
``ward`` (beds, admissions, family links) are pure logic; ``store`` keeps them and the readings in
SQLite; ``config`` is the hospital's configuration. The live engine, the FastAPI app and the
WebSocket hub come next (issue #4) and call these APIs.
"""

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
from kmc_monitor.service.config import ClinicalParams, ConfigError, Settings
from kmc_monitor.service.engine import BedAlarm, BedView, LiveEngine, TickResult, TrendBin, UnassignedWrap
from kmc_monitor.service.store import BedSession, ReadingWriter, SessionRecord, Store, StoreError
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
