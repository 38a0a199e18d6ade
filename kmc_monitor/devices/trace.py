"""Read and write recorded traces: the CSV files of ``trace-format.md``.

A trace is how a ward recording becomes an offline analysis or a regression test, so reading must be
exact (times in whole microseconds, temperatures in whole milli-degrees), forgiving of bad rows
(counted and reported by line, the rest used) and fast: a day of a full ward is millions of rows, and
``kmc-monitor analyze`` must not take longer than merely loading the file with pandas.

Each file is memory-mapped (gzip is decompressed first) and cut into blocks of about 8 MiB at line
breaks; blocks are parsed on a thread per core, each by the fastest reader that copes with it:

1. pyarrow's CSV reader with the final column types (float64, dictionary-encoded wrap ids);
2. if a value does not convert (text in a number column, ISO 8601 times, a comment line that happens
   to have the right number of commas), the block is read again with every column as text and
   converted with vectorised ``pyarrow.compute`` kernels;
3. if even that fails (invalid UTF-8, say), the block is parsed line
   by line in Python, which decides every odd case the same way the vectorised readers do.

Line numbers of bad rows are worked out only for blocks that have some, and only for the first few,
so the common case never pays for them. Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``, as in
pyarrow. Rows are then grouped by wrap (a stable sort per block, so the first of duplicates stays
first) and handed to ``build_series``, which validates, orders and de-duplicates them.
"""

from __future__ import annotations

import csv
import gzip
import mmap
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, BinaryIO, Final, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from kmc_monitor.errors import InvalidReadingsError, TraceError
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.signal.series import FloatArray, IntArray, WrapSeries, build_series, validate_fields

__all__ = ["MAX_REPORTED_LINES", "TRACE_COLUMNS", "TraceSet", "read_traces", "write_trace"]

BoolArray = npt.NDArray[np.bool_]
Int32Array = npt.NDArray[np.int32]
_T = TypeVar("_T", bound=np.generic)
_Data = bytes | mmap.mmap

#: How many invalid rows ``TraceSet.invalid_lines`` names: enough to find the fault in an editor.
MAX_REPORTED_LINES: Final = 10

#: The columns trace-format.md names, in the order ``write_trace`` writes them (``rssi_dbm`` is read
#: for validity only: the signal core has no use for it, so it is never written).
TRACE_COLUMNS: Final = ("t", "wrap_id", "skin_temp_c", "ambient_temp_c", "contact", "battery_pct")
_VALUE_COLUMNS: Final = TRACE_COLUMNS[2:]
_CHECKED_COLUMNS: Final = (*_VALUE_COLUMNS, "rssi_dbm")
_KNOWN_COLUMNS: Final = frozenset(("t", "wrap_id", *_CHECKED_COLUMNS))

#: Block size: large enough that per-block overhead vanishes, small enough to keep every core busy
#: to the end, to move a progress bar, and that a block needing a slower reader costs little.
_BLOCK_BYTES: Final = 8 << 20
#: A header line longer than this is not a header: the file is binary or not CSV at all.
_MAX_HEADER_BYTES: Final = 1 << 20
#: The start of a file searched for NUL bytes (text never holds them; every binary format does).
_SNIFF_BYTES: Final = 1 << 16
#: Times beyond this many seconds from the epoch (about the year 5100) are invalid: they cannot be
#: real recordings and would overflow integer microseconds.
_MAX_ABS_T_S: Final = 1e11
_GZIP_MAGIC: Final = b"\x1f\x8b"
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_GZIP_LEVEL: Final = 6
_WRITE_BATCH_ROWS: Final = 1 << 20

# What a number looks like: a subset of what pyarrow's float parser accepts, so that a block read
# by the slower reader gives the same values it would have had on the fast path.
_NUMBER_RE: Final = (
    r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
    r"|^[+-]?(?:[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)$"
)
# ISO 8601 date and time ending in an offset (a time without one is ambiguous: whose clock?). Only a
# sieve: pyarrow's parser decides, and rejects impossible dates.
_ISO_RE: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(?:Z|[+-][0-9:]+)$"
_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


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


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------


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


def _size_or_zero(name: str) -> int:
    try:
        return os.stat(name).st_size
    except (OSError, ValueError):
        return 0  # the open that follows says what is wrong


