"""A ward's first start: the demo ward (each source wrap on a bed of its own, a baby admitted), or
a real ward's empty beds with the source's wraps registered and none assigned.

Run once, by the runtime, when the data directory has no ward yet; a ward that exists is restored
instead. The first-run page's answers (ward name, time zone, beds) are ``firstrun.py``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

from kmc_monitor.service.store import Store
from kmc_monitor.service.ward import FamilyLink, Ward
from kmc_monitor.service.ward_model import AdmissionDetails, GestationalAge

__all__ = ["DEMO_WHO", "demo_ward", "empty_ward"]

logger = logging.getLogger(__name__)

#: Who the audit log names for the demo ward's admissions and assignments.
DEMO_WHO: Final = "demo-setup"

#: ``(wrap_id, mac, key)`` of each wrap a source knows.
SourceWraps = Iterable[tuple[str, str, bytes | None]]


def demo_ward(ward: Ward, store: Store, wraps: SourceWraps, now_s: float) -> dict[int, FamilyLink]:
    """Give each of the source's wraps a bed (``B01``, ``B02``, ...) and a baby, so the screen has
    something to show; returns the family links made, by admission."""
    links: dict[int, FamilyLink] = {}
    for i, (wrap_id, mac, key) in enumerate(wraps, start=1):
        bed_id = f"B{i:02d}"
        ward.add_bed(bed_id, f"Bed {i}", position=i, now=now_s)
        store.add_wrap(wrap_id, mac, key, now=now_s)
        details = AdmissionDetails(
            display_name=f"Baby {i}",
            birth_weight_g=1500 + 50 * (i % 10),
            gestational_age=GestationalAge(33, i % 7),
        )
        adm, link = ward.admit(bed_id, details, now=now_s, who=DEMO_WHO)
        ward.assign_wrap(wrap_id, bed_id, now=now_s, who=DEMO_WHO)
        links[adm.admission_id] = link
    logger.info("demo ward set up with %d beds", len(links))
    return links


def empty_ward(ward: Ward, store: Store, wraps: SourceWraps, beds: int, now_s: float) -> None:
    """A real ward's first start: ``beds`` empty beds, and the source's wraps registered (those not
    registered already), none assigned."""
    for i in range(1, beds + 1):
        ward.add_bed(f"B{i:02d}", f"Bed {i}", position=i, now=now_s)
    known = {w.wrap_id for w in store.wraps()}
    for wrap_id, mac, key in wraps:
        if wrap_id not in known:
            store.add_wrap(wrap_id, mac, key, now=now_s)
    logger.info("ward set up with %d empty beds", beds)
