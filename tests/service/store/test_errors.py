"""Store errors: each reason an enum member that still reads (and serialises) as its word."""

from __future__ import annotations

import json
import sqlite3

import pytest

from kmc_monitor.service.store import StoreError, StoreErrorReason
from kmc_monitor.service.store.errors import ADVICE, reason_of


def test_reasons_are_the_words_logs_metrics_and_the_api_always_showed() -> None:
    assert [r.value for r in StoreErrorReason] == [
        "locked",
        "full",
        "io",
        "readonly",
        "corrupt",
        "constraint",
        "schema",
        "closed",
        "invalid",
        "other",
    ]
    error = StoreError("x", reason="full")
    assert error.reason is StoreErrorReason.FULL and error.reason == "full"
    assert json.dumps({"reason": error.reason}) == '{"reason": "full"}'
    assert StoreError("x").reason is StoreErrorReason.OTHER
    with pytest.raises(ValueError):
        StoreError("x", reason="bored")


def test_only_a_lock_a_full_disk_or_an_io_error_is_worth_retrying() -> None:
    retryable = {r for r in StoreErrorReason if StoreError("x", reason=r).retryable}
    assert retryable == {StoreErrorReason.LOCKED, StoreErrorReason.FULL, StoreErrorReason.IO}


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (sqlite3.OperationalError("database is locked"), StoreErrorReason.LOCKED),
        (sqlite3.OperationalError("database or disk is full"), StoreErrorReason.FULL),
        (sqlite3.DatabaseError("file is not a database"), StoreErrorReason.CORRUPT),
        (sqlite3.OperationalError("attempt to write a readonly database"), StoreErrorReason.READONLY),
        (sqlite3.OperationalError("disk I/O error"), StoreErrorReason.IO),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), StoreErrorReason.CONSTRAINT),
        (sqlite3.OperationalError("no such table: x"), StoreErrorReason.OTHER),
    ],
)
def test_sqlite_failures_are_classified(exc: sqlite3.Error, reason: StoreErrorReason) -> None:
    assert reason_of(exc) is reason
    assert reason in ADVICE
