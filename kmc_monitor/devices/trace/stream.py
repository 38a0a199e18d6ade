"""Reading traces in time-ordered chunks, so that replaying a trace of any size holds only a window
of it in memory.

:func:`~kmc_monitor.devices.trace.collect.read_traces` builds every wrap's whole series; a replay
needs the same readings one moment at a time. :class:`TraceChunks` hands out exactly the readings
``read_traces`` would give, in the order a replay sends them (time, then wrap id), with the same
values, the same de-duplication (of rows with the same wrap and microsecond, the first in file
order, then line order, is kept) and the same clock-fault and range checks.

How it stays exact without holding the trace: a first pass parses every block and keeps only the
earliest time each block holds (and the few decisions a block's reading depends on). The second
pass reads the files' blocks side by side, the block with the earliest time first, and hands out
every row earlier than the earliest time any unread block holds: nothing read later can come before
it or duplicate it. In a trace that is in time order (or nearly, as a recorder writes it) only a
block or two per file is held; a file whose end holds its earliest rows is held whole, but is still
read correctly. Blocks (of 1 MiB) are parsed in the caller's thread and their pages handed back to
the kernel once parsed. A gzip file is decompressed a megabyte at a time into a temporary file on
disk, which is then read like a plain one.

The readings are those of ``read_traces`` with blocks of the same size: the two differ only for a
file with more than :data:`MAX_REPORTED_LINES` bad rows *and* a row pyarrow and the line structure
disagree on (an unbalanced quote), where which reader decides that block depends on where blocks
end, in ``read_traces`` too.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Final

import numpy as np

import kmc_monitor.devices.trace.layout as trace_layout
from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.trace.blocks import _Block, _check, _Kinds, _parse_block
from kmc_monitor.devices.trace.collect import _Collector
from kmc_monitor.devices.trace.files import _file_data
from kmc_monitor.devices.trace.layout import (
    BoolArray,
    Int32Array,
    _block_ranges,
    _Data,
    _Layout,
    _LineCounter,
    _read_header,
)
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.signal.series import FloatArray, IntArray, validate_fields

__all__ = ["CHUNK_ROWS", "ReadingChunk", "ReadingCursor", "TraceChunks"]

#: Readings per chunk at most: enough that per-chunk work vanishes, few enough that a chunk turned
#: into ``Reading`` objects stays a few tens of megabytes.
CHUNK_ROWS: Final = 1 << 16
_NO_ROWS: Final = np.iinfo(np.int64).max  # the earliest time of a block without usable rows
#: Block size of a chunked read (smaller than the whole read's: a block's parsing is what a replay
#: holds beyond its chunk, and the pages pyarrow's allocator keeps grow with it).
_STREAM_BLOCK_BYTES: Final = 1 << 20
#: Sequence numbers order rows by file, then by line: ``file << _FILE_SHIFT | row``.
_FILE_SHIFT: Final = 40


@dataclass(frozen=True, slots=True)
class ReadingChunk:
    """Consecutive readings of a trace, in time order (then wrap id), as arrays side by side.

    ``codes`` index ``wrap_ids``; times are integer µs since the epoch, temperatures milli-degrees,
    NaN where a value is missing, as in :class:`~kmc_monitor.signal.series.WrapSeries`.
    """

    wrap_ids: tuple[str, ...]
    codes: Int32Array
    t_us: IntArray
    skin_mc: FloatArray
    ambient_mc: FloatArray
    contact: FloatArray
    battery_pct: FloatArray

    def __len__(self) -> int:
        return int(self.t_us.size)

    def readings(self, shift_s: float = 0.0) -> list[Reading]:
        """The chunk as :class:`Reading` objects, times shifted by ``shift_s`` seconds."""
        t = (self.t_us / US + shift_s).tolist()
        skin, amb = _optional(self.skin_mc / 1000.0), _optional(self.ambient_mc / 1000.0)
        contact, batt = _optional(self.contact), _optional(self.battery_pct)
        names = self.wrap_ids
        return [
            Reading(t[i], names[c], skin[i], amb[i], contact[i], batt[i])
            for i, c in enumerate(self.codes.tolist())
        ]


def _optional(values: FloatArray) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]  # NaN (missing) becomes None


@dataclass(slots=True)
class _Pending:
    """Rows read but not yet handed out (every array in the same row order)."""

    t_us: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    codes: Int32Array = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    seq: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    values: tuple[FloatArray, ...] = field(default_factory=lambda: tuple(np.empty(0) for _ in range(4)))
    invalid: BoolArray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))

    def extend(self, other: _Pending) -> None:
        self.t_us = np.concatenate((self.t_us, other.t_us))
        self.codes = np.concatenate((self.codes, other.codes))
        self.seq = np.concatenate((self.seq, other.seq))
        self.values = tuple(np.concatenate((a, b)) for a, b in zip(self.values, other.values, strict=True))
        self.invalid = np.concatenate((self.invalid, other.invalid))

    def split(self, take: BoolArray) -> _Pending:
        """Remove and return the rows where ``take`` is true."""
        keep = ~take
        out = _Pending(
            self.t_us[take],
            self.codes[take],
            self.seq[take],
            tuple(v[take] for v in self.values),
            self.invalid[take],
        )
        self.t_us, self.codes, self.seq = self.t_us[keep], self.codes[keep], self.seq[keep]
        self.values = tuple(v[keep] for v in self.values)
        self.invalid = self.invalid[keep]
        return out


@dataclass(slots=True)
class _OpenFile:
    """One file being read block by block in the second pass."""

    index: int
    data: _Data
    layout: _Layout
    ranges: Iterator[tuple[int, int]]  # read lazily: finding a block's end touches its pages
    earliest: IntArray  # per block: its earliest usable time (µs), _NO_ROWS when none
    later: IntArray  # per block k: the earliest time of blocks k.. (a suffix minimum)
    reparsed: list[bool]
    hints: _Kinds = field(default_factory=dict)
    next_block: int = 0
    rows: int = 0

    def horizon(self) -> int:
        """No row still unread in this file is earlier than this (µs)."""
        return int(self.later[self.next_block]) if self.next_block < self.earliest.size else _NO_ROWS


class TraceChunks:
    """Trace files (plain or gzip) read as time-ordered chunks of readings.

    The files are checked and scanned once here (so that a file that is not a trace fails at once,
    with the same :class:`~kmc_monitor.errors.TraceError` as ``read_traces``); every iteration
    reads them again and yields :class:`ReadingChunk` s of at most ``chunk_rows`` readings. The
    readings, in order, are exactly those of ``read_traces(paths, params, latest_us=...)``, every
    wrap's series merged by time and then by wrap id.

    Attributes
    ----------
    wrap_ids
        Every wrap id with a row in any file, sorted (``read_traces``'s series, in order).
    warnings
        Plain sentences about files read only in part, as :attr:`TraceSet.warnings`.
    rows, skipped_rows
        As :class:`TraceSet`'s.
    """

    def __init__(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        params: RuleParams | None = None,
        *,
        latest_us: int | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        self.paths = [os.fspath(p) for p in paths]
        self.params = params or RuleParams()
        self.latest_us = latest_us
        self.chunk_rows = chunk_rows
        self.block_bytes = min(trace_layout._BLOCK_BYTES, _STREAM_BLOCK_BYTES)
        self._earliest: list[IntArray] = []
        self._reparsed: list[list[bool]] = []
        collector = _Collector(self.params, latest_us)
        for name in self.paths:
            self._scan(name, collector, latest_us)
        self.wrap_ids = tuple(sorted(collector._names))
        self.warnings = tuple(collector.warnings)
        self.rows = collector._rows
        self.skipped_rows = collector._skipped
        #: Invalid readings of the last complete iteration (``TraceSet.invalid_readings``), ``None``
        #: before one has finished.
        self.invalid_readings: int | None = None

    def _scan(self, name: str, collector: _Collector, latest_us: int | None) -> None:
        """First pass over one file: its blocks' earliest times and how each block is read."""
        earliest: list[int] = []
        first = len(collector.reparsed)
        with _file_data(name, collector.warnings.append, spool=True) as data:
            file_layout = _read_header(data, name)
            lines = _LineCounter(data, file_layout.data_start, file_layout.header_line + 1)
            hints: _Kinds = {}
            for start, end in _block_ranges(data, file_layout.data_start, self.block_bytes):
                block = _parse_block(data, start, end, file_layout, hints, self.params)
                collector.add(block, name, partial(lines.at, start))
                kept = collector._kept.pop()  # only the earliest time is kept from this pass
                usable = kept.t_s[kept.lut[kept.codes] >= 0]
                # Clock faults are dropped, so they hold nothing back (and are no first reading).
                usable = usable[usable >= self.params.earliest_t_s]
                if latest_us is not None:
                    usable = usable[usable <= latest_us / US]
                earliest.append(int(np.rint(usable.min() * US)) if usable.size else _NO_ROWS)
                _release(data, start, end)
        self._earliest.append(np.asarray(earliest, dtype=np.int64))
        self._reparsed.append(collector.reparsed[first:])

    def __iter__(self) -> Iterator[ReadingChunk]:
        collector = _Collector(self.params, self.latest_us)
        pending = _Pending()
        invalid = self.skipped_rows
        with ExitStack() as stack:
            files: list[_OpenFile] = []
            for i, name in enumerate(self.paths):
                data = stack.enter_context(_file_data(name, lambda _w: None, spool=True))
                file_layout = _read_header(data, name)
                earliest = self._earliest[i]
                later = np.minimum.accumulate(earliest[::-1])[::-1] if earliest.size else earliest
                ranges = _block_ranges(data, file_layout.data_start, self.block_bytes)
                files.append(_OpenFile(i, data, file_layout, ranges, earliest, later, self._reparsed[i]))
            while True:
                active = [f for f in files if f.next_block < f.earliest.size]
                if not active:
                    break
                f = min(active, key=lambda f: (f.horizon(), f.index))
                rows, faults = self._read_block(f, collector)
                invalid += faults
                pending.extend(rows)
                horizon = min((g.horizon() for g in files), default=_NO_ROWS)
                ready = pending.split(pending.t_us < horizon)
                for chunk, bad in self._chunks(ready, collector._names):
                    invalid += bad
                    yield chunk
            ready = pending.split(np.ones(pending.t_us.size, dtype=np.bool_))
            for chunk, bad in self._chunks(ready, collector._names):
                invalid += bad
                yield chunk
        self.invalid_readings = invalid + sum(collector._extra.values())

    def _read_block(self, f: _OpenFile, collector: _Collector) -> tuple[_Pending, int]:
        """Parse a file's next block as the first pass did; its usable rows and clock faults."""
        start, end = next(f.ranges)
        block = _parse_block(f.data, start, end, f.layout, f.hints, self.params)
        if f.reparsed[f.next_block] and block.reparse is not None:
            block = _check(block.reparse(), self.params)
        f.next_block += 1
        _release(f.data, start, end)
        return self._usable(block, collector, f)

    def _usable(self, block: _Block, collector: _Collector, f: _OpenFile) -> tuple[_Pending, int]:
        """What ``read_traces`` keeps of a block: rows of a usable wrap with a usable time, values
        range-checked, clock faults dropped (and counted, per wrap, as invalid)."""
        per_code = block.per_code if block.per_code is not None else np.zeros(len(block.names) + 1, np.int64)
        lut = collector._lut(block.names, per_code[1:] > 0)
        if block.timeless is not None:
            for local in np.flatnonzero(block.timeless[1:]).tolist():
                code = int(lut[local])
                if code >= 0:
                    collector._extra[code] = collector._extra.get(code, 0) + int(block.timeless[local + 1])
        codes = block.group_codes if block.group_codes is not None else block.codes
        g = lut[codes]
        take = np.flatnonzero(g >= 0)
        n = block.t_s.size
        seq = (np.int64(f.index) << _FILE_SHIFT) + f.rows + take
        f.rows += n
        t_s = block.t_s[take]
        values = [v[take] if v is not None else np.full(take.size, np.nan) for v in block.values]
        skin, amb, contact, batt, bad = validate_fields(
            values[0], values[1], values[2], values[3], self.params
        )
        if block.nonnum is not None:
            bad = bad | block.nonnum[take]
        fault = t_s < self.params.earliest_t_s
        if self.latest_us is not None:
            fault |= t_s > self.latest_us / US
        faults = int(np.count_nonzero(fault))
        ok = ~fault
        rows = _Pending(
            np.rint(t_s[ok] * US).astype(np.int64),
            g[take][ok].astype(np.int32),
            seq[ok],
            (skin[ok], amb[ok], contact[ok], batt[ok]),
            bad[ok],
        )
        return rows, faults

    def _chunks(self, rows: _Pending, names: list[str]) -> Iterator[tuple[ReadingChunk, int]]:
        """Rows in time, then wrap-id order, duplicates dropped (the first in file and line order
        kept), in chunks; with each chunk the invalid readings it holds."""
        if rows.t_us.size == 0:
            return
        rank = np.empty(len(names), dtype=np.int64)
        rank[np.argsort(np.asarray(names, dtype=object), kind="stable")] = np.arange(len(names))
        order = np.lexsort((rows.seq, rank[rows.codes], rows.t_us))
        t_us, codes = rows.t_us[order], rows.codes[order]
        keep = np.ones(t_us.size, dtype=np.bool_)
        keep[1:] = (t_us[1:] != t_us[:-1]) | (codes[1:] != codes[:-1])
        idx = order[keep]
        t_us, codes = t_us[keep], codes[keep]
        values = [v[idx] for v in rows.values]
        bad = rows.invalid[idx]
        wrap_ids = tuple(names)
        for a in range(0, t_us.size, self.chunk_rows):
            b = a + self.chunk_rows
            chunk = ReadingChunk(wrap_ids, codes[a:b], t_us[a:b], *(v[a:b] for v in values))
            yield chunk, int(np.count_nonzero(bad[a:b]))

    def first_t_us(self) -> int | None:
        """The earliest reading's time (µs), from the first pass; ``None`` without readings."""
        mins = [int(e.min()) for e in self._earliest if e.size]
        first = min(mins, default=_NO_ROWS)
        return None if first == _NO_ROWS else first


class ReadingCursor:
    """Readings handed out as their time comes: :meth:`until` returns those not yet handed out up
    to a time, reading chunks only as far as needed (a replay's source, polled by its clock)."""

    def __init__(self, chunks: TraceChunks, *, shift_s: float = 0.0) -> None:
        self._chunks = iter(chunks)
        self._shift_s = shift_s
        self._buffer: list[Reading] = []
        self._pos = 0
        self._fill()
        #: The first reading's time (s since the epoch), ``None`` without readings.
        self.first_t: float | None = self._buffer[0].t if self._buffer else None

    def _fill(self) -> bool:
        """Load the next chunk once the buffer is used up; False at the end of the trace."""
        while self._pos >= len(self._buffer):
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._buffer, self._pos = chunk.readings(self._shift_s), 0
        return True

    def until(self, t_s: float) -> list[Reading]:
        """The readings not yet handed out whose time is at most ``t_s``, in order."""
        out: list[Reading] = []
        while self._fill():
            start = self._pos
            buf = self._buffer
            while self._pos < len(buf) and buf[self._pos].t <= t_s:
                self._pos += 1
            out.extend(buf[start : self._pos])
            if self._pos < len(buf):
                break
        return out


_PAGE: Final = mmap.PAGESIZE


def _release(data: _Data, start: int, end: int) -> None:
    """Hand a parsed block's pages of a mapped file back to the kernel: a mapped file's pages count
    as the process's memory once read, and a replay reads each block once."""
    if isinstance(data, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        lo = start - start % _PAGE
        try:
            data.madvise(mmap.MADV_DONTNEED, lo, end - lo)
        except (OSError, ValueError):
            pass
