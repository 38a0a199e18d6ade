"""MLLP, HL7's Minimal Lower Layer Protocol: one HL7 message per frame over a TCP connection.

A frame is ``0x0B``, the message's bytes (UTF-8 here, as MSH-18 says), then ``0x1C 0x0D``. The
sender sends one message and waits for its acknowledgement on the same connection before the next
(HL7's original mode, the one interface engines expect), which is what keeps a backlog in order.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from kmc_monitor.errors import KmcError

__all__ = ["END", "START", "MllpError", "MllpUrl", "frame", "read_frame"]

START = b"\x0b"
END = b"\x1c\x0d"
#: A frame larger than this is refused rather than buffered (an acknowledgement is a few hundred bytes).
MAX_FRAME_BYTES = 1 << 20

_URL = re.compile(r"^mllp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})/?$")


class MllpError(KmcError):
    """An MLLP address that cannot be used, or a peer that does not speak MLLP."""


@dataclass(frozen=True, slots=True)
class MllpUrl:
    """Where the hospital's interface engine listens: ``mllp://HOST:PORT``."""

    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> MllpUrl:
        m = _URL.match(url.strip())
        if m is None:
            raise MllpError(
                f"{url!r} is not an HL7 interface address: give mllp://HOST:PORT (e.g. mllp://10.1.2.3:2575)"
            )
        port = int(m["port"])
        if not 1 <= port <= 65535:
            raise MllpError(f"the port in {url!r} must be between 1 and 65535")
        return cls(m["host"].strip("[]"), port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mllp://{host}:{self.port}"


def frame(message: str) -> bytes:
    """``message`` (segments separated by ``\\r``) as one MLLP frame."""
    return START + message.encode("utf-8") + END


async def read_frame(reader: asyncio.StreamReader) -> str:
    """The next frame's message; an :class:`MllpError` for bytes that are not a frame, and
    :class:`asyncio.IncompleteReadError` when the peer closes the connection."""
    try:
        data = await reader.readuntil(END)
    except asyncio.LimitOverrunError:
        raise MllpError("the peer sent a frame larger than the stream limit") from None
    start = data.find(START)
    if start < 0:
        raise MllpError("the peer sent bytes without an MLLP start block (0x0B)")
    body = data[start + 1 : -len(END)]
    if len(body) > MAX_FRAME_BYTES:
        raise MllpError("the peer sent an MLLP frame larger than 1 MiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise MllpError("the peer's frame is not UTF-8 text") from None
