"""Trace files: trace-format.md read exactly, bad rows counted by line, non-traces refused in a sentence."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmc_monitor.devices import trace
from kmc_monitor.devices.trace import (
    MAX_REPORTED_LINES,
    TraceSet,
    blocks,
    general,
    layout,
    read_traces,
    write_trace,
)
from kmc_monitor.errors import InvalidReadingsError, TraceError
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.signal.series import WrapSeries, build_series

T0 = 1767225600  # 2026-01-01T00:00:00Z
HEADER = "t,wrap_id,skin_temp_c,ambient_temp_c,contact,battery_pct"
SPEC_EXAMPLE = f"""# recorded by kmc-monitor on ward NICU-2
{HEADER}
1767225600.0,W01,36.82,26.1,0.93,88
1767225601.0,W01,36.81,26.1,0.95,88
1767225600.4,W02,36.40,25.8,0.12,61
"""


def put(tmp_path: Path, text: str | bytes, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def read_text(tmp_path: Path, text: str | bytes, name: str = "trace.csv") -> TraceSet:
    return read_traces([put(tmp_path, text, name)])


def same(a: npt.ArrayLike, b: npt.ArrayLike) -> bool:
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


def lines_of(ts: TraceSet) -> list[int]:
    return [line for _, line in ts.invalid_lines]


@pytest.fixture(params=["plain", "typed", "text", "python"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test through each of the four readers (the C kernel for plain blocks, pyarrow typed,
    all columns as text, line by line in Python), which must decide every case the same way."""

    def refuse(*args: object) -> blocks._Block:
        raise pa.ArrowInvalid("forced")

    if request.param != "plain":
        monkeypatch.setattr(blocks, "parse_plain", lambda *args: None)
    if request.param in ("text", "python"):
        monkeypatch.setattr(general, "_parse_typed", refuse)
    if request.param == "python":
        monkeypatch.setattr(general, "_parse_text", refuse)
    return str(request.param)


# --- the format --------------------------------------------------------------------------------


def test_spec_example(tmp_path: Path, reader: str) -> None:
    ts = read_text(tmp_path, SPEC_EXAMPLE)
    assert [s.wrap_id for s in ts.series] == ["W01", "W02"]
    w01, w02 = ts.series
    assert w01.t_us.tolist() == [T0 * US, (T0 + 1) * US]
    assert w01.skin_mc.tolist() == [36820.0, 36810.0]
    assert w01.ambient_mc.tolist() == [26100.0, 26100.0]
    assert w01.contact.tolist() == [0.93, 0.95]
    assert w01.battery_pct.tolist() == [88.0, 88.0]
    assert w02.t_us.tolist() == [T0 * US + 400_000]
    assert w02.skin_mc.tolist() == [36400.0]
    assert (ts.rows, ts.skipped_rows, ts.invalid_lines, ts.invalid_readings) == (3, 0, (), 0)
    assert ts.end_us == (T0 + 1) * US


def test_comments_blank_lines_and_line_numbers(tmp_path: Path, reader: str) -> None:
    text = (
        "# recorded on NICU-2\n"
        "# second comment line\n"
        "\n"
        f"{HEADER}\n"
        f"{T0},W01,36.8,26,0.9,80\n"
        "# a comment in the middle\n"
        "# a comment, with, the, right, number, of commas\n"
        "\n"
        "   \n"
        f"{T0 + 1},W01,99,26,0.9,80\n"  # line 10: implausible skin temperature
        f"{T0 + 2},W01,36.8,26,0.9,80\n"
    )
    ts = read_text(tmp_path, text)
    (w01,) = ts.series
    assert len(w01) == 3
    assert ts.rows == 3
    assert ts.invalid_lines == ((str(tmp_path / "trace.csv"), 10),)
    assert w01.invalid == 1


