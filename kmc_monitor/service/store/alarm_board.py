"""The alarm board's persistence: its last snapshot (for a restart), each alarm's history as the
board described it last, and the append-only alarm audit (acknowledgements, pauses), all durable.

An audit line already stored is not stored twice (a unique index over the whole line), so a save
retried after a :class:`~kmc_monitor.service.store.errors.StoreError` cannot duplicate it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from kmc_monitor.service.alarms import AlarmAction, AuditRecord, BoardSnapshot
from kmc_monitor.service.store.codec import encode_json
from kmc_monitor.service.store.connection import StoreConnection

__all__ = ["AlarmBoardStore"]


class AlarmBoardStore(StoreConnection):
    """The ``alarm_board``, ``alarms`` and ``alarm_audit`` tables."""

    def save_alarm_board(
        self, snapshot: BoardSnapshot, audit: Iterable[AuditRecord] = (), *, now: float
    ) -> None:
        """Keep the alarm board's snapshot, its alarms' history and new audit lines, durably.

        One transaction, so the snapshot never runs ahead of or behind its audit log. Audit lines
        already stored are not stored twice: after a :class:`StoreError`, call again with the same
        records (the board's :meth:`~kmc_monitor.service.alarms.AlarmBoard.drain_audit` has handed
        them over; the caller keeps them until this succeeds).
        """
        text = encode_json(snapshot.to_json())
        alarms = [
            (
                a.id,
                a.kind.value,
                a.subject.value,
                a.bed_id,
                a.wrap_id,
                a.raised_us,
                a.ended_us,
                a.cleared_us,
                encode_json(a.to_json()),
            )
            for a in snapshot.alarms
        ]
        lines = [self._audit_row(r) for r in audit]
        with self._write("saving the alarm board", durable=True) as c:
            c.execute(
                "INSERT INTO alarm_board(board_id, saved_t, snapshot) VALUES (1, ?, ?) "
                "ON CONFLICT(board_id) DO UPDATE SET saved_t = excluded.saved_t, "
                "snapshot = excluded.snapshot",
                (now, text),
            )
            c.executemany(
                "INSERT INTO alarms(alarm_id, kind, subject, bed_id, wrap_id, raised_us, ended_us, "
                "cleared_us, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(alarm_id) DO UPDATE SET "
                "kind = excluded.kind, subject = excluded.subject, "
                "bed_id = excluded.bed_id, wrap_id = excluded.wrap_id, raised_us = excluded.raised_us, "
                "ended_us = excluded.ended_us, cleared_us = excluded.cleared_us, data = excluded.data",
                alarms,
            )
            self._insert_audit(c, lines)

    def append_audit(self, audit: Iterable[AuditRecord]) -> None:
        """Keep audit lines on their own (e.g. an audio pause), durably; repeats are stored once."""
        lines = [self._audit_row(r) for r in audit]
        if lines:
            with self._write("saving the alarm audit log", durable=True) as c:
                self._insert_audit(c, lines)

    @staticmethod
    def _audit_row(r: AuditRecord) -> tuple[int, int, int | None, str | None, str, str, str]:
        return (int(r.seq), int(r.at_us), r.alarm_id, r.screen_id, str(r.action), r.who, r.detail)

    @staticmethod
    def _insert_audit(
        c: sqlite3.Connection, lines: list[tuple[int, int, int | None, str | None, str, str, str]]
    ) -> None:
        c.executemany(
            "INSERT OR IGNORE INTO alarm_audit(seq, at_us, alarm_id, screen_id, action, who, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            lines,
        )

    def load_alarm_board(self) -> BoardSnapshot | None:
        """The last saved snapshot (for :meth:`AlarmBoard.restore`), or None on a new ward.

        Raises :class:`~kmc_monitor.errors.AlarmError` when the saved JSON is not a snapshot (as
        restoring it did before the snapshot was typed): a ward must not start with a board it
        silently emptied."""
        rows = self._read("reading the alarm board", "SELECT snapshot FROM alarm_board WHERE board_id = 1")
        if not rows:
            return None
        return BoardSnapshot.from_json(json.loads(rows[0][0]))

    def audit_log(
        self,
        *,
        start_us: int | None = None,
        end_us: int | None = None,
        alarm_id: int | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Audit lines in ``[start_us, end_us)`` (optionally of one alarm), oldest first."""
        sql = (
            "SELECT seq, at_us, who, action, alarm_id, screen_id, detail FROM alarm_audit "
            "WHERE at_us >= ? AND at_us < ?"
        )
        params: list[object] = [
            -(2**63) if start_us is None else int(start_us),
            2**63 - 1 if end_us is None else int(end_us),
        ]
        if alarm_id is not None:
            sql += " AND alarm_id = ?"
            params.append(int(alarm_id))
        sql += " ORDER BY at_us, seq, audit_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = self._read("reading the alarm audit log", sql, params)
        return [
            AuditRecord(int(s), int(t), who, AlarmAction(a), al, sc, d) for s, t, who, a, al, sc, d in rows
        ]

    def alarms_raised_between(self, start_us: int, end_us: int) -> list[dict[str, Any]]:
        """Every alarm raised in ``[start_us, end_us)``, as the board described it last."""
        rows = self._read(
            "reading the ward's alarms",
            "SELECT data FROM alarms WHERE raised_us >= ? AND raised_us < ? ORDER BY raised_us, alarm_id",
            (int(start_us), int(end_us)),
        )
        return [json.loads(r[0]) for r in rows]

    def alarms_for_bed(self, bed_id: str, start_us: int, end_us: int) -> list[dict[str, Any]]:
        """The bed's alarms overlapping ``[start_us, end_us)``, as the board described them last."""
        rows = self._read(
            "reading a bed's alarms",
            "SELECT data FROM alarms WHERE bed_id = ? AND raised_us < ? "
            "AND (ended_us IS NULL OR ended_us >= ?) ORDER BY raised_us, alarm_id",
            (bed_id, int(end_us), int(start_us)),
        )
        return [json.loads(r[0]) for r in rows]