def _read_file(name: str, collector: _Collector, report: Callable[[float], None], pool: Executor) -> None:
    """Parse a file's blocks on ``pool`` and hand them to ``collector`` in file order, so that the
    first of duplicates stays first and line numbers count from the top."""
    with _file_data(name, collector.warnings.append) as data:
        layout = _read_header(data, name)
        lines = _LineCounter(data, layout.data_start, layout.header_line + 1)
        size = len(data)
        ranges = list(_block_ranges(data, layout.data_start))
        whole = pa.py_buffer(data)
        hints: _Kinds = {}
        futures = [
            pool.submit(_parse_block, data, whole, start, end, layout, hints, collector.params)
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
            del whole
        report(1.0)


@contextmanager
def _file_data(name: str, warn: Callable[[str], None]) -> Iterator[_Data]:
    """The file's bytes, decompressed if gzip; memory-mapped when possible, to skip a copy."""
    try:
        f = open(name, "rb")
    except FileNotFoundError:
        raise TraceError(f"{name} cannot be read: there is no such file") from None
    except IsADirectoryError:
        raise TraceError(f"{name} is a directory, not a trace file") from None
    except PermissionError:
        raise TraceError(f"{name} cannot be read: permission denied") from None
    except (OSError, ValueError) as exc:
        raise TraceError(f"{name} cannot be read: {_reason(exc)}") from None
    with f:
        try:
            if f.seekable():
                magic = f.read(2)
                f.seek(0)
                data: _Data = _gunzip(f.read(), name, warn) if magic == _GZIP_MAGIC else _map_or_read(f)
            else:  # a pipe
                data = f.read()
                if data[:2] == _GZIP_MAGIC:
                    data = _gunzip(data, name, warn)
        except IsADirectoryError:
            raise TraceError(f"{name} is a directory, not a trace file") from None
        except OSError as exc:
            raise TraceError(f"{name} cannot be read: {_reason(exc)}") from None
        if len(data) == 0:
            raise TraceError(f"{name} is empty")
        try:
            yield data
        finally:
            if isinstance(data, mmap.mmap):
                try:
                    data.close()
                except BufferError:
                    pass  # a view is still alive somewhere; the map goes with it


def _reason(exc: BaseException) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def _gunzip(raw: bytes, name: str, warn: Callable[[str], None]) -> bytes:
    """Decompress every gzip member; a stream that stops early keeps what came before the cut.

    A recorder killed mid-write leaves a file without its gzip trailer (or cut inside a deflate
    block): the hours it did record are still there, so they are read, the last (partial) line is
    dropped, and ``warn`` is told. Data that is not gzip from the first byte, or damaged in the
    middle, is refused.
    """
    parts: list[bytes] = []
    pos = 0
    while pos < len(raw):
        d = zlib.decompressobj(wbits=31)
        try:
            parts.append(d.decompress(raw[pos:]))
            parts.append(d.flush())
        except zlib.error:
            if not parts:
                raise TraceError(f"{name} is not a trace: its gzip data is corrupt") from None
            return _cut_short(b"".join(parts), name, warn)
        if not d.eof:
            return _cut_short(b"".join(parts), name, warn)
        pos = len(raw) - len(d.unused_data)
        if not d.unused_data.strip(b"\0"):
            break  # trailing padding after the last member
    return b"".join(parts)


def _cut_short(data: bytes, name: str, warn: Callable[[str], None]) -> bytes:
    """What a cut-short gzip file held, up to its last complete line."""
    end = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
    dropped = len(data) - end
    partial = " (its last, partial line dropped)" if dropped else ""
    warn(f"{name} was cut short (an interrupted recording): read up to the cut{partial}")
    return data[:end]


def _map_or_read(f: BinaryIO) -> _Data:
    """Map a regular file; read anything else (pipes, special files) or when mapping fails."""
    try:
        if os.fstat(f.fileno()).st_size > 0 and os.path.isfile(f.name):
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        pass
    return f.read()


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a file's columns are and where its data starts."""

    ncols: int
    index: dict[str, int]  # known column -> position in the header
    header_line: int  # 1-based line number of the header
    data_start: int  # byte offset of the first line after the header

    @property
    def arrow_names(self) -> list[str]:
        """Positional names for pyarrow: header names may repeat or be odd; positions cannot."""
        return [f"c{i}" for i in range(self.ncols)]

    def col(self, column: str) -> str:
        return f"c{self.index[column]}"


def _next_break(data: _Data, pos: int, limit: int) -> tuple[int, int]:
    """End of the line starting at ``pos`` and the start of the next one."""
    nl = data.find(b"\n", pos, limit)
    cr = data.find(b"\r", pos, nl if nl >= 0 else limit)
    if cr >= 0:
        return cr, cr + 2 if cr + 1 == nl else cr + 1
    if nl >= 0:
        return nl, nl + 1
    return limit, limit


def _read_header(data: _Data, name: str) -> _Layout:
    """Find the header (the first line that is neither blank nor a comment) and check it."""
    size = len(data)
    if data.find(b"\x00", 0, _SNIFF_BYTES) >= 0:
        raise TraceError(f"{name} is not a trace: it holds binary data, not text")
    pos = len(_UTF8_BOM) if data[: len(_UTF8_BOM)] == _UTF8_BOM else 0
    line_no = 0
    while True:
        if pos >= size:
            raise TraceError(f"{name} is not a trace: it has no header line, only comments or blank lines")
        end, nxt = _next_break(data, pos, min(size, pos + _MAX_HEADER_BYTES + 1))
        line_no += 1
        if end - pos > _MAX_HEADER_BYTES:
            raise TraceError(f"{name} is not a trace: its first line is far too long to be a header")
        raw = data[pos:end]
        if b"\x00" in raw:
            raise TraceError(f"{name} is not a trace: it holds binary data, not text")
        if raw.strip() and not raw.startswith(b"#"):
            break
        pos = nxt
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceError(f"{name} is not a trace: it holds binary data, not UTF-8 text") from None
    fields = [f.strip() for f in _csv_fields(text)]
    missing = [c for c in ("t", "wrap_id") if c not in fields]
    if len(missing) == 2:
        raise TraceError(f"{name} is not a trace: its header has neither a 't' nor a 'wrap_id' column")
    if missing:
        raise TraceError(f"{name} is not a trace: its header has no {missing[0]!r} column")
    index: dict[str, int] = {}
    for i, f in enumerate(fields):
        if f in _KNOWN_COLUMNS:
            if f in index:
                raise TraceError(f"{name} is not a trace: its header names the column {f!r} twice")
            index[f] = i
    return _Layout(len(fields), index, line_no, nxt)


def _csv_fields(line: str) -> list[str]:
    """Fields of one CSV line; a plain split when nothing is quoted (the common case)."""
    if '"' not in line:
        return line.split(",")
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return [line]  # unparseable: one field, so the row has the wrong width


def _block_ranges(data: _Data, start: int) -> Iterator[tuple[int, int]]:
    """Byte ranges of about ``_BLOCK_BYTES``, each ending after a line break."""
    size = len(data)
    while start < size:
        nl = data.find(b"\n", start + _BLOCK_BYTES) if start + _BLOCK_BYTES < size else -1
        end = size if nl < 0 else nl + 1
        yield start, end
        start = end


class _LineCounter:
    """Line numbers of block starts, counted only when a block needs them and at most once."""

    def __init__(self, data: _Data, start: int, line: int) -> None:
        self._data = data
        self._pos = start
        self._line = line

    def at(self, pos: int) -> int:
        """The 1-based line number of the line starting at byte ``pos`` (``pos`` never decreases)."""
        if pos > self._pos:
            self._line += _count_breaks(_bytes_view(self._data, self._pos, pos))
            self._pos = pos
        return self._line


def _bytes_view(data: _Data, start: int, end: int) -> npt.NDArray[np.uint8]:
    return np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)