def test_unknown_columns_and_any_order(tmp_path: Path, reader: str) -> None:
    text = (
        "note,battery_pct,wrap_id,rssi_dbm,contact,t,firmware,skin_temp_c\n"
        f"hello,88,W01,-60,0.93,{T0},1.2.3,36.82\n"
        f"again,87,W01,-61,0.95,{T0 + 1},1.2.3,36.81\n"
    )
    (w01,) = read_text(tmp_path, text).series
    assert w01.battery_pct.tolist() == [88.0, 87.0]
    assert w01.contact.tolist() == [0.93, 0.95]
    assert w01.skin_mc.tolist() == [36820.0, 36810.0]
    assert np.isnan(w01.ambient_mc).all()  # column absent: missing, not invalid
    assert w01.invalid == 0


def test_unknown_first_column_and_a_comment_with_commas(tmp_path: Path, reader: str) -> None:
    text = f"seq,t,wrap_id,skin_temp_c\n1,{T0},W01,36.5\n# x,{T0 + 5},W09,36.5\n2,{T0 + 1},W01,36.6\n"
    ts = read_text(tmp_path, text)
    assert [s.wrap_id for s in ts.series] == ["W01"]
    assert ts.rows == 2


def test_header_names_are_trimmed_and_wrap_ids_too(tmp_path: Path, reader: str) -> None:
    text = f"\ufeff t , wrap_id ,skin_temp_c\n{T0}, W01 ,36.5\n{T0 + 1},W01, 36.6 \n"
    (w01,) = read_text(tmp_path, text).series
    assert w01.wrap_id == "W01"
    assert w01.skin_mc.tolist() == [36500.0, 36600.0]


def test_gzip_by_content_not_name(tmp_path: Path, reader: str) -> None:
    expected = read_text(tmp_path, SPEC_EXAMPLE, "plain.csv")
    for name in ("trace.csv.gz", "looks-plain.csv"):
        ts = read_text(tmp_path, gzip.compress(SPEC_EXAMPLE.encode()), name)
        assert [len(s) for s in ts.series] == [len(s) for s in expected.series]
        for a, b in zip(ts.series, expected.series, strict=True):
            assert same(a.t_us, b.t_us) and same(a.skin_mc, b.skin_mc)


def test_iso_times_with_offsets_mixed_with_epoch(tmp_path: Path, reader: str) -> None:
    text = (
        "t,wrap_id,skin_temp_c\n"
        "2026-01-01T00:00:00Z,W01,36.0\n"
        "2026-01-01T02:00:00.5+02:00,W01,36.1\n"
        f"{T0 + 2}.25,W01,36.2\n"
        "2026-01-01T00:00:03.123456-00:00,W01,36.3\n"
        "2025-12-31T19:00:04-0500,W01,36.4\n"
        "2026-01-01T00:00:05,W01,36.5\n"  # line 7: no offset, so ambiguous: invalid, skipped
        "yesterday,W01,36.6\n"  # line 8: not a time
    )
    ts = read_text(tmp_path, text)
    (w01,) = ts.series
    assert w01.t_us.tolist() == [
        T0 * US,
        T0 * US + 500_000,
        (T0 + 2) * US + 250_000,
        (T0 + 3) * US + 123_456,
        (T0 + 4) * US,
    ]
    assert w01.skin_mc.tolist() == [36000.0, 36100.0, 36200.0, 36300.0, 36400.0]
    assert w01.invalid == 2
    assert lines_of(ts) == [7, 8]


