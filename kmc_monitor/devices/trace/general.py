"""The general readers: a block that is not plain, read by the fastest reader that copes with it.

1. pyarrow's CSV reader with the final column types (float64, dictionary-encoded wrap ids);
2. if a value does not convert (text in a number column, ISO 8601 times, a comment line that happens
   to have the right number of commas), the block is read again with every column as text and
   converted with vectorised ``pyarrow.compute`` kernels;
3. if even that fails (invalid UTF-8, say), the block is parsed line by line in Python, which
   decides every odd case the same way the vectorised readers do.

Imported on the first block that needs it: a plain trace never loads pyarrow.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from kmc_monitor.devices.trace.arrow import (
    _ARROW_ERRORS,
    _bools,
    _compute,
    _dictionary_codes,
    _floats,
    _stamp_seconds,
    _text_floats,
    _text_times,
)
from kmc_monitor.devices.trace.layout import (
    _CHECKED_COLUMNS,
    _LINE_BREAK,
    _VALUE_COLUMNS,
    BoolArray,
    _bytes_view,
    _count_breaks,
    _csv_fields,
    _Data,
    _Layout,
)
from kmc_monitor.devices.trace.parsed import _Block, _Kinds
from kmc_monitor.signal.series import FloatArray, IntArray


def parse_general(data: _Data, start: int, end: int, layout: _Layout, hints: _Kinds) -> _Block:
    """Read one block with the fastest general reader that copes with it."""
    if not _is_utf8(data, start, end):
        # pyarrow would decode a bad row's bytes for its invalid-row handler and fail inside it
        # (printing a traceback it cannot raise): invalid UTF-8 goes to the Python reader at once.
        return _parse_python(data, start, end, layout)
    buf = pa.py_buffer(data).slice(start, end - start)
    try:
        return _parse_typed(data, buf, start, end, layout, hints)
    except _ARROW_ERRORS:
        pass
    try:
        return _parse_text(data, buf, start, end, layout)
    except _ARROW_ERRORS:
        return _parse_python(data, start, end, layout)
    finally:
        del buf  # no view of the file may outlive the call: the file is closed after its blocks


class _Skipped:
    """pyarrow's invalid-row handler: comment and blank lines are fine, other odd lines are bad."""

    def __init__(self) -> None:
        self.bad = 0

    def __call__(self, row: Any) -> str:
        text: str = row.text
        if not (text.startswith("#") or not text.strip()):
            self.bad += 1
        return "skip"


def _is_utf8(data: _Data, start: int, end: int) -> bool:
    """Whether a block is valid UTF-8; plain ASCII (the usual trace) is told by one vector pass."""
    if not (_bytes_view(data, start, end) >= 0x80).any():
        return True
    try:
        bytes(data[start:end]).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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
