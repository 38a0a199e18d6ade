"""The store's people tables: nurses and PINs, the ward-admin audit, sealed family links."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kmc_monitor.service.store import SCHEMA_VERSION, Store
from kmc_monitor.service.store_people import hash_pin, verify_pin
from kmc_monitor.service.ward_model import (
    AdmissionDetails,
    Bed,
    GestationalAge,
    NotFoundError,
    WardConflictError,
    WardError,
)

T = 1_767_254_400.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.in_data_dir(tmp_path / "data")
    for i in (1, 2):
        s.add_bed(Bed(f"B0{i}", f"Bed {i}", i), now=T)
    return s


def test_a_pin_is_checked_against_its_own_salt_and_wrong_or_unknown_initials_say_nothing(
    store: Store,
) -> None:
    lan = store.add_nurse("Lan Nguyen", "LN", "4321", now=T, who="admin")
    assert store.nurse_by_pin("ln", "4321") == lan
    assert store.nurse_by_pin("LN", "4322") is None
    assert store.nurse_by_pin("ZZ", "4321") is None
    salt = b"s" * 16
    assert verify_pin("1234", salt, hash_pin("1234", salt)) and not verify_pin(
        "1234", b"t" * 16, hash_pin("1234", salt)
    )
    with pytest.raises(WardError, match="4 to 6 digits"):
        store.add_nurse("A", "A", "12a4", now=T, who="admin")
    with pytest.raises(WardConflictError):
        store.add_nurse("Lien", "ln", "1111", now=T, who="admin")
    store.retire_nurse(lan.nurse_id, now=T, who="admin")
    assert store.nurse_by_pin("LN", "4321") is None
    # Her initials are free again for a new nurse; the retired one stays on record.
    store.add_nurse("Lien Ngo", "LN", "1111", now=T, who="admin")
    assert [n.name for n in store.nurses(include_retired=True)] == ["Lan Nguyen", "Lien Ngo"]


def test_the_admin_audit_is_append_only(store: Store) -> None:
    store.rename_bed("B01", "Door", now=T, who="admin")
    store.reorder_beds(["B02", "B01"], now=T, who="admin")
    assert [b.bed_id for b in store.beds()] == ["B02", "B01"]
    assert [(x.action, x.detail) for x in store.admin_audit_log()] == [
        ("beds_reordered", "B02, B01"),
        ("bed_renamed", "Bed 1 -> Door"),
    ]
    with sqlite3.connect(store.path) as db, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM ward_admin_audit")
    with pytest.raises(NotFoundError):
        store.rename_bed("B09", "x", now=T, who="admin")
    assert store.schema_version == SCHEMA_VERSION


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