def test_iso_only_blocks_then_epoch_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Blocks of ISO times teach the reader to ask pyarrow for times; a later block of epoch
    # seconds must still be read right.
    monkeypatch.setattr(layout, "_BLOCK_BYTES", 200)
    iso = [f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.5Z,W01,36.5\n" for i in range(20)]
    epoch = [f"{T0 + 20 + i},W01,36.5\n" for i in range(20)]
    ts = read_text(tmp_path, "t,wrap_id,skin_temp_c\n" + "".join(iso + epoch + iso[:1] + ["oops,W01,36\n"]))
    (w01,) = ts.series
    assert w01.t_us.tolist() == [T0 * US + i * US + 500_000 for i in range(20)] + [
        (T0 + 20 + i) * US for i in range(20)
    ]
    assert lines_of(ts) == [43]


def test_unsorted_rows_and_duplicates_keep_the_first(tmp_path: Path, reader: str) -> None:
    text = (
        f"{HEADER}\n"
        f"{T0 + 2},W01,36.2,,,\n"
        f"{T0},W01,36.0,,,\n"
        f"{T0 + 1},W02,35.0,,,\n"
        f"{T0},W01,39.9,,,\n"  # duplicate (W01, T0): the first (36.0) is kept
        f"{T0 + 1}.0000001,W01,36.1,,,\n"
        f"{T0 + 1},W01,39.9,,,\n"  # same microsecond as the row above
    )
    w01, w02 = read_text(tmp_path, text).series
    assert w01.t_us.tolist() == [T0 * US, (T0 + 1) * US, (T0 + 2) * US]
    assert w01.skin_mc.tolist() == [36000.0, 36100.0, 36200.0]
    assert w02.skin_mc.tolist() == [35000.0]


def test_duplicates_across_files_keep_the_first_file(tmp_path: Path) -> None:
    a = put(tmp_path, f"t,wrap_id,skin_temp_c\n{T0},W01,36.0\n{T0 + 2},W01,36.2\n", "a.csv")
    b = put(tmp_path, f"wrap_id,t,skin_temp_c\nW01,{T0},39.0\nW01,{T0 + 1},36.1\nW02,{T0},35\n", "b.csv")
    ts = read_traces([a, b])
    w01, w02 = ts.series
    assert w01.t_us.tolist() == [T0 * US, (T0 + 1) * US, (T0 + 2) * US]
    assert w01.skin_mc.tolist() == [36000.0, 36100.0, 36200.0]
    assert len(w02) == 1
    assert ts.rows == 5
    assert read_traces([b, a]).series[0].skin_mc.tolist() == [39000.0, 36100.0, 36200.0]
    assert read_traces(a).rows == read_traces(str(a)).rows == 2  # one path needs no list


def test_non_numeric_values_blank_only_that_field(tmp_path: Path, reader: str) -> None:
    text = (
        f"{HEADER}\n"
        f"{T0},W01,36.5,26,0.9,80\n"
        f"{T0 + 1},W01,warm,26,0.9,80\n"  # line 3
        f"{T0 + 2},W01,36.5,26,NA,80\n"  # line 4
        f"{T0 + 3},W01,36.5,26,0.9,1e2\n"  # a number
        f"{T0 + 4},W01,36.5, ,0.9,\n"  # blank: missing, not invalid
        f"{T0 + 5},W01,36,5,26,0.9,80\n"  # line 7: decimal comma, a field too many
    )
    ts = read_text(tmp_path, text)
    (w01,) = ts.series
    assert len(w01) == 5
    assert same(w01.skin_mc, [36500, np.nan, 36500, 36500, 36500])
    assert same(w01.contact, [0.9, 0.9, np.nan, 0.9, 0.9])
    assert same(w01.ambient_mc, [26000, 26000, 26000, 26000, np.nan])
    assert same(w01.battery_pct, [80, 80, 80, 100, np.nan])
    assert w01.invalid == 2
    assert ts.skipped_rows == 1  # the row of the wrong width belongs to no wrap
    assert ts.invalid_readings == 3
    assert lines_of(ts) == [3, 4, 7]


def test_out_of_range_values_counted_by_line(tmp_path: Path, reader: str) -> None:
    text = (
        f"{HEADER}\n"
        f"{T0},W01,19.9,26,0.9,80\n"
        f"{T0 + 1},W01,36.5,45.1,0.9,80\n"
        f"{T0 + 2},W01,36.5,26,1.01,80\n"
        f"{T0 + 3},W01,36.5,26,0.9,-1\n"
        f"{T0 + 4},W01,20,45,0,100\n"  # the limits themselves are plausible
        f"{T0 + 5},W01,inf,26,0.9,80\n"
    )
    ts = read_text(tmp_path, text)
    (w01,) = ts.series
    assert w01.invalid == 5
    assert lines_of(ts) == [2, 3, 4, 5, 7]
    assert same(w01.skin_mc, [np.nan, 36500, 36500, 36500, 20000, np.nan])
    narrow = read_traces([tmp_path / "trace.csv"], RuleParams(plausible_min_c=19.0))
    assert lines_of(narrow) == [3, 4, 5, 7]


def test_rows_without_time_or_wrap_are_skipped_and_counted(tmp_path: Path, reader: str) -> None:
    text = (
        f"{HEADER}\n"
        f",W01,36.5,26,0.9,80\n"  # line 2: no t, counted for W01
        f"{T0},,36.5,26,0.9,80\n"  # line 3: no wrap: counted for no wrap
        f"{T0},W01,36.5,26,0.9,80\n"
        f"nan,W02,36.5,26,0.9,80\n"  # line 5: W02 exists, with no readings
        f"1e300,W01,36.5,26,0.9,80\n"  # line 6: not a usable time
        f"{T0 + 1},   ,36.5,26,0.9,80\n"  # line 7: blank wrap id
    )
    ts = read_text(tmp_path, text)
    w01, w02 = ts.series
    assert (len(w01), w01.invalid) == (1, 2)
    assert (len(w02), w02.invalid) == (0, 1)
    assert ts.skipped_rows == 2
    assert ts.rows == 6
    assert ts.invalid_readings == 5
    assert lines_of(ts) == [2, 3, 5, 6, 7]


def test_only_the_first_few_lines_are_named(tmp_path: Path, reader: str) -> None:
    rows = "".join(f"{T0 + i},W01,{'x' if i % 2 else '36.5'},,,\n" for i in range(40))
    ts = read_text(tmp_path, f"{HEADER}\n{rows}")
    assert lines_of(ts) == [3 + 2 * i for i in range(MAX_REPORTED_LINES)]
    assert ts.series[0].invalid == 20


def test_crlf_and_lone_cr_line_endings(tmp_path: Path, reader: str) -> None:
    text = (
        f"# c\r\n{HEADER}\r\n{T0},W01,36.5,,,\r\n\r\n"
        f"{T0 + 1},W01,bad,,,\r\n{T0 + 2},W01,36.7,,,\r{T0 + 3},W01,x,,,"
    )
    ts = read_text(tmp_path, text)
    (w01,) = ts.series
    assert same(w01.skin_mc, [36500, np.nan, 36700, np.nan])
    assert lines_of(ts) == [5, 7]


def test_quoted_fields(tmp_path: Path, reader: str) -> None:
    text = f'{HEADER}\n"{T0}","W,01","36.5",,,\n{T0 + 1},"W ""two""",36.6,,,\n{T0 + 2},"W,01",zz,,,\n'
    ts = read_text(tmp_path, text)
    assert [s.wrap_id for s in ts.series] == ['W "two"', "W,01"]
    assert lines_of(ts) == [4]


def test_an_unbalanced_quote_costs_only_its_rows(tmp_path: Path, reader: str) -> None:
    text = f'{HEADER}\n{T0},W01,36.5,,,\n{T0 + 1},"W01,36.5,,,\n{T0 + 2},W01,bad,,,\n{T0 + 3},W01,36.6,,,\n'
    ts = read_text(tmp_path, text)
    (w01,) = ts.series
    assert w01.t_us.tolist() == [T0 * US, (T0 + 2) * US, (T0 + 3) * US]
    assert (lines_of(ts), ts.skipped_rows, w01.invalid) == ([3, 4], 1, 1)


def test_undecodable_bytes_in_a_row_make_it_invalid(tmp_path: Path, reader: str) -> None:
    text = f"{HEADER}\n{T0},W01,36.5,,,\n{T0 + 1},W\xff1,36.5,,,\n{T0 + 2},W01,3\xff6,,,\n".encode("latin-1")
    ts = read_text(tmp_path, text)
    (w01,) = ts.series
    assert same(w01.skin_mc, [36500, np.nan])
    assert lines_of(ts) == [3, 4]
    assert ts.skipped_rows == 1


def test_many_blocks_keep_line_numbers_and_order(
    tmp_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "_BLOCK_BYTES", 100)
    body = []
    for i in range(60):
        skin = "bad" if i in (7, 31) else "36.5"
        body.append(f"{T0 + 60 - i},W{i % 3},{skin},,,\n")
        if i == 20:
            body.append("# a comment\n\n")
        if i == 40:
            body.append("2026-01-01T00:00:00Z,W0,36.5,,,\n")
    calls: list[tuple[int, int]] = []
    path = put(tmp_path, f"# top\n{HEADER}\n" + "".join(body))
    ts = read_traces([path], progress=lambda done, total: calls.append((done, total)))
    assert [len(s) for s in ts.series] == [21, 20, 20]
    assert all(np.all(np.diff(s.t_us) > 0) for s in ts.series)
    assert lines_of(ts) == [3 + 7, 3 + 31 + 2]
    size = path.stat().st_size
    assert calls[0] == (0, size) and calls[-1] == (size, size)
    assert len(calls) > 3 and all(a[0] <= b[0] for a, b in zip(calls, calls[1:], strict=False))


# --- not a trace at all ---------------------------------------------------------------------------


def refused(path: Path | str) -> str:
    with pytest.raises(TraceError) as info:
        read_traces([path])
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message and message.count(". ") == 0
    return message


def test_empty_file(tmp_path: Path) -> None:
    assert refused(put(tmp_path, b"")).endswith("is empty")
    assert refused(put(tmp_path, gzip.compress(b""), "e.csv.gz")).endswith("is empty")


def test_header_only_is_a_trace_without_readings(tmp_path: Path, reader: str) -> None:
    for text in (f"{HEADER}\n", "t,wrap_id", "# note\nt,wrap_id\n\n# end\n"):
        ts = read_text(tmp_path, text)
        assert (ts.series, ts.rows, ts.end_us, ts.invalid_lines) == ((), 0, None, ())


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("wrap_id,skin_temp_c\nW01,36.5\n", "no 't' column"),
        ("t,skin_temp_c\n1,36.5\n", "no 'wrap_id' column"),
        ("time;wrap;skin\n1;W01;36.5\n", "neither"),
        ("t,wrap_id,t\n1,W01,2\n", "twice"),
        ("# only a comment\n\n", "no header"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        (b"\xff\xfe\xfd,t,wrap_id\n", "binary"),
        (bytes(range(256)) * 8, "binary"),
        (b"x" * (2 << 20), "too long"),
    ],
)
def test_not_a_trace(tmp_path: Path, content: str | bytes, reason: str) -> None:
    assert reason in refused(put(tmp_path, content))


