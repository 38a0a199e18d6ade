"""The states a wrap's stream reports in words: its temperature band, why it is (not) judged, and
its session timer.

String enums, so a state compares equal to the plain string the stream computes (``"normal"``,
``"settling"``, ``"running"``) and goes on the wire unchanged; the web layer's response models and
``GET /api/vocabulary`` name them from here.
"""

from __future__ import annotations

import enum

__all__ = ["Band", "Judging", "SessionState"]


class Band(enum.StrEnum):
    """The WHO temperature band of a judged, smoothed skin temperature (clinical-rules.md)."""

    NORMAL = "normal"
    COLD_STRESS = "cold_stress"
    HYPOTHERMIA_MODERATE = "hypothermia_moderate"
    HYPOTHERMIA_SEVERE = "hypothermia_severe"
    HYPERTHERMIA = "hyperthermia"


class Judging(enum.StrEnum):
    """Whether the temperature is judged now, and if not, why (a tile then shows no band colour)."""

    JUDGED = "judged"
    SETTLING = "settling"
    DETACHED = "detached"
    NO_TEMPERATURE = "no temperature"
    NO_DATA = "no data"
    #: The bed has no wrap (the service's tile, not the stream's).
    NO_WRAP = "no wrap"


class SessionState(enum.StrEnum):
    """The skin-to-skin session timer: running, paused (a short break within the session), none."""

    RUNNING = "running"
    PAUSED = "paused"
    NONE = "none"
