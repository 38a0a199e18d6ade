"""One block's rows as a reader hands them over, before they are checked: the shape every reader
(the plain kernel, pyarrow, Python) produces and the checks and the collector take."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kmc_monitor.devices.trace.layout import BoolArray, Int32Array
from kmc_monitor.signal.series import FloatArray, IntArray

#: How the general reader has read a file's columns so far (header position -> kind), shared by a
#: file's blocks as a hint so that a later block does not rediscover it.
_Kinds = dict[int, str]


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
