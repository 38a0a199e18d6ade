"""Schema upgrades: all or nothing, a newer or foreign file refused, old databases upgraded with
their content unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kmc_monitor.service.store import (
    SCHEMA_VERSION,
    Store,
    StoreError,
    migrations,
)


def test_a_failed_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.sqlite3"
    Store(path).close()

    def broken_step(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE extra (x INTEGER)")
        c.execute("THIS IS NOT SQL")

    monkeypatch.setattr(migrations, "STEPS", (*migrations.STEPS, broken_step))
    with pytest.raises(StoreError, match="upgrading the database schema failed, nothing was written"):
        Store(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0

    def fixed_step(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE extra (x INTEGER)")

    monkeypatch.setattr(migrations, "STEPS", (*migrations.STEPS[:SCHEMA_VERSION], fixed_step))
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION + 1


def test_refuses_newer_schema_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer than this kmc-monitor understands") as info:
        Store(path)
    assert info.value.reason == "schema"
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is a text file, not a database" * 100)
    with pytest.raises(StoreError) as info:
        Store(junk)
    assert info.value.reason == "corrupt"
    assert "restore it from a backup" in str(info.value)
