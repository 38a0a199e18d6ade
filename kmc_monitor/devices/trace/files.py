"""Opening a trace file: its bytes memory-mapped (or read from a pipe), gzip decompressed, a gzip
recording cut short read up to the cut; every failure a :class:`~kmc_monitor.errors.TraceError`
naming the file.
"""

from __future__ import annotations

import mmap
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, Final

from kmc_monitor.devices.trace.layout import _Data
from kmc_monitor.errors import TraceError

_GZIP_MAGIC: Final = b"\x1f\x8b"


def _size_or_zero(name: str) -> int:
    try:
        return os.stat(name).st_size
    except (OSError, ValueError):
        return 0  # the open that follows says what is wrong


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
