"""The running ward: store, ward, live engine, a reading source and the hub.

:class:`WardRuntime` is what the app's lifespan owns. Every :data:`POLL_S` it takes what its source
received (simulated wraps by default, a replayed trace, a radio), ticks the engine on an injected
clock, checkpoints (readings through the engine's writer within a second; the alarm board after
events and staff actions, and every few seconds), and publishes to the hub: ``alarm`` messages as
they happen and ``update`` messages carrying the tiles that changed, on the ``ward`` channel; a
plain status on each watched bed's family channel.

Why poll at 20 Hz rather than tick once a second: a reading then reaches the screens within about
50 ms of its arrival instead of waiting up to a second for the next tick, and the work of a second's
readings is spread over twenty small steps instead of landing on the event loop all at once (one
long step delays every client's messages, alarms included). A tile with no new reading is still
recomputed once a second (timers run, "no data" comes), each bed on its own phase; an ``update`` is
sent at least once a second even when nothing changed, so a screen can tell a quiet ward from a
dead connection.

Demo mode: on a data directory without a ward, each source wrap is registered, given its own bed
and admitted, so the screen has something to show. A data directory that has a ward is restored
(:meth:`LiveEngine.restore`) instead: admissions, acknowledgements and timers continue.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.alarms import (
    AlarmEvent,
    AlarmState,
    AlarmSubject,
    AlarmView,
    ConditionKey,
    WardAlarmKind,
    ward_condition_key,
)
from kmc_monitor.service.config import Settings
from kmc_monitor.service.engine import BedView, LiveEngine, TickResult
from kmc_monitor.service.family_view import family_json
from kmc_monitor.service.hl7 import Identity
from kmc_monitor.service.hl7_feed import Hl7Feed
from kmc_monitor.service.hl7_link import Hl7Link
from kmc_monitor.service.hl7_outbox import Hl7Outbox, Hl7OutboxError
from kmc_monitor.service.hub import Channel, Hub
from kmc_monitor.service.mllp import MllpUrl
from kmc_monitor.service.persistence import checkpoint, layout_of, restore, write_readings
from kmc_monitor.service.setup import demo_ward, empty_ward
from kmc_monitor.service.storage_health import STORAGE_ALARM_AFTER_S, StorageHealth
from kmc_monitor.service.store import ReadingWriter, Store, StoreError
from kmc_monitor.service.tickstats import TickStats
from kmc_monitor.service.views import alarm_json, bed_json, event_json, unassigned_json
from kmc_monitor.service.ward import FamilyLink, Ward, family_link_url
from kmc_monitor.service.ward_model import (
    Admission,
    AdmissionDetails,
    DischargeStatus,
    WrapInfo,
)
from kmc_monitor.signal.params import US
from kmc_monitor.sources import ReadingSource, ReplayClock, simulated_source

__all__ = [
    "STORAGE_ALARM_AFTER_S",
    "ReplayClock",
    "WardRuntime",
]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

#: The alarm board is saved at least this often even without events (timers, escalations).
BOARD_CHECKPOINT_S = 5.0
#: Readings older than the retention period are deleted this often (seconds of ward time).
PRUNE_EVERY_S = 600.0
#: Seconds between polls of the source (and engine ticks).
POLL_S = 0.05
#: An ``update`` is published at least this often, and the unassigned wraps with it.
HEARTBEAT_S = 1.0
#: A tile nothing touched (no reading, no alarm) is recomputed once a ward second for its timers,
#: but at most this many times a wall second: a replay at 40x would otherwise recompute and send every
#: tile at every tick (20 a second), for timers that show minutes. Real-time wards are unchanged.
TILE_REFRESH_PER_WALL_S = 4.0
#: Every wrap's stream checkpoint is saved this often (ward seconds): a restart feeds at most about
#: this much of each wrap's readings instead of its whole day.
STREAM_CHECKPOINT_S = 30.0
#: The tick's writes wait at most this long for another program's lock (see
#: :meth:`Store.waiting_at_most`): the tick runs on the loop that sends every screen its alarms.
TICK_WRITE_WAIT_S = 0.05
#: A wrap heard on no bed is forgotten after this long unheard (it reappears when heard again).
UNASSIGNED_FORGET_S = 600.0
#: At most this many wraps heard on no bed are kept (the least recently heard go first).
UNASSIGNED_MAX = 64
#: A staff action's database write waits at most this long for another program's lock, in a worker
#: thread, before it is refused (503, "try again"): the store's lock is shared with the tick's writes.
STAFF_WRITE_WAIT_S = 0.1


class WardRuntime:
    """One ward running: see the module docstring.

    Parameters
    ----------
    settings
        The service settings (data directory, rule parameters, ward time zone).
    source
        Where readings come from (default: ``settings.simulate`` simulated wraps, 12 if 0).
    clock
        Seconds since the epoch (default ``time.time``; a :class:`ReplayClock` for replays).
    tick_s
        Real seconds between polls and ticks; None runs no loop (a test calls :meth:`step`).
    hub
        The fan-out (default: a fresh :class:`Hub`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        source: ReadingSource | None = None,
        clock: Callable[[], float] | None = None,
        tick_s: float | None = POLL_S,
        hub: Hub | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or time.time
        self.source = source
        self.tick_s = tick_s
        self.hub = hub or Hub()
        self._store: Store | None = None
        self._ward: Ward | None = None
        self._engine: LiveEngine | None = None
        self._writer: ReadingWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_board_save_s = -math.inf
        self._last_update_s = -math.inf
        self._last_prune_s = -math.inf
        self._last_forget_s = -math.inf
        #: Wraps heard on no bed that were forgotten (unheard too long, too many, or cleared).
        self.unassigned_forgotten = 0
        self._last_streams_save_s = -math.inf
        self._board_dirty = False
        #: Storage health: refused checkpoints, their retry pause and the ``storage_failure`` alarm.
        self.storage = StorageHealth()
        #: Family links made by this process (a token is never stored, only its hash).
        self.family_links: dict[int, FamilyLink] = {}
        #: Open family streams by admission: each event is set when that stream's link stops
        #: being valid (revoked, renewed or discharged), so the web layer closes it at once.
        self._family_streams: dict[int, set[asyncio.Event]] = {}
        self.ward_channel: Channel = self.hub.channel("ward", self._ward_snapshot)
        #: Tick durations, readings taken and alarms raised, read by ``/metrics``.
        self.tick_stats = TickStats()
        #: The HL7 interface (``settings.hl7_url``): its queue feed, its link, and the open
        #: ``hl7_link_failure`` alarm's key.
        self.hl7_feed: Hl7Feed | None = None
        self.hl7_link: Hl7Link | None = None
        self._hl7_alarm: ConditionKey | None = None
        #: For the family guide (#19): when each stay was last seen in skin-to-skin (seconds of the
        #: ward clock; unknown after a restart until seen), and the stays whose discharge
        #: checklist the nurse has started (None until first read from the store).
        self._last_contact_s: dict[int, float] = {}
        self._going_home: set[int] | None = None

    # Parts --------------------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        assert self._store is not None, "the runtime is not started"
        return self._store

    @property
    def ward(self) -> Ward:
        assert self._ward is not None, "the runtime is not started"
        return self._ward

    @property
    def engine(self) -> LiveEngine:
        assert self._engine is not None, "the runtime is not started"
        return self._engine

    @property
    def writer(self) -> ReadingWriter:
        """Where the engine's accepted readings go (batched; kept in memory while the disk refuses)."""
        assert self._writer is not None, "the runtime is not started"
        return self._writer

    @property
    def checkpoint_failures(self) -> int:
        """Checkpoints the database refused (each retried)."""
        return self.storage.failures

    def now_us(self) -> int:
        return round(self.clock() * US)

    # Lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the source, open the store, set up or restore the ward, and start the tick loop."""
        if self.source is None:
            self.source = simulated_source(
                self.settings.simulate, start_s=self.clock(), measure_s=self.settings.simulate_measure_s
            )
        if self.source.verifies_with_registry:
            # A source that verifies readings with the ward's registry (MQTT) needs it before its
            # first message: open the store first (such a source has no wraps of its own).
            self.open()
            self.wraps_changed(counters=True)
            await self.source.start()
        else:
            await self.source.start()
            self.open()
        self._start_hl7()
        if self.tick_s is not None:
            self._task = asyncio.create_task(self._loop(self.tick_s), name="kmc-ward-tick")

    def _start_hl7(self) -> None:
        """Open the HL7 queue and start its link when the settings name an interface engine."""
        url = self.settings.hl7_url
        if url is None:
            return
        outbox = Hl7Outbox.in_data_dir(self.settings.data_dir, max_rows=self.settings.hl7_outbox_max_rows)
        ident = Identity(
            facility=self.settings.ward_name,
            receiving_application=self.settings.hl7_receiving_application,
            receiving_facility=self.settings.hl7_receiving_facility,
        )
        link = Hl7Link(MllpUrl.parse(url), outbox, ident, keepalive_s=self.settings.hl7_keepalive_s)
        ward = self.ward
        self.hl7_feed = Hl7Feed(
            outbox,
            ident,
            self.settings.ward_name,
            ward.admission,
            interval_s=self.settings.hl7_observation_interval_s,
            wake=link.wake,
        )
        self.hl7_link = link
        now_us = self.now_us()
        self.hl7_feed.latched(
            v.alarm_id for v in self.engine.board.visible(now_us) if v.state is AlarmState.LATCHED
        )
        link.start()
        logger.info("HL7 interface: sending to %s (%d messages waiting)", link.url, outbox.pending())

    def open(self) -> None:
        """Open the store and set up (demo) or restore the ward; no loop."""
        if self.source is None:
            self.source = simulated_source(
                self.settings.simulate, start_s=self.clock(), measure_s=self.settings.simulate_measure_s
            )
        store = Store.from_settings(self.settings)
        self._store = store
        ward = Ward.from_settings(store, self.settings)
        self._ward = ward
        fresh = not ward.beds()
        if not fresh and isinstance(self.clock, ReplayClock):
            self._resume_replay(store)
        now_s = self.clock()
        if fresh and self.source.demo:
            self.family_links.update(demo_ward(ward, store, self.source.wraps(), now_s))
        elif fresh:
            empty_ward(ward, store, self.source.wraps(), self.settings.beds, now_s)
        reorder_s = self.settings.reorder_s
        if reorder_s is None:
            reorder_s = self.source.reorder_s
        speed = self.clock.speed if isinstance(self.clock, ReplayClock) else 1.0
        engine = LiveEngine(
            layout_of(ward),
            self.settings.rule_params(),
            reorder_s=reorder_s,
            max_clock_lead_s=self.settings.live_clock_lead_s,
            status_every_s=max(1.0, speed / TILE_REFRESH_PER_WALL_S),
        )
        self._engine = engine
        self._writer = ReadingWriter(store)
        self.storage.writer = self._writer
        if not fresh:
            wall_s = time.time()
            result = restore(engine, store, round(now_s * US))
            logger.info("ward restored from %s (%d beds)", store.path, len(ward.beds()))
            self._publish(result, wall_s)
        # The board now; the streams' checkpoints at the next due time (the ones just restored stay
        # valid: a second restart feeds the readings after them, which are stored).
        checkpoint(engine, store, round(now_s * US), writer=self._writer, streams=False)
        self._last_board_save_s = self._last_streams_save_s = now_s
        # The database takes writes (the checkpoint above): a storage alarm the saved board still
        # had open (saved while readings were refused) is over.
        for v in engine.board.visible(round(now_s * US)):
            # (and an HL7 link alarm: this process's link says anew, within 5 s, if it is down)
            if v.subject is AlarmSubject.WARD and v.ended_us is None:
                self._emit_board_events(engine.board.condition_ended(v.key, round(now_s * US)), time.time())

    def _resume_replay(self, store: Store) -> None:
        """A replay restarted on its own data directory continues where the saved ward stopped
        (replayed time going back would end and clear what the board knew)."""
        assert isinstance(self.clock, ReplayClock) and self.source is not None
        snap = store.load_alarm_board()
        clock_us = None if snap is None else snap.clock_us
        if isinstance(clock_us, int) and clock_us / US > self.clock():
            self.clock.start_s += clock_us / US - self.clock()
            # The source starts again from its beginning: the engine drops what it already has
            # (restored from the store) as late or duplicate, and takes what was never stored.
            logger.info("replay resumed at the saved ward's time")

    async def stop(self) -> None:
        """Stop the loop and the source, save everything and close the store."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.source is not None:
            with contextlib.suppress(Exception):
                await self.source.stop()
        if self.hl7_link is not None:
            await self.hl7_link.stop()
            self.hl7_link.outbox.close()
        if self._engine is not None and self._store is not None:
            try:
                checkpoint(self._engine, self._store, self.now_us(), writer=self._writer)
            finally:
                self._store.close()

    async def _loop(self, tick_s: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                self.step()
            except Exception:  # one bad tick must not stop the ward's screen
                logger.exception("tick failed")
            due += tick_s
            delay = due - loop.time()
            if delay < 0:  # fell behind (a slow disk): carry on from now, never burst
                due, delay = loop.time(), 0.0
            await asyncio.sleep(delay)

    # The tick -----------------------------------------------------------------------------------
    def step(self) -> TickResult:
        """One tick: take readings, run the engine, publish, checkpoint when due."""
        assert self.source is not None
        started = time.perf_counter()
        # Wall-clock time the tick began: every message it publishes carries it as ``sent_wall``
        # (the engine raises its alarms after this), so a client can measure its delivery delay.
        wall_s = time.time()
        now_s = self.clock()
        now_us = round(now_s * US)
        readings = self.source.readings_until(now_s)
        if readings:
            self.engine.ingest(readings, now_us=now_us)
        self._forget_unheard(now_s, now_us)
        # Wraps whose gateway is known gone (an MQTT Last Will) show "no data" now, not in 30 s.
        self.engine.mark_silent(self.source.silenced(), now_us)
        result = self.engine.tick(now_us)
        if result.persist is not None:
            with self.store.waiting_at_most(TICK_WRITE_WAIT_S):  # the writer keeps what the disk refuses
                write_readings(self.store, result.persist.readings, now_us, self.writer)
        self._publish(result, wall_s)
        if self.hl7_feed is not None:
            self._feed_hl7(now_us, result.events, result.beds)
        if result.events:
            self._board_dirty = True
        due = self._board_dirty or now_s - self._last_board_save_s >= BOARD_CHECKPOINT_S
        if due and self.storage.may_checkpoint(now_s):
            self._try_checkpoint(now_us)
        self._emit_board_events(self.storage.watch(self.engine.board, now_s, now_us), wall_s)
        self._watch_hl7(now_us, wall_s)
        if now_s - self._last_prune_s >= PRUNE_EVERY_S:
            self._prune(now_s)
        self.tick_stats.observe(time.perf_counter() - started, len(readings), result.events)
        return result

    def _forget_unheard(self, now_s: float, now_us: int) -> None:
        """Keep the list of wraps heard on no bed short: forget those not heard for
        :data:`UNASSIGNED_FORGET_S` (checked every second), and at once the least recently heard
        beyond :data:`UNASSIGNED_MAX` (a flood of invented wrap ids)."""
        engine = self.engine
        over = engine.wrap_count > engine.assigned_count + UNASSIGNED_MAX
        if over or now_s - self._last_forget_s >= HEARTBEAT_S:
            self._last_forget_s = now_s
            forgotten = engine.forget_unassigned(
                now_us, older_than_us=round(UNASSIGNED_FORGET_S * US), keep_at_most=UNASSIGNED_MAX
            )
            self.unassigned_forgotten += forgotten

    def forget_unassigned_now(self) -> int:
        """Staff clear the list of wraps heard on no bed (those heard again reappear)."""
        forgotten = self.engine.forget_unassigned(self.now_us())
        self.unassigned_forgotten += forgotten
        return forgotten

    def _prune(self, now_s: float) -> None:
        """Drop readings past the retention period (``retention_days``, 30 by default). Run when
        the ward opens and every :data:`PRUNE_EVERY_S` after, so each run removes only a few
        minutes' worth; a refusal (the disk busy) is left for the next run, nothing else waits."""
        self._last_prune_s = now_s
        try:
            with self.store.waiting_at_most(TICK_WRITE_WAIT_S):
                self.store.prune(now_s)
        except StoreError as exc:
            logger.info("old readings not pruned this time: %s", exc)

    def _checkpoint(self, now_us: int) -> None:
        now_s = now_us / US
        streams = now_s - self._last_streams_save_s >= STREAM_CHECKPOINT_S
        checkpoint(self.engine, self.store, now_us, writer=self.writer, streams=streams)
        self._board_dirty = False
        self._last_board_save_s = now_s
        if streams:
            self._last_streams_save_s = now_s

    def _try_checkpoint(self, now_us: int) -> None:
        """Checkpoint without waiting on another program's lock; a refusal is kept for the storage
        alarm and retried after a pause (the board stays dirty, the readings stay in the writer and
        the audit lines in the engine: nothing is lost, only not yet on disk)."""
        try:
            with self.store.waiting_at_most(TICK_WRITE_WAIT_S):
                self._checkpoint(now_us)
        except StoreError as exc:
            self.storage.checkpoint_refused(exc, now_us / US)
        else:
            self.storage.checkpoint_ok()

    # Storage health -----------------------------------------------------------------------------
    def storage_error(self) -> StoreError | None:
        """Why the database refuses writes now (None when the last attempts succeeded)."""
        return self.storage.error()

    def storage_detail(self) -> str | None:
        """The storage problem in words for the nurses and the engineer (None when there is none)."""
        return self.storage.detail()

    def alarm_detail(self, a: AlarmView) -> str | None:
        """The words an alarm carries beyond its kind: the storage failure's or the HL7 link's
        cause while it lasts."""
        if a.kind is WardAlarmKind.STORAGE_FAILURE and a.ended_us is None:
            return self.storage_detail()
        if a.kind is WardAlarmKind.HL7_LINK_FAILURE and a.ended_us is None and self.hl7_link is not None:
            link = self.hl7_link
            pending = link.outbox.pending()
            return (
                f"{link.down_reason or 'the HL7 interface engine does not acknowledge'}: alarms reach the "
                f"hospital's systems only when it is back ({pending} messages kept, sent in order then)."
                " Watch this screen."
            )
        return None

    def alarm_json(self, a: AlarmView) -> dict[str, Any]:
        """:func:`alarm_json` with this ward's words for the alarm (``detail``)."""
        return alarm_json(a, self.alarm_detail(a))

    # HL7 interface ------------------------------------------------------------------------------
    def _feed_hl7(self, now_us: int, events: Sequence[AlarmEvent], beds: Sequence[BedView] = ()) -> None:
        """Queue the HL7 messages of these events and tiles; a queue that refuses (the disk) is
        logged and the link's alarm says the hospital is not being told."""
        if self.hl7_feed is None:
            return
        try:
            self.hl7_feed.on_tick(now_us, events, beds, lambda: self.engine.views(now_us))
        except Hl7OutboxError as exc:
            logger.error("HL7 messages could not be queued: %s", exc)
            if self.hl7_link is not None:
                self.hl7_link.queue_failed(str(exc))

    def _watch_hl7(self, now_us: int, wall_s: float) -> None:
        """Raise the ward's ``hl7_link_failure`` alarm while the link's watchdog says it is down;
        end it when the engine acknowledges again."""
        link = self.hl7_link
        if link is None:
            return
        if link.alarm_due():
            if self._hl7_alarm is None:
                kind = WardAlarmKind.HL7_LINK_FAILURE
                key = ward_condition_key(kind, now_us)
                self._hl7_alarm = key
                logger.error("HL7 link failure alarm raised: %s", link.down_reason)
                events = self.engine.board.condition_started(key, kind, None, None, now_us)
                self._emit_board_events(events, wall_s)
        elif link.up and self._hl7_alarm is not None:
            key, self._hl7_alarm = self._hl7_alarm, None
            logger.info("HL7 link failure alarm ended: the interface engine acknowledges again")
            self._emit_board_events(self.engine.board.condition_ended(key, now_us), wall_s)

    def _emit_board_events(self, events: list[AlarmEvent], wall_s: float) -> None:
        """Publish board events made outside the engine's tick; the board is saved at the next
        checkpoint (never from here: the database may be what is failing)."""
        for e in events:
            detail = None if e.alarm is None else self.alarm_detail(e.alarm)
            self.ward_channel.publish({**event_json(e, detail), "sent_wall": wall_s})
        if events:
            self._board_dirty = True
            self._feed_hl7(self.now_us(), events)

    def _publish(self, result: TickResult, wall_s: float) -> None:
        for e in result.events:
            self.ward_channel.publish({**event_json(e), "sent_wall": wall_s})
        heartbeat = wall_s - self._last_update_s >= HEARTBEAT_S
        if result.beds or heartbeat:
            update: dict[str, Any] = {
                "type": "update",
                "now_us": result.now_us,
                "beds": [bed_json(v) for v in result.beds],
            }
            if heartbeat:
                self._last_update_s = wall_s
                update["unassigned_wraps"] = [unassigned_json(u) for u in result.unassigned_wraps]
            update["sent_wall"] = wall_s
            self.ward_channel.publish(update)
        changed = {v.bed_id: v for v in result.beds}
        for v in changed.values():
            self._note_contact(v)  # watched or not: a page opened later must know the break
            ch = self.hub.get(_bed_channel(v.bed_id))
            if ch is not None and ch.subscribers:
                ch.publish(self.family_message(v))

    def _publish_events(self, events: list[AlarmEvent]) -> None:
        """Publish a staff action's events and save the board now (an acknowledgement must survive
        a power cut); if the database refuses, the action still stands, the storage alarm says the
        ward is not being saved, and the tick retries."""
        wall_s = time.time()
        for e in events:
            detail = None if e.alarm is None else self.alarm_detail(e.alarm)
            self.ward_channel.publish({**event_json(e, detail), "sent_wall": wall_s})
        if events:
            self._board_dirty = True
            self._feed_hl7(self.now_us(), events)
            self._try_checkpoint(self.now_us())

    # Snapshots ----------------------------------------------------------------------------------
    def _ward_snapshot(self, seq: int) -> dict[str, Any]:
        now_us = self.now_us()
        return {
            "type": "snapshot",
            "ward_name": self.settings.ward_name,
            "now_us": now_us,
            "beds": [bed_json(v) for v in self.engine.views(now_us)],
            "unassigned_wraps": [unassigned_json(u) for u in self.engine.unassigned_wraps()],
        }

    def bed_view(self, bed_id: str) -> BedView | None:
        return next((v for v in self.engine.views(self.now_us()) if v.bed_id == bed_id), None)

    def bed_channel(self, bed_id: str) -> Channel:
        def snapshot(seq: int) -> dict[str, Any]:
            v = self.bed_view(bed_id)
            return (
                {"type": "bed", "status": "This bed is no longer on the ward."}
                if v is None
                else self.family_message(v)
            )

        return self.hub.channel(_bed_channel(bed_id), snapshot)

    # The family guide (#19) ---------------------------------------------------------------------
    def family_message(self, v: BedView) -> dict[str, Any]:
        """The family stream's message for ``v``, with the guide card the moment calls for."""
        self._note_contact(v)
        seen = None if v.admission_id is None else self._last_contact_s.get(v.admission_id)
        apart = None if seen is None else max(0.0, self.clock() - seen)
        return family_json(v, apart_s=apart, going_home=v.admission_id in self._checklists_started())

    def _note_contact(self, v: BedView) -> None:
        """Remember when each stay was last seen in skin-to-skin (by admission: a new baby on the
        bed starts with no break counted)."""
        if v.admission_id is not None and (v.session_state in ("running", "paused") or v.contact):
            self._last_contact_s[v.admission_id] = self.clock()

    def _checklists_started(self) -> set[int]:
        if self._going_home is None:
            started: set[int] = set()
            try:
                for adm in self.ward.current_admissions():
                    if any(done for _, done, _, _ in self.store.teaching(adm.admission_id)):
                        started.add(adm.admission_id)
            except StoreError as exc:
                # Not worth a failure, nor a query per message while the database refuses: no
                # "before discharge" card until the next tick of a checklist reads it again.
                logger.warning("discharge checklists not read for the family guide: %s", exc)
                started = set()
            self._going_home = started
        return self._going_home

    def checklist_changed(self, admission_id: int) -> None:
        """A checklist item was ticked: the family page may need its "before discharge" card."""
        self._going_home = None

    # Staff actions ------------------------------------------------------------------------------
    def acknowledge(self, alarm_id: int, who: str) -> AlarmView:
        now_us = self.now_us()
        events = self.engine.board.acknowledge(alarm_id, who, now_us)
        self._board_dirty = True
        self._publish_events(events)
        return self.engine.board.alarm(alarm_id, self.now_us())

    def pause_audio(self, screen_id: str, who: str) -> int | None:
        now_us = self.now_us()
        events = self.engine.board.pause_audio(screen_id, who, now_us)
        self._board_dirty = True
        self._publish_events(events)
        return self.engine.board.audio_paused_until(screen_id, now_us)

    # Staff actions --------------------------------------------------------------------------------
    # Each is a database write (run in a worker thread, waiting at most STAFF_WRITE_WAIT_S for
    # another program's lock, so a locked database answers 503 at once and the event loop, which
    # sends every screen its alarms, never waits on SQLite), then the engine's part, on the loop.
    async def write(self, step: Callable[[float], _T]) -> tuple[_T, float]:
        """Run a store write ``step(now_s)`` off the event loop with the staff writes' short bounded
        wait (a locked database answers 503 at once; the ward stream keeps flowing); returns its
        result and the ward time it ran at. For routers outside this module."""
        now_s = self.clock()
        store = self.store

        def run() -> _T:
            with store.waiting_at_most(STAFF_WRITE_WAIT_S):
                return step(now_s)

        return await asyncio.to_thread(run), now_s

    def _relayout(self, now_s: float) -> None:
        self._publish_events(self.engine.relayout(layout_of(self.ward), round(now_s * US)))

    async def admit(
        self, bed_id: str, details: AdmissionDetails, who: str, wrap_id: str | None = None
    ) -> tuple[Admission, FamilyLink]:
        def step(now_s: float) -> tuple[Admission, FamilyLink]:
            adm, link = self.ward.admit(bed_id, details, now=now_s, who=who)
            if wrap_id is not None:
                self.ward.assign_wrap(wrap_id, bed_id, now=now_s, who=who, replace=True)
            return adm, link

        (adm, link), now_s = await self.write(step)
        self.family_links[adm.admission_id] = link
        self._relayout(now_s)
        return adm, link

    async def discharge(
        self, admission_id: int, who: str, status: DischargeStatus | None = None
    ) -> Admission:
        adm, now_s = await self.write(
            lambda now: self.ward.discharge(admission_id, now=now, who=who, status=status)
        )
        self.family_links.pop(admission_id, None)
        self._end_family_streams(admission_id)
        self._relayout(now_s)
        return adm

    def renew_family_link_now(self, admission_id: int, who: str) -> FamilyLink:
        """:meth:`renew_family_link` on the calling thread (the CLI, before the loop serves)."""
        link = self.ward.renew_family_link(admission_id, now=self.clock(), who=who)
        self.family_links[admission_id] = link
        self._end_family_streams(admission_id)
        return link

    async def renew_family_link(self, admission_id: int, who: str) -> FamilyLink:
        link, _ = await self.write(lambda now: self.ward.renew_family_link(admission_id, now=now, who=who))
        self.family_links[admission_id] = link
        self._end_family_streams(admission_id)
        return link

    async def revoke_family_link(self, admission_id: int, who: str) -> bool:
        """Revoke the admission's family link (no new one); True if a live link was revoked."""
        revoked, _ = await self.write(
            lambda now: self.ward.revoke_family_link(admission_id, now=now, who=who)
        )
        self.family_links.pop(admission_id, None)
        self._end_family_streams(admission_id)
        return revoked

    async def add_bed(self, bed_id: str, label: str | None, position: int) -> None:
        """Add a bed; the engine re-reads the layout so the bed's tile appears at the next tick."""
        _, now_s = await self.write(lambda now: self.ward.add_bed(bed_id, label, position=position, now=now))
        self._relayout(now_s)

    async def assign_wrap(self, wrap_id: str, bed_id: str, who: str, *, replace: bool = False) -> None:
        """Put a wrap on a bed; the engine starts its stream afresh there (and ends the conditions
        of a replaced wrap, which described this bed's baby through another sensor)."""
        _, now_s = await self.write(
            lambda now: self.ward.assign_wrap(wrap_id, bed_id, now=now, who=who, replace=replace)
        )
        self._relayout(now_s)

    async def unassign_wrap(self, wrap_id: str, who: str) -> bool:
        """Take a wrap off its bed (its open conditions end: it no longer describes a baby)."""
        removed, now_s = await self.write(lambda now: self.ward.unassign_wrap(wrap_id, now=now, who=who))
        self._relayout(now_s)
        return removed

    async def swap_wraps(self, bed_a: str, bed_b: str, who: str) -> None:
        """Exchange two beds' wraps at one instant; each wrap starts afresh on its new bed."""
        _, now_s = await self.write(lambda now: self.ward.swap_wraps(bed_a, bed_b, now=now, who=who))
        self._relayout(now_s)

    async def rekey_wrap(self, wrap_id: str, key: str | None, who: str) -> None:
        """Give a wrap a new key (re-provisioned), audited; its counter restarts. The MQTT source
        verifies with the new key at once; a Bluetooth gateway reads its registry at its start."""
        await self.write(lambda now: self.store.rekey_wrap(wrap_id, key, now=now, who=who))
        self.wraps_changed()
        logger.warning("wrap %s re-keyed by %s", wrap_id, who)

    async def reset_wrap_counter(self, wrap_id: str, who: str) -> int | None:
        """Accept a re-flashed wrap's restarted counter, audited; the previous counter is returned.
        Only after an engineer has checked the wrap itself was reset: until then a lower counter is
        exactly what a replay looks like."""
        before, _ = await self.write(lambda now: self.store.reset_wrap_counter(wrap_id, now=now, who=who))
        if self.source is not None:
            self.source.reset_counter(wrap_id)
        logger.warning("wrap %s: replay counter reset by %s (was %s)", wrap_id, who, before)
        return before

    async def add_wrap(self, wrap_id: str, mac: str, key: str | None) -> WrapInfo:
        """Register a wrap; a source that verifies readings (MQTT) learns its key at once."""
        info, _ = await self.write(lambda now: self.ward.add_wrap(wrap_id, mac, key, now=now))
        self.wraps_changed()
        return info

    def set_base_url(self, url: str) -> None:
        """Point family links (and their QR codes) at ``url`` from now on, the ones this process
        already made included: they were made before the server knew the port it listens on."""
        self.ward.base_url = url
        self.family_links = {
            k: dataclasses.replace(link, url=family_link_url(url, link.token))
            for k, link in self.family_links.items()
        }

    def wraps_changed(self, *, counters: bool = False) -> None:
        """Hand the ward's registry (ids, MACs, keys) to a source that verifies readings with it,
        after staff registered or re-keyed a wrap; ``counters``: with the stored replay counters
        too (at start, and after an admin reset a wrap's counter)."""
        if self.source is None or not self.source.verifies_with_registry:
            return
        registry = self.store.wrap_registry()
        self.source.set_registry(registry, last_counters=self.store.wrap_counters() if counters else None)

    def ingest_external(self, readings: list[Reading]) -> int:
        """Readings pushed by another process (``POST /api/readings``, e.g. a replayed trace): the
        engine takes them as from the ward's own source, and the next tick feeds, judges and stores
        them. Returns how many it accepted (late and duplicate readings are dropped and counted)."""
        return self.engine.ingest(readings, now_us=self.now_us())

    # Family streams -----------------------------------------------------------------------------
    def open_family_stream(self, admission_id: int) -> asyncio.Event:
        """Register an open family stream; the event is set when its link stops being valid."""
        ended = asyncio.Event()
        self._family_streams.setdefault(admission_id, set()).add(ended)
        return ended

    def close_family_stream(self, admission_id: int, ended: asyncio.Event) -> None:
        streams = self._family_streams.get(admission_id)
        if streams is not None:
            streams.discard(ended)
            if not streams:
                del self._family_streams[admission_id]

    def _end_family_streams(self, admission_id: int) -> None:
        for ended in self._family_streams.pop(admission_id, set()):
            ended.set()


def _bed_channel(bed_id: str) -> str:
    return f"bed:{bed_id}"
