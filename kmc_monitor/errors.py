"""The package's one exception hierarchy.

Every message is written for the person who must act on it (a nurse, an engineer, an operator):
it names the thing that is wrong and, where it can, what to do about it.
"""

from __future__ import annotations

__all__ = ["AlarmError", "InvalidReadingsError", "KmcError", "TraceError", "UnknownAlarmError"]


class KmcError(Exception):
    """Base of every error kmc-monitor raises on purpose."""


class TraceError(KmcError):
    """A file cannot be read as a trace at all (no header, binary data, unreadable)."""


class InvalidReadingsError(KmcError, ValueError):
    """Readings handed to the signal core are malformed as a whole (mismatched lengths, bad ids)."""


class AlarmError(KmcError):
    """An alarm action cannot be done as asked (already acknowledged, already cleared, bad snapshot)."""


class UnknownAlarmError(AlarmError, LookupError):
    """No alarm with this id is on the board (nor was it cleared recently)."""
