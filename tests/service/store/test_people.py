"""Nurses and their PINs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmc_monitor.service.store import Store
from kmc_monitor.service.store.people import hash_pin, verify_pin
from kmc_monitor.service.ward_model import (
    WardConflictError,
    WardError,
)
from tests.service.store.common import T, store_with_beds


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return store_with_beds(tmp_path)


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