def test_corrupt_gzip_is_refused(tmp_path: Path) -> None:
    data = gzip.compress(SPEC_EXAMPLE.encode() * 50)
    assert "gzip" in refused(put(tmp_path, data[:2] + b"\x00" * 40, "bad.csv"))
    assert "gzip" in refused(put(tmp_path, data[:10], "header-only.csv.gz"))


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.97])
def test_a_gzip_recording_cut_short_is_read_up_to_the_cut(tmp_path: Path, keep: float) -> None:
    """A recorder killed mid-write: the hours it did record are kept, with a warning, and the last
    (partial) line is dropped rather than read as a shortened number."""
    rows = [f"{T0 + i},W01,36.8{i % 10},26.1,0.9,80" for i in range(20_000)]
    text = "t,wrap_id,skin_temp_c,ambient_temp_c,contact,battery_pct\n" + "\n".join(rows) + "\n"
    data = gzip.compress(text.encode())
    ts = read_traces([put(tmp_path, data[: int(len(data) * keep)], "cut.csv.gz")])
    assert len(ts.warnings) == 1 and "cut.csv.gz" in ts.warnings[0] and "cut short" in ts.warnings[0]
    [w] = ts.series
    n = len(w)
    assert 0 < n < len(rows) and ts.invalid_readings == 0
    # exactly the first n rows, every value as written
    assert w.t_us.tolist() == [(T0 + i) * US for i in range(n)]
    assert w.skin_mc.tolist() == [36_800.0 + 10 * (i % 10) for i in range(n)]


