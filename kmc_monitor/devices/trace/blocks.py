"""One block of a trace file parsed into arrays and checked.

A block is read by the plain kernel (:mod:`~kmc_monitor.devices.trace.plain`) when every line of it
is a plain row, which is nearly always; otherwise by the general readers
(:mod:`~kmc_monitor.devices.trace.general`: pyarrow typed, pyarrow as text, Python line by line),
loaded on first need.

Each block is then checked (:func:`_check`) on the worker's thread: which rows are invalid, which
have no usable time, rows per wrap id.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from kmc_monitor.devices.trace.layout import BoolArray, _Data, _Layout, _usable_name
from kmc_monitor.devices.trace.parsed import _Block, _Kinds
from kmc_monitor.devices.trace.plain import PlainBlock, parse_plain
from kmc_monitor.signal.params import RuleParams
from kmc_monitor.signal.series import FloatArray, validate_fields

__all__ = ["_Block", "_Kinds", "_check", "_parse_block"]

#: Times beyond this many seconds from the epoch (about the year 5100) are invalid: they cannot be
#: real recordings and would overflow integer microseconds.
_MAX_ABS_T_S: Final = 1e11


def _parse_block(
    data: _Data, start: int, end: int, layout: _Layout, hints: _Kinds, params: RuleParams
) -> _Block:
    """Read one block (the plain kernel, else the general readers) and check its rows."""
    plain = parse_plain(data, start, end, layout)
    if plain is not None:
        return _check(_from_plain(plain, data, start, end, layout), params)
    from kmc_monitor.devices.trace.general import parse_general

    return _check(parse_general(data, start, end, layout, hints), params)


def _from_plain(plain: PlainBlock, data: _Data, start: int, end: int, layout: _Layout) -> _Block:
    """A plain block as the checks take it: every line a row, no comments, no odd values."""
    n = plain.codes.size
    return _Block(
        plain.names,
        plain.codes,
        plain.t_s,
        plain.values,
        None,
        None,
        0,
        lambda: (np.arange(n, dtype=np.int64), np.empty(0, dtype=np.int64)),
        lambda: _python_reading(data, start, end, layout),
    )


def _python_reading(data: _Data, start: int, end: int, layout: _Layout) -> _Block:
    """The Python reader's reading of a block, for when line numbers and rows must be matched."""
    from kmc_monitor.devices.trace.general import _parse_python

    return _parse_python(data, start, end, layout)


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
        np.array([np.fmin.reduce(v), np.fmax.reduce(v)]) if v is not None and v.size else np.full(2, np.nan)
        for v in values
    ]
    if not validate_fields(ext[0], ext[1], ext[2], ext[3], params)[4].any():
        return None
    full = [v if v is not None else np.full(n, np.nan) for v in values]
    return validate_fields(full[0], full[1], full[2], full[3], params)[4]


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
