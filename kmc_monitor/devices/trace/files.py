"""Opening a trace file: its bytes memory-mapped (or read from a pipe), gzip decompressed, a gzip
recording cut short read up to the cut; every failure a :class:`~kmc_monitor.errors.TraceError`
naming the file.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, BinaryIO, Final

from kmc_monitor.devices.trace.layout import _Data
from kmc_monitor.errors import TraceError

_GZIP_MAGIC: Final = b"\x1f\x8b"
#: Compressed bytes read at a time when a gzip file is spooled to disk.
_SPOOL_READ: Final = 1 << 20


def _size_or_zero(name: str) -> int:
    try:
        return os.stat(name).st_size
    except (OSError, ValueError):
        return 0  # the open that follows says what is wrong


@contextmanager
def _file_data(name: str, warn: Callable[[str], None], *, spool: bool = False) -> Iterator[_Data]:
    """The file's bytes, decompressed if gzip; memory-mapped when possible, to skip a copy.

    With ``spool``, a gzip file is decompressed a megabyte at a time into an anonymous temporary
    file, which is mapped: memory then holds what is being read, not the whole decompressed trace.
    """
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
    with ExitStack() as stack:
        stack.enter_context(f)
        try:
            if f.seekable():
                magic = f.read(2)
                f.seek(0)
                if magic != _GZIP_MAGIC:
                    data: _Data = _map_or_read(f)
                elif spool:
                    tmp = stack.enter_context(tempfile.TemporaryFile(prefix="kmc-trace-"))
                    _gunzip_into(f, tmp, name, warn)
                    tmp.flush()
                    tmp.seek(0)
                    data = _map_or_read(tmp)
                else:
                    data = _gunzip(f.read(), name, warn)
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


def _gunzip_into(f: BinaryIO, out: BinaryIO, name: str, warn: Callable[[str], None]) -> None:
    """:func:`_gunzip` a read at a time, into ``out``: the same members, the same refusals, the
    same cut (and warning) for a recording cut short."""
    member = 0
    member_start = 0
    pending = b""
    ended = False
    d: Any = None
    while True:
        if d is None:  # between members: trailing NUL padding ends the file like its end
            while not ended and not pending.strip(b"\0"):
                more = f.read(_SPOOL_READ)
                ended = not more
                pending = (b"\0" if pending else b"") + more  # a NUL run is told by its first NUL
            if not pending.strip(b"\0"):
                return
            d = zlib.decompressobj(wbits=31)
            member_start = out.tell()
        if not pending and not ended:
            pending = f.read(_SPOOL_READ)
            ended = not pending
        try:
            if pending:
                out.write(d.decompress(pending))
                pending = b""
            else:
                out.write(d.flush())
        except zlib.error:
            if member == 0:
                raise TraceError(f"{name} is not a trace: its gzip data is corrupt") from None
            out.truncate(member_start)  # as _gunzip: nothing of a member that fails
            out.seek(member_start)
            _cut_short_file(out, name, warn)
            return
        if d.eof:
            pending, d = d.unused_data, None
            member += 1
        elif ended and not pending:
            _cut_short_file(out, name, warn)
            return


def _cut_short_file(out: BinaryIO, name: str, warn: Callable[[str], None]) -> None:
    """:func:`_cut_short` of what ``out`` holds: cut after its last complete line."""
    size = out.seek(0, os.SEEK_END)
    end = size
    while end > 0:
        start = max(0, end - _SPOOL_READ)
        out.seek(start)
        tail = out.read(end - start)
        brk = max(tail.rfind(b"\n"), tail.rfind(b"\r"))
        if brk >= 0:
            end = start + brk + 1
            break
        end = start
    partial = " (its last, partial line dropped)" if size > end else ""
    warn(f"{name} was cut short (an interrupted recording): read up to the cut{partial}")
    out.truncate(end)
    out.seek(end)


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
