"""A synthetic December 2026 on a real ward database, built through the ward and store API only.

Used by the indicator tests (values worked out by hand there) and the CLI tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from kmc_monitor.service.alarms import AlarmRecord, AlarmSubject, BoardSnapshot, board_alarm_kind, subject_of
from kmc_monitor.service.store import SessionRecord, Store
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import (
    AdmissionDetails,
    CaregiverRole,
    DischargeStatus,
    FamilyMember,
    GestationalAge,
    KmcMode,
)
from kmc_monitor.signal.report import Session

H = 3600.0
#: "Now" for the month: after it ended, so every day of December is finished.
NOW = dt.datetime(2027, 1, 2, 9, 0, tzinfo=dt.UTC).timestamp()


def t(day: int, hour: float, month: int = 12, year: int = 2026) -> float:
    """Seconds since the epoch of ``year-month-day`` at ``hour`` (UTC)."""
    return dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp() + hour * H


@dataclass
class Month:
    store: Store
    ward: Ward
    ids: dict[str, int]


def _session(store: Store, wrap: str, start: float, end: float, contact_s: float | None = None) -> None:
    contact = end - start if contact_s is None else contact_s
    us = 1_000_000
    store.save_sessions(
        [
            SessionRecord(
                wrap, Session(round(start * us), round(end * us), round(contact * us), end - start < H)
            )
        ]
    )


def build_month(data_dir: Path) -> Month:
    store = Store.in_data_dir(data_dir)
    ward = Ward(store, base_url="http://127.0.0.1")
    t0 = t(1, 0, month=11)
    for i in (1, 2, 3):
        ward.add_bed(f"B{i}", now=t0)
        ward.add_wrap(f"W{i}", f"AA:BB:CC:00:00:0{i}", now=t0)

    def details(name: str, **kw: object) -> AdmissionDetails:
        return AdmissionDetails(name, 1500, GestationalAge(32), **kw)  # type: ignore[arg-type]

    # A: continuous, mother and father; admitted in November (its initiation is November's).
    a, _ = ward.admit(
        "B1",
        details(
            "Baby A",
            birth_t=t(30, 6, month=11),
            family=(FamilyMember(CaregiverRole.MOTHER), FamilyMember(CaregiverRole.FATHER)),
        ),
        now=t(30, 12, month=11),
        who="nurse",
    )
    ward.assign_wrap("W1", "B1", now=t(30, 12, month=11), who="nurse")
    mother_a, father_a = (m.caregiver_id for m in ward.caregivers(a.admission_id))
    ward.set_holder(a.admission_id, mother_a, from_t=t(30, 12, month=11), now=NOW, who="x", source="family")
    _session(store, "W1", t(30, 14, month=11), t(30, 16, month=11))
    for day in range(1, 10):
        _session(store, "W1", t(day, 2), t(day, 12))  # the mother, 10 h
        if day <= 5:
            # Dec 3: the father takes over at 11:00, one hour before the mother's session ends —
            # she held for most of it, so it stays hers.
            hand_over = 11 if day == 3 else 13.5
            ward.set_holder(
                a.admission_id, father_a, from_t=t(day, hand_over), now=NOW, who="x", source="family"
            )
            _session(store, "W1", t(day, 14), t(day, 17))  # the father, 3 h
            ward.set_holder(a.admission_id, mother_a, from_t=t(day, 18), now=NOW, who="x", source="family")
    ward.discharge(a.admission_id, now=t(10, 12), who="nurse", status=DischargeStatus.HOME_ON_KMC)

    # B: intermittent, goal 4 h, mother and grandmother.
    b, _ = ward.admit(
        "B2",
        details(
            "Baby B",
            kmc_mode=KmcMode.INTERMITTENT,
            daily_goal_s=4 * H,
            birth_t=t(5, 2),
            family=(FamilyMember(CaregiverRole.MOTHER), FamilyMember(CaregiverRole.FAMILY, "grandmother")),
        ),
        now=t(5, 8),
        who="nurse",
    )
    ward.assign_wrap("W2", "B2", now=t(5, 8), who="nurse")
    mother_b, gran_b = (m.caregiver_id for m in ward.caregivers(b.admission_id))
    ward.set_holder(b.admission_id, mother_b, from_t=t(5, 9), now=NOW, who="x", source="family")
    _session(store, "W2", t(5, 10), t(5, 12))  # first skin-to-skin: 8 h after birth, 2 h after admission
    for day in range(6, 15):
        holder = mother_b if day % 2 else gran_b
        ward.set_holder(b.admission_id, holder, from_t=t(day, 8.5), now=NOW, who="x", source="family")
        _session(store, "W2", t(day, 9), t(day, 12.5 if day == 10 else 14))
    # Dec 10: 3 h 30 min in the long session and 40 min more in a short one - 4 h 10 min in all,
    # but intermittent KMC counts only sessions of at least an hour: the 4 h goal is not met.
    _session(store, "W2", t(10, 20), t(10, 20 + 40 / 60))
    # A nurse corrects Dec 12: the mother held that session, not the grandmother.
    ward.set_holder(
        b.admission_id, mother_b, from_t=t(12, 9), until_t=t(12, 14), now=NOW, who="nurse", source="staff"
    )
    ward.discharge(b.admission_id, now=t(15, 8), who="nurse", status=DischargeStatus.TRANSFERRED)

    # C: continuous, nobody named, never discharged; a session crosses into January.
    c, _ = ward.admit("B3", details("Baby C", birth_t=t(19, 18)), now=t(20, 0), who="nurse")
    ward.assign_wrap("W3", "B3", now=t(20, 0), who="nurse")
    _session(store, "W3", t(20, 4), t(20, 10))
    for day in range(21, 32):
        _session(store, "W3", t(day, 1), t(day, 22))
    _session(store, "W3", t(31, 23), t(1, 1, month=1, year=2027))

    # D and E: short stays on bed 1 without contact; D's status recorded afterwards, E's never.
    d, _ = ward.admit("B1", details("Baby D"), now=t(28, 0), who="nurse")
    ward.discharge(d.admission_id, now=t(29, 0), who="nurse")
    ward.set_discharge_status(d.admission_id, DischargeStatus.DIED, who="nurse")
    e, _ = ward.admit("B1", details("Baby E"), now=t(29, 12), who="nurse")
    ward.discharge(e.admission_id, now=t(30, 12), who="nurse")

    # Alarms: the board's snapshot as the service saves it.
    us = 1_000_000

    def alarm(i: int, kind: str, bed: str | None, raised: float, ack_after_s: float | None) -> AlarmRecord:
        r = round(raised * us)
        board_kind = board_alarm_kind(kind)
        subject = subject_of(board_kind)
        wrap_id = None if subject is AlarmSubject.WARD else "W1" if bed is None else "W" + bed[1]
        return AlarmRecord(
            id=i,
            key=(wrap_id or subject.value, kind, r),
            kind=board_kind,
            bed_id=bed,
            wrap_id=wrap_id,
            raised_us=r,
            extreme_c=None,
            escalate_at_us=None,
            signal_seq=i,
            ended_us=r + 600 * us,
            acked_us=None if ack_after_s is None else r + round(ack_after_s * us),
            acked_by=None if ack_after_s is None else "nurse",
            escalated_us=None,
            cleared_us=None,
            reminded_us=None,
        )

    alarms = (
        alarm(1, "cold_stress", "B1", t(30, 20, month=11), 5),  # November
        alarm(2, "cold_stress", "B1", t(2, 10), 60),
        alarm(3, "cold_stress", "B2", t(7, 10), None),
        alarm(4, "hypothermia_moderate", "B3", t(22, 3), 30),
        alarm(5, "hypothermia_severe", "B3", t(23, 3), 10),
        alarm(6, "no_data", "B3", t(24, 3), 120),
        alarm(7, "low_daily_contact", "B2", t(11, 0), None),
        alarm(8, "storage_failure", None, t(12, 3), 20),  # the ward's, no bed
    )
    store.save_alarm_board(BoardSnapshot(clock_us=None, next_id=9, seq=8, alarms=alarms), now=NOW)
    return Month(store, ward, {"A": a.admission_id, "B": b.admission_id, "C": c.admission_id})
