"""Admitting and discharging a baby: the transactions that span a stay's tables (the bed, the
admission, its caregivers, its family link, the bed's wrap), each one durable and all or nothing."""

from __future__ import annotations

from kmc_monitor.service.store.admissions import get_admission
from kmc_monitor.service.store.codec import utc_text
from kmc_monitor.service.store.connection import StoreConnection
from kmc_monitor.service.store.family_links import insert_link, revoke_links
from kmc_monitor.service.store.layout import end_assignment, require_bed, wrap_on
from kmc_monitor.service.store.programme import insert_caregiver
from kmc_monitor.service.ward_model import (
    Admission,
    AdmissionDetails,
    AlreadyDischargedError,
    BedOccupiedError,
    DischargeStatus,
    InvalidAdmissionError,
    WardConflictError,
)

__all__ = ["StayStore"]


class StayStore(StoreConnection):
    """Admission and discharge across ``admissions``, ``caregivers``, ``family_links`` and
    ``wrap_assignments``."""

    def admit(
        self, bed_id: str, details: AdmissionDetails, token_sha256: bytes, *, now: float, who: str
    ) -> Admission:
        """Admit a baby and store its family link's hash, in one durable transaction."""
        if details.daily_goal_s is None:
            raise InvalidAdmissionError("the admission needs a daily goal (the ward's default)")
        with self._write(f"admitting a baby to bed {bed_id}", durable=True) as c:
            require_bed(c, bed_id)
            row = c.execute(
                "SELECT display_name, admitted_t FROM admissions WHERE bed_id = ? AND discharged_t IS NULL",
                (bed_id,),
            ).fetchone()
            if row is not None:
                raise BedOccupiedError(
                    f"bed {bed_id} is occupied by {row[0]} (admitted {utc_text(row[1])}): discharge first, "
                    "or choose a free bed"
                )
            if details.hospital_number is not None:
                row = c.execute(
                    "SELECT bed_id FROM admissions WHERE hospital_number = ? AND discharged_t IS NULL",
                    (details.hospital_number,),
                ).fetchone()
                if row is not None:
                    raise WardConflictError(
                        f"hospital number {details.hospital_number} is already admitted at bed {row[0]}: "
                        "check the baby's identity"
                    )
            cur = c.execute(
                "INSERT INTO admissions(bed_id, display_name, hospital_number, birth_weight_g, "
                "gestational_age_days, daily_goal_s, site_offset_c, admitted_t, admitted_by, kmc_mode, "
                "birth_t) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bed_id,
                    details.display_name,
                    details.hospital_number,
                    details.birth_weight_g,
                    details.gestational_age.total_days,
                    details.daily_goal_s,
                    details.site_offset_c,
                    now,
                    who,
                    details.kmc_mode.value,
                    details.birth_t,
                ),
            )
            admission_id = int(cur.lastrowid or 0)
            for member in details.family:
                insert_caregiver(c, admission_id, member, now, who)
            insert_link(c, admission_id, token_sha256, now, who)
            return get_admission(c, admission_id)

    def discharge(
        self, admission_id: int, *, now: float, who: str, status: DischargeStatus | None = None
    ) -> Admission:
        """End a stay: revoke its family link and free its bed's wrap, in one durable transaction."""
        with self._write(f"discharging admission {admission_id}", durable=True) as c:
            current = get_admission(c, admission_id)
            if current.discharged_t is not None:
                raise AlreadyDischargedError(
                    f"admission {admission_id} ({current.display_name}) was already discharged at "
                    f"{utc_text(current.discharged_t)} by {current.discharged_by}"
                )
            c.execute(
                "UPDATE admissions SET discharged_t = max(admitted_t, ?), discharged_by = ?, "
                "discharge_status = ? WHERE admission_id = ?",
                (now, who, None if status is None else DischargeStatus(status).value, current.admission_id),
            )
            revoke_links(c, current.admission_id, now, who)
            wrap = wrap_on(c, current.bed_id)
            if wrap is not None:
                end_assignment(c, wrap, now, who)
            return get_admission(c, current.admission_id)
