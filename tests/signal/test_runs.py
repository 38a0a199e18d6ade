"""Latches and condition runs: vectorised forms against plain loops, and carried state."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kmc_monitor.signal.runs import RunCarry, known_before, latch, run_starts


def plain_latch(events: list[int], initial: int) -> list[int]:
    out, s = [], initial
    for e in events:
        s = e if e >= 0 else s
        out.append(s)
    return out


@given(st.lists(st.sampled_from([-1, 0, 1]), max_size=200), st.sampled_from([-1, 0, 1]))
def test_latch(events: list[int], initial: int) -> None:
    got = latch(np.asarray(events, dtype=np.int8), initial)
    assert got.tolist() == plain_latch(events, initial)


def plain_runs(pred: list[bool], t: list[int], stale: int, delay: int) -> list[int]:
    out, onset, fired, prev_t, prev_p = [], None, False, None, False
    for i, (p, ti) in enumerate(zip(pred, t, strict=True)):
        known = prev_t is not None and ti - prev_t <= stale
        if p and prev_p and known:
            pass
        elif p:
            onset, fired = ti, False
        if p and not fired and onset is not None and ti - onset >= delay:
            out.append(i)
            fired = True
        prev_t, prev_p = ti, p
    return out


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.booleans(), st.sampled_from([1, 2, 5, 29, 30, 31, 100])), min_size=1, max_size=150
    ),
    delay=st.sampled_from([0, 15, 60]),
    cut=st.integers(0, 150),
)
def test_run_starts_match_a_loop_under_any_split(steps: list[tuple[bool, int]], delay: int, cut: int) -> None:
    pred = [p for p, _ in steps]
    t = np.cumsum([d for _, d in steps]).astype(np.int64)
    want = plain_runs(pred, t.tolist(), 30, delay)
    p = np.asarray(pred)
    cut = min(cut, len(pred))
    first, carry = run_starts(p[:cut], t[:cut], known_before(t[:cut], None, 30), RunCarry(), delay)
    last_t = int(t[cut - 1]) if cut else None
    second, _ = run_starts(p[cut:], t[cut:], known_before(t[cut:], last_t, 30), carry, delay)
    assert [*first.tolist(), *(second + cut).tolist()] == want
