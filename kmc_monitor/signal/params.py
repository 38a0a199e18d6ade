"""The clinical parameters, with the defaults of the clinical-rules contract.

Every number here belongs to the responsible organisation (the hospital): it sets them in
configuration, a nurse at the screen cannot. Sources for each default are named in
``docs/rules.md`` and ``../shared/spec/clinical-rules.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["US", "RuleParams", "celsius_to_mc", "seconds_to_us"]

#: Microseconds per second: the core keeps time as integer microseconds so that sums are exact.
US = 1_000_000


def seconds_to_us(seconds: float) -> int:
    """Seconds to whole microseconds, rounding half to even."""
    return round(seconds * US)


def celsius_to_mc(celsius: float) -> int:
    """Degrees Celsius to whole milli-degrees, rounding half to even."""
    return round(celsius * 1000)


@dataclass(frozen=True, slots=True)
class RuleParams:
    """Thresholds, delays and windows of the clinical rules.

    Attribute names carry their unit. The derived ``*_us`` / ``*_mc`` properties give the integer
    forms the core computes with.
    """

    # Time and missing data
    stale_after_s: float = 30.0
    #: A silence of at most this long neither ends nor restarts a pending condition or recovery.
    gap_tolerance_s: float = 120.0
    #: ``no_data`` ends at the first reading that completes this much data without a stale interval.
    no_data_clear_s: float = 60.0
    #: Readings stamped before this (2015-01-01T00:00Z) are clock faults: invalid and ignored.
    earliest_t_s: float = 1_420_070_400.0
    #: Readings stamped more than this ahead of the machine's clock are clock faults too.
    max_clock_lead_s: float = 86_400.0

    # Contact hysteresis and sessions
    contact_on: float = 0.6
    contact_off: float = 0.4
    contact_first: float = 0.5
    bridge_gap_s: float = 120.0
    min_session_s: float = 60.0
    short_session_s: float = 3600.0

    # Daily totals
    ward_tz: str = "UTC"
    daily_goal_s: float = 20 * 3600.0
    min_daily_contact_s: float = 8 * 3600.0
    #: Intermittent KMC counts towards the day's goal (and ``low_daily_contact``) only the contact of
    #: sessions at least this long (an hour); 0: all contact counts (continuous KMC).
    goal_sessions_at_least_s: float = 0.0

    # Temperature bands (core-equivalent temperature, smoothed)
    smooth_s: float = 30.0
    cold_stress_below_c: float = 36.5
    moderate_below_c: float = 36.0
    severe_below_c: float = 32.0
    hyperthermia_above_c: float = 37.5
    hysteresis_c: float = 0.1
    recovery_s: float = 60.0
    cold_stress_delay_s: float = 60.0
    moderate_delay_s: float = 60.0
    severe_delay_s: float = 15.0
    hyperthermia_delay_s: float = 60.0

    # Plausible sensor range: outside it a value is a sensor fault
    plausible_min_c: float = 20.0
    plausible_max_c: float = 45.0

    # Sensor detachment and settling
    detach_gap_c: float = 2.0
    detach_fall_c: float = 1.5
    detach_fall_window_s: float = 60.0
    reattach_gap_c: float = 4.0
    reattach_rise_c: float = 1.0
    settle_s: float = 300.0
    sensor_detached_delay_s: float = 30.0

    # Technical and advisory
    low_battery_pct: float = 20.0
    battery_recovered_pct: float = 25.0
    cooling_rate_c_per_h: float = 1.0
    cooling_clear_rate_c_per_h: float = 0.5
    cooling_window_s: float = 1800.0
    cooling_below_c: float = 37.0
    cooling_delay_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.contact_off <= self.contact_first <= self.contact_on:
            raise ValueError("contact thresholds must satisfy contact_off <= contact_first <= contact_on")
        if not self.severe_below_c < self.moderate_below_c < self.cold_stress_below_c:
            raise ValueError("cold bands must satisfy severe < moderate < cold stress")
        if self.cold_stress_below_c >= self.hyperthermia_above_c:
            raise ValueError("the normal band must not be empty")
        if self.detach_gap_c >= self.reattach_gap_c:
            raise ValueError("detach_gap_c must be below reattach_gap_c (hysteresis)")
        if self.low_battery_pct > self.battery_recovered_pct:
            raise ValueError("battery_recovered_pct must be at least low_battery_pct")
        try:
            ZoneInfo(self.ward_tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"{self.ward_tz!r} is not a time zone name (use an IANA name such as Africa/Nairobi)"
            ) from exc
        if self.gap_tolerance_s < self.stale_after_s:
            raise ValueError("gap_tolerance_s must be at least stale_after_s")
        for name in (
            "stale_after_s",
            "smooth_s",
            "bridge_gap_s",
            "settle_s",
            "cooling_window_s",
            "no_data_clear_s",
            "max_clock_lead_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    # Integer forms used by the core -------------------------------------------------------------
    @property
    def stale_after_us(self) -> int:
        return seconds_to_us(self.stale_after_s)

    @property
    def gap_tolerance_us(self) -> int:
        return seconds_to_us(self.gap_tolerance_s)

    @property
    def earliest_t_us(self) -> int:
        return seconds_to_us(self.earliest_t_s)

    @property
    def smooth_us(self) -> int:
        return seconds_to_us(self.smooth_s)

    @property
    def recovery_cold_mc(self) -> int:
        """Smoothed T must be at least this for a cold condition to end (36.6 °C by default)."""
        return celsius_to_mc(self.cold_stress_below_c + self.hysteresis_c)

    @property
    def recovery_hot_mc(self) -> int:
        """Smoothed T must be at most this for hyperthermia to end (37.4 °C by default)."""
        return celsius_to_mc(self.hyperthermia_above_c - self.hysteresis_c)

    @property
    def fall_reach_us(self) -> int:
        """How far back the fall test's raw readings reach: its span (60 s) plus the smoothing window,
        since the fall is measured between smoothed values."""
        return seconds_to_us(self.detach_fall_window_s + self.smooth_s)

    @property
    def cooling_lag_max_us(self) -> int:
        """Oldest acceptable lagged reading for the cooling trend (30 min + stale_after)."""
        return seconds_to_us(self.cooling_window_s + self.stale_after_s)

    @property
    def cooling_drop_mc(self) -> int:
        """The drop over the cooling window that means ``cooling_rate_c_per_h`` (0.5 °C)."""
        return celsius_to_mc(self.cooling_rate_c_per_h * self.cooling_window_s / 3600.0)

    @property
    def cooling_clear_drop_mc(self) -> int:
        """A drop smaller than this over the window clears the cooling trend (0.25 °C)."""
        return celsius_to_mc(self.cooling_clear_rate_c_per_h * self.cooling_window_s / 3600.0)

    @property
    def lookback_us(self) -> int:
        """How far back any per-reading quantity looks: the tail a stream must carry."""
        return max(
            self.smooth_us + self.fall_reach_us,
            self.smooth_us + self.cooling_lag_max_us,
        )
