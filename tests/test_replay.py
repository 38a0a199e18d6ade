"""The replay's reading side: a trace read in chunks gives the whole read's readings, counts and pacing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.simulation.synthetic import TraceBuilder
from kmc_monitor.devices.trace import read_traces, write_trace
from kmc_monitor.replay import TraceReplay, replay, trace_readings

T0 = 1_767_225_600.0
LATEST_US = round((T0 + 10 * 86_400) * 1e6)


class Collect:
    batch = 7

    def __init__(self) -> None:
        self.batches: list[list[Reading]] = []

    async def send(self, readings: Sequence[Reading]) -> None:
        self.batches.append(list(readings))

    async def close(self) -> None:
        return None


class FakeClock:
    """Time moves only when the replay waits (asyncio.wait_for is patched to advance it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ward_trace(tmp_path: Path) -> list[Path]:
    paths = []
    for i, wraps in enumerate((("W01", "W02"), ("W02", "W03"))):
        series = []
        for w in wraps:
            b = TraceBuilder(w, T0 + 17 * i, seed=i + int(w[1:]))
            series.append(b.contact(600).apart(300).contact(300).build())
        path = tmp_path / f"room{i}.csv"
        write_trace(path, series)
        paths.append(path)
    return paths


def test_the_chunked_replay_reads_what_the_whole_read_gave(tmp_path: Path) -> None:
    paths = ward_trace(tmp_path)
    traces = read_traces(paths, latest_us=LATEST_US)
    want = trace_readings(traces, shift_s=12.5)
    source = TraceReplay(paths, latest_us=LATEST_US)
    assert list(source.readings(shift_s=12.5)) == want
    summary = source.summary()
    assert summary.readings == len(want)
    assert summary.wrap_ids == tuple(sorted({r.wrap_id for r in want}))
    assert summary.first_t == want[0].t - 12.5 and summary.last_t == want[-1].t - 12.5
    assert summary.invalid_readings == traces.invalid_readings
    assert source.warnings == traces.warnings


@pytest.mark.parametrize("speed", [1.0, 60.0, 1e6])
def test_an_iterator_is_paced_and_batched_as_a_list_is(
    tmp_path: Path, speed: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = trace_readings(read_traces(ward_trace(tmp_path), latest_us=LATEST_US))[:400]

    def run(source: Iterable[Reading]) -> list[list[Reading]]:
        clock = FakeClock()

        async def wait_for(aw: object, timeout: float) -> None:
            assert asyncio.iscoroutine(aw)
            aw.close()
            clock.now += timeout
            raise TimeoutError

        monkeypatch.setattr(asyncio, "wait_for", wait_for)
        sender = Collect()
        sent = asyncio.run(replay(source, sender, speed, stop=asyncio.Event(), clock=clock))
        assert sent == sum(len(b) for b in sender.batches)
        return sender.batches

    as_list = run(readings)
    as_iter = run(iter(readings))
    assert as_iter == as_list
    assert [r for b in as_list for r in b] == readings
    assert all(0 < len(b) <= Collect.batch for b in as_list)
    t = np.array([b[0].t for b in as_list])
    assert np.all(np.diff(t) >= 0)
