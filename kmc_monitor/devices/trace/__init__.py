"""Read and write recorded traces: the CSV files of ``trace-format.md``.

A trace is how a ward recording becomes an offline analysis or a regression test, so reading must be
exact (times in whole microseconds, temperatures in whole milli-degrees), forgiving of bad rows
(counted and reported by line, the rest used) and fast: a day of a full ward is millions of rows, and
``kmc-monitor analyze`` must not take longer than merely loading the file with pandas.

The package follows the bytes. :mod:`.files` opens a file (memory-mapped; gzip decompressed; a
recording cut short read up to the cut); :mod:`.layout` finds its header and cuts it into blocks of
about 8 MiB at line breaks; :mod:`.blocks` parses each block (on a thread per core) and checks it:
:mod:`.plain`'s C kernel (``_plain.c``) reads a block of plain rows, nearly every block, and
:mod:`.general` the rest with pyarrow (loaded only then), :mod:`.arrow` turning pyarrow's columns
into NumPy arrays, all into the shape of :mod:`.parsed`;
:mod:`.collect` gathers every block into one validated series per wrap (:func:`read_traces`), and
:mod:`.stream` hands the same readings out in time-ordered chunks without holding the whole trace
(:class:`TraceChunks`). :mod:`.writer` writes traces back in the same format.
"""

from typing import TYPE_CHECKING, Any

from kmc_monitor._lazy import load
from kmc_monitor.devices.trace.collect import TraceSet, read_traces
from kmc_monitor.devices.trace.layout import MAX_REPORTED_LINES, TRACE_COLUMNS

if TYPE_CHECKING:
    from kmc_monitor.devices.trace.stream import ReadingChunk, ReadingCursor, TraceChunks
    from kmc_monitor.devices.trace.writer import TraceWriter, write_trace

__all__ = [
    "MAX_REPORTED_LINES",
    "TRACE_COLUMNS",
    "ReadingChunk",
    "ReadingCursor",
    "TraceChunks",
    "TraceSet",
    "TraceWriter",
    "read_traces",
    "write_trace",
]

#: The chunked reader and the writer, imported on first use: reading a whole trace (``analyze``)
#: needs neither.
_LAZY = {
    **dict.fromkeys(("ReadingChunk", "ReadingCursor", "TraceChunks"), f"{__name__}.stream"),
    **dict.fromkeys(("TraceWriter", "write_trace"), f"{__name__}.writer"),
}


def __getattr__(name: str) -> Any:
    return load(__name__, _LAZY, globals(), name)
