"""Receiving a home's sync batch: verify every sealed reading again, store each item once.

Why the station verifies again what the home gateway already verified: the home gateway and the
network are carriers only. A board in a family's home can be opened, its disk copied, its software
replaced; what the station believes about a baby must still come from the wrap itself. So each
reading's sealed packet is checked with the wrap's key (handed to the station at discharge) and
the station's *own* replay counter for that wrap
(:class:`~kmc_monitor.devices.protocol.verify.AdvertVerifier`,
the verifier the ward's radio uses).

Sequence and idempotency (the contract, ``docs/home-sync.md``): an item whose ``seq`` is stored
already is not stored again (a batch sent again after a lost acknowledgement changes nothing and
is not counted as refused); a new item is stored whether accepted or refused (refused items keep
their reason), so a bad packet advances the sequence and cannot block a home forever.

Where the work runs. :func:`verify_batch` is pure (bytes, the home's wraps and counters in; rows
out; no I/O, no clock), so the receiver can run it in a pool of worker *processes*: a station
catching up on 500 homes verifies millions of packets (AES-CCM and the BTHome decoder, about
25 µs each in Python) and parses as many JSON items, which in one process would hold its GIL and
slow the ward's stream. Small batches (a home that syncs every few minutes) are verified in the
calling thread: a round trip to another process would cost more than the work. The receiver
itself is synchronous and thread-safe (one lock per home, so a home's counters move in sequence
order); the web layer calls it in a worker thread, never on the event loop.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from kmc_monitor.devices.protocol.verify import AdvertVerifier, Rejection, WrapEntry, WrapRegistry
from kmc_monitor.station.store import REFUSED, SEQ, BatchWrite, ItemRow, StationStore
from kmc_monitor.station.wire import DailySummary, HomeStatus, SyncAck, SyncBatch

__all__ = [
    "POOL_MIN_BYTES",
    "Invalid",
    "RefuseReason",
    "SyncReceiver",
    "SyncStats",
    "Verified",
    "verify_batch",
]

logger = logging.getLogger(__name__)

#: A batch body at least this large is verified in the process pool (when there is one).
POOL_MIN_BYTES: Final = 32 * 1024


class RefuseReason:
    """Refusals of the station's own, beside the verifier's ``RejectReason`` values."""

    #: The item names a wrap that did not go home with this baby.
    UNKNOWN_WRAP = "unknown_wrap"
    #: A day summary of a wrap that did not go home with this baby.
    UNKNOWN_WRAP_DAY = "unknown_wrap_day"


@dataclass(frozen=True, slots=True)
class Invalid:
    """A batch refused whole: not the contract. ``errors`` say where and what, never the value."""

    errors: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Verified:
    """What :func:`verify_batch` made of a batch: the rows to store (items above ``through``, in
    sequence order), the days, the status, and the wraps' counters after it."""

    items: list[ItemRow]
    days: list[DailySummary]
    status: HomeStatus
    counters: dict[str, int]
    repeated: int  # items at or below ``through``: stored already
    details: dict[str, str]  # the first refusal's explanation, per reason


