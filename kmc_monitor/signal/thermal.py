"""Temperature bands on the smoothed core-equivalent temperature, decided by rolling counts.

Temperatures are whole milli-degrees, so ``T <= x`` is ``T < x + 1`` and every band edge becomes a
"lower median below" test (see :class:`~kmc_monitor.signal.windows.Window`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kmc_monitor.signal.params import RuleParams, celsius_to_mc
from kmc_monitor.signal.series import FloatArray
from kmc_monitor.signal.windows import Median, Window

__all__ = ["BandFlags", "band_flags"]

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class BandFlags:
    """Per-reading facts about the smoothed temperature (lower median over the window)."""

    has_t: BoolArray
    below_cold_stress: BoolArray  # T < 36.5
    below_moderate: BoolArray  # T < 36.0
    below_severe: BoolArray  # T < 32.0
    above_hyper: BoolArray  # T > 37.5
    recovered_cold: BoolArray  # T >= 36.6
    recovered_hot: BoolArray  # T <= 37.4
    below_cooling_gate: BoolArray  # T < 37.0

    @property
    def normal(self) -> BoolArray:
        """Smoothed T in the normal band 36.5 <= T <= 37.5."""
        return self.has_t & ~self.below_cold_stress & ~self.above_hyper


def band_flags(window: Window, temp_mc: FloatArray, params: RuleParams) -> tuple[BandFlags, Median]:
    """Band facts for the readings of ``window``; also returns the median helper over ``temp_mc``."""
    med = window.median(temp_mc)
    has_t = med.has
    flags = BandFlags(
        has_t=has_t,
        below_cold_stress=med.below(celsius_to_mc(params.cold_stress_below_c)),
        below_moderate=med.below(celsius_to_mc(params.moderate_below_c)),
        below_severe=med.below(celsius_to_mc(params.severe_below_c)),
        above_hyper=med.at_least(celsius_to_mc(params.hyperthermia_above_c) + 1),
        recovered_cold=med.at_least(params.recovery_cold_mc),
        recovered_hot=med.below(params.recovery_hot_mc + 1),
        below_cooling_gate=med.below(celsius_to_mc(params.cooling_below_c)),
    )
    return flags, med
