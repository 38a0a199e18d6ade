"""Receiving a home's sync batch: verify every sealed reading again, store each item once.

Why the station verifies again what the home gateway already verified: the home gateway and the
network are carriers only. A board in a family's home can be opened, its disk copied, its software
replaced; what the station believes about a baby must still come from the wrap itself. So each
reading's sealed packet is checked with the wrap's key (handed to the station at discharge) and
the station's *own* replay counter for that wrap (:class:`~kmc_monitor.devices.verify.AdvertVerifier`,
the verifier the ward's radio uses).

Sequence and idempotency (the contract, ``docs/home-sync.md``): an item whose ``seq`` is stored
already is skipped before it is verified (a batch sent again after a lost acknowledgement must not
be refused as a replay); a new item is stored whether accepted or refused (refused items keep
their reason), so a bad packet advances the sequence and cannot block a home forever.

:class:`SyncReceiver` is synchronous and thread-safe (one lock per home): the web layer runs it in
a worker thread, so neither JSON parsing, AES nor SQLite runs on the event loop that streams the
ward. It reads no clock: ``now`` is passed in.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

from kmc_monitor.devices.verify import AdvertVerifier, Rejection, WrapRegistry
from kmc_monitor.station.store import ItemRow, StationStore
from kmc_monitor.station.wire import DailySummary, SyncAck, SyncBatch

__all__ = ["RefuseReason", "SyncReceiver", "SyncStats"]

logger = logging.getLogger(__name__)


class RefuseReason:
    """Refusals of the station's own, beside the verifier's :class:`RejectReason` values."""

    #: The item names a wrap that did not go home with this baby.
    UNKNOWN_WRAP = "unknown_wrap"
    #: A day summary of a wrap that did not go home with this baby.
    UNKNOWN_WRAP_DAY = "unknown_wrap_day"
    #: The sealed text is not a packet (odd length is caught by the contract; this is the rest).
    NOT_A_PACKET = "not_a_packet"


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
    """A home's verifier, kept between batches so each batch does not rebuild it."""

    def __init__(self, verifier: AdvertVerifier, macs: dict[str, str]) -> None:
        self.verifier = verifier
        self.macs = macs
        self.lock = threading.Lock()


class SyncReceiver:
    """Applies :class:`SyncBatch` es to a :class:`StationStore`; see the module docstring."""

    def __init__(self, store: StationStore) -> None:
        self.store = store
        self.stats = SyncStats()
        self._homes: dict[str, _Home] = {}
        self._guard = threading.Lock()
        self._stats_lock = threading.Lock()

    def _home(self, home_id: str) -> _Home:
        with self._guard:
            home = self._homes.get(home_id)
            if home is None:
                entries, counters = self.store.home_wraps(home_id)
                verifier = AdvertVerifier(WrapRegistry(entries), last_counters=counters)
                home = _Home(verifier, {e.wrap_id: e.mac for e in entries})
                self._homes[home_id] = home
            return home

    def note_invalid(self) -> None:
        with self._stats_lock:
            self.stats.invalid += 1

    def forget(self, home_id: str) -> None:
        """Drop a home's cached verifier (its wraps changed, or a write failed): the next batch
        rebuilds it from the stored counters."""
        with self._guard:
            self._homes.pop(home_id, None)

    def receive(self, home_id: str, batch: SyncBatch, *, now: float) -> SyncAck:
        """Store what is new in ``batch`` for ``home_id`` (already authenticated, already
        validated against the contract) and answer the contract's acknowledgement."""
        self.store.home(home_id)  # NotFoundError for a home no longer in the station's care
        home = self._home(home_id)
        with home.lock:
            try:
                return self._receive(home_id, home, batch, now)
            except BaseException:
                # The verifier may have moved past counters that were never stored: rebuild it.
                self.forget(home_id)
                raise

    def _receive(self, home_id: str, home: _Home, batch: SyncBatch, now: float) -> SyncAck:
        through = self.store.home(home_id).accepted_through
        fresh_readings = [r for r in batch.readings if r.seq > through]
        fresh_days = [d for d in batch.days if d.seq > through]
        held = self.store.held_seqs(home_id, [r.seq for r in fresh_readings] + [d.seq for d in fresh_days])
        repeated = len(batch.readings) + len(batch.days) - len(fresh_readings) - len(fresh_days) + len(held)
        items: list[ItemRow] = []
        days: list[DailySummary] = []
        refused: Counter[str] = Counter()
        first_detail: dict[str, str] = {}
        seen: set[int] = set(held)
        # Oldest first: a wrap's counters rise with its home's sequence.
        for r in sorted(fresh_readings, key=lambda x: x.seq):
            if r.seq in seen:
                continue
            seen.add(r.seq)
            mac = home.macs.get(r.wrap_id)
            if mac is None:
                refused[RefuseReason.UNKNOWN_WRAP] += 1
                first_detail.setdefault(RefuseReason.UNKNOWN_WRAP, f"wrap {r.wrap_id} did not go home")
                items.append(ItemRow(r.seq, "reading", r.wrap_id, t=r.t, refused=RefuseReason.UNKNOWN_WRAP))
                continue
            out = home.verifier.process(mac, bytes.fromhex(r.sealed), r.t, r.rssi_dbm)
            if isinstance(out, Rejection):
                reason = out.reason.value
                refused[reason] += 1
                first_detail.setdefault(reason, f"wrap {r.wrap_id}, seq {r.seq}: {out.detail}")
                items.append(ItemRow(r.seq, "reading", r.wrap_id, t=r.t, refused=reason))
                continue
            items.append(
                ItemRow(
                    r.seq,
                    "reading",
                    r.wrap_id,
                    t=out.t,
                    skin_temp_c=out.skin_temp_c,
                    ambient_temp_c=out.ambient_temp_c,
                    contact=out.contact,
                    battery_pct=out.battery_pct,
                    rssi_dbm=out.rssi_dbm,
                )
            )
        for d in sorted(fresh_days, key=lambda x: x.seq):
            if d.seq in seen:
                continue
            seen.add(d.seq)
            if d.wrap_id not in home.macs:
                refused[RefuseReason.UNKNOWN_WRAP_DAY] += 1
                first_detail.setdefault(RefuseReason.UNKNOWN_WRAP_DAY, f"wrap {d.wrap_id} did not go home")
                items.append(ItemRow(d.seq, "day", d.wrap_id, refused=RefuseReason.UNKNOWN_WRAP_DAY))
                continue
            items.append(ItemRow(d.seq, "day", d.wrap_id))
            days.append(d)
        n_refused = sum(refused.values())
        accepted_through = self.store.save_batch(
            home_id,
            items,
            days,
            home.verifier.last_counters(),
            batch.status,
            n_refused,
            now=now,
        )
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.readings_accepted += sum(1 for i in items if i.kind == "reading" and i.refused is None)
            self.stats.days_accepted += len(days)
            self.stats.repeated += repeated
            self.stats.refused.update(refused)
        if n_refused:
            logger.warning(
                "home %s: %d forwarded item(s) refused (%s); first of each: %s",
                home_id,
                n_refused,
                ", ".join(f"{k}: {v}" for k, v in sorted(refused.items())),
                "; ".join(first_detail[k] for k in sorted(first_detail)),
            )
        return SyncAck(accepted_through=accepted_through, refused=n_refused)
