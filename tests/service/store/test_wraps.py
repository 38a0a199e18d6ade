"""The wrap registry: keys, replay counters, the registry file."""

from __future__ import annotations

import pytest

from kmc_monitor.devices.protocol.verify import AdvertVerifier, WrapEntry, WrapRegistry
from kmc_monitor.service.store import (
    Store,
)
from kmc_monitor.service.ward_model import WardConflictError, WardError
from tests.service.store.common import T0


def test_wrap_registry_keys_and_counters(store: Store) -> None:
    key = "231d39c1d7cc1ab1aee224cd096db932"
    store.add_wrap("W1", "54-48-e6-8f-80-a5", key, now=T0)
    store.add_wrap("W2", "54:48:E6:8F:80:A6", now=T0)
    with pytest.raises(WardConflictError, match="registered already"):
        store.add_wrap("W1", "54:48:E6:8F:80:A7", now=T0)
    with pytest.raises(
        WardConflictError, match="MAC address 54:48:E6:8F:80:A6 is registered already, as wrap W2"
    ):
        store.add_wrap("W3", "54:48:E6:8F:80:A6", now=T0)
    with pytest.raises(WardError, match="32 hex digits"):
        store.add_wrap("W4", "54:48:E6:8F:80:A8", "abc", now=T0)
    registry = store.wrap_registry(allow_unencrypted=True)
    assert registry.allow_unencrypted
    w1 = registry.by_mac("54:48:E6:8F:80:A5")
    assert w1 is not None and w1.key == bytes.fromhex(key)
    store.save_wrap_counters({"W1": 41})
    verifier = AdvertVerifier(registry, last_counters=store.wrap_counters())
    assert verifier.last_counters() == {"W1": 41}
    store.rekey_wrap("W1", None, now=T0, who="staff-test")  # re-provisioned: a new counter space
    assert store.wrap_counters() == {}
    assert store.wrap_registry().by_id("W1") == WrapEntry("W1", "54:48:E6:8F:80:A5")
    with pytest.raises(WardError):
        store.rekey_wrap("W9", key, now=T0, who="staff-test")


def test_import_registry(store: Store) -> None:
    registry = WrapRegistry(
        [WrapEntry("W1", "54:48:E6:8F:80:A5", bytes(16)), WrapEntry("W2", "54:48:E6:8F:80:A6")]
    )
    assert store.import_registry(registry, now=T0) == 2
    assert store.import_registry(registry, now=T0) == 0
    rekeyed = WrapRegistry([WrapEntry("W1", "54:48:E6:8F:80:A5", bytes([1] * 16))])
    assert store.import_registry(rekeyed, now=T0) == 0
    w1 = store.wrap_registry().by_id("W1")
    assert w1 is not None and w1.key == bytes([1] * 16)
    moved = WrapRegistry([WrapEntry("W2", "54:48:E6:8F:80:AF")])
    with pytest.raises(WardConflictError, match="W2 has MAC address"):
        store.import_registry(moved, now=T0)