def verify_batch(
    body: bytes,
    home_id: str,
    wraps: Sequence[tuple[str, str, bytes | None]],
    counters: Mapping[str, int],
    through: int,
) -> Verified | Invalid:
    """Parse ``body`` against the contract and verify each new reading of ``home_id``.

    ``wraps``: the home's ``(wrap_id, mac, key)``; ``counters``: the station's last accepted counter
    of each; ``through``: the home's acknowledged sequence (items at or below it are skipped).
    Pure: run it in any thread or process.
    """
    try:
        batch = SyncBatch.model_validate_json(body)
    except ValidationError as exc:
        return Invalid(
            [
                {
                    "loc": ["body", *e.get("loc", ())],
                    "msg": e.get("msg", "invalid"),
                    "type": e.get("type", ""),
                }
                for e in exc.errors(include_input=False, include_url=False)
            ]
        )
    if batch.home_id != home_id:
        return Invalid(
            [
                {
                    "loc": ["body", "home_id"],
                    "msg": "the batch names another home than its address",
                    "type": "value_error",
                }
            ]
        )
    entries = [WrapEntry(w, m, k) for w, m, k in wraps]
    macs = {e.wrap_id: e.mac for e in entries}
    verifier = AdvertVerifier(WrapRegistry(entries), last_counters=dict(counters))
    items: list[ItemRow] = []
    days: list[DailySummary] = []
    details: dict[str, str] = {}
    seen: set[int] = set()
    fresh = sorted(
        [(r.seq, r) for r in batch.readings if r.seq > through]
        + [(d.seq, d) for d in batch.days if d.seq > through],
        key=lambda x: x[0],
    )
    repeated = len(batch.readings) + len(batch.days) - len(fresh)
    # Oldest first: a wrap's counters rise with its home's sequence.
    for seq, item in fresh:
        if seq in seen:
            repeated += 1
            continue
        seen.add(seq)
        if isinstance(item, DailySummary):
            if item.wrap_id not in macs:
                details.setdefault(RefuseReason.UNKNOWN_WRAP_DAY, f"wrap {item.wrap_id} did not go home")
                items.append(
                    (
                        seq,
                        "day",
                        item.wrap_id,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        RefuseReason.UNKNOWN_WRAP_DAY,
                    )
                )
            else:
                items.append((seq, "day", item.wrap_id, None, None, None, None, None, None, None))
                days.append(item)
            continue
        mac = macs.get(item.wrap_id)
        if mac is None:
            details.setdefault(RefuseReason.UNKNOWN_WRAP, f"wrap {item.wrap_id} did not go home")
            items.append(
                (
                    seq,
                    "reading",
                    item.wrap_id,
                    item.t,
                    None,
                    None,
                    None,
                    None,
                    None,
                    RefuseReason.UNKNOWN_WRAP,
                )
            )
            continue
        out = verifier.process(mac, bytes.fromhex(item.sealed), item.t, item.rssi_dbm)
        if isinstance(out, Rejection):
            reason = out.reason.value
            details.setdefault(reason, f"wrap {item.wrap_id}, seq {seq}: {out.detail}")
            items.append((seq, "reading", item.wrap_id, item.t, None, None, None, None, None, reason))
            continue
        items.append(
            (
                seq,
                "reading",
                item.wrap_id,
                out.t,
                out.skin_temp_c,
                out.ambient_temp_c,
                out.contact,
                out.battery_pct,
                out.rssi_dbm,
                None,
            )
        )
    return Verified(items, days, batch.status, verifier.last_counters(), repeated, details)


@dataclass
class SyncStats:
    """Counters read by ``/metrics`` (labels: fixed words only, never a home or wrap id)."""

    batches: int = 0
    #: Batches refused whole: not the contract (422), or naming another home than their address.
    invalid: int = 0
    readings_accepted: int = 0
    days_accepted: int = 0
    repeated: int = 0
    refused: Counter[str] = field(default_factory=Counter)


class _Home:
    """A home's wraps and the station's counters of them, kept between batches."""

    def __init__(self, wraps: list[tuple[str, str, bytes | None]], counters: dict[str, int]) -> None:
        self.wraps = wraps
        self.counters = counters
        self.lock = threading.Lock()


#: At most this many batches are committed together: each adds about 5 ms of the write lock,
#: which the ward's tick waits for (at most 50 ms) when it commits its readings meanwhile.
GROUP_MAX: Final = 4


