"""The health station's tables, in the ward's own database file (schema: ``service/store/migrations.py``).

Why the ward's file and not one of its own: a station is part of the hospital's service, and a
baby's stay and the weeks at home after it are one record to back up, keep and hand over.
Why a connection of its own (:class:`StationStore` opens the same file again): a station catching
up on 500 homes writes thousands of rows a second; on the ward's connection each of those
transactions would hold the lock the ward's tick needs, on the event loop. With its own
connection the two meet only at SQLite's write lock (WAL: readers never wait), which each sync
batch holds for one short transaction.

Durability: a sync batch is committed with ``synchronous=FULL`` before it is acknowledged,
because the acknowledgement lets the home gateway delete what it held ("stored for good", the
contract): a power cut at the station must not lose what a home has already dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from kmc_monitor.devices.protocol.verify import WrapEntry
from kmc_monitor.service.store import Store
from kmc_monitor.service.ward_model import NotFoundError, WardConflictError
from kmc_monitor.station.wire import DailySummary, HomeStatus

logger = logging.getLogger(__name__)

__all__ = [
    "AuditLine",
    "BatchWrite",
    "DayRow",
    "HomeRecord",
    "ItemRow",
    "StationStore",
    "VisitRow",
]

_HOME_COLUMNS: Final = (
    "home_id, admission_id, display_name, daily_goal_s, language, tz, discharged_t, enrolled_t, "
    "enrolled_by, consent_by, consent_t, accepted_through, last_sync_t, status, refused, token_t"
)
#: How many stored sequence numbers above the acknowledged one are read at a time when walking
#: for the next gap (items that arrived out of order).
_WALK: Final = 10_000


@dataclass(frozen=True, slots=True)
class HomeRecord:
    """One home in the station's care, as stored."""

    home_id: str
    admission_id: int | None
    display_name: str
    daily_goal_s: float
    language: str
    tz: str
    discharged_t: float
    enrolled_t: float
    enrolled_by: str
    consent_by: str
    consent_t: float
    accepted_through: int
    last_sync_t: float | None
    status: HomeStatus | None
    refused: int
    token_t: float | None


#: One forwarded item to store, as a plain tuple (what crosses back from a verify worker process
#: fastest): ``(seq, kind, wrap_id, t, skin_temp_c, ambient_temp_c, contact, battery_pct, rssi_dbm,
#: refused)``. ``kind`` is ``"reading"`` or ``"day"``; ``refused`` the reason, or None if accepted
#: (a day's place in the sequence carries no values: the day is in ``station_days``).
ItemRow = tuple[
    int,
    str,
    str,
    float | None,
    float | None,
    float | None,
    float | None,
    float | None,
    float | None,
    str | None,
]
#: Where ``seq`` and ``refused`` are in an :data:`ItemRow`.
SEQ: Final = 0
REFUSED: Final = 9


@dataclass(frozen=True, slots=True)
class BatchWrite:
    """One verified batch to store (:meth:`StationStore.save_batches`)."""

    home_id: str
    items: Sequence[ItemRow]
    days: Sequence[DailySummary]
    counters: dict[str, int]
    status: HomeStatus
    refused: int
    now: float


@dataclass(frozen=True, slots=True)
class DayRow:
    """One stored day at home (the latest summary the home sent for it)."""

    wrap_id: str
    day: dt.date
    seq: int
    contact_s: float
    goal_s: float
    measured_s: float
    cold_episodes: int
    coldest_c: float | None
    hot_episodes: int
    battery_pct: float | None
    complete: bool


@dataclass(frozen=True, slots=True)
class VisitRow:
    """A follow-up visit as recorded."""

    visit_id: int
    home_id: str
    day: dt.date
    weight_g: float | None
    notes: str
    recorded_t: float
    recorded_by: str


@dataclass(frozen=True, slots=True)
class AuditLine:
    at_t: float
    home_id: str
    action: str
    who: str
    detail: str


def _home(row: Sequence[object]) -> HomeRecord:
    status_text = row[13]
    status = None if status_text is None else HomeStatus.model_validate_json(str(status_text))
    return HomeRecord(
        home_id=str(row[0]),
        admission_id=None if row[1] is None else int(str(row[1])),
        display_name=str(row[2]),
        daily_goal_s=float(str(row[3])),
        language=str(row[4]),
        tz=str(row[5]),
        discharged_t=float(str(row[6])),
        enrolled_t=float(str(row[7])),
        enrolled_by=str(row[8]),
        consent_by=str(row[9]),
        consent_t=float(str(row[10])),
        accepted_through=int(str(row[11])),
        last_sync_t=None if row[12] is None else float(str(row[12])),
        status=status,
        refused=int(str(row[14])),
        token_t=None if row[15] is None else float(str(row[15])),
    )


