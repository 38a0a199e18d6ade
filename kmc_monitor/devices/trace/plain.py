"""The plain-trace fast path: a block of plain rows parsed by a small C kernel (``_plain.c``).

Nearly every trace is plain: what ``write_trace`` and the recorder write, printable ASCII with one row
a line, the header's number of fields and numbers such as ``36.99`` or ``-0.5``. Such a block is
parsed in one pass with the GIL released, straight into the arrays the rules use, with wrap ids
coded on the way: about three times less CPU than pyarrow's general CSV reader, which tokenises,
then converts each column, then dictionary-encodes the ids.

The kernel judges nothing. At the first thing that is not plain (a quote, a comment or blank line,
a carriage return, an exponent, text in a number column, a field count that differs) it gives the
block up, and the general readers (:mod:`~kmc_monitor.devices.trace.general`) read it as before and
decide every odd case. Numbers it accepts are correctly rounded (mantissa ≤ 2**53 over an exact
power of ten), so a block gives the same values whichever reader took it; tests/devices/trace/
test_plain.py holds the two to each other.

Without a C compiler at install time the extension is absent and every block takes the general
readers: slower, the same results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from kmc_monitor.devices.trace.layout import _CHECKED_COLUMNS, _VALUE_COLUMNS, Int32Array, _Data, _Layout
from kmc_monitor.signal.series import FloatArray

try:
    import kmc_monitor.devices.trace._plain as _plain
except ImportError:  # built without a C compiler: the general readers take every block
    _plain = None  # type: ignore[assignment]

__all__ = ["AVAILABLE", "PlainBlock", "parse_plain", "scatter_rows"]

#: Whether the fast path was built.
AVAILABLE: Final = _plain is not None

#: The kernel's row mover (``None`` without it): every row to its wrap's place in one array per
#: column, in one pass, instead of a sort per block and a gather per wrap. See ``_plain.scatter``.
scatter_rows: Final = None if _plain is None else _plain.scatter


@dataclass(frozen=True, slots=True)
class PlainBlock:
    """One plain block: wrap ids (first seen first) and each row's code, times, and the value columns
    (``None``: not in the file)."""

    names: list[str]
    codes: Int32Array
    t_s: FloatArray
    values: tuple[FloatArray | None, ...]


def parse_plain(data: _Data, start: int, end: int, layout: _Layout) -> PlainBlock | None:
    """``data[start:end]`` parsed if every line of it is a plain row, else ``None``."""
    if _plain is None:
        return None
    capacity = _plain.lines(data, start, end)
    wanted = {layout.index[c]: c for c in (*_CHECKED_COLUMNS, "t") if c in layout.index}
    arrays: dict[str, FloatArray] = {c: np.empty(capacity) for c in wanted.values() if c != "rssi_dbm"}
    # Per field: an array to fill, True (a number, checked and not kept: rssi_dbm) or None (not read).
    numbers = tuple(arrays.get(wanted[i], True) if i in wanted else None for i in range(layout.ncols))
    codes = np.empty(capacity, dtype=np.int32)
    parsed = _plain.parse(data, start, end, layout.ncols, layout.index["wrap_id"], numbers, codes)
    if parsed is None:
        return None
    rows, names = parsed
    t_s = arrays["t"][:rows]
    values = tuple(arrays[c][:rows] if c in arrays else None for c in _VALUE_COLUMNS)
    return PlainBlock(names, codes[:rows], t_s, values)