def test_whole_and_multi_member_gzip_give_no_warning(tmp_path: Path) -> None:
    first, second = SPEC_EXAMPLE, f"{T0 + 9},W03,36.5,26,0.9,80\n"
    path = put(tmp_path, gzip.compress(first.encode()) + gzip.compress(second.encode()), "two.csv.gz")
    ts = read_traces([path])
    assert ts.warnings == () and [s.wrap_id for s in ts.series] == ["W01", "W02", "W03"]


@pytest.mark.parametrize(
    "content",
    [
        b"t,wrap_id,skin_temp_c\n1767225600,W1,36.8\n1767225601,W1,36.8,caf\xe9,extra\n",
        b"t,wrap_id,skin_temp_c\n1767225600,W\xe91,36.8\n1767225601,W1,36.8,caf\xe9\n",
        b"t,wrap_id,note\n1767225600,W1,\xff\xfe\n1767225601,W1,caf\xe9;\x85\n",
    ],
)
def test_latin1_and_stray_bytes_are_bad_rows_not_a_traceback(
    tmp_path: Path, content: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    ts = read_traces([put(tmp_path, content)])
    assert ts.rows == 2
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Exception ignored" not in out + err


def test_clock_faults_are_invalid_and_ignored(tmp_path: Path) -> None:
    text = (
        "t,wrap_id,skin_temp_c\n"
        f"{T0},W1,36.8\n"
        "1000000000000,W1,36.8\n"  # 1e12 s: year 33658
        "1400000000,W1,36.8\n"  # 2014: before 2015-01-01
        f"{T0 + 200_000},W1,36.8\n"  # more than a day after the reader's clock below
        f"{T0 + 1},W1,36.9\n"
    )
    ts = read_traces([put(tmp_path, text)], latest_us=round((T0 + 86_400) * US))
    [w] = ts.series
    assert w.t_us.tolist() == [T0 * US, (T0 + 1) * US]
    assert w.invalid == 3 and ts.invalid_readings == 3


def test_directory_and_missing_path(tmp_path: Path) -> None:
    assert "directory" in refused(tmp_path)
    assert "no such file" in refused(tmp_path / "nowhere.csv")


def test_the_first_bad_file_stops_the_read(tmp_path: Path) -> None:
    good = put(tmp_path, SPEC_EXAMPLE, "good.csv")
    with pytest.raises(TraceError, match="bad.csv"):
        read_traces([good, put(tmp_path, b"\x00\x01", "bad.csv")])


# --- writing ----------------------------------------------------------------------------------------


def series(
    wrap_id: str, t_us: list[int], skin_mc: list[float], contact: list[float] | None = None
) -> WrapSeries:
    n = len(t_us)
    nan = np.full(n, np.nan)
    return WrapSeries(
        wrap_id,
        np.asarray(t_us, dtype=np.int64),
        np.asarray(skin_mc, dtype=np.float64),
        nan,
        np.asarray(contact, dtype=np.float64) if contact is not None else nan,
        nan,
    )


def test_write_exact_decimals_time_order_and_comment(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    rows = write_trace(
        path,
        [
            series("W02", [T0 * US + 400_000], [36400.0], [0.12]),
            series("W01", [T0 * US, (T0 + 1) * US], [36820.0, np.nan], [0.93, 0.1 + 0.2]),
            series("W,3", [-1_500_000, T0 * US], [-500.0, 45000.0]),
        ],
        comment="recorded on NICU-2\nsecond line",
    )
    assert rows == 5
    assert path.read_text() == (
        "# recorded on NICU-2\n"
        "# second line\n"
        f"{HEADER}\n"
        '-1.5,"W,3",-0.5,,,\n'
        f"{T0}.0,W01,36.82,,0.93,\n"
        f'{T0}.0,"W,3",45.0,,,\n'
        f"{T0}.4,W02,36.4,,0.12,\n"
        f"{T0 + 1}.0,W01,,,0.30000000000000004,\n"
    )


def test_write_gzip_and_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.csv.gz"
    assert write_trace(path, [series("W01", [T0 * US], [36500.0])]) == 1
    assert gzip.decompress(path.read_bytes()).decode() == f"{HEADER}\n{T0}.0,W01,36.5,,,\n"
    assert write_trace(tmp_path / "none.csv", []) == 0
    assert (tmp_path / "none.csv").read_text() == f"{HEADER}\n"


@pytest.mark.parametrize("wrap_id", ["", "  ", "W\n1", "W\r1", " W1", "W1\t", "W\x001", "W\ufffd"])
def test_write_refuses_ids_a_trace_cannot_hold(tmp_path: Path, wrap_id: str) -> None:
    with pytest.raises(InvalidReadingsError):
        write_trace(tmp_path / "x.csv", [series(wrap_id, [0], [36000.0])])


wrap_ids = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1)
    .map(str.strip)
    .filter(lambda s: bool(s) and "\ufffd" not in s)
)


