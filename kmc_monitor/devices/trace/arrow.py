"""pyarrow columns to NumPy arrays, and text columns to numbers and times, without pandas.

pyarrow's own ``to_numpy`` imports pandas when it is installed, which alone costs a third of a
second; these read the Arrow buffers directly.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from kmc_monitor.devices.trace.layout import BoolArray, Int32Array
from kmc_monitor.signal.params import US
from kmc_monitor.signal.series import FloatArray, IntArray

_T = TypeVar("_T", bound=np.generic)

# What a number looks like: a subset of what pyarrow's float parser accepts, so that a block read
# by the slower reader gives the same values it would have had on the fast path.
_NUMBER_RE: Final = (
    r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
    r"|^[+-]?(?:[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)$"
)
# ISO 8601 date and time ending in an offset (a time without one is ambiguous: whose clock?). Only a
# sieve: pyarrow's parser decides, and rejects impossible dates.
_ISO_RE: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(?:Z|[+-][0-9:]+)$"

#: pyarrow decodes an invalid row's text for its handler: bad UTF-8 there raises UnicodeDecodeError,
#: and the block goes to the next reader like any other it cannot read.
_ARROW_ERRORS: Final = (
    pa.ArrowInvalid,
    pa.ArrowNotImplementedError,
    pa.ArrowTypeError,
    UnicodeDecodeError,
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
