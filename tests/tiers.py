"""A Hypothesis property in two tiers: a few examples in every ``make test``, many in
``make test-long`` (marked ``long``; CI runs both)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

__all__ = ["two_tiers"]


def two_tiers(
    fast: int, thorough: int, *, suppress: Sequence[HealthCheck] = (), **strategies: Any
) -> Callable[[Callable[..., None]], tuple[Any, Any]]:
    """The property ``@given(**strategies)`` twice, without a deadline: at ``fast`` examples, and at
    ``thorough`` marked ``long``. Use: ``test_p, test_p_thoroughly = two_tiers(100, 2000, x=...)(body)``."""

    def make(body: Callable[..., None]) -> tuple[Any, Any]:
        def tier(examples: int) -> Any:
            return settings(max_examples=examples, deadline=None, suppress_health_check=list(suppress))(
                given(**strategies)(body)
            )

        return tier(fast), pytest.mark.long(tier(thorough))

    return make