@st.composite
def wrap_series(draw: st.DrawFn, wrap_id: str) -> WrapSeries:
    # From 2015 (earlier is a clock fault, clinical-rules.md) to 2038.
    t_s = draw(st.lists(st.integers(1_420_070_400 * US, 2**31 * US), min_size=0, max_size=20, unique=True))
    n = len(t_s)
    temps = st.one_of(st.just(math.nan), st.integers(20_000, 45_000).map(float))
    contact = st.one_of(st.just(math.nan), st.floats(0.0, 1.0))
    battery = st.one_of(st.just(math.nan), st.floats(0.0, 100.0))
    return WrapSeries(
        wrap_id,
        np.sort(np.asarray(t_s, dtype=np.int64)),
        np.asarray(draw(st.lists(temps, min_size=n, max_size=n)), dtype=np.float64),
        np.asarray(draw(st.lists(temps, min_size=n, max_size=n)), dtype=np.float64),
        np.asarray(draw(st.lists(contact, min_size=n, max_size=n)), dtype=np.float64),
        np.asarray(draw(st.lists(battery, min_size=n, max_size=n)), dtype=np.float64),
    )


@st.composite
def fleets(draw: st.DrawFn) -> list[WrapSeries]:
    ids = draw(st.lists(wrap_ids, min_size=1, max_size=4, unique=True))
    return [draw(wrap_series(w)) for w in ids]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fleet=fleets(), gz=st.booleans())
