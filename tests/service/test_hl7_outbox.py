"""The HL7 queue on disk: order, acknowledgement, refusal, the bound, and a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmc_monitor.service.hl7_outbox import Hl7Outbox, Hl7OutboxError


def rows(start: int, n: int, kind: str = "pcd01") -> list[tuple[str, str, int, str]]:
    return [(f"KMC{i}", kind, i, f"MSH|message {i}") for i in range(start, start + n)]


def test_oldest_first_and_deleted_only_when_accepted(tmp_path: Path) -> None:
    box = Hl7Outbox.in_data_dir(tmp_path)
    box.append(rows(1, 3))
    first = box.first()
    assert first is not None and (first.seq, first.control_id) == (1, "KMC1")
    assert box.first() == first  # reading does not take it: only an acknowledgement does
    box.delete(first.seq)
    nxt = box.first()
    assert nxt is not None and nxt.control_id == "KMC2"
    assert (box.pending(), box.last_seq()) == (2, 3)


def test_a_refused_message_is_kept_aside_and_the_queue_moves_on(tmp_path: Path) -> None:
    box = Hl7Outbox.in_data_dir(tmp_path)
    box.append(rows(1, 2))
    box.reject(1, "AE", "unknown patient")
    nxt = box.first()
    assert nxt is not None and nxt.control_id == "KMC2"
    assert (box.pending(), box.rejected()) == (1, 1)


def test_survives_a_restart_and_numbers_never_repeat(tmp_path: Path) -> None:
    box = Hl7Outbox.in_data_dir(tmp_path)
    box.append(rows(1, 3))
    box.delete(1)
    box.delete(2)
    box.delete(3)
    box.close()
    again = Hl7Outbox.in_data_dir(tmp_path)
    assert again.pending() == 0 and again.last_seq() == 3
    again.append(rows(4, 1))
    first = again.first()
    assert first is not None and first.seq == 4


def test_past_the_bound_observations_go_before_alarms(tmp_path: Path) -> None:
    box = Hl7Outbox.in_data_dir(tmp_path, max_rows=3)
    box.append(rows(1, 1, "pcd04") + rows(2, 2, "pcd01"))
    box.append(rows(4, 2, "pcd04"))
    kinds = []
    while (m := box.first()) is not None:
        kinds.append((m.control_id, m.kind))
        box.delete(m.seq)
    assert kinds == [("KMC1", "pcd04"), ("KMC4", "pcd04"), ("KMC5", "pcd04")]
    assert box.dropped() == 2


def test_a_file_that_is_no_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "hl7-outbox.sqlite3"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(Hl7OutboxError, match="cannot be opened"):
        Hl7Outbox(path)
