"""Temperature bands on the smoothed core-equivalent temperature, decided by rolling counts.

Temperatures are whole milli-degrees, so ``T <= x`` is ``T < x + 1`` and every band edge becomes a
"lower median below" test (see :class:`~kmc_monitor.signal.windows.Window`).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import numpy.typing as npt

from kmc_monitor.signal.params import RuleParams, celsius_to_mc
from kmc_monitor.signal.windows import Median

__all__ = ["Bands"]

BoolArray = npt.NDArray[np.bool_]


class Bands:
    """Band tests on the smoothed ``T`` of a window's readings, each computed when first asked.

    Most of the time a baby is in the normal band and most tests cannot matter (no moderate
    hypothermia without cold stress first, no recovery without a condition), so the engine asks only
    for the ones that can change an answer.
    """

    def __init__(self, median: Median, params: RuleParams) -> None:
        self._m = median
        self._p = params

    @cached_property
    def has_t(self) -> BoolArray:
        return self._m.has

    @cached_property
    def below_cold_stress(self) -> BoolArray:
        """T < 36.5 (cold stress or worse)."""
        return self._m.below(celsius_to_mc(self._p.cold_stress_below_c))

    @cached_property
    def below_moderate(self) -> BoolArray:
        """T < 36.0 (moderate hypothermia or worse)."""
        return self._m.below(celsius_to_mc(self._p.moderate_below_c))

    @cached_property
    def below_severe(self) -> BoolArray:
        """T < 32.0."""
        return self._m.below(celsius_to_mc(self._p.severe_below_c))

    @cached_property
    def above_hyper(self) -> BoolArray:
        """T > 37.5, i.e. T >= 37.501 in whole milli-degrees."""
        return self._m.at_least(celsius_to_mc(self._p.hyperthermia_above_c) + 1)

    @cached_property
    def recovered_cold(self) -> BoolArray:
        """T >= 36.6: the evidence that ends a cold condition."""
        return self._m.at_least(self._p.recovery_cold_mc)

    @cached_property
    def recovered_hot(self) -> BoolArray:
        """T <= 37.4: the evidence that ends hyperthermia."""
        return self._m.below(self._p.recovery_hot_mc + 1)

    @cached_property
    def below_cooling_gate(self) -> BoolArray:
        """T < 37.0: a falling temperature matters only below it."""
        return self._m.below(celsius_to_mc(self._p.cooling_below_c))

    @cached_property
    def normal(self) -> BoolArray:
        """Smoothed T in the normal band 36.5 <= T <= 37.5."""
        return self.has_t & ~self.below_cold_stress & ~self.above_hyper
