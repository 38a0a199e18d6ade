"""kmc-monitor: skin-to-skin contact timing and hypothermia alarms for Kangaroo Mother Care wraps."""

__version__ = "0.1.0"

__all__ = ["__version__"]
