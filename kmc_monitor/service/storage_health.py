"""Storage health: what the ward does while its database refuses writes.

A refused checkpoint is kept and retried after :data:`CHECKPOINT_RETRY_S` (not on every 50 ms
tick); readings wait in the :class:`~kmc_monitor.service.store.ReadingWriter`. Once writes have
failed for :data:`STORAGE_ALARM_AFTER_S` of ward time the ward's ``storage_failure`` alarm is
raised (one ``SQLITE_BUSY`` from a backup tool's brief lock is retried silently; a ward that has
stopped recording is shown), and it ends when writes succeed again. The state machine is here, on
its own, so that the runtime only reports outcomes to it (:meth:`StorageHealth.checkpoint_refused`,
:meth:`StorageHealth.checkpoint_ok`) and publishes what :meth:`StorageHealth.watch` returns.
"""

from __future__ import annotations

import logging
import math
from typing import Final

from kmc_monitor.service.alarms import AlarmBoard, AlarmEvent, ConditionKey, WardAlarmKind, ward_condition_key
from kmc_monitor.service.store import ReadingWriter, StoreError
from kmc_monitor.signal.params import US

__all__ = ["CHECKPOINT_RETRY_S", "STORAGE_ALARM_AFTER_S", "StorageHealth"]

logger = logging.getLogger(__name__)

#: Writes failing for this long (ward clock) raise the ward's ``storage_failure`` alarm.
STORAGE_ALARM_AFTER_S: Final = 5.0
#: After a failed checkpoint the next try waits this long, not the next 50 ms tick.
CHECKPOINT_RETRY_S: Final = 1.0

#: A storage refusal's reason in words: what is wrong, and when the kept readings are written.
_STORAGE_WORDS: Final[dict[str, tuple[str, str]]] = {
    "full": ("the disk is full", "when space is freed"),
    "locked": ("another program holds the database", "as soon as it lets go"),
    "io": ("the disk reports errors", "when it works again"),
    "readonly": ("the database cannot be written (permissions)", "when that is fixed"),
    "corrupt": ("the database file is damaged", "once it is repaired or replaced"),
    "closed": ("the database is closed", "when it is opened again"),
    "other": ("the database refuses to save", "when it accepts writes again"),
}


class StorageHealth:
    """The ward database's health as the runtime sees it (module docstring).

    ``writer`` is the runtime's reading writer: its own refusals count as much as a checkpoint's.
    """

    def __init__(self, writer: ReadingWriter | None = None) -> None:
        self.writer = writer
        #: The last checkpoint's refusal (None once one succeeds).
        self.checkpoint_error: StoreError | None = None
        #: Checkpoints the database refused (each retried).
        self.failures = 0
        self._failing_since_s: float | None = None
        self._alarm: ConditionKey | None = None
        self._not_before_s = -math.inf

    def may_checkpoint(self, now_s: float) -> bool:
        """Whether a checkpoint may be tried now (not within the retry pause after a refusal)."""
        return now_s >= self._not_before_s

    def checkpoint_refused(self, exc: StoreError, now_s: float) -> None:
        if self.checkpoint_error is None:
            logger.warning("the ward could not be saved, retried every %g s: %s", CHECKPOINT_RETRY_S, exc)
        self.checkpoint_error = exc
        self.failures += 1
        self._not_before_s = now_s + CHECKPOINT_RETRY_S

    def checkpoint_ok(self) -> None:
        if self.checkpoint_error is not None:
            logger.info("the ward is being saved again")
        self.checkpoint_error = None
        self._not_before_s = -math.inf

    def error(self) -> StoreError | None:
        """Why the database refuses writes now (None when the last attempts succeeded)."""
        if self.checkpoint_error is not None:
            return self.checkpoint_error
        return None if self.writer is None else self.writer.last_error

    def detail(self) -> str | None:
        """The storage problem in words for the nurses and the engineer (None when there is none)."""
        error = self.error()
        if error is None:
            return None
        writer = self.writer
        pending = 0 if writer is None else writer.pending
        cause, until = _STORAGE_WORDS.get(error.reason, _STORAGE_WORDS["other"])
        text = f"{cause}: readings are kept in memory ({pending} pending) and written {until}"
        dropped = 0 if writer is None else writer.dropped
        if dropped:
            text += f"; {dropped} readings were dropped when memory filled up (a gap in the history)"
        return text + ". Live monitoring and alarms go on."

    def watch(self, board: AlarmBoard, now_s: float, now_us: int) -> list[AlarmEvent]:
        """Raise the ward's ``storage_failure`` alarm once writes have failed for
        :data:`STORAGE_ALARM_AFTER_S`; end it when they succeed again. Returns the board's events."""
        if self.error() is not None:
            if self._failing_since_s is None:
                self._failing_since_s = now_s
            since = self._failing_since_s
            if self._alarm is None and now_s - since >= STORAGE_ALARM_AFTER_S:
                kind = WardAlarmKind.STORAGE_FAILURE
                key = ward_condition_key(kind, round(since * US))
                self._alarm = key
                logger.error("storage failure alarm raised: %s", self.detail())
                return board.condition_started(key, kind, None, None, now_us)
            return []
        self._failing_since_s = None
        if self._alarm is not None:
            key, self._alarm = self._alarm, None
            logger.info("storage failure alarm ended: the database takes writes again")
            return board.condition_ended(key, now_us)
        return []