def test_round_trip(tmp_path: Path, fleet: list[WrapSeries], gz: bool) -> None:
    path = tmp_path / ("rt.csv.gz" if gz else "rt.csv")
    n = write_trace(path, fleet, comment="round trip")
    ts = read_traces([path])
    assert n == ts.rows == sum(len(s) for s in fleet)
    assert ts.invalid_readings == 0 and ts.invalid_lines == ()
    expected = sorted((s for s in fleet if len(s)), key=lambda s: s.wrap_id)
    assert [s.wrap_id for s in ts.series] == [s.wrap_id for s in expected]
    for got, want in zip(ts.series, expected, strict=True):
        for field in ("t_us", "skin_mc", "ambient_mc", "contact", "battery_pct"):
            assert same(getattr(got, field), getattr(want, field)), field


# --- against a plain reference reader -------------------------------------------------------------


def reference(
    text: str, file: str, params: RuleParams
) -> tuple[list[WrapSeries], list[tuple[str, int]], int]:
    """trace-format.md read the obvious way: line by line with the csv module and datetime."""
    rows: dict[str, list[tuple[float, list[float], bool]]] = {}
    extra: dict[str, int] = {}
    bad_lines: list[tuple[str, int]] = []
    skipped = 0
    header: list[str] | None = None
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = next(csv.reader([line]))
        if header is None:
            header = [f.strip() for f in fields]
            continue
        if len(fields) != len(header):
            skipped += 1
            bad_lines.append((file, number))
            continue
        row = dict(zip(header, fields, strict=True))
        wrap = row["wrap_id"].strip()
        t = parse_time(row["t"].strip())
        values, nonnum = [], False
        for name in ("skin_temp_c", "ambient_temp_c", "contact", "battery_pct"):
            raw = row.get(name, "").strip()
            try:
                values.append(float(raw) if raw else math.nan)
            except ValueError:
                values.append(math.nan)
                nonnum = True
        plausible = build_series("x", [float(T0)], *[[v] for v in values], params=params).invalid == 0
        if not wrap or t is None or nonnum or not plausible:
            bad_lines.append((file, number))
        if not wrap:
            skipped += 1
        elif t is None:
            rows.setdefault(wrap, [])
            extra[wrap] = extra.get(wrap, 0) + 1
        else:
            rows.setdefault(wrap, []).append((t, values, nonnum))
    built = []
    for wrap in sorted(rows):
        got = rows[wrap]
        built.append(
            build_series(
                wrap,
                [r[0] for r in got],
                *([r[1][k] for r in got] for k in range(4)),
                params=params,
                invalid_rows=[r[2] for r in got],
                extra_invalid=extra.get(wrap, 0),
            )
        )
    return built, bad_lines[:MAX_REPORTED_LINES], skipped


