"""A scenario's live path: the ward service's engine fed the trace on an injected clock, with no
database.

The engine is sans-I/O: it hands out what the ward must keep (:class:`~kmc_monitor.service.engine.
Persist`) and never reads it back. So the live path needs no store: :class:`MemoryWard` is the ward
the engine is told about (beds, admissions, wraps, caregivers, who holds the baby) and the sink its
batches go to, kept in memory. The facts are then derived by the product's own rules: the alarm
board's events and views as the engine's board has them, sessions attributed to the stay by
:func:`~kmc_monitor.programme.caregivers.attribute_stay` (what the store's ``stay_sessions`` runs).
No SQLite, no temporary directory: a scenario run imports neither (``tests/scenarios/
test_no_store.py``), so it runs where the store cannot and cannot leave files behind.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from kmc_monitor.devices.reading import Reading
from kmc_monitor.programme.caregivers import StaySession, attribute_stay
from kmc_monitor.scenarios.facts import LIVE, AlarmFact, Facts, facts_of_report
from kmc_monitor.scenarios.load import ScenarioError
from kmc_monitor.scenarios.model import Scenario
from kmc_monitor.service.alarm_snapshot import BoardSnapshot
from kmc_monitor.service.alarms import AlarmState
from kmc_monitor.service.engine import LiveEngine
from kmc_monitor.service.engine_model import Layout, Persist, SessionUpdate
from kmc_monitor.service.ward_model import (
    Admission,
    AdmissionDetails,
    Bed,
    CaregiverRole,
    FamilyMember,
    GestationalAge,
    KmcMode,
)
from kmc_monitor.signal.params import US, RuleParams, seconds_to_us
from kmc_monitor.signal.report import AlarmKind, Priority

__all__ = ["MemoryWard", "run_live"]


class MemoryWard:
    """The ward of a scenario run, in memory: the layout the engine is given, the stays' caregivers
    and holding steps, and what the engine's :class:`Persist` batches say to keep.

    Only what a scenario's facts read back is kept in full (sessions, as the store's ``sessions``
    table keeps them: one row per wrap and start, a running session replaced as it grows); readings
    and audit lines are only counted and the board's last snapshot kept, since nothing reads them
    back (the facts take the board live, from the engine). A stay here is never discharged and a
    wrap never moves bed, so the store's assignment history reduces to one span per wrap.
    """

    def __init__(self) -> None:
        self._beds: list[Bed] = []
        self._admissions: dict[str, Admission] = {}
        #: Wrap id -> (bed id, assigned from).
        self._assigned: dict[str, tuple[str, float]] = {}
        self._members: dict[int, list[FamilyMember]] = {}
        self._holding: dict[int, dict[float, int | None]] = {}
        self._sessions: dict[tuple[str, int], SessionUpdate] = {}
        self._next_caregiver = 1
        self.readings = 0
        self.audit_lines = 0
        self.board: BoardSnapshot | None = None

    # The ward, as a scenario sets it up ------------------------------------------------------------
    def admit(self, bed: Bed, wrap_id: str, details: AdmissionDetails, *, now: float, who: str) -> Admission:
        """Add ``bed``, admit a baby to it and put ``wrap_id`` on it, all at ``now``. ``details``
        has been checked on construction, as the ward's own admission form is."""
        assert details.daily_goal_s is not None, "a scenario's admission names its daily goal"
        admission = Admission(
            admission_id=len(self._admissions) + 1,
            bed_id=bed.bed_id,
            display_name=details.display_name,
            hospital_number=details.hospital_number,
            birth_weight_g=details.birth_weight_g,
            gestational_age=details.gestational_age,
            daily_goal_s=float(details.daily_goal_s),
            site_offset_c=float(details.site_offset_c),
            admitted_t=now,
            admitted_by=who,
            kmc_mode=details.kmc_mode,
            birth_t=details.birth_t,
        )
        self._beds.append(bed)
        self._admissions[bed.bed_id] = admission
        self._assigned[wrap_id] = (bed.bed_id, now)
        members = []
        for m in details.family:
            members.append(FamilyMember(m.role, m.name, self._next_caregiver))
            self._next_caregiver += 1
        self._members[admission.admission_id] = members
        self._holding[admission.admission_id] = {}
        return admission

    def caregivers(self, admission_id: int) -> list[FamilyMember]:
        """The stay's caregivers with their ids, in the order named (the store lists the mother
        first; nothing here depends on the order)."""
        return list(self._members[admission_id])

    def set_holder(self, admission: Admission, caregiver_id: int | None, *, from_t: float) -> None:
        """Who holds from ``from_t`` (a step at the same instant is replaced, as in the store).

        The ward refuses a step before the stay (:meth:`kmc_monitor.service.ward.Ward.set_holder`);
        so does a scenario run, as an error in the scenario."""
        if not math.isfinite(from_t) or from_t < admission.admitted_t - 1.0:
            raise ScenarioError(
                f"holding: a step at {from_t} is not during the stay (which starts an hour before the trace)"
            )
        self._holding[admission.admission_id][from_t] = caregiver_id

    def layout(self) -> Layout:
        """The engine's view of this ward, ordered as the store's queries order it."""
        return Layout(
            beds=tuple(sorted(self._beds, key=lambda b: (b.position, b.bed_id))),
            admissions=dict(self._admissions),
            assignments={w: bed for w, (bed, _) in sorted(self._assigned.items())},
        )

    # The sink -------------------------------------------------------------------------------------
    def write(self, batch: Persist) -> None:
        """Keep a batch, as :func:`kmc_monitor.service.persistence.write` does in the store."""
        self.readings += len(batch.readings)
        for u in batch.sessions:
            self._sessions[(u.wrap_id, u.session.start_us)] = u
        if batch.board is not None:
            self.board = batch.board
        self.audit_lines += len(batch.audit)

    def stay_sessions(self, admission: Admission, start_t: float, end_t: float) -> list[StaySession]:
        """What the store's ``stay_sessions`` answers: the sessions of the wraps that were on the
        stay's bed when each began, attributed by the same rule."""
        on_bed = [
            u
            for u in self._sessions.values()
            if (at := self._assigned.get(u.wrap_id)) is not None
            and at[0] == admission.bed_id
            and u.session.start_us >= at[1] * US
        ]
        steps = sorted(self._holding[admission.admission_id].items())
        return attribute_stay(admission, self._members[admission.admission_id], steps, on_bed, start_t, end_t)