def _count_breaks(arr: npt.NDArray[np.uint8]) -> int:
    """Line breaks in ``arr``: every ``\\n``, and every ``\\r`` not followed by ``\\n``."""
    n = int(np.count_nonzero(arr == 10))
    cr = np.flatnonzero(arr == 13)
    if cr.size:
        nxt = np.minimum(cr + 1, arr.size - 1)
        n += int(np.count_nonzero((cr + 1 == arr.size) | (arr[nxt] != 10)))
    return n


# ----------------------------------------------------------------------------------------------
# One block: three readers, one result
# ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    """One block's rows as a reader produces them, before they are checked."""

    names: list[str]  # raw wrap ids, indexed by ``codes``
    codes: Int32Array  # -1 where wrap_id is missing
    t_s: FloatArray  # NaN where t is missing or not a time
    values: tuple[FloatArray | None, ...]  # the value columns (None: not in the file); NaN = missing
    nonnum: BoolArray | None  # rows with a value that is not a number
    comment: BoolArray | None  # comment lines that happen to have the right number of fields
    bad_width: int  # lines skipped for having the wrong number of fields
    lines: Callable[[], tuple[IntArray, IntArray] | None]  # (row lines, bad-width lines) in block
    reparse: Callable[[], _Block] | None  # the Python reader, for when ``lines`` cannot tell
    # Filled in by ``_check`` on the worker thread, so that the collector's thread stays free:
    bad_time: BoolArray | None = None  # rows whose time is missing or unusable; None: none
    invalid: BoolArray | None = None  # rows invalid in any way (not comments); None: none
    per_code: IntArray | None = None  # rows (not comments) per code + 1: [0] counts missing ids
    timeless: IntArray | None = None  # the same, of rows without a usable time; None: none
    group_codes: Int32Array | None = None  # ``codes`` with -1 for rows to drop (no time, comments)


class _Skipped:
    """pyarrow's invalid-row handler: comment and blank lines are fine, other odd lines are bad."""

    def __init__(self) -> None:
        self.bad = 0

    def __call__(self, row: Any) -> str:
        text: str = row.text
        if not (text.startswith("#") or not text.strip()):
            self.bad += 1
        return "skip"


#: pyarrow decodes an invalid row's text for its handler: bad UTF-8 there raises UnicodeDecodeError,
#: and the block goes to the next reader like any other it cannot read.
_ARROW_ERRORS: Final = (
    pa.ArrowInvalid,
    pa.ArrowNotImplementedError,
    pa.ArrowTypeError,
    UnicodeDecodeError,
)


def _is_utf8(data: _Data, start: int, end: int) -> bool:
    """Whether a block is valid UTF-8; plain ASCII (the usual trace) is told by one vector pass."""
    if not (_bytes_view(data, start, end) >= 0x80).any():
        return True
    try:
        bytes(data[start:end]).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _parse_block(
    data: _Data, whole: Any, start: int, end: int, layout: _Layout, hints: _Kinds, params: RuleParams
) -> _Block:
    """Read one block with the fastest reader that copes with it, and check its rows."""
    if not _is_utf8(data, start, end):
        # pyarrow would decode a bad row's bytes for its invalid-row handler and fail inside it
        # (printing a traceback it cannot raise): invalid UTF-8 goes to the Python reader at once.
        return _check(_parse_python(data, start, end, layout), params)
    buf = whole.slice(start, end - start)
    try:
        return _check(_parse_typed(data, buf, start, end, layout, hints), params)
    except _ARROW_ERRORS:
        pass
    try:
        return _check(_parse_text(data, buf, start, end, layout), params)
    except _ARROW_ERRORS:
        return _check(_parse_python(data, start, end, layout), params)


