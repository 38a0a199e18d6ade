"""Where a trace file's columns are and where its lines are: the header, the byte ranges of blocks
and line numbers, all on the raw bytes (no pyarrow), plus the names the trace format fixes.
"""

from __future__ import annotations

import csv
import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from kmc_monitor.errors import TraceError

BoolArray = npt.NDArray[np.bool_]
Int32Array = npt.NDArray[np.int32]
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
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


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


def _block_ranges(data: _Data, start: int, block_bytes: int | None = None) -> Iterator[tuple[int, int]]:
    """Byte ranges of about ``block_bytes`` (``_BLOCK_BYTES`` unless given), each ending after a
    line break."""
    size = len(data)
    step = _BLOCK_BYTES if block_bytes is None else block_bytes
    while start < size:
        nl = data.find(b"\n", start + step) if start + step < size else -1
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


def _usable_name(raw: str) -> bool:
    """Whether a wrap id names a wrap: not blank, and not damaged by undecodable bytes."""
    name = raw.strip()
    return bool(name) and "\ufffd" not in name