def _member(name: str) -> FamilyMember:
    if name in ("mother", "father"):
        return FamilyMember(CaregiverRole(name))
    return FamilyMember(CaregiverRole.FAMILY, name)


def run_live(
    readings: Sequence[Reading],
    wraps: Sequence[str],
    t0_s: float,
    scenario: Scenario,
    params: RuleParams,
    until_us: int,
) -> dict[str, Facts]:
    """The ward service's engine on an in-memory ward: a bed and an admission per wrap, readings
    arriving at their own time, ticks every ``live.tick_s`` until the trace's end (and the reorder
    window) has passed. Sessions and totals come from each wrap's live stream at the end, alarms
    from what the board did."""
    ordered = sorted(readings, key=lambda r: r.t)  # each arrives at its own time
    admitted_s = math.floor(ordered[0].t) - 3600.0
    ward = MemoryWard()
    stays: dict[str, Admission] = {}
    for i, wrap_id in enumerate(wraps, start=1):
        spec = scenario.admission
        details = AdmissionDetails(
            f"Scenario baby {i}",
            1500,
            GestationalAge(32),
            site_offset_c=scenario.site_offset_c,
            daily_goal_s=params.daily_goal_s,
            kmc_mode=KmcMode(spec.mode),
            family=tuple(_member(name) for name in spec.caregivers),
        )
        adm = ward.admit(Bed(f"B{i:03d}", f"Bed {i}", i), wrap_id, details, now=admitted_s, who="scenario")
        stays[wrap_id] = adm
        ids = {m.label: m.caregiver_id for m in ward.caregivers(adm.admission_id)}
        for step in scenario.holding:
            ward.set_holder(adm, ids.get(step.who), from_t=step.at.at(t0_s))
    engine = LiveEngine(ward.layout(), params, reorder_s=scenario.live.reorder_s)
    tick_us = seconds_to_us(scenario.live.tick_s)
    final_us = until_us + engine.reorder_us
    t_us = np.rint(np.array([r.t for r in ordered]) * US).astype(np.int64)
    raised: dict[tuple[str | int, ...], tuple[int, Priority]] = {}
    sounded: dict[str, set[AlarmKind]] = {}
    shown_high: dict[str, set[AlarmKind]] = {}
    ended: dict[tuple[str | int, ...], tuple[int, float | None]] = {}
    now = int(t_us[0])
    k = 0
    while True:
        j = int(np.searchsorted(t_us, now, side="right"))
        if j > k:
            engine.ingest(ordered[k:j])
            k = j
        result = engine.tick(now)
        if result.persist is not None:
            ward.write(result.persist)
        for e in result.events:
            a = e.alarm
            if a is None:
                continue
            if e.action.value == "raised":
                raised[a.key] = (a.raised_us, a.priority)
            elif e.action.value == "ended":
                ended[a.key] = (e.at_us, a.extreme_c)
        # What a ward screen shows and plays now (one screen, never paused).
        playing = engine.board.sounding("scenario-screen", now)
        if playing is not None and playing.wrap_id is not None and isinstance(playing.kind, AlarmKind):
            sounded.setdefault(playing.wrap_id, set()).add(playing.kind)
        for v in engine.board.visible(now):
            if v.wrap_id is None or not isinstance(v.kind, AlarmKind):
                continue  # the ward's own alarms (a scenario runs no store, no HL7 link)
            if v.priority is Priority.HIGH or v.state is AlarmState.LATCHED:
                shown_high.setdefault(v.wrap_id, set()).add(v.kind)
        if now >= final_us:
            break
        now = min(now + tick_us, final_us)
    # The sessions, as the ward saves them at a checkpoint.
    batch = engine.checkpoint(now, streams=False)
    ward.write(batch)
    engine.saved(batch)
    out: dict[str, Facts] = {}
    for wrap_id in wraps:
        stream = engine.stream(wrap_id)
        assert stream is not None
        # An alarm still open: its extreme so far as the ward's board has it (what the tile, bed
        # page, report and export show), not the stream's own.
        still = {
            (v.kind.value, int(v.key[2])): v.extreme_c
            for v in engine.board.visible(final_us)
            if v.wrap_id == wrap_id and v.ended_us is None and len(v.key) == 3
        }
        alarms = []
        for key, (at_us, priority) in raised.items():
            if key[0] != wrap_id:
                continue
            end = ended.get(key)
            alarms.append(
                AlarmFact(
                    AlarmKind(str(key[1])),
                    priority,
                    at_us / US,
                    None if end is None else end[0] / US,
                    still.get((str(key[1]), int(key[2]))) if end is None else end[1],
                )
            )
        alarms.sort(key=lambda a: (a.start_s, a.kind.value))
        lag_s = scenario.live.tick_s if len(wraps) > 1 else 0.0
        facts = facts_of_report(stream.report(until_us), LIVE, lag_s, alarms)
        stay = stays[wrap_id]
        by: dict[str, float] = {}
        for s in ward.stay_sessions(stay, stay.admitted_t, final_us / US + 1.0):
            by[s.label] = by.get(s.label, 0.0) + s.contact_s
        out[wrap_id] = dataclasses.replace(
            facts,
            sounded=frozenset(sounded.get(wrap_id, ())),
            shown_high=frozenset(shown_high.get(wrap_id, ())),
            caregiver_s=tuple(sorted(by.items())),
        )
    return out
