"""Writing traces: whole series at once (:func:`write_trace`) or readings as they arrive
(:class:`TraceWriter`), in the one format the reader reads back exactly.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO, Final, Self

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from kmc_monitor.devices.trace.arrow import _compute
from kmc_monitor.devices.trace.layout import TRACE_COLUMNS, BoolArray, _usable_name
from kmc_monitor.errors import InvalidReadingsError
from kmc_monitor.signal.series import FloatArray, WrapSeries

__all__ = ["RECORD_COLUMNS", "TraceWriter", "write_trace"]

#: The columns :class:`TraceWriter` writes by default: those of :data:`TRACE_COLUMNS` and the signal
#: strength, which a recording keeps for the engineer (the reader checks it and the rules ignore it).
RECORD_COLUMNS: Final = (*TRACE_COLUMNS, "rssi_dbm")
#: gzip level of ``write_trace`` (a whole file at once: speed matters more than the last few %).
_GZIP_LEVEL: Final = 6
#: gzip level of a recording (gzip's own default), written a few rows at a time.
_RECORD_GZIP_LEVEL: Final = 9
_WRITE_BATCH_ROWS: Final = 1 << 20


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
    lengths = [len(s) for s in items]
    n = sum(lengths)
    if n:
        t_us = np.concatenate([s.t_us for s in items])
        order = np.argsort(t_us, kind="stable")
        codes = np.repeat(np.arange(len(items), dtype=np.int32), lengths)[order]
        t_us = t_us[order]
        columns = [np.concatenate([getattr(s, f) for s in items])[order] for f in _SERIES_FIELDS]
    quoted = pa.array([_quote(s.wrap_id) for s in items], type=pa.string())
    with TraceWriter(path, comment, columns=TRACE_COLUMNS, compresslevel=_GZIP_LEVEL) as out:
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
            out.write_lines(_string_bytes(body), b - a)
    return n


class TraceWriter:
    """A trace file written as it grows: a recording's readings as they arrive.

    The file is gzip when its name ends with ``.gz``. ``comment`` becomes ``#`` lines before the
    header, which is written (and flushed) at once, so that even a recording stopped at its first
    second leaves a valid trace. :meth:`write` appends readings (anything with the attributes of a
    :class:`~kmc_monitor.devices.reading.Reading`) as CSV rows in the order given; :meth:`flush`
    pushes what was written to the disk (in a gzip file: a sync point a reader can decompress up
    to, so a recorder killed later loses nothing flushed). :attr:`rows` counts the rows written.

    Values are short decimal text, empty when missing: times to the microsecond, temperatures to
    the milli-degree, contact to 4 decimals, battery to 1, RSSI to whole dBm.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        comment: str | None = None,
        *,
        columns: Sequence[str] = RECORD_COLUMNS,
        compresslevel: int = _RECORD_GZIP_LEVEL,
    ) -> None:
        self.path = os.fspath(path)
        self.columns = tuple(columns)
        if self.columns not in (RECORD_COLUMNS, TRACE_COLUMNS):
            raise ValueError(f"a trace is written with {RECORD_COLUMNS} or {TRACE_COLUMNS}, not {columns}")
        self.rows = 0
        if self.path.endswith(".gz"):
            self._file: BinaryIO | gzip.GzipFile = gzip.open(self.path, "wb", compresslevel=compresslevel)
        else:
            self._file = open(self.path, "wb")
        # write_through: text rows and the vectorised writer's bytes reach the file in call order.
        self._text = io.TextIOWrapper(self._file, encoding="utf-8", newline="", write_through=True)
        self._csv = csv.writer(self._text, lineterminator="\n")
        for line in (comment or "").splitlines():
            self._text.write(f"# {line}\n")
        self._csv.writerow(self.columns)
        self.flush()

    def write(self, readings: Iterable[Any]) -> None:
        """Append readings as rows, in the order given."""
        rssi = len(self.columns) == len(RECORD_COLUMNS)
        n = 0
        for r in readings:
            row = [
                _number(r.t, 6),
                r.wrap_id,
                _number(r.skin_temp_c, 3),
                _number(r.ambient_temp_c, 3),
                _number(r.contact, 4),
                _number(r.battery_pct, 1),
            ]
            if rssi:
                row.append(_number(r.rssi_dbm, 0))
            self._csv.writerow(row)
            n += 1
        self.rows += n

    def write_lines(self, body: bytes | memoryview, rows: int) -> None:
        """Append ``rows`` rows already formatted as CSV lines (the vectorised writer's batches)."""
        self._file.write(body)
        self.rows += rows

    def flush(self) -> None:
        self._text.flush()

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _number(value: float | None, digits: int) -> str:
    """A value as short decimal text (empty when missing): ``36.8`` rather than ``36.800000``."""
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


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
