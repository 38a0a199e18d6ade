"""The one trace writer: a recording written as it grows, read back by the trace reader."""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pytest

from kmc_monitor.devices.reading import Reading
from kmc_monitor.devices.trace import TRACE_COLUMNS, TraceWriter, read_traces
from kmc_monitor.devices.trace.writer import RECORD_COLUMNS

T0 = 1767225600.0


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class OldTraceStream:
    """``cli._TraceStream`` as it was before TraceWriter, kept as the oracle of the format."""

    def __init__(self, path: str, comment: str) -> None:
        self.rows = 0
        if path.endswith(".gz"):
            self._file: TextIO = gzip.open(path, "wt", encoding="utf-8", newline="")
        else:
            self._file = open(path, "w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file, lineterminator="\n")
        for line in comment.splitlines():
            self._file.write(f"# {line}\n")
        self._csv.writerow(RECORD_COLUMNS)
        self._file.flush()

    def write(self, readings: Sequence[Any]) -> None:
        for r in readings:
            self._csv.writerow(
                (
                    _number(r.t, 6),
                    r.wrap_id,
                    _number(r.skin_temp_c, 3),
                    _number(r.ambient_temp_c, 3),
                    _number(r.contact, 4),
                    _number(r.battery_pct, 1),
                    _number(r.rssi_dbm, 0),
                )
            )
        self.rows += len(readings)

    def close(self) -> None:
        self._file.close()


READINGS = [
    Reading(T0, "W01", 36.82, 26.1, 0.93, 88.0, -61.0),
    Reading(T0 + 0.4, "W,2", None, None, None, None, None),
    Reading(T0 + 1.0000004, 'W"3', 36.8199999, 25.0, 1.0, 100.0, -70.4),
    Reading(T0 + 2, "W01", -0.5, 0.0, 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize("name", ["rec.csv", "rec.csv.gz"])
def test_writes_what_the_record_command_wrote(tmp_path: Path, name: str) -> None:
    new, old = tmp_path / f"new-{name}", tmp_path / f"old-{name}"
    comment = "recorded by kmc-monitor\nfrom 3 simulated wraps"
    writer, oracle = TraceWriter(new, comment), OldTraceStream(str(old), comment)
    for batch in (READINGS[:1], [], READINGS[1:]):
        writer.write(batch)
        oracle.write(batch)
        writer.flush()
    writer.close()
    oracle.close()
    assert writer.rows == oracle.rows == len(READINGS)
    if name.endswith(".gz"):
        assert gzip.decompress(new.read_bytes()) == gzip.decompress(old.read_bytes())
    else:
        assert new.read_bytes() == old.read_bytes()


def test_the_header_is_on_disk_at_once_and_rows_at_each_flush(tmp_path: Path) -> None:
    path = tmp_path / "live.csv.gz"
    with TraceWriter(path, "live") as writer:
        assert (
            zlib.decompressobj(wbits=31).decompress(path.read_bytes()).decode()
            == "# live\n" + ",".join(RECORD_COLUMNS) + "\n"
        )
        writer.write(READINGS[:1])
        writer.flush()
        # A reader sees every flushed row while the recording goes on (a gzip sync point).
        traces = read_traces(path)
        assert [len(s) for s in traces.series] == [1]
        assert traces.warnings  # read up to the cut: the recording is still open
        writer.write(READINGS[1:])
    traces = read_traces(path)
    assert sum(len(s) for s in traces.series) == len(READINGS) and not traces.warnings


def test_trace_columns_without_rssi_and_no_other_layout(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    with TraceWriter(path, columns=TRACE_COLUMNS) as writer:
        writer.write(READINGS[:1])
    assert path.read_text() == ",".join(TRACE_COLUMNS) + f"\n{T0:.1f},W01,36.82,26.1,0.93,88\n".replace(
        ".0,", ",", 1
    )
    with pytest.raises(ValueError):
        TraceWriter(tmp_path / "x.csv", columns=("t", "wrap_id"))
