"""Chunked reading: exactly the readings of the whole-file read, in the order a replay sends them."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.trace import ReadingCursor, TraceChunks, layout, read_traces
from kmc_monitor.devices.trace.stream import ReadingChunk
from kmc_monitor.replay import trace_readings
from kmc_monitor.signal.params import US

T0 = 1767225600  # 2026-01-01T00:00:00Z
HEADER = "t,wrap_id,skin_temp_c,ambient_temp_c,contact,battery_pct"
LATEST_US = (T0 + 86_400 * 30) * US


def whole(paths: list[Path], latest_us: int | None = LATEST_US) -> tuple[list[Reading], int]:
    traces = read_traces(paths, latest_us=latest_us)
    return trace_readings(traces), traces.invalid_readings


def chunked(paths: list[Path], latest_us: int | None = LATEST_US, **kw: int) -> tuple[list[Reading], int]:
    chunks = TraceChunks(paths, latest_us=latest_us, **kw)
    got = [r for c in chunks for r in c.readings()]
    assert chunks.invalid_readings is not None
    return got, chunks.invalid_readings


def assert_same(paths: list[Path], latest_us: int | None = LATEST_US, **kw: int) -> list[Reading]:
    want, want_invalid = whole(paths, latest_us)
    got, got_invalid = chunked(paths, latest_us, **kw)
    assert len(got) == len(want)
    assert got == want  # values and order; Reading's equality compares every measured field
    assert [r.t for r in got] == [r.t for r in want]  # the exact floats (equality alone: 0.0 == -0.0)
    assert got_invalid == want_invalid
    return got


def ward_rows(
    rng: np.random.Generator, wraps: list[str], start: int, seconds: int, jitter_s: float
) -> list[str]:
    """Rows of a ward as a recorder writes them: in time order up to ``jitter_s`` of disorder, with
    duplicates, missing and implausible values, and odd lines."""
    rows: list[tuple[float, str]] = []
    for w in wraps:
        for k in range(seconds):
            t = start + k + round(float(rng.uniform(0, 0.999)), 3)
            skin = "" if rng.random() < 0.05 else f"{rng.normal(36.8, 0.4):.2f}"
            if rng.random() < 0.01:
                skin = "99.5"  # implausible: blanked and counted
            amb = f"{rng.normal(26, 1):.1f}"
            contact = "abc" if rng.random() < 0.01 else f"{rng.uniform(0, 1):.3f}"
            line = f"{t},{w},{skin},{amb},{contact},{int(rng.integers(0, 101))}"
            rows.append((t + float(rng.uniform(0, jitter_s)), line))
            if rng.random() < 0.03:
                rows.append((t + float(rng.uniform(0, jitter_s)), line.replace(f",{w},", f",{w},", 1)))
    rows.sort()
    lines = [line for _, line in rows]
    for i in rng.choice(len(lines), size=max(1, len(lines) // 200), replace=False).tolist():
        lines[i] = rng.choice(
            ["# a comment, with commas,,,,", "", f"{T0},W99", "not,a,row", ",W01,36,26,1,50"]
        )
    return lines


def write(path: Path, lines: list[str], gz: bool = False) -> Path:
    text = HEADER + "\n" + "\n".join(lines) + "\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("block_bytes", [256, 4096, 8 << 20])
def test_one_file_nearly_in_order(tmp_path: Path, block_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(1)
    path = write(tmp_path / "a.csv", ward_rows(rng, ["W01", "W02", "W10", "W03"], T0, 300, jitter_s=3.0))
    got = assert_same([path], chunk_rows=97)
    assert len(got) > 1000


@pytest.mark.parametrize("block_bytes", [300, 8 << 20])
def test_several_files_overlapping_in_time_and_duplicating_each_other(
    tmp_path: Path, block_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file per room gateway, as a ward records: the same wraps heard twice, the first file's
    copy kept, the files merged by time."""
    monkeypatch.setattr(layout, "_BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(2)
    a = ward_rows(rng, ["W01", "W02"], T0, 200, jitter_s=1.0)
    b = ward_rows(rng, ["W02", "W03"], T0 + 50, 200, jitter_s=2.0)
    shared = a[::7]  # rows the second gateway heard too, with other values for some
    b = sorted(b + [r.replace(",W01,", ",W01,", 1) for r in shared], key=lambda r: r.split(",")[0])
    paths = [write(tmp_path / "a.csv", a), write(tmp_path / "b.csv.gz", b, gz=True)]
    assert_same(paths, chunk_rows=50)
    assert_same(paths[::-1])


def test_a_file_in_reverse_order_and_a_late_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any disorder is read exactly: a file written backwards is held whole, not misread."""
    monkeypatch.setattr(layout, "_BLOCK_BYTES", 200)
    rng = np.random.default_rng(3)
    rows = ward_rows(rng, ["W01", "W02"], T0, 120, jitter_s=0.0)
    late = ward_rows(rng, ["W01"], T0 - 3600, 30, jitter_s=0.0)
    paths = [write(tmp_path / "rev.csv", rows[::-1]), write(tmp_path / "late.csv", rows[:40] + late)]
    assert_same(paths)


def test_ties_in_time_go_by_wrap_id_and_duplicates_keep_the_first_line(tmp_path: Path) -> None:
    lines = [
        f"{T0 + 1},W02,36.5,,,",
        f"{T0 + 1},W01,36.6,,,",
        f"{T0 + 1}.0000001,W01,37.0,,,",  # the same microsecond: a duplicate, dropped
        f"{T0},W10,36.0,,,",
        f"{T0},W09,36.1,,,",
    ]
    got = assert_same([write(tmp_path / "t.csv", lines)])
    assert [(r.t - T0, r.wrap_id, r.skin_temp_c) for r in got] == [
        (0.0, "W09", 36.1),
        (0.0, "W10", 36.0),
        (1.0, "W01", 36.6),
        (1.0, "W02", 36.5),
    ]


def test_clock_faults_and_no_readings(tmp_path: Path) -> None:
    lines = [f"{T0},W01,36.5,,,", "1000000000,W01,36.5,,,", f"{T0 + 10**9},W02,36.5,,,"]
    assert_same([write(tmp_path / "c.csv", lines)])
    assert_same([write(tmp_path / "c.csv", lines)], latest_us=None)
    empty = write(tmp_path / "e.csv", [])
    chunks = TraceChunks(empty)
    assert list(chunks) == [] and chunks.first_t_us() is None and chunks.invalid_readings == 0


def test_chunks_are_time_ordered_bounded_and_name_every_wrap(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    path = write(tmp_path / "a.csv", ward_rows(rng, ["W01", "W02"], T0, 100, jitter_s=1.0))
    chunks = TraceChunks(path, latest_us=LATEST_US, chunk_rows=64)
    got: list[ReadingChunk] = list(chunks)
    assert all(0 < len(c) <= 64 for c in got)
    t = np.concatenate([c.t_us for c in got])
    assert np.all(np.diff(t) >= 0)
    assert chunks.wrap_ids == tuple(s.wrap_id for s in read_traces(path).series)
    assert chunks.first_t_us() == int(t[0])
    assert (
        list(chunks) != []
        and chunks.invalid_readings == read_traces(path, latest_us=LATEST_US).invalid_readings
    )


def test_a_cursor_hands_out_each_reading_once_as_its_time_comes(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    path = write(tmp_path / "a.csv", ward_rows(rng, ["W01", "W02", "W03"], T0, 120, jitter_s=2.0))
    want, _ = whole([path])
    cursor = ReadingCursor(TraceChunks(path, latest_us=LATEST_US, chunk_rows=10))
    assert cursor.first_t == want[0].t
    got: list[Reading] = []
    for step in np.arange(T0 - 1, T0 + 130, 0.7):
        batch = cursor.until(float(step))
        assert all(r.t <= step for r in batch)
        got.extend(batch)
    assert got == want and cursor.until(float("inf")) == []


def gzip_cases() -> dict[str, bytes]:
    rows = [f"{T0 + i},W0{i % 3},36.8{i % 10},26.1,0.9,80" for i in range(30_000)]
    text = (HEADER + "\n" + "\n".join(rows) + "\n").encode()
    whole = gzip.compress(text)
    half = len(text) // 2
    two = gzip.compress(text[:half]) + gzip.compress(text[half:])
    return {
        "whole": whole,
        "two members": two,
        "padded": two + b"\0" * 3000,
        "padding then junk": whole + b"\0" * 10 + b"junk",
        "second member damaged": two[: len(two) // 2 + 40] + b"\x00\x01" * 50 + two[len(two) // 2 + 140 :],
        "garbage after": whole + b"not gzip at all",
        **{f"cut at {k}": whole[: int(len(whole) * k)] for k in (0.05, 0.5, 0.999)},
        "cut in the second member": two[: len(two) - 50],
        "no line break": gzip.compress(b"t,wrap_id")[:-4],
        "first member corrupt": whole[:30] + b"\xff" * 200 + whole[230:],
        "header only": whole[:10],
    }


@pytest.mark.parametrize("case", list(gzip_cases()))
def test_gzip_spooled_to_disk_is_read_as_in_memory(tmp_path: Path, case: str) -> None:
    from kmc_monitor.devices.trace import files
    from kmc_monitor.errors import TraceError

    raw = gzip_cases()[case]
    path = tmp_path / "rec.csv.gz"
    path.write_bytes(raw)
    in_memory: list[str] = []
    spooled: list[str] = []
    try:
        want: bytes | str = files._gunzip(raw, str(path), in_memory.append)
    except TraceError as exc:
        want = str(exc)
    try:
        with files._file_data(str(path), spooled.append, spool=True) as data:
            got: bytes | str = bytes(data)
    except TraceError as exc:
        got = str(exc)
    if isinstance(want, bytes) and not want:
        want = f"{path} is empty"
    assert got == want
    assert spooled == in_memory
    if isinstance(want, bytes) and want:
        assert assert_same([path])
        assert TraceChunks(path).warnings == read_traces(path).warnings
