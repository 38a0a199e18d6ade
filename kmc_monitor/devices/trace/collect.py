"""Reading whole traces: every file's blocks parsed on a thread per core and collected into one
validated series per wrap (:class:`TraceSet`).

Line numbers of bad rows are worked out only for blocks that have some, and only for the first few,
so the common case never pays for them. Rows are grouped by wrap, keeping file and line order so
that the first of duplicates stays first (the C kernel moves every row to its wrap's place in one
pass; without it, a stable sort per block and a gather per wrap), and handed to ``build_series``,
which validates, orders and de-duplicates them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial

import numpy as np

from kmc_monitor.devices.trace.blocks import _Block, _check, _Kinds, _parse_block
from kmc_monitor.devices.trace.files import _file_data, _size_or_zero
from kmc_monitor.devices.trace.layout import (
    _VALUE_COLUMNS,
    MAX_REPORTED_LINES,
    BoolArray,
    Int32Array,
    _block_ranges,
    _LineCounter,
    _read_header,
    _usable_name,
)
from kmc_monitor.devices.trace.plain import scatter_rows
from kmc_monitor.signal.params import RuleParams
from kmc_monitor.signal.series import FloatArray, IntArray, WrapSeries, build_series

__all__ = ["MAX_REPORTED_LINES", "TraceSet", "read_traces"]


@dataclass(frozen=True, slots=True)
class TraceSet:
    """Everything read from one or more trace files.

    Attributes
    ----------
    series
        One validated series per wrap id found in any of the files, ordered by wrap id. A wrap whose
        rows were all unusable (no valid time) is still listed, with no readings.
    end_us
        The latest reading time of all series (integer µs since the epoch), ``None`` without readings.
    rows
        Data rows read: every line that is not the header, a comment or blank, valid or not.
    skipped_rows
        Rows that could not be attributed to any wrap (no ``wrap_id``, or the wrong number of fields).
        Rows of a known wrap without a usable time are counted in that series' ``invalid`` instead.
    invalid_lines
        ``(file, line)`` of the first ``MAX_REPORTED_LINES`` invalid rows, 1-based, in file order:
        the warning that helps an engineer find the fault.
    """

    series: tuple[WrapSeries, ...]
    end_us: int | None
    rows: int
    skipped_rows: int
    invalid_lines: tuple[tuple[str, int], ...]
    #: Plain sentences about files read only in part (a recording cut short), for stderr.
    warnings: tuple[str, ...] = ()

    @property
    def invalid_readings(self) -> int:
        """All invalid rows: those of each wrap plus those attributed to none."""
        return sum(s.invalid for s in self.series) + self.skipped_rows


def read_traces(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    params: RuleParams | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    latest_us: int | None = None,
) -> TraceSet:
    """Read trace files (plain or gzip) into one validated series per wrap.

    Rows of one wrap may come from several files; of duplicate ``(wrap_id, t)`` the first in file
    order, then line order, is kept. A single path may be given as is. ``params`` gives the
    plausible ranges (defaults otherwise). ``progress(done_bytes, total_bytes)`` is called after
    every block, in on-disk bytes. ``latest_us`` is the latest believable reading time (the
    machine's clock plus the allowed lead): later rows, and rows before ``params.earliest_t_s``, are
    clock faults, counted invalid and otherwise ignored.

    A gzip file cut short (a recorder killed mid-write) is read up to the cut, its last partial line
    dropped, and a warning naming the file is added to :attr:`TraceSet.warnings`.

    Raises
    ------
    TraceError
        A file cannot be a trace at all (unreadable, empty, binary, no header with ``t`` and
        ``wrap_id``, corrupt gzip). The message is one sentence naming the file.
    """
    params = params or RuleParams()
    if isinstance(paths, str | os.PathLike):
        paths = [paths]  # one path, not a sequence of one-letter names
    names = [os.fspath(p) for p in paths]
    sizes = [_size_or_zero(n) for n in names]
    total = sum(sizes)
    collector = _Collector(params, latest_us)
    if progress is not None:
        progress(0, total)
    done = 0
    # Blocks are parsed on worker threads (pyarrow releases the GIL), one single-threaded pyarrow
    # read per block: each column then comes back as one chunk that NumPy can view without a copy.
    with ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="trace") as pool:
        for name, size in zip(names, sizes, strict=True):

            def report(fraction: float, base: int = done, size: int = size) -> None:
                if progress is not None:
                    progress(base + round(size * fraction), total)

            _read_file(name, collector, report, pool)
            done += size
        return collector.finish(pool)


def _workers() -> int:
    """Parsing threads: the cores this process may use (a few at most; beyond, they contend)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _read_file(name: str, collector: _Collector, report: Callable[[float], None], pool: Executor) -> None:
    """Parse a file's blocks on ``pool`` and hand them to ``collector`` in file order, so that the
    first of duplicates stays first and line numbers count from the top."""
    with _file_data(name, collector.warnings.append) as data:
        layout = _read_header(data, name)
        lines = _LineCounter(data, layout.data_start, layout.header_line + 1)
        size = len(data)
        ranges = list(_block_ranges(data, layout.data_start))
        hints: _Kinds = {}
        futures = [
            pool.submit(_parse_block, data, start, end, layout, hints, collector.params)
            for start, end in ranges
        ]
        try:
            for (start, end), future in zip(ranges, futures, strict=True):
                collector.add(future.result(), name, partial(lines.at, start))
                report(end / size)
        finally:
            for future in futures:
                future.cancel()
            wait(futures)  # no worker may still look at the file when it is closed
        report(1.0)


@dataclass(frozen=True, slots=True)
class _Kept:
    """What the series need of a block: its rows, their wrap ids' codes (-1: row not used) and
    those codes' global wrap codes (``lut``, whose last entry, -1, serves code -1)."""

    codes: Int32Array
    lut: Int32Array
    t_s: FloatArray
    values: tuple[FloatArray | None, ...]
    nonnum: BoolArray | None


class _Collector:
    """Gathers the blocks of all files, then groups rows by wrap and builds the series."""

    def __init__(self, params: RuleParams, latest_us: int | None = None) -> None:
        self.params = params
        self.latest_us = latest_us
        self.warnings: list[str] = []
        self._codes_of: dict[str, int] = {}
        self._names: list[str] = []
        self._kept: list[_Kept] = []
        self._extra: dict[int, int] = {}
        self._rows = 0
        self._skipped = 0
        self._lines: list[tuple[str, int]] = []
        #: Per block added, in order: whether the Python reader replaced pyarrow's reading of it (a
        #: chunked read of the same files repeats these decisions, so its values are the same).
        self.reparsed: list[bool] = []

    def _lut(self, raw: list[str], used: BoolArray) -> Int32Array:
        """Global codes of a block's wrap ids (trimmed; blank means missing), with -1 appended so
        that a missing code (-1) maps to -1. Only ids ``used`` by some row are registered: a
        comment line mistaken for a row must not invent a wrap."""
        out = np.full(len(raw) + 1, -1, dtype=np.int32)
        for i, r in enumerate(raw):
            if used[i] and _usable_name(r):
                name = r.strip()
                code = self._codes_of.get(name)
                if code is None:
                    code = self._codes_of[name] = len(self._names)
                    self._names.append(name)
                out[i] = code
        return out

    def add(self, block: _Block, file: str, line_base: Callable[[], int]) -> None:
        """Count the block's rows, note its first invalid lines, keep its usable rows."""
        found = np.empty(0, dtype=np.int64)
        reparsed = False
        if len(self._lines) < MAX_REPORTED_LINES:
            located = self._invalid_lines(block)
            if located is None and block.reparse is not None:
                # pyarrow and the line structure disagree (an unbalanced quote joined lines, say):
                # the Python reader decides, so that values and line numbers agree.
                block = _check(block.reparse(), self.params)
                located = self._invalid_lines(block)
                reparsed = True
            if located is not None:
                found = located
        self.reparsed.append(reparsed)
        per_code = block.per_code if block.per_code is not None else np.zeros(len(block.names) + 1, np.int64)
        lut = self._lut(block.names, per_code[1:] > 0)
        self._rows += int(per_code.sum()) + block.bad_width
        # Rows whose id is missing or unusable: code -1 (first count) or an id that maps to -1.
        self._skipped += block.bad_width + int(per_code[0]) + int(per_code[1:][lut[:-1] < 0].sum())
        if block.timeless is not None:
            for local in np.flatnonzero(block.timeless[1:]).tolist():
                code = int(lut[local])
                if code >= 0:
                    self._extra[code] = self._extra.get(code, 0) + int(block.timeless[local + 1])
        codes = block.group_codes if block.group_codes is not None else block.codes
        self._kept.append(_Kept(codes, lut, block.t_s, block.values, block.nonnum))
        if found.size:
            base = line_base()
            self._lines.extend((file, base + int(i)) for i in found)

    def _invalid_lines(self, block: _Block) -> IntArray | None:
        """Line offsets (in the block) of its first invalid rows, as many as the report still
        wants; ``None`` when rows cannot be matched to lines."""
        invalid = block.invalid
        if invalid is None and block.bad_width == 0:
            return np.empty(0, dtype=np.int64)
        mapped = block.lines()
        if mapped is None:
            return None
        row_lines, bad_lines = mapped
        want = MAX_REPORTED_LINES - len(self._lines)
        rows = row_lines[np.flatnonzero(invalid)[:want]] if invalid is not None else bad_lines[:0]
        found: IntArray = np.union1d(rows, bad_lines[:want])[:want]
        return found

    def finish(self, pool: Executor) -> TraceSet:
        """Group every block's rows by wrap and build one series per wrap, ordered by wrap id.

        Rows are arranged by wrap and wraps built on ``pool``: the C kernel and NumPy release the GIL.
        """
        n_wraps = len(self._names)
        any_nonnum = any(k.nonnum is not None for k in self._kept)
        arrange = _scattered if scatter_rows is not None else _gathered
        arranged = arrange(self._kept, n_wraps, any_nonnum, pool)

        def build(code: int) -> WrapSeries:
            t, values, nonnum = arranged(code)
            return build_series(
                self._names[code],
                t,
                *values,
                params=self.params,
                invalid_rows=nonnum,
                extra_invalid=self._extra.get(code, 0),
                latest_us=self.latest_us,
                copy=False,  # arrays of this reader's own: validated where they are
            )

        series = list(pool.map(build, sorted(range(n_wraps), key=self._names.__getitem__)))
        ends = [int(s.t_us[-1]) for s in series if len(s)]
        end_us = max(ends) if ends else None
        return TraceSet(
            tuple(series), end_us, self._rows, self._skipped, tuple(self._lines), tuple(self.warnings)
        )


_Wrap = tuple[FloatArray, list[FloatArray], BoolArray | None]  # times, values, non-numeric mask


def _scattered(kept: list[_Kept], n_wraps: int, with_nonnum: bool, pool: Executor) -> Callable[[int], _Wrap]:
    """Every block's rows moved to their wrap's place in one array per column, in one pass per
    block (the C kernel, on ``pool``): each wrap is then a slice, in file and line order."""
    assert scatter_rows is not None
    codes = list(pool.map(lambda k: k.lut[k.codes], kept))  # global wrap codes, -1: not used
    counts = np.array([np.bincount(c + 1, minlength=n_wraps + 1)[1:] for c in codes], dtype=np.int64).reshape(
        len(kept), n_wraps
    )
    per_wrap = counts.sum(axis=0)
    bounds = np.concatenate(([0], np.cumsum(per_wrap)))
    starts = bounds[:-1] + np.cumsum(counts, axis=0) - counts  # block b's first row of each wrap
    total = int(bounds[-1])
    t = np.empty(total)
    values = [np.empty(total) for _ in _VALUE_COLUMNS]
    nonnum = np.zeros(total, dtype=np.bool_) if with_nonnum else None
    targets: tuple[FloatArray | BoolArray, ...] = (t, *values) if nonnum is None else (t, *values, nonnum)

    def move(b: int) -> None:
        """Block ``b``'s rows to their places: blocks write disjoint rows, so they run in parallel."""
        block = kept[b]
        sources: tuple[FloatArray | BoolArray | None, ...] = (block.t_s, *block.values)
        if nonnum is not None:
            sources = (*sources, block.nonnum)
        assert scatter_rows is not None
        scatter_rows(codes[b], starts[b].copy(), sources, targets)

    for _ in pool.map(move, range(len(kept))):
        pass

    def wrap(code: int) -> _Wrap:
        lo, hi = int(bounds[code]), int(bounds[code + 1])
        return t[lo:hi], [v[lo:hi] for v in values], None if nonnum is None else nonnum[lo:hi]

    return wrap


def _gathered(kept: list[_Kept], n_wraps: int, with_nonnum: bool, pool: Executor) -> Callable[[int], _Wrap]:
    """Without the C kernel: each block sorted by wrap (on ``pool``), each wrap gathered from them."""
    groups = list(pool.map(partial(_group, n_wraps=n_wraps), kept))
    return lambda code: _gather(kept, groups, code, with_nonnum)


def _group(kept: _Kept, n_wraps: int) -> tuple[IntArray, IntArray]:
    """A block's rows in wrap order (a stable sort: line order kept within a wrap, so that
    build_series keeps the first of duplicates) and where each wrap's rows start and end.

    Codes this small sort by radix; unused rows (-1) wrap round to the key type's maximum and so
    sort last.
    """
    key_type = np.uint8 if n_wraps < 0xFF else np.uint16 if n_wraps < 0xFFFF else np.uint32
    key = kept.lut.astype(key_type)[kept.codes]
    counts = np.bincount(np.minimum(key, n_wraps), minlength=n_wraps + 1)[:n_wraps]
    return np.argsort(key, kind="stable"), np.concatenate(([0], np.cumsum(counts)))


def _gather(
    kept: list[_Kept], groups: list[tuple[IntArray, IntArray]], code: int, with_nonnum: bool
) -> _Wrap:
    """One wrap's rows from every block, in file and line order: times, values, non-numeric mask."""
    total = sum(int(b[code + 1] - b[code]) for _, b in groups)
    t = np.empty(total)
    values = [np.empty(total) for _ in _VALUE_COLUMNS]
    nonnum = np.zeros(total, dtype=np.bool_) if with_nonnum else None
    pos = 0
    for block, (order, bounds) in zip(kept, groups, strict=True):
        lo, hi = int(bounds[code]), int(bounds[code + 1])
        if hi == lo:
            continue
        idx, stop = order[lo:hi], pos + hi - lo
        # Straight into the wrap's arrays; mode "clip" spares NumPy's buffered copy for ``out``.
        np.take(block.t_s, idx, out=t[pos:stop], mode="clip")
        for src, dst in zip(block.values, values, strict=True):
            if src is None:
                dst[pos:stop] = np.nan
            else:
                np.take(src, idx, out=dst[pos:stop], mode="clip")
        if nonnum is not None and block.nonnum is not None:
            np.take(block.nonnum, idx, out=nonnum[pos:stop], mode="clip")
        pos = stop
    return t, values, nonnum