def _check(block: _Block, params: RuleParams) -> _Block:
    """Fill in what the collector needs to know of a block's rows, on the worker's thread.

    Rows without a usable time and invalid rows of any kind (``None`` when there are none, found
    without building a mask whenever possible), rows per wrap id, and the codes to group by.
    """
    block.bad_time = _bad_times(block.t_s)
    masks: list[BoolArray] = [] if block.bad_time is None else [block.bad_time]
    named = np.array([_usable_name(n) for n in block.names] + [False], dtype=np.bool_)
    if block.codes.size and (not named[:-1].all() or block.codes.min() < 0):
        masks.append(~named[block.codes])
    if block.nonnum is not None:
        masks.append(block.nonnum)
    out_of_range = _out_of_range(block.values, block.t_s.size, params)
    if out_of_range is not None:
        masks.append(out_of_range)
    if masks:
        invalid = np.logical_or.reduce(masks) if len(masks) > 1 else masks[0].copy()
        if block.comment is not None:
            invalid &= ~block.comment
        block.invalid = invalid if invalid.any() else None
    # Counts per wrap id for the collector, and the codes it groups by: rows without a time or
    # comment lines are dropped (-1) here, where the work runs in parallel.
    n_codes = len(block.names) + 1
    real = block.codes if block.comment is None else block.codes[~block.comment]
    block.per_code = np.bincount(real + 1, minlength=n_codes)
    drop = block.bad_time
    if drop is not None:
        counted = drop if block.comment is None else drop & ~block.comment
        block.timeless = np.bincount(block.codes[counted] + 1, minlength=n_codes)
    if block.comment is not None:
        drop = block.comment if drop is None else drop | block.comment
    block.group_codes = block.codes if drop is None else np.where(drop, np.int32(-1), block.codes)
    return block


def _out_of_range(values: tuple[FloatArray | None, ...], n: int, params: RuleParams) -> BoolArray | None:
    """Rows with an implausible value, by the same rule as ``build_series``; ``None`` if none.

    The extremes of each column are checked first: the ranges are intervals, so when the smallest
    and largest values pass, all do, and the full mask is not needed.
    """
    ext = [
        np.array([np.fmin.reduce(v), np.fmax.reduce(v)]) if v is not None and v.size else _nans(2)
        for v in values
    ]
    if not validate_fields(ext[0], ext[1], ext[2], ext[3], params)[4].any():
        return None
    full = [v if v is not None else _nans(n) for v in values]
    return validate_fields(full[0], full[1], full[2], full[3], params)[4]


