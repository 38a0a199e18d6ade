"""The room gateway's own store: its registry and replay counters, its schema, and the one-time
import from the ward database a gateway kept them in before."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from kmc_monitor.devices.protocol.verify import WrapEntry, WrapRegistry
from kmc_monitor.devices.simulation.simulator import WardSimulator
from kmc_monitor.mqtt.gateway_store import FILENAME, GatewayStore, GatewayStoreError
from kmc_monitor.service.store import DB_FILENAME, Store
from kmc_monitor.sources import RegistryConflictError, WrapBook

T0 = 1_767_225_600.0


def entries(n: int, seed: int = 1) -> list[WrapEntry]:
    return WardSimulator(n, start_s=T0, seed=seed).identities()


def test_a_fresh_store_is_private_and_empty(tmp_path: Path) -> None:
    with GatewayStore.in_data_dir(tmp_path / "gw") as store:
        book: WrapBook = store  # the Bluetooth source's view of it, checked by mypy
        assert book.fresh() and book.wrap_registry() == [] and book.wrap_counters() == {}
        assert store.path == tmp_path / "gw" / FILENAME
    assert stat.S_IMODE((tmp_path / "gw").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "gw" / FILENAME).stat().st_mode) == 0o600
    db = sqlite3.connect(tmp_path / "gw" / FILENAME)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"wraps", "gateway_meta"}  # nothing of a ward
    assert db.execute("SELECT value FROM gateway_meta WHERE key = 'schema'").fetchone() == ("1",)
    db.close()


def test_registry_and_counters_survive_a_restart(tmp_path: Path) -> None:
    wraps = entries(3)
    with GatewayStore.in_data_dir(tmp_path) as store:
        assert store.import_registry(WrapRegistry(wraps), now=T0) == 3
        assert store.import_registry(WrapRegistry(wraps), now=T0) == 0  # known already
        store.save_wrap_counters({"W01": 10, "W02": 20})
        assert not store.fresh()
    with GatewayStore.in_data_dir(tmp_path) as store:
        assert store.wrap_registry() == sorted(wraps, key=lambda e: e.wrap_id)
        assert store.wrap_counters() == {"W01": 10, "W02": 20}
        store.save_wrap_counters({"W02": 21})  # a wrap left out is reset
        assert store.wrap_counters() == {"W02": 21}


def test_a_new_key_restarts_the_counter_and_another_mac_is_a_conflict(tmp_path: Path) -> None:
    w = entries(1)[0]
    with GatewayStore.in_data_dir(tmp_path) as store:
        store.import_registry(WrapRegistry([w]), now=T0)
        store.save_wrap_counters({"W01": 99})
        store.import_registry(WrapRegistry([WrapEntry("W01", w.mac, bytes(16))]), now=T0)
        assert store.wrap_counters() == {}
        assert store.wrap_registry() == [WrapEntry("W01", w.mac, bytes(16))]
        with pytest.raises(RegistryConflictError, match="W01"):
            store.import_registry(WrapRegistry([WrapEntry("W01", "C0:00:00:00:00:09", None)]), now=T0)
        with pytest.raises(RegistryConflictError):  # another id on a known MAC address
            store.import_registry(WrapRegistry([WrapEntry("W09", w.mac, None)]), now=T0)
        # Nothing of a refused import was kept.
        assert [e.wrap_id for e in store.wrap_registry()] == ["W01"]


def test_what_an_older_gateway_kept_in_a_ward_database_is_imported_once(tmp_path: Path) -> None:
    a, b, c = entries(3, seed=2)
    with Store.in_data_dir(tmp_path) as ward:
        for e in (a, b, c):
            ward.add_wrap(e.wrap_id, e.mac, e.key, now=T0)
        ward.save_wrap_counters({a.wrap_id: 7, c.wrap_id: 9})
    db = sqlite3.connect(tmp_path / DB_FILENAME)  # a retired wrap is no longer heard: not imported
    with db:
        db.execute("UPDATE wraps SET retired_t = ? WHERE wrap_id = ?", (T0, c.wrap_id))
    db.close()
    with GatewayStore.in_data_dir(tmp_path) as store:
        got = {e.wrap_id: e for e in store.wrap_registry()}
        assert got == {a.wrap_id: a, b.wrap_id: b}
        assert store.wrap_counters()[a.wrap_id] == 7
        store.save_wrap_counters({})
    # Opened again: not imported a second time (the counters stay as the gateway saved them).
    with GatewayStore.in_data_dir(tmp_path) as store:
        assert store.wrap_counters() == {}
    db = sqlite3.connect(tmp_path / FILENAME)
    assert db.execute("SELECT value FROM gateway_meta WHERE key = 'imported_from'").fetchone() == (
        str(tmp_path / DB_FILENAME),
    )
    db.close()


def test_an_unreadable_directory_is_one_plain_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(GatewayStoreError, match="gateway's store"):
        GatewayStore.in_data_dir(blocker / "gw")
