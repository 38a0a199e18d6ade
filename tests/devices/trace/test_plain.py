"""The plain-trace kernel (devices/trace/plain.py, _plain.c) against pyarrow's typed reader.

The kernel must give bit for bit the values pyarrow gives on every block it accepts, and give up
(``None``) on anything it does not judge, so that the general readers decide it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import assume
from hypothesis import strategies as st

from kmc_monitor.devices.trace import collect, general, layout, plain, read_traces
from kmc_monitor.devices.trace.layout import _VALUE_COLUMNS, _read_header
from kmc_monitor.devices.trace.parsed import _Block
from tests.tiers import two_tiers

HEADER = "t,wrap_id,skin_temp_c,ambient_temp_c,contact,battery_pct"


def parse(text: str) -> plain.PlainBlock | None:
    data = text.encode()
    lay = _read_header(data, "t.csv")
    return plain.parse_plain(data, lay.data_start, len(data), lay)


def by_pyarrow(text: str) -> _Block:
    data = text.encode()
    lay = _read_header(data, "t.csv")
    whole = pa.py_buffer(data)
    buf = whole.slice(lay.data_start, len(data) - lay.data_start)
    return general._parse_typed(data, buf, lay.data_start, len(data), lay, {})


def test_the_kernel_is_built() -> None:
    """`make test` builds the extension; without it every block silently takes the slower readers."""
    assert plain.AVAILABLE


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    """Same doubles, bit for bit (NaN and -0.0 included)."""
    return a.shape == b.shape and bool(np.array_equal(a.view(np.int64), b.view(np.int64)))


numbers = st.one_of(
    st.just(""),
    st.integers(-(10**6), 10**6).map(str),
    st.tuples(
        st.sampled_from(["", "-"]),
        st.integers(0, 10**10),
        st.text("0123456789", min_size=1, max_size=9),
    ).map(lambda p: f"{p[0]}{p[1]}.{p[2]}"),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(lambda f: f"{f:.6f}"),
    st.sampled_from(["0", "-0", "-0.0", "36.99", "9007199254740992", "0.1", "1767225600.123456"]),
)
ids = st.one_of(st.just(""), st.text("W0123456789 -_.abc", min_size=1, max_size=8))


@st.composite
def plain_blocks(draw: st.DrawFn) -> str:
    row = st.tuples(numbers, ids, numbers, numbers, numbers, numbers)
    rows = draw(st.lists(row, min_size=1, max_size=40))
    body = "\n".join(",".join(r) for r in rows)
    return HEADER + "\n" + body + draw(st.sampled_from(["", "\n"]))


def _same_values_as_pyarrow(text: str) -> None:
    got = parse(text)
    assume(got is not None)  # a number too long for the kernel (a health check fails if most are)
    assert got is not None
    want = by_pyarrow(text)
    assert got.codes.size == want.codes.size
    # The same id for every row (codes may number the ids differently).
    names_got = np.array(got.names + [None], dtype=object)[got.codes]
    names_want = np.array(want.names + [None], dtype=object)[want.codes]
    assert names_got.tolist() == names_want.tolist()
    assert identical(got.t_s, want.t_s)
    for column, g, w in zip(_VALUE_COLUMNS, got.values, want.values, strict=True):
        assert g is not None and w is not None
        assert identical(g, w), column


#: The differential property twice: 100 examples in every make test, 1,500 in make test-long.
test_same_values_as_pyarrow, test_same_values_as_pyarrow_thoroughly = two_tiers(
    100, 1500, text=plain_blocks()
)(_same_values_as_pyarrow)


def test_numbers_it_reads() -> None:
    block = parse(HEADER + "\n1767225600.5,W1,36.99,-0.5,,85\n1767225601,W2,-0,0.1,1,9007199254740992")
    assert block is not None
    assert block.names == ["W1", "W2"]
    assert block.codes.tolist() == [0, 1]
    assert block.t_s.tolist() == [1767225600.5, 1767225601.0]
    skin, ambient, contact, battery = block.values
    assert skin is not None and ambient is not None and contact is not None and battery is not None
    assert skin.tolist() == [36.99, -0.0] and np.signbit(skin[1])
    assert ambient.tolist() == [-0.5, 0.1]
    assert np.isnan(contact[0]) and contact[1] == 1.0
    assert battery.tolist() == [85.0, 2.0**53]


def test_an_empty_id_is_missing_and_ids_are_kept_as_written() -> None:
    block = parse(HEADER + "\n1,,36.9,25,1,80\n2, W1 ,36.9,25,1,80\n3, W1 ,36.9,25,1,80\n")
    assert block is not None
    assert block.names == [" W1 "]
    assert block.codes.tolist() == [-1, 0, 0]


def test_columns_it_does_not_use_may_hold_any_plain_text() -> None:
    block = parse("note,t,wrap_id,skin_temp_c,rssi_dbm\nbed by the window,1,W1,36.9,-70\n")
    assert block is not None
    assert block.values[0] is not None and block.values[0].tolist() == [36.9]
    assert block.values[1] is None  # no ambient column in this file


@pytest.mark.parametrize(
    "line",
    [
        '1,"W1",36.9,25,1,80',  # a quote
        "1,W1,36.9,25,1,80\r",  # a carriage return
        "#1,W1,36.9,25,1,80",  # a comment
        "",  # a blank line
        "1,W1,3.69e1,25,1,80",  # an exponent
        "1,W1,+36.9,25,1,80",
        "1,W1,.5,25,1,80",
        "1,W1,36.,25,1,80",
        "1,W1, 36.9,25,1,80",  # a space around a number
        "1,W1,36.9\t,25,1,80",
        "1,W1,nan,25,1,80",
        "1,W1,-,25,1,80",
        "1,Wé,36.9,25,1,80",  # not ASCII
        "1,W1,36.9,25,1",  # too few fields
        "1,W1,36.9,25,1,80,7",  # too many
        "1,W1,36.9,25,1,12345678901234567890",  # 20 digits
        "1,W1,36.9,25,1,9007199254740993",  # over 2**53: rounding is not this kernel's to judge
        "1,W1,36.9,25,1,0.00000000000000000000001",  # 10**-23
        "1," + "W" * 256 + ",36.9,25,1,80",  # an id longer than any wrap's
        "2026-01-01T00:00:00Z,W1,36.9,25,1,80",  # an ISO time
    ],
)
def test_gives_up_on_what_it_does_not_judge(line: str) -> None:
    text = HEADER + "\n1,W0,36.9,25,1,80\n" + line + "\n2,W0,36.9,25,1,80\n"
    assert parse(text) is None


def test_gives_up_on_more_ids_than_its_table_holds() -> None:
    rows = "".join(f"1,W{i},36.9,25,1,80\n" for i in range(2049))
    assert parse(HEADER + "\n" + rows) is None
    assert parse(HEADER + "\n" + rows.split("\n", 1)[1]) is not None  # 2048 fit


def test_a_not_plain_block_is_read_by_the_general_readers(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "\n1767225600,W1,3.69e1,25,1,80\n1767225601,W1,36.9,25,1,80\n")
    (series,) = read_traces(path).series
    assert series.skin_mc.tolist() == [36900.0, 36900.0]


# --- the row mover --------------------------------------------------------------------------------


def test_scatter_moves_rows_to_their_wraps_in_order() -> None:
    assert plain.scatter_rows is not None
    codes = np.array([1, 0, -1, 1, 0, 1], dtype=np.int32)
    t = np.arange(6, dtype=np.float64)
    mask = np.array([0, 1, 1, 0, 0, 1], dtype=np.bool_)
    out_t = np.full(5, -1.0)
    out_v = np.full(5, -1.0)
    out_m = np.zeros(5, dtype=np.bool_)
    starts = np.array([0, 2], dtype=np.int64)  # wrap 0 takes rows 0-1, wrap 1 rows 2-4
    plain.scatter_rows(codes, starts, (t, None, mask), (out_t, out_v, out_m))
    assert out_t.tolist() == [1.0, 4.0, 0.0, 3.0, 5.0]
    assert np.isnan(out_v).all()
    assert out_m.tolist() == [True, False, False, False, True]
    assert starts.tolist() == [2, 5]  # advanced past what was moved, for the next block


@pytest.mark.parametrize(
    ("codes", "starts"),
    [
        ([0, 2], [0, 1]),  # a code with no start
        ([1, 1, 1], [0, 2]),  # wrap 1 runs past the targets' end
        ([0], [-1, 0]),  # a negative start
    ],
)
def test_scatter_refuses_rows_that_would_land_outside(codes: list[int], starts: list[int]) -> None:
    assert plain.scatter_rows is not None
    src = np.arange(len(codes), dtype=np.float64)
    out = np.zeros(3)
    c = np.array(codes, dtype=np.int32)
    s = np.array(starts, dtype=np.int64)
    with pytest.raises(ValueError, match="outside"):
        plain.scatter_rows(c, s, (src,), (out,))
    assert out.tolist() == [0.0, 0.0, 0.0]  # nothing written


def test_the_row_mover_and_the_sort_give_the_same_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of every kind (plain, text in a number column, a comment, rows without a time or an
    id, duplicates) arranged by the kernel and by the sort-and-gather path it replaces."""
    monkeypatch.setattr(layout, "_BLOCK_BYTES", 120)
    rows = [HEADER]
    for i in range(300):
        wrap = f"W{i % 7}"
        t = 1767225600 + i // 3
        if i % 41 == 5:
            rows.append(f"{t},{wrap},warm,25,1,80")
        elif i % 53 == 7:
            rows.append(f"# note {i}")
        elif i % 61 == 3:
            rows.append(f",{wrap},36.9,25,1,80")
        elif i % 67 == 9:
            rows.append(f"{t},,36.9,25,1,80")
        else:
            rows.append(f"{t},{wrap},{36 + (i % 10) / 10},{20 + i % 5},{(i % 4) / 3:.3f},{90 - i % 9}")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    moved = read_traces(path)
    monkeypatch.setattr(collect, "scatter_rows", None)
    sorted_ = read_traces(path)
    assert moved.rows == sorted_.rows and moved.skipped_rows == sorted_.skipped_rows
    assert moved.invalid_lines == sorted_.invalid_lines
    assert [s.wrap_id for s in moved.series] == [s.wrap_id for s in sorted_.series]
    for a, b in zip(moved.series, sorted_.series, strict=True):
        assert a.invalid == b.invalid
        for field in ("t_us", "skin_mc", "ambient_mc", "contact", "battery_pct"):
            assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=True), field