def parse_time(text: str) -> float | None:
    try:
        value = float(text)
        return value if math.isfinite(value) and abs(value) <= 1e11 else None
    except ValueError:
        pass
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None
    return (stamp - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1) / US


cells = {
    "t": st.sampled_from(
        [f"{T0 + i}" for i in range(8)]
        + [
            f"{T0}.5",
            "2026-01-01T00:00:03Z",
            "2026-01-01T01:00:04.25+01:00",
            "2026-01-01T00:00:05",
            "",
            "soon",
        ]
    ),
    "wrap_id": st.sampled_from(["W01", "W02", " W01", "", "W03"]),
    "skin_temp_c": st.sampled_from(["36.5", "36.51", "19", "45.5", "", "x", "nan", " 37 "]),
    "ambient_temp_c": st.sampled_from(["26", "", "-5", "2e1"]),
    "contact": st.sampled_from(["0.5", "1", "0", "1.5", "", "on"]),
    "battery_pct": st.sampled_from(["80", "100", "101", ""]),
}


@st.composite
def messy_traces(draw: st.DrawFn) -> str:
    columns = draw(st.permutations(["t", "wrap_id", "skin_temp_c", "contact", "battery_pct", "extra"]))
    lines = ["# made up", ",".join(columns)]
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["row", "row", "row", "row", "comment", "blank", "short"]))
        if kind == "comment":
            lines.append("# " + ",".join(columns))
        elif kind == "blank":
            lines.append("")
        elif kind == "short":
            lines.append("1,2")
        else:
            lines.append(",".join(draw(cells.get(c, st.just("e"))) for c in columns))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=messy_traces(), small_blocks=st.booleans())
def test_agrees_with_a_plain_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, small_blocks: bool
) -> None:
    monkeypatch.setattr(layout, "_BLOCK_BYTES", 64 if small_blocks else 8 << 20)
    path = put(tmp_path, text)
    params = RuleParams()
    want, lines, skipped = reference(text, str(path), params)
    ts = read_traces([path], params)
    assert ts.invalid_lines == tuple(lines)
    assert ts.skipped_rows == skipped
    assert [s.wrap_id for s in ts.series] == [s.wrap_id for s in want]
    for got, exp in zip(ts.series, want, strict=True):
        assert got.invalid == exp.invalid
        for field in ("t_us", "skin_mc", "ambient_mc", "contact", "battery_pct"):
            assert same(getattr(got, field), getattr(exp, field)), field


def test_the_package_re_exports_the_public_names() -> None:
    import kmc_monitor.devices as devices

    assert set(trace.__all__) <= set(devices.__all__)
    assert all(getattr(devices, name) is getattr(trace, name) for name in trace.__all__)
