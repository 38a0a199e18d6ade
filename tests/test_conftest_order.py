"""The suite's own scheduling rule (tests/conftest.py): files holding a slow test are handed out first."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.conftest import _slow_files_first


def _item(path: str, slow: bool) -> Any:
    return SimpleNamespace(
        path=Path(path), name=f"{path}:{slow}", get_closest_marker=lambda name: object() if slow else None
    )


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
