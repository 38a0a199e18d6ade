"""Sealed family links are kept for current stays only."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmc_monitor.service.store import Store
from kmc_monitor.service.ward_model import (
    AdmissionDetails,
    GestationalAge,
)
from tests.service.store.common import T, store_with_beds


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return store_with_beds(tmp_path)


def test_sealed_links_are_kept_for_current_stays_only(store: Store) -> None:
    adm = store.admit(
        "B01",
        AdmissionDetails("Baby", 1500, GestationalAge(32), daily_goal_s=72000.0),
        b"h" * 32,
        now=T,
        who="n",
    )
    store.seal_family_link(adm.admission_id, b"sealed-1", now=T)
    store.seal_family_link(adm.admission_id, b"sealed-2", now=T)
    assert list(store.sealed_family_links()) == [(adm.admission_id, b"sealed-2")]
    store.discharge(adm.admission_id, now=T + 60, who="n")
    assert list(store.sealed_family_links()) == []
