"""What the live engine hands out and takes in: tiles (:class:`BedView`), chart bins, the ward's
layout, and the batches the runtime persists (:class:`Persist`, :class:`StreamCheckpoint`).

Plain frozen values, apart from :mod:`kmc_monitor.service.engine` (the behaviour), so that the
engine's module stays about what it does; the engine module exports every name here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.alarm_model import AlarmEvent, AlarmState, AuditRecord, BoardAlarmKind
from kmc_monitor.service.alarm_snapshot import BoardSnapshot
from kmc_monitor.service.ward_model import Admission, Bed
from kmc_monitor.signal.report import Priority, Session
from kmc_monitor.signal.states import Band, Judging, SessionState

__all__ = [
    "BedAlarm",
    "BedView",
    "Layout",
    "Persist",
    "SessionUpdate",
    "StreamCheckpoint",
    "TickResult",
    "TrendBin",
    "UnassignedWrap",
]


@dataclass(frozen=True, slots=True)
class BedAlarm:
    """One alarm shown on a bed's tile (the board's view, reduced to what a tile draws)."""

    alarm_id: int
    kind: BoardAlarmKind
    priority: Priority
    state: AlarmState
    #: When it was raised (a tile shows its age).
    raised_us: int


@dataclass(frozen=True, slots=True)
class BedView:
    """Everything a ward tile shows for one bed at ``now_us``.

    ``band`` is None whenever the temperature is not judged (``judging`` says why: ``"no wrap"``,
    ``"no data"``, ``"detached"``, ``"settling"``, ``"no temperature"``); a tile must then not show
    a reassuring colour. ``last_heard_s`` is how long ago the wrap was last heard.
    """

    bed_id: str
    label: str
    position: int
    admission_id: int | None
    display_name: str | None
    wrap_id: str | None
    temperature_c: float | None
    band: Band | None
    judging: Judging
    contact: bool | None
    session_state: SessionState
    session_s: float
    contact_today_s: float
    rolling_24h_s: float
    daily_goal_s: float | None
    battery_pct: float | None
    rssi_dbm: float | None
    last_heard_us: int | None
    last_heard_s: float | None
    alarms: tuple[BedAlarm, ...]
    #: Today's contact that counts towards the goal when it is not all of it (None: continuous KMC,
    #: :attr:`contact_today_s` counts): in intermittent KMC only what lies in sessions of at least
    #: an hour (the running one once it is that long).
    goal_contact_today_s: float | None = None
    #: Whether the running session adds to :attr:`goal_contact_today_s` as it goes (a timer may
    #: count on between updates): always in continuous KMC, in intermittent once it lasts an hour.
    goal_counts_running: bool = True


@dataclass(frozen=True, slots=True)
class UnassignedWrap:
    """A wrap heard on the ward but on no bed (pair it, or it is a neighbour's)."""

    wrap_id: str
    last_heard_us: int
    rssi_dbm: float | None


@dataclass(frozen=True, slots=True)
class TrendBin:
    """One bin of a wrap's chart: core-equivalent temperature spread and contact of its readings.

    Temperatures are of raw readings (plus the site offset), not the rules' smoothed value: a chart
    needs the shape, the rules decide the alarms. ``contact_fraction`` is the share of readings with
    a contact level at or above ``contact_first`` (None when none carried a level).
    ``unjudged_fraction`` is the share of readings fed while the rules did not judge the temperature
    (sensor detached or settling; decided per fed batch, which live is a reading or a few): a chart
    draws them as a gap, since they are not the baby's temperature.
    """

    start_us: int
    count: int
    temp_min_c: float | None
    temp_median_c: float | None
    temp_max_c: float | None
    contact_fraction: float | None
    unjudged_fraction: float = 0.0


@dataclass(frozen=True, slots=True)
class Layout:
    """The ward as the engine needs it: beds in screen order, current admissions by bed, and which
    wrap is on which bed. The runtime reads it from the store (``service.persistence.layout_of``)
    and hands a new one to :meth:`LiveEngine.relayout` after every admit, discharge or assignment;
    a scenario builds one in memory."""

    beds: tuple[Bed, ...] = ()
    #: The current admission of each occupied bed, by bed id.
    admissions: Mapping[str, Admission] = field(default_factory=dict)
    #: Wrap id -> bed id.
    assignments: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    """A wrap's session to save; ``open`` while it is still running (its end will move)."""

    wrap_id: str
    session: Session
    open: bool = False


@dataclass(frozen=True, slots=True)
class StreamCheckpoint:
    """One wrap's rules and chart state, so a restart feeds only the readings after ``through_us``.

    ``state`` is opaque to everything but the engine (a pickle of the stream's carried state, its
    chart bins as flat tuples and the engine's own counters for the wrap, under a fingerprint of the
    parameters it was made with). It is only valid for the same bed and admission: a checkpoint
    that does not fit is ignored and the wrap is rebuilt from its stored readings.
    """

    wrap_id: str
    bed_id: str
    admission_id: int | None
    #: Readings at or before this time were fed; None when none were yet.
    through_us: int | None
    saved_us: int
    state: bytes


@dataclass(frozen=True, slots=True)
class Persist:
    """What the runtime must write for the ward to survive a crash: the engine's side of the
    store, without the store (the engine never touches it).

    A :meth:`LiveEngine.tick` hands out only ``readings``; :meth:`LiveEngine.checkpoint` the rest.
    Write ``readings`` before ``board`` (a saved board never refers to conditions whose readings a
    restart would not find) and ``checkpoints`` after it (a checkpoint never knows conditions the
    saved board does not); then call :meth:`LiveEngine.saved` with the batch.
    """

    now_us: int
    readings: tuple[Reading, ...] = ()
    sessions: tuple[SessionUpdate, ...] = ()
    #: The alarm board's snapshot (None: not part of this batch).
    board: BoardSnapshot | None = None
    audit: tuple[AuditRecord, ...] = ()
    checkpoints: tuple[StreamCheckpoint, ...] = ()


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one :meth:`LiveEngine.tick` changed: board events and the tiles that look different,
    and the readings it accepted since the last tick (to be written)."""

    now_us: int
    events: tuple[AlarmEvent, ...]
    beds: tuple[BedView, ...]
    unassigned_wraps: tuple[UnassignedWrap, ...]
    persist: Persist | None = None
