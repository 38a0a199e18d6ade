"""MLLP addresses and frames."""

from __future__ import annotations

import asyncio

import pytest

from kmc_monitor.service.mllp import MllpError, MllpUrl, frame, read_frame


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [("mllp://10.1.2.3:2575", "10.1.2.3", 2575), ("mllp://engine.lan:6661/", "engine.lan", 6661),
     ("mllp://[::1]:2575", "::1", 2575)],
)  # fmt: skip
def test_addresses(url: str, host: str, port: int) -> None:
    parsed = MllpUrl.parse(url)
    assert (parsed.host, parsed.port) == (host, port)
    assert MllpUrl.parse(str(parsed)) == parsed


BAD = ["http://a:1", "mllp://a", "mllp://a:0", "mllp://a:70000", "mllp://a b:1", " "]


@pytest.mark.parametrize("url", BAD)
def test_bad_addresses_say_what_to_give(url: str) -> None:
    with pytest.raises(MllpError, match="mllp://|between 1 and 65535"):
        MllpUrl.parse(url)


async def _read(data: bytes) -> str:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return await read_frame(reader)


@pytest.mark.asyncio
async def test_frames_round_trip_and_junk_is_refused() -> None:
    assert frame("MSH|x\rPID|ü") == b"\x0bMSH|x\rPID|\xc3\xbc\x1c\x0d"
    assert await _read(frame("MSH|x\rPID|ü")) == "MSH|x\rPID|ü"
    assert await _read(b"noise" + frame("MSH|y")) == "MSH|y"  # bytes before the start block skipped
    with pytest.raises(MllpError, match="start block"):
        await _read(b"MSH|z\x1c\x0d")
    with pytest.raises(MllpError, match="UTF-8"):
        await _read(b"\x0b\xff\xfe\x1c\x0d")
    with pytest.raises(asyncio.IncompleteReadError):
        await _read(b"\x0bMSH|unfinished")
