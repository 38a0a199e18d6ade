"""Persistence of the ward service: one SQLite file (WAL) in the data directory.

What is kept: beds, wraps and their keys and replay counters, admissions and their family links
(hashes only), which wrap was on which bed when, readings, contact sessions, the alarm board's
snapshot with an append-only audit log and each alarm's history, the ward's runtime settings, its
nurses and the ward-admin audit, and the health station's tables.

The package is split by table family behind the :class:`Store` façade, which callers use:

================  ==================================================================================
module            holds
================  ==================================================================================
``errors``        :class:`StoreError` and its :class:`StoreErrorReason`
``connection``    opening the file, WAL, pragmas, permissions; the write and read transactions
``migrations``    the schema, one function per version, and the upgrade
``settings``      runtime settings and the staff-session secret
``layout``        beds and which wrap is on which bed when
``wraps``         the wrap registry, keys, replay counters and the wrap audit
``admissions``    admissions read back and corrected
``stays``         admitting and discharging (the transactions across a stay's tables)
``programme``     caregivers, who holds the baby, the discharge checklist
``family_links``  family links (hashes) and their sealed tokens
``readings``      readings, pruning, and the batching :class:`ReadingWriter`
``sessions``      contact sessions
``alarm_board``   the alarm board's snapshot, alarm history and audit
``people``        nurses and their PINs
``admin_audit``   the ward-admin audit
``facade``        :class:`Store`, all of the above over one connection
================  ==================================================================================

Ward rule violations (bed occupied, wrap in use) raise the errors of
:mod:`kmc_monitor.service.ward_model`; the store imports the ward's values, never the ward.
The schema, table by table, is in ``docs/store.md``.
"""

from kmc_monitor.service.store.admin_audit import AdminAuditLine
from kmc_monitor.service.store.connection import DB_FILENAME
from kmc_monitor.service.store.errors import StoreError, StoreErrorReason
from kmc_monitor.service.store.facade import Store
from kmc_monitor.service.store.migrations import SCHEMA_VERSION
from kmc_monitor.service.store.people import PIN_MAX, PIN_MIN, Nurse, hash_pin, verify_pin
from kmc_monitor.service.store.readings import ReadingWriter
from kmc_monitor.service.store.sessions import BedSession, SessionRecord

__all__ = [
    "DB_FILENAME",
    "PIN_MAX",
    "PIN_MIN",
    "SCHEMA_VERSION",
    "AdminAuditLine",
    "BedSession",
    "Nurse",
    "ReadingWriter",
    "SessionRecord",
    "Store",
    "StoreError",
    "StoreErrorReason",
    "hash_pin",
    "verify_pin",
]
