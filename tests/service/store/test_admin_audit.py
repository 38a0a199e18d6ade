"""The ward-admin audit: bed changes recorded, append-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kmc_monitor.service.store import SCHEMA_VERSION, Store
from kmc_monitor.service.ward_model import (
    NotFoundError,
)
from tests.service.store.common import T, store_with_beds


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return store_with_beds(tmp_path)


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