class _GroupWriter:
    """One thread that commits the batches waiting for it together (a group commit).

    Why: each acknowledgement needs its batch fsynced (``synchronous=FULL``), and each
    transaction holds SQLite's write lock, which the ward's own writes also need. Committing the
    batches that queued up while the previous commit ran in one transaction costs one lock and
    one fsync for all of them: fewer, longer waits for the ward instead of one per batch. A
    batch waits for nothing that is not already there: alone, it commits at once.
    """

    def __init__(self, store: StationStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[tuple[BatchWrite, Future[int]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def write(self, batch: BatchWrite) -> int:
        """Commit ``batch`` (with whatever else is waiting); its new ``accepted_through``."""
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kmc-station-writer", daemon=True)
                self._thread.start()
        done: Future[int] = Future()
        self._queue.put((batch, done))
        return done.result()

    def close(self) -> None:
        with self._start:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
                self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < GROUP_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            try:
                results = self.store.save_batches([b for b, _ in group])
            except BaseException as exc:  # all or none: every waiting home hears why (503)
                for _, f in group:
                    f.set_exception(exc)
            else:
                for (_, f), through in zip(group, results, strict=True):
                    f.set_result(through)
            if stop:
                return


class SyncReceiver:
    """Applies sync batches to a :class:`StationStore`; see the module docstring.

    ``pool``: where large batches are verified (a process pool), or None for the calling thread.
    """

    def __init__(self, store: StationStore, pool: Executor | None = None) -> None:
        self.store = store
        self.pool = pool
        self.stats = SyncStats()
        self._homes: dict[str, _Home] = {}
        self._guard = threading.Lock()
        self._stats_lock = threading.Lock()
        self._writer = _GroupWriter(store)

    def close(self) -> None:
        """Stop the writer thread (after the batches it holds are committed)."""
        self._writer.close()

    def _home(self, home_id: str) -> _Home:
        with self._guard:
            home = self._homes.get(home_id)
            if home is None:
                entries, counters = self.store.home_wraps(home_id)
                home = _Home([(e.wrap_id, e.mac, e.key) for e in entries], counters)
                self._homes[home_id] = home
            return home

    def forget(self, home_id: str) -> None:
        """Drop a home's cached wraps and counters: the next batch reads them from the store."""
        with self._guard:
            self._homes.pop(home_id, None)

    def receive(self, home_id: str, body: bytes, *, now: float) -> SyncAck | Invalid:
        """Store what is new in the batch ``body`` (JSON) of ``home_id`` (already authenticated)
        and answer the contract's acknowledgement, or :class:`Invalid` (nothing stored)."""
        through = self.store.home(home_id).accepted_through  # NotFoundError: not in care any more
        home = self._home(home_id)
        with home.lock:
            through = self.store.home(home_id).accepted_through  # a batch may have landed meanwhile
            args = (body, home_id, home.wraps, dict(home.counters), through)
            if self.pool is not None and len(body) >= POOL_MIN_BYTES:
                out = self.pool.submit(verify_batch, *args).result()
            else:
                out = verify_batch(*args)
            if isinstance(out, Invalid):
                with self._stats_lock:
                    self.stats.invalid += 1
                return out
            # Items above ``through`` that arrived before (out of order, or a batch sent twice
            # across a gap) are stored already: not again, and not counted as refused.
            held = self.store.held_seqs(home_id, [i[SEQ] for i in out.items])
            items = [i for i in out.items if i[SEQ] not in held] if held else out.items
            days = [d for d in out.days if d.seq not in held]
            refused = Counter(i[REFUSED] for i in items if i[REFUSED] is not None)
            n_refused = sum(refused.values())
            accepted_through = self._writer.write(
                BatchWrite(home_id, items, days, out.counters, out.status, n_refused, now)
            )
            home.counters = dict(out.counters)  # only once stored: a failed write keeps the old
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.readings_accepted += sum(1 for i in items if i[1] == "reading" and i[REFUSED] is None)
            self.stats.days_accepted += len(days)
            self.stats.repeated += out.repeated + len(held)
            self.stats.refused.update(refused)
        if n_refused:
            logger.warning(
                "home %s: %d forwarded item(s) refused (%s); first of each: %s",
                home_id,
                n_refused,
                ", ".join(f"{k}: {v}" for k, v in sorted(refused.items())),
                "; ".join(out.details[k] for k in sorted(refused) if k in out.details),
            )
        return SyncAck(accepted_through=accepted_through, refused=n_refused)