class StationStore(Store):
    """The station's reads and writes; a second connection to the ward's database file.

    Open it after the ward's :class:`Store` (which migrates the file): opening runs the same
    migration check, a no-op then.
    """

    # Enrolment and pairing -----------------------------------------------------------------------
    def enrol(
        self,
        home: HomeRecord,
        wraps: Iterable[WrapEntry],
        token_sha256: bytes,
        *,
        now: float,
        who: str,
    ) -> None:
        """Take a home into the station's care with its wraps and its pairing token's hash, and
        audit it (who enrolled, who consented and when), in one durable transaction."""
        entries = list(wraps)
        with self._write(f"enrolling home {home.home_id}", durable=True) as c:
            if c.execute("SELECT 1 FROM station_homes WHERE home_id = ?", (home.home_id,)).fetchone():
                raise WardConflictError(f"home {home.home_id} is in the station's care already")
            c.execute(
                "INSERT INTO station_homes(home_id, admission_id, display_name, daily_goal_s, language, "
                "tz, discharged_t, enrolled_t, enrolled_by, consent_by, consent_t, token_sha256, token_t) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    home.home_id,
                    home.admission_id,
                    home.display_name,
                    home.daily_goal_s,
                    home.language,
                    home.tz,
                    home.discharged_t,
                    now,
                    who,
                    home.consent_by,
                    home.consent_t,
                    token_sha256,
                    now,
                ),
            )
            c.executemany(
                "INSERT INTO station_home_wraps(home_id, wrap_id, mac, key_hex) VALUES (?, ?, ?, ?)",
                [(home.home_id, e.wrap_id, e.mac, None if e.key is None else e.key.hex()) for e in entries],
            )
            detail = json.dumps(
                {
                    "admission_id": home.admission_id,
                    "consent_by": home.consent_by,
                    "consent_t": home.consent_t,
                    "wraps": [e.wrap_id for e in entries],
                }
            )
            self._station_audit(c, now, home.home_id, "enrolled", who, detail)
            self._station_audit(c, now, home.home_id, "pairing_issued", who, "")

    def replace_token(self, home_id: str, token_sha256: bytes, *, now: float, who: str) -> None:
        """A new pairing code for a home: the old token stops working in the same transaction."""
        with self._write(f"issuing a new pairing code for home {home_id}", durable=True) as c:
            cur = c.execute(
                "UPDATE station_homes SET token_sha256 = ?, token_t = ? WHERE home_id = ?",
                (token_sha256, now, home_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no home {home_id!r} in the station's care")
            self._station_audit(c, now, home_id, "pairing_reissued", who, "the previous code was revoked")

    def token_hashes(self) -> dict[str, bytes]:
        """Every home's current token hash (the request guard's table)."""
        rows = self._read(
            "reading the homes' token hashes",
            "SELECT home_id, token_sha256 FROM station_homes WHERE token_sha256 IS NOT NULL",
        )
        return {str(h): bytes(d) for h, d in rows}

    @staticmethod
    def _station_audit(
        c: sqlite3.Connection, now: float, home_id: str, action: str, who: str, detail: str
    ) -> None:
        c.execute(
            "INSERT INTO station_audit(at_t, home_id, action, who, detail) VALUES (?, ?, ?, ?, ?)",
            (now, home_id, action, who, detail),
        )

    def audit(self, home_id: str | None = None) -> list[AuditLine]:
        sql = "SELECT at_t, home_id, action, who, detail FROM station_audit"
        params: tuple[object, ...] = ()
        if home_id is not None:
            sql += " WHERE home_id = ?"
            params = (home_id,)
        rows = self._read("reading the station audit", sql + " ORDER BY audit_id", params)
        return [AuditLine(float(a), str(h), str(x), str(w), str(d)) for a, h, x, w, d in rows]

    # Homes ---------------------------------------------------------------------------------------
    def homes(self) -> list[HomeRecord]:
        rows = self._read(
            "listing the station's homes",
            f"SELECT {_HOME_COLUMNS} FROM station_homes ORDER BY discharged_t DESC, home_id",
        )
        return [_home(r) for r in rows]

    def home(self, home_id: str) -> HomeRecord:
        rows = self._read(
            "reading a home", f"SELECT {_HOME_COLUMNS} FROM station_homes WHERE home_id = ?", (home_id,)
        )
        if not rows:
            raise NotFoundError(f"no home {home_id!r} in the station's care")
        return _home(rows[0])

    def home_for_admission(self, admission_id: int) -> HomeRecord | None:
        rows = self._read(
            "reading a home",
            f"SELECT {_HOME_COLUMNS} FROM station_homes WHERE admission_id = ?",
            (admission_id,),
        )
        return _home(rows[0]) if rows else None

    def home_wraps(self, home_id: str) -> tuple[list[WrapEntry], dict[str, int]]:
        """A home's wraps (with keys) and the station's last accepted counter of each."""
        rows = self._read(
            "reading a home's wraps",
            "SELECT wrap_id, mac, key_hex, last_counter FROM station_home_wraps WHERE home_id = ? "
            "ORDER BY wrap_id",
            (home_id,),
        )
        entries = [
            WrapEntry(str(w), str(m), None if k is None else bytes.fromhex(str(k))) for w, m, k, _ in rows
        ]
        counters = {str(w): int(n) for w, _, _, n in rows if n is not None}
        return entries, counters

    # Sync ----------------------------------------------------------------------------------------
    def held_seqs(self, home_id: str, seqs: Sequence[int]) -> set[int]:
        """Which of ``seqs`` (above the home's acknowledged sequence) are stored already."""
        if not seqs:
            return set()
        rows = self._read(
            "reading a home's stored items",
            "SELECT seq FROM station_items WHERE home_id = ? AND seq BETWEEN ? AND ?",
            (home_id, min(seqs), max(seqs)),
        )
        wanted = set(seqs)
        return {int(s) for (s,) in rows if int(s) in wanted}

    def save_batch(
        self,
        home_id: str,
        items: Sequence[ItemRow],
        days: Sequence[DailySummary],
        counters: dict[str, int],
        status: HomeStatus,
        refused: int,
        *,
        now: float,
    ) -> int:
        """Store one batch (see :meth:`save_batches`) in a durable transaction of its own."""
        return self.save_batches([BatchWrite(home_id, items, days, counters, status, refused, now)])[0]

    def save_batches(self, writes: Sequence[BatchWrite]) -> list[int]:
        """Store several homes' batches in one durable transaction (one fsync for all: a group
        commit) and return each one's new ``accepted_through``, in order. For each: its new items,
        its days upserted (a later summary of a day replaces an earlier one; an older one never
        replaces a newer), its wraps' counters advanced, the home's status kept. All or none."""
        what = "a sync batch" if len(writes) == 1 else f"{len(writes)} sync batches"
        with self._write(f"storing {what}", durable=True) as c:
            out = [self._save_one(c, w) for w in writes]
        self._checkpoint_wal()
        return out

    def _checkpoint_wal(self) -> None:
        """Copy the write-ahead log into the database file here, in the station's thread.

        Why: SQLite checkpoints the log in whichever connection's commit finds it over 1 000
        pages. A catch-up writes megabytes a second; left alone, the ward's next commit (its tick,
        on the event loop) would copy them, and every screen would wait for the disk. A passive
        checkpoint never waits for readers or writers: what it cannot copy now, it copies later.
        """
        with self._lock:
            try:
                self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:  # only slower: the next commit checkpoints instead
                logger.debug("passive checkpoint after a sync batch failed", exc_info=True)

    @staticmethod
    def _save_one(c: sqlite3.Connection, w: BatchWrite) -> int:
        home_id, items, days, counters, status, refused, now = (
            w.home_id,
            w.items,
            w.days,
            w.counters,
            w.status,
            w.refused,
            w.now,
        )
        row = c.execute("SELECT accepted_through FROM station_homes WHERE home_id = ?", (home_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no home {home_id!r} in the station's care")
        through = int(row[0])
        c.executemany(
            "INSERT OR IGNORE INTO station_items(home_id, seq, kind, wrap_id, t, skin_temp_c, "
            "ambient_temp_c, contact, battery_pct, rssi_dbm, refused, received_t) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(home_id, *i, now) for i in items if i[SEQ] > through],
        )
        c.executemany(
            "INSERT INTO station_days(home_id, wrap_id, day, seq, contact_s, goal_s, measured_s, "
            "cold_episodes, coldest_c, hot_episodes, battery_pct, complete, received_t) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(home_id, wrap_id, day) DO UPDATE SET seq = excluded.seq, "
            "contact_s = excluded.contact_s, goal_s = excluded.goal_s, measured_s = excluded.measured_s, "
            "cold_episodes = excluded.cold_episodes, coldest_c = excluded.coldest_c, "
            "hot_episodes = excluded.hot_episodes, battery_pct = excluded.battery_pct, "
            "complete = excluded.complete, received_t = excluded.received_t "
            "WHERE excluded.seq > station_days.seq",
            [
                (
                    home_id,
                    d.wrap_id,
                    d.day.isoformat(),
                    d.seq,
                    d.contact_s,
                    d.goal_s,
                    d.measured_s,
                    d.cold_episodes,
                    d.coldest_c,
                    d.hot_episodes,
                    d.battery_pct,
                    int(d.complete),
                    now,
                )
                for d in days
            ],
        )
        c.executemany(
            "UPDATE station_home_wraps SET last_counter = max(coalesce(last_counter, 0), ?) "
            "WHERE home_id = ? AND wrap_id = ?",
            [(n, home_id, wrap) for wrap, n in counters.items()],
        )
        # The highest sequence without a gap below it: walk up from the last one acknowledged.
        while True:
            seqs = [
                int(s)
                for (s,) in c.execute(
                    "SELECT seq FROM station_items WHERE home_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (home_id, through, _WALK),
                )
            ]
            advanced = through
            for s in seqs:
                if s != advanced + 1:
                    break
                advanced = s
            done = advanced - through < len(seqs) or len(seqs) < _WALK
            through = advanced
            if done:
                break
        c.execute(
            "UPDATE station_homes SET accepted_through = ?, last_sync_t = ?, status = ?, "
            "refused = refused + ? WHERE home_id = ?",
            (through, now, status.model_dump_json(), refused, home_id),
        )
        return through

    # The station's view --------------------------------------------------------------------------
    def days(self, home_id: str, first: dt.date, last: dt.date) -> list[DayRow]:
        rows = self._read(
            "reading a home's days",
            "SELECT wrap_id, day, seq, contact_s, goal_s, measured_s, cold_episodes, coldest_c, "
            "hot_episodes, battery_pct, complete FROM station_days "
            "WHERE home_id = ? AND day BETWEEN ? AND ? ORDER BY day, wrap_id",
            (home_id, first.isoformat(), last.isoformat()),
        )
        return [
            DayRow(
                str(w),
                dt.date.fromisoformat(str(d)),
                int(s),
                float(cs),
                float(g),
                float(ms),
                int(ce),
                None if cc is None else float(cc),
                int(he),
                None if b is None else float(b),
                bool(comp),
            )
            for w, d, s, cs, g, ms, ce, cc, he, b, comp in rows
        ]

    def readings_count(self, home_id: str) -> tuple[int, int]:
        """Readings stored for a home, and items refused."""
        rows = self._read(
            "counting a home's items",
            "SELECT count(*) FILTER (WHERE kind = 'reading' AND refused IS NULL), "
            "count(*) FILTER (WHERE refused IS NOT NULL) FROM station_items WHERE home_id = ?",
            (home_id,),
        )
        return int(rows[0][0]), int(rows[0][1])

    def add_visit(
        self, home_id: str, day: dt.date, weight_g: float | None, notes: str, *, now: float, who: str
    ) -> VisitRow:
        """Record a follow-up visit (and audit it) in one durable transaction."""
        with self._write(f"recording a visit to home {home_id}", durable=True) as c:
            if not c.execute("SELECT 1 FROM station_homes WHERE home_id = ?", (home_id,)).fetchone():
                raise NotFoundError(f"no home {home_id!r} in the station's care")
            cur = c.execute(
                "INSERT INTO station_visits(home_id, day, weight_g, notes, recorded_t, recorded_by) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (home_id, day.isoformat(), weight_g, notes, now, who),
            )
            visit_id = int(cur.lastrowid or 0)
            self._station_audit(c, now, home_id, "visit_recorded", who, json.dumps({"visit_id": visit_id}))
        return VisitRow(visit_id, home_id, day, weight_g, notes, now, who)

    def visits(self, home_id: str | None = None) -> list[VisitRow]:
        sql = "SELECT visit_id, home_id, day, weight_g, notes, recorded_t, recorded_by FROM station_visits"
        params: tuple[object, ...] = ()
        if home_id is not None:
            sql += " WHERE home_id = ?"
            params = (home_id,)
        rows = self._read("reading visits", sql + " ORDER BY day, visit_id", params)
        return [
            VisitRow(
                int(v),
                str(h),
                dt.date.fromisoformat(str(d)),
                None if w is None else float(w),
                str(n),
                float(t),
                str(b),
            )
            for v, h, d, w, n, t, b in rows
        ]
