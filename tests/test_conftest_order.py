"""The suite's own scheduling rule (tests/conftest.py): files holding a slow test are handed out first."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.conftest import _slow_files_first


def _item(path: str, slow: bool | float) -> Any:
    """A collected test of file ``path``: not slow (False), slow (True: a plain mark) or slow with
    the seconds its file takes (a number)."""
    mark = None
    if slow is not False:
        mark = SimpleNamespace(args=() if slow is True else (slow,))
    return SimpleNamespace(path=Path(path), name=f"{path}:{slow}", get_closest_marker=lambda name: mark)


def test_files_with_a_slow_test_come_first_and_every_order_within_is_kept() -> None:
    items = [  # as pytest collects them: a file's tests together, in file order
        _item("a.py", False),
        _item("b.py", False),
        _item("b.py", True),
        _item("b.py", False),
        _item("c.py", False),
        _item("d.py", True),
    ]
    _slow_files_first(items)
    assert [i.name for i in items] == [
        "b.py:False",
        "b.py:True",
        "b.py:False",
        "d.py:True",
        "a.py:False",
        "c.py:False",
    ]


def test_heavier_slow_files_come_first_and_a_plain_mark_counts_ten_seconds() -> None:
    items = [
        _item("a.py", True),  # 10 s
        _item("b.py", 5.0),
        _item("c.py", False),
        _item("d.py", False),
        _item("d.py", 120.0),  # the heaviest: one marked test marks its whole file
        _item("e.py", 30.0),
    ]
    _slow_files_first(items)
    assert [i.name for i in items] == [
        "d.py:False",
        "d.py:120.0",
        "e.py:30.0",
        "a.py:True",
        "b.py:5.0",
        "c.py:False",
    ]
