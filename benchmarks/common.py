"""What the benchmark scripts share."""

from __future__ import annotations

import os

__all__ = ["pin_one_core"]


def pin_one_core() -> str:
    """Run this process on one core (the targets are per core); say whether it worked."""
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return "pinned to one core"
    except (AttributeError, OSError):
        return "not pinned"
