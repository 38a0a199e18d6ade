"""The store's fixtures: a store on a real file with a short busy timeout, and a ward of two beds
and two wraps over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kmc_monitor.service.store import Store
from kmc_monitor.service.ward import Ward
from tests.service.store.common import T0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.in_data_dir(tmp_path / "data", busy_timeout_s=0.2) as s:
        yield s


@pytest.fixture
def ward(store: Store) -> Ward:
    w = Ward(store, base_url="http://localhost:8000")
    for bed in ("1", "2"):
        w.add_bed(bed, now=T0 - 86400)
    store.add_wrap("W1", "54:48:E6:8F:80:A5", now=T0 - 86400)
    store.add_wrap("W2", "54:48:E6:8F:80:A6", now=T0 - 86400)
    return w
