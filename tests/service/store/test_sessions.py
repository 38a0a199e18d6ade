"""Contact sessions by bed and ward-local day."""

from __future__ import annotations

from kmc_monitor.service.store import (
    SessionRecord,
    Store,
)
from kmc_monitor.service.ward import Ward
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import Session
from tests.service.store.common import DAY, T0, TZ


def test_sessions_by_bed_and_day(ward: Ward, store: Store) -> None:
    ward.assign_wrap("W1", "1", now=T0, who="n")
    start = int((T0 + 3600) * US)
    running = Session(start, start + 600 * US, 590 * US, True)
    store.save_sessions([SessionRecord("W1", running, open=True)])
    grown = Session(start, start + 7200 * US, 7000 * US, False)
    store.save_sessions([SessionRecord("W1", grown, open=False)])  # the same session, finished
    other = Session(int((T0 - 7200) * US), int((T0 - 3600) * US), 3000 * US, True)  # before W1 came
    store.save_sessions([SessionRecord("W1", other), SessionRecord("W2", grown)])
    (saved,) = store.sessions_for_bed_day("1", DAY, TZ)
    assert (saved.bed_id, saved.wrap_id, saved.session, saved.open) == ("1", "W1", grown, False)
    assert store.sessions_for_bed("1", T0 + 4000, T0 + 5000) == [saved]  # overlaps the window
    assert store.sessions_for_bed("2", T0 - 86400, T0 + 86400) == []  # W2 was on no bed
    store.save_sessions([])
