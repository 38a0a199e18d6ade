"""The glue between the sans-I/O engine and the store: the ward's layout in, the engine's
:class:`~kmc_monitor.service.engine.Persist` batches out to SQLite, and a restart's restore.

The engine says *what* must be kept; this module says *how*: readings through the
:class:`~kmc_monitor.service.store.ReadingWriter` (batched, retried), then sessions, the board with
its audit lines (one durable transaction), then the stream checkpoints (after the board, so a
checkpoint never knows a condition the saved board does not). Any of them may raise
:class:`~kmc_monitor.service.store.StoreError`; the runtime decides what that means
(``service/storage_health.py``), and the engine hands the unsaved parts out again next time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.engine import Layout, LiveEngine, Persist, StreamCheckpoint, TickResult
from kmc_monitor.service.store import ReadingWriter, SessionRecord, Store
from kmc_monitor.service.ward import Ward
from kmc_monitor.signal.params import US

__all__ = [
    "checkpoint",
    "layout_of",
    "load_checkpoints",
    "restore",
    "save_checkpoints",
    "write",
    "write_readings",
]

logger = logging.getLogger(__name__)


def layout_of(ward: Ward) -> Layout:
    """The engine's view of the ward as the store has it now."""
    return Layout(
        beds=tuple(ward.beds()),
        admissions={a.bed_id: a for a in ward.current_admissions()},
        assignments=dict(ward.store.current_assignments()),
    )


def write_readings(
    store: Store, readings: Iterable[Reading], now_us: int, writer: ReadingWriter | None
) -> None:
    """Hand readings to the writer (written on its schedule) or, without one, store them now."""
    batch = list(readings)
    if writer is not None:
        if batch:
            writer.add(batch, now_us / US)
        writer.tick(now_us / US)
    elif batch:
        store.append_readings(batch)


def write(store: Store, batch: Persist, *, writer: ReadingWriter | None = None) -> None:
    """Write a checkpoint batch in the order that keeps a restart consistent (module docstring).

    Raises :class:`~kmc_monitor.service.store.StoreError`; the caller calls
    :meth:`LiveEngine.saved` only when this returned.
    """
    if writer is not None:
        if batch.readings:
            writer.add(batch.readings, batch.now_us / US)
        writer.flush(batch.now_us / US)
    elif batch.readings:
        store.append_readings(batch.readings)
    if batch.sessions:
        store.save_sessions(SessionRecord(u.wrap_id, u.session, u.open) for u in batch.sessions)
    if batch.board is not None:
        store.save_alarm_board(batch.board, batch.audit, now=batch.now_us / US)
    if batch.checkpoints:
        save_checkpoints(store, batch.checkpoints)


def checkpoint(
    engine: LiveEngine,
    store: Store,
    now_us: int,
    *,
    writer: ReadingWriter | None = None,
    streams: bool = True,
) -> Persist:
    """Take the engine's checkpoint batch, write it, and tell the engine it is saved."""
    batch = engine.checkpoint(now_us, streams=streams)
    write(store, batch, writer=writer)
    engine.saved(batch)
    return batch


def save_checkpoints(store: Store, checkpoints: Iterable[StreamCheckpoint]) -> None:
    """Keep each wrap's latest stream checkpoint (one row per wrap, replaced)."""
    rows = [(c.wrap_id, c.bed_id, c.admission_id, c.through_us, c.saved_us, c.state) for c in checkpoints]
    if not rows:
        return
    with store._write(f"saving {len(rows)} stream checkpoint(s)") as c:
        c.executemany(
            "INSERT INTO stream_checkpoints(wrap_id, bed_id, admission_id, through_us, saved_us, state) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(wrap_id) DO UPDATE SET bed_id = excluded.bed_id, "
            "admission_id = excluded.admission_id, through_us = excluded.through_us, "
            "saved_us = excluded.saved_us, state = excluded.state",
            rows,
        )


def load_checkpoints(store: Store) -> dict[str, StreamCheckpoint]:
    """Every wrap's last stream checkpoint, by wrap id."""
    rows = store._read(
        "reading the stream checkpoints",
        "SELECT wrap_id, bed_id, admission_id, through_us, saved_us, state FROM stream_checkpoints",
    )
    return {
        str(w): StreamCheckpoint(
            str(w), str(b), None if a is None else int(a), None if t is None else int(t), int(s), bytes(x)
        )
        for w, b, a, t, s, x in rows
    }


def restore(engine: LiveEngine, store: Store, now_us: int, *, lookback_s: float = 26 * 3600.0) -> TickResult:
    """Continue a ward after a crash or a restart: the saved board, each wrap's checkpoint and the
    readings stored after it (:meth:`LiveEngine.restore`)."""
    board = store.load_alarm_board()
    checkpoints = load_checkpoints(store)
    needed = engine.history_needed(now_us, checkpoints, lookback_s=lookback_s)
    history = {
        wrap_id: store.readings(wrap_id, start_us / US, math.inf) for wrap_id, start_us in needed.items()
    }
    resumed = sum(1 for w in needed if w in checkpoints)
    logger.info(
        "restoring %d wraps (%d from checkpoints), %d stored readings to feed",
        len(needed),
        resumed,
        sum(len(h) for h in history.values()),
    )
    return engine.restore(now_us, board=board, history=history, checkpoints=checkpoints)