def _read_arrow(buf: Any, layout: _Layout, types: dict[str, Any], skipped: _Skipped) -> Any:
    return pacsv.read_csv(
        pa.BufferReader(buf),
        read_options=pacsv.ReadOptions(
            column_names=layout.arrow_names,
            use_threads=False,
            # One pyarrow block per block of ours, so that every column is one contiguous chunk.
            block_size=min(max(buf.size + 1, 1 << 16), (1 << 31) - 1),
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=skipped, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=list(types),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


#: How the typed reader asks pyarrow for a column: a number, a time (``t`` only: ISO 8601 with an
#: offset, parsed by pyarrow itself), or text converted afterwards value by value.
_FLOAT, _TIME, _TEXT = "float", "time", "text"
_Kinds = dict[int, str]  # header position -> kind, shared by a file's blocks as a hint
_FAILED_COLUMN: Final = re.compile(r"In CSV column #(\d+)")


def _has_comments(data: _Data, start: int, end: int) -> bool:
    """Whether a line of the block starts with ``#``."""
    return (
        data[start : start + 1] == b"#"
        or data.find(b"\n#", start, end) >= 0
        or data.find(b"\r#", start, end) >= 0
    )


def _arrow_type(kind: str) -> Any:
    if kind == _FLOAT:
        return pa.float64()
    return pa.timestamp("ns", tz="UTC") if kind == _TIME else pa.string()


def _parse_typed(data: _Data, buf: Any, start: int, end: int, layout: _Layout, hints: _Kinds) -> _Block:
    """pyarrow converts every column it can; a column it cannot is asked for again as times (``t``)
    or text, and only that column is converted by the slower kernels.

    Raises ArrowInvalid when the block needs the text reader: a comment line with the right number
    of commas could pass for a row, unless the first column is read and checked.
    """
    t_pos, wrap_pos = layout.index["t"], layout.index["wrap_id"]
    kinds = {i: hints.get(i, _FLOAT) for c, i in layout.index.items() if c != "wrap_id"}
    commented: bool | None = None
    if 0 not in layout.index.values():
        commented = _has_comments(data, start, end)
        if commented:
            raise pa.ArrowInvalid("comment lines in a block whose first column is not read")
    while True:
        types = {f"c{i}": _arrow_type(k) for i, k in kinds.items()}
        types[f"c{wrap_pos}"] = pa.dictionary(pa.int32(), pa.string())
        skipped = _Skipped()
        try:
            table = _read_arrow(buf, layout, types, skipped)
            break
        except pa.ArrowInvalid as exc:
            failed = _FAILED_COLUMN.search(str(exc))
            pos = int(failed.group(1)) if failed else -1
            if pos not in kinds or kinds[pos] == _TEXT:
                raise
            if commented is None:
                commented = _has_comments(data, start, end)
            if commented:
                raise  # comment lines trip every column: the text reader copes at once
            kinds[pos] = _TIME if pos == t_pos and kinds[pos] == _FLOAT else _TEXT
            hints[pos] = kinds[pos]
    names, codes = _dictionary_codes(table.column(f"c{wrap_pos}"))
    n = table.num_rows
    comment = None
    if wrap_pos == 0:
        hashed = [i for i, name in enumerate(names) if name.startswith("#")]
        if hashed:
            comment = np.isin(codes, hashed)
    elif kinds.get(0) == _TEXT:
        comment = _bools(_compute().starts_with(table.column("c0"), "#"))
        comment = comment if comment.any() else None
    nonnum = np.zeros(n, dtype=np.bool_) if _TEXT in kinds.values() else None
    values: dict[str, FloatArray] = {}
    for c in _CHECKED_COLUMNS:
        if c in layout.index:
            col = table.column(layout.col(c))
            if kinds[layout.index[c]] == _FLOAT:
                values[c] = _floats(col)
            else:
                values[c], bad = _text_floats(col)
                if bad is not None and nonnum is not None:
                    nonnum |= bad
    t_col = table.column(f"c{t_pos}")
    t_kind = kinds[t_pos]
    t_s = (
        _floats(t_col)
        if t_kind == _FLOAT
        else _stamp_seconds(t_col)
        if t_kind == _TIME
        else _text_times(t_col)
    )
    return _Block(
        names,
        codes,
        t_s,
        tuple(values.get(c) for c in _VALUE_COLUMNS),
        nonnum if nonnum is not None and nonnum.any() else None,
        comment,
        skipped.bad,
        lambda: _line_map(data, start, end, layout.ncols, n, skipped.bad),
        lambda: _parse_python(data, start, end, layout),
    )


def _parse_text(data: _Data, buf: Any, start: int, end: int, layout: _Layout) -> _Block:
    """Every column read as text and converted with vectorised kernels, value by value."""
    pc = _compute()
    positions = sorted({0, *layout.index.values()})
    skipped = _Skipped()
    table = _read_arrow(buf, layout, {f"c{i}": pa.string() for i in positions}, skipped)
    columns = {c: table.column(layout.col(c)) for c in layout.index}
    comment = _bools(pc.starts_with(table.column("c0"), "#"))
    n = table.num_rows
    return _from_text(
        columns,
        n,
        comment if comment.any() else None,
        skipped.bad,
        lambda: _line_map(data, start, end, layout.ncols, n, skipped.bad),
        lambda: _parse_python(data, start, end, layout),
    )


def _parse_python(data: _Data, start: int, end: int, layout: _Layout) -> _Block:
    """Line by line: slow, but it decides the odd cases (bad UTF-8 becomes U+FFFD, i.e. invalid)."""
    text = data[start:end].decode("utf-8", errors="replace")
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the block's final line break
    used = list(layout.index.items())
    values: dict[str, list[str]] = {c: [] for c, _ in used}
    row_lines: list[int] = []
    bad_lines: list[int] = []
    for i, line in enumerate(lines):
        if not line.strip() or line.startswith("#"):
            continue
        fields = _csv_fields(line)
        if len(fields) != layout.ncols:
            bad_lines.append(i)
            continue
        row_lines.append(i)
        for c, j in used:
            values[c].append(fields[j])
    columns = {c: pa.array(v, type=pa.string()) for c, v in values.items()}
    found = (np.asarray(row_lines, dtype=np.int64), np.asarray(bad_lines, dtype=np.int64))
    return _from_text(columns, len(row_lines), None, len(bad_lines), lambda: found, None)


def _from_text(
    columns: dict[str, Any],
    n: int,
    comment: BoolArray | None,
    bad_width: int,
    lines: Callable[[], tuple[IntArray, IntArray] | None],
    reparse: Callable[[], _Block] | None,
) -> _Block:
    """A block from text columns: what the text reader and the Python reader share."""
    pc = _compute()
    names, codes = _dictionary_codes(pc.dictionary_encode(columns["wrap_id"]))
    nonnum = np.zeros(n, dtype=np.bool_)
    values: dict[str, FloatArray] = {}
    for c in _CHECKED_COLUMNS:
        if c in columns:
            values[c], bad = _text_floats(columns[c])
            if bad is not None:
                nonnum |= bad
    return _Block(
        names,
        codes,
        _text_times(columns["t"]),
        tuple(values.get(c) for c in _VALUE_COLUMNS),
        nonnum if nonnum.any() else None,
        comment,
        bad_width,
        lines,
        reparse,
    )


# pyarrow -> NumPy without pandas: pyarrow's own ``to_numpy`` imports pandas when it is installed,
# which alone costs a third of a second; these read the Arrow buffers directly.


def _compute() -> Any:
    """pyarrow.compute, imported on first use: its import takes tens of milliseconds that a trace
    of plain numbers (the common case) never needs."""
    import pyarrow.compute

    return pyarrow.compute


def _chunks(col: Any) -> list[Any]:
    return [c for c in (col.chunks if isinstance(col, pa.ChunkedArray) else [col]) if len(c)]


def _valid(arr: Any) -> BoolArray | None:
    """Validity of an Arrow array, ``None`` when nothing is null."""
    if arr.null_count == 0:
        return None
    bits = np.unpackbits(
        np.frombuffer(arr.buffers()[0], dtype=np.uint8), count=arr.offset + len(arr), bitorder="little"
    )
    return bits[arr.offset :].astype(np.bool_)


def _floats(col: Any) -> FloatArray:
    """A float64 Arrow column as NumPy (a view when it is one chunk without nulls); null is NaN."""
    parts: list[FloatArray] = []
    for c in _chunks(col):
        n = len(c)
        if c.null_count == n:
            parts.append(_nans(n))
            continue
        v = np.frombuffer(c.buffers()[1], dtype=np.float64, count=n, offset=8 * c.offset)
        valid = _valid(c)
        parts.append(v if valid is None else np.where(valid, v, np.nan))
    return _join(parts, np.float64)


def _ints(col: Any, fill: int) -> IntArray:
    """An int32/int64 Arrow column as int64 NumPy; null is ``fill``."""
    parts: list[IntArray] = []
    for c in _chunks(col):
        n = len(c)
        if c.null_count == n:
            parts.append(np.full(n, fill, dtype=np.int64))
            continue
        dtype = np.dtype(np.int32) if c.type.bit_width == 32 else np.dtype(np.int64)
        v = np.frombuffer(c.buffers()[1], dtype=dtype, count=n, offset=dtype.itemsize * c.offset)
        valid = _valid(c)
        parts.append(v.astype(np.int64) if valid is None else np.where(valid, v, fill).astype(np.int64))
    return _join(parts, np.int64)


def _bools(col: Any) -> BoolArray:
    """A boolean Arrow column as NumPy; null is False."""
    parts: list[BoolArray] = []
    for c in _chunks(col):
        n = len(c)
        if c.null_count == n:
            parts.append(np.zeros(n, dtype=np.bool_))
            continue
        bits = np.unpackbits(
            np.frombuffer(c.buffers()[1], dtype=np.uint8), count=c.offset + n, bitorder="little"
        )[c.offset :].astype(np.bool_)
        valid = _valid(c)
        parts.append(bits if valid is None else bits & valid)
    return _join(parts, np.bool_)


def _join(parts: list[npt.NDArray[_T]], dtype: type[_T]) -> npt.NDArray[_T]:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _nans(n: int) -> FloatArray:
    return np.full(n, np.nan)


def _dictionary_codes(col: Any) -> tuple[list[str], Int32Array]:
    """Values and int32 codes (-1 for null) of a dictionary-encoded Arrow column."""
    chunks = _chunks(col)
    if not chunks:
        return [], np.empty(0, dtype=np.int32)
    if len(chunks) > 1:
        chunks = pa.chunked_array(chunks).unify_dictionaries().chunks
    names: list[str] = chunks[0].dictionary.to_pylist()
    indices = [c.indices for c in chunks]
    return names, _ints(indices[0] if len(indices) == 1 else pa.chunked_array(indices), -1).astype(np.int32)


def _one_array(col: Any) -> Any:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _cast_or_each(arr: Any, to: Any) -> Any:
    """Cast an Arrow array; where that fails, halve and retry, so each value that will not cast
    becomes null at a cost of a few casts per bad value rather than one per value."""
    pc = _compute()
    try:
        return pc.cast(arr, to)
    except _ARROW_ERRORS:
        if len(arr) <= 1:
            return pa.nulls(len(arr), to)
    half = len(arr) // 2
    return pa.concat_arrays([_cast_or_each(arr.slice(0, half), to), _cast_or_each(arr.slice(half), to)])


def _text_floats(col: Any) -> tuple[FloatArray, BoolArray | None]:
    """Text to float64 (NaN where missing) and a mask of values present but not numbers."""
    pc = _compute()
    s = pc.utf8_trim_whitespace(_one_array(col))
    nulls = pa.nulls(len(s), pa.string())
    present = pc.match_substring_regex(s, ".")  # blank after trimming is missing, like ""
    try:
        return _floats(pc.cast(pc.if_else(present, s, nulls), pa.float64())), None
    except _ARROW_ERRORS:
        pass
    ok = pc.match_substring_regex(s, _NUMBER_RE)
    numbers = _cast_or_each(pc.if_else(ok, s, nulls), pa.float64())
    return _floats(numbers), _bools(present) & ~_bools(ok)


def _stamp_seconds(col: Any) -> FloatArray:
    """A timestamp[ns] Arrow column as float seconds, to the nearest microsecond; null is NaN."""
    ns = _ints(col, 0)
    valid = np.ones(ns.size, dtype=np.bool_) if col.null_count == 0 else _bools(_compute().is_valid(col))
    us = (ns + 500) // 1000  # the resolution of the core
    return np.where(valid, us / US, np.nan)


def _text_times(col: Any) -> FloatArray:
    """Epoch seconds or ISO 8601 times with an offset, to float seconds; NaN where missing or not a time."""
    pc = _compute()
    s = pc.utf8_trim_whitespace(_one_array(col))
    nulls = pa.nulls(len(s), pa.string())
    try:
        return _floats(pc.cast(pc.if_else(pc.match_substring_regex(s, "."), s, nulls), pa.float64()))
    except _ARROW_ERRORS:
        pass
    stamp = pa.timestamp("ns", tz="UTC")
    try:
        return _stamp_seconds(pc.cast(s, stamp))  # all ISO 8601: no need to look value by value
    except _ARROW_ERRORS:
        pass
    is_num = pc.match_substring_regex(s, _NUMBER_RE)
    out = _floats(_cast_or_each(pc.if_else(is_num, s, nulls), pa.float64()))
    is_iso = pc.match_substring_regex(s, _ISO_RE)
    if _bools(is_iso).any():
        stamps = _cast_or_each(pc.if_else(is_iso, s, nulls), stamp)
        out = np.where(_bools(pc.is_valid(stamps)), _stamp_seconds(stamps), out)
    return out


def _line_map(
    data: _Data, start: int, end: int, ncols: int, n_rows: int, bad_width: int
) -> tuple[IntArray, IntArray] | None:
    """Line offsets (in the block) of pyarrow's rows and of the lines it skipped as malformed.

    pyarrow does not say which line a row came from; this re-derives it from the bytes: a line is a
    row when it is not empty and has ``ncols`` fields. ``None`` when that does not match what
    pyarrow saw (an unbalanced quote joining lines, say): the caller then reads the block in Python.
    """
    arr = _bytes_view(data, start, end)
    size = arr.size
    if bad_width == 0:
        n_lines = _count_breaks(arr) + (1 if size and arr[-1] not in (10, 13) else 0)
        if n_lines == n_rows:  # every line is a row: the common case
            return np.arange(n_rows, dtype=np.int64), np.empty(0, dtype=np.int64)
    nl = np.flatnonzero(arr == 10)
    cr = np.flatnonzero(arr == 13)
    breaks = nl
    if cr.size:
        breaks = np.union1d(nl, cr[(cr + 1 == size) | (arr[np.minimum(cr + 1, size - 1)] != 10)])
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [size]))
    if starts[-1] >= size:
        starts, ends = starts[:-1], ends[:-1]
    crlf = (ends > starts) & (ends < size) & (arr[np.minimum(ends, size - 1)] == 10)
    crlf &= arr[np.maximum(ends - 1, 0)] == 13
    ends = ends - crlf
    nonempty = ends > starts
    commas = np.flatnonzero(arr == 44)
    width = np.bincount(np.searchsorted(starts, commas, side="right") - 1, minlength=starts.size) + 1
    for i in np.unique(np.searchsorted(starts, np.flatnonzero(arr == 34), side="right") - 1).tolist():
        width[i] = len(_csv_fields(bytes(arr[starts[i] : ends[i]]).decode("utf-8", errors="replace")))
    is_row = nonempty & (width == ncols)
    rows = np.flatnonzero(is_row)
    if rows.size != n_rows:
        return None
    bad = [
        i
        for i in np.flatnonzero(nonempty & ~is_row).tolist()
        if arr[starts[i]] != ord("#") and bytes(arr[starts[i] : ends[i]]).strip()
    ]
    if len(bad) != bad_width:
        return None
    return rows.astype(np.int64), np.asarray(bad, dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# Collecting blocks into series
# ----------------------------------------------------------------------------------------------


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
        if len(self._lines) < MAX_REPORTED_LINES:
            located = self._invalid_lines(block)
            if located is None and block.reparse is not None:
                # pyarrow and the line structure disagree (an unbalanced quote joined lines, say):
                # the Python reader decides, so that values and line numbers agree.
                block = _check(block.reparse(), self.params)
                located = self._invalid_lines(block)
            if located is not None:
                found = located
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

        Blocks are sorted and wraps built on ``pool``: NumPy releases the GIL in both.
        """
        n_wraps = len(self._names)
        groups = list(pool.map(partial(_group, n_wraps=n_wraps), self._kept))
        any_nonnum = any(k.nonnum is not None for k in self._kept)

        def build(code: int) -> WrapSeries:
            wrap = _gather(self._kept, groups, code, any_nonnum)
            return build_series(
                self._names[code],
                wrap[0],
                *wrap[1],
                params=self.params,
                invalid_rows=wrap[2],
                extra_invalid=self._extra.get(code, 0),
                latest_us=self.latest_us,
            )

        series = list(pool.map(build, sorted(range(n_wraps), key=self._names.__getitem__)))
        ends = [int(s.t_us[-1]) for s in series if len(s)]
        end_us = max(ends) if ends else None
        return TraceSet(
            tuple(series), end_us, self._rows, self._skipped, tuple(self._lines), tuple(self.warnings)
        )


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
) -> tuple[FloatArray, list[FloatArray], BoolArray | None]:
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


def _usable_name(raw: str) -> bool:
    """Whether a wrap id names a wrap: not blank, and not damaged by undecodable bytes."""
    name = raw.strip()
    return bool(name) and "\ufffd" not in name


def _bad_times(t_s: FloatArray) -> BoolArray | None:
    """Rows whose time is missing or unusable; ``None`` (after two reductions) when there are none."""
    if t_s.size == 0:
        return None
    lo, hi = float(t_s.min()), float(t_s.max())  # NaN propagates, so a missing time fails here
    if -_MAX_ABS_T_S <= lo and hi <= _MAX_ABS_T_S:
        return None
    with np.errstate(invalid="ignore"):
        bad: BoolArray = ~(np.abs(t_s) <= _MAX_ABS_T_S)
    return bad


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------


def write_trace(
    path: str | os.PathLike[str], series: Iterable[WrapSeries], *, comment: str | None = None
) -> int:
    """Write series as a trace file (gzip when the name ends with ``.gz``); return the rows written.

    Rows are in time order across wraps (a wrap's own order where times tie). Times are exact
    decimal seconds from the integer microseconds, temperatures °C with at most three decimals from
    the integer milli-degrees, so that reading the file back gives identical arrays. Missing values
    are empty fields. ``comment`` becomes ``#`` lines before the header (e.g. the recording's ward).

    Raises
    ------
    InvalidReadingsError
        A wrap id that a trace cannot give back unchanged (blank, padded, with a line break).
    """
    pc = _compute()
    items = list(series)
    for s in items:
        if not _usable_name(s.wrap_id) or s.wrap_id != s.wrap_id.strip() or _UNWRITABLE.search(s.wrap_id):
            raise InvalidReadingsError(
                f"wrap id {s.wrap_id!r} cannot be written to a trace: it is blank, begins or ends "
                "with spaces, or holds a line break, a NUL or U+FFFD"
            )
    head = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    head += ",".join(TRACE_COLUMNS) + "\n"
    lengths = [len(s) for s in items]
    n = sum(lengths)
    if n:
        t_us = np.concatenate([s.t_us for s in items])
        order = np.argsort(t_us, kind="stable")
        codes = np.repeat(np.arange(len(items), dtype=np.int32), lengths)[order]
        t_us = t_us[order]
        columns = [np.concatenate([getattr(s, f) for s in items])[order] for f in _SERIES_FIELDS]
    quoted = pa.array([_quote(s.wrap_id) for s in items], type=pa.string())
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    kwargs: dict[str, Any] = {"compresslevel": _GZIP_LEVEL} if opener is gzip.open else {}
    with opener(path, "wb", **kwargs) as f:
        f.write(head.encode("utf-8"))
        for a in range(0, n, _WRITE_BATCH_ROWS):
            b = min(n, a + _WRITE_BATCH_ROWS)
            fields = [
                _decimal_text(t_us[a:b], 6),
                pc.take(quoted, pa.array(codes[a:b])),
                _decimal_text(columns[0][a:b], 3),
                _decimal_text(columns[1][a:b], 3),
                _float_text(columns[2][a:b]),
                _float_text(columns[3][a:b]),
            ]
            lines = pc.binary_join_element_wise(*fields, ",", null_handling="replace", null_replacement="")
            body = pc.binary_join_element_wise(lines, "", "\n")
            f.write(_string_bytes(body))
    return n


_SERIES_FIELDS: Final = ("skin_mc", "ambient_mc", "contact", "battery_pct")
#: Characters a wrap id cannot carry through a trace: line breaks end the row, a NUL makes the file
#: look binary, U+FFFD is how the reader marks undecodable bytes.
_UNWRITABLE: Final = re.compile("[\r\n\x00\ufffd]")


def _quote(wrap_id: str) -> str:
    """A wrap id as a CSV field: quoted only when it must be."""
    if any(ch in wrap_id for ch in ',"') or wrap_id.startswith("#"):
        return '"' + wrap_id.replace('"', '""') + '"'
    return wrap_id


def _decimal_text(units: npt.NDArray[Any], digits: int) -> Any:
    """Exact decimal text of integers in units of 10**-digits, trailing zeros dropped; null for NaN
    (and for infinities, which no valid series holds).

    ``36820, 3 -> "36.82"``; ``1767225600400000, 6 -> "1767225600.4"``. Integer arithmetic, so no
    float noise (``36.820000000000001``) can appear.
    """
    pc = _compute()
    missing: BoolArray | None = None
    if units.dtype.kind == "f":
        missing = ~np.isfinite(units)
        units = np.rint(np.where(missing, 0.0, units)).astype(np.int64)
    negative = units < 0
    magnitude = np.abs(units)
    scale = 10**digits
    whole = pa.array(magnitude // scale).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(magnitude % scale).cast(pa.string()), width=digits, padding="0")
    frac = pc.utf8_rtrim(frac, characters="0")
    frac = pc.if_else(pc.equal(pc.utf8_length(frac), 0), "0", frac)
    text = pc.binary_join_element_wise(whole, frac, ".")
    if negative.any():
        text = pc.if_else(pa.array(negative), pc.binary_join_element_wise("-", text, ""), text)
    if missing is not None and missing.any():
        text = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)
    return text


def _float_text(values: FloatArray) -> Any:
    """Shortest text that reads back as the same float64; null for NaN."""
    return pa.array(values, from_pandas=True).cast(pa.string())


def _string_bytes(text: Any) -> memoryview:
    """The characters of a string array back to back: the CSV body, without copying per row."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=len(text) + 1, offset=4 * text.offset)
    return memoryview(text.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
