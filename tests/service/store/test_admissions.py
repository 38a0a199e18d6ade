"""Correcting an admission, and retiring beds around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmc_monitor.service.store import Store
from kmc_monitor.service.ward_model import (
    AdmissionDetails,
    GestationalAge,
    WardConflictError,
    WardError,
)
from tests.service.store.common import T, store_with_beds


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return store_with_beds(tmp_path)


def test_an_admission_is_edited_only_in_the_allowed_fields(store: Store) -> None:
    adm = store.admit(
        "B01",
        AdmissionDetails("Baby", 1500, GestationalAge(32), daily_goal_s=72000.0),
        b"h" * 32,
        now=T,
        who="n",
    )
    store.edit_admission(adm.admission_id, {"display_name": "Baby Mai"}, now=T, who="n")
    assert store.admission(adm.admission_id) is not None
    assert store.admission(adm.admission_id).display_name == "Baby Mai"  # type: ignore[union-attr]
    with pytest.raises(WardError, match="cannot change bed_id"):
        store.edit_admission(adm.admission_id, {"bed_id": "B02"}, now=T, who="n")
    with pytest.raises(WardConflictError):
        store.retire_bed("B01", now=T, who="admin")
    store.retire_bed("B02", now=T, who="admin")
    assert [b.bed_id for b in store.beds()] == ["B01"]
