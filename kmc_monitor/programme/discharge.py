"""The discharge checklist (#19): what the nurse goes through with the family before going home.

WHO's KMC guidance expects the mother to be competent in positioning, feeding and recognising
danger signs before discharge, and to know when to come back and whom to call. The nurse ticks each
item on the bed page once the family has shown it back (positioning) or said it back (the others).
The store keeps every tick and untick with the staff member who made it (``discharge_teaching``);
this module turns that trail into the checklist's current state, for the bed page, the handover
and discharge reports, and the indicator "families taught before discharge".
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

__all__ = ["ChecklistItem", "ChecklistState", "TeachingEntry", "checklist_state"]


class ChecklistItem(enum.StrEnum):
    """The items, in the order a nurse goes through them."""

    POSITIONING = "positioning"  # the family puts the baby in KMC position themselves, nurse watching
    FEEDING = "feeding"  # breastfeeding in KMC position, how often, signs of feeding well
    DANGER_SIGNS = "danger_signs"  # cold, breathing, blue lips, not feeding, unusually sleepy
    WHEN_TO_COME_BACK = "when_to_come_back"  # the follow-up visit, and at once on a danger sign
    WHO_TO_CALL = "who_to_call"  # the ward's or health centre's number, written on the card

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    ChecklistItem.POSITIONING: "Positioning shown back by the family",
    ChecklistItem.FEEDING: "Feeding in KMC position",
    ChecklistItem.DANGER_SIGNS: "Danger signs: when to call at once",
    ChecklistItem.WHEN_TO_COME_BACK: "When to come back",
    ChecklistItem.WHO_TO_CALL: "Who to call",
}


class TeachingEntry(BaseModel):
    """One item's state: done or not, and who ticked or unticked it last, when."""

    model_config = ConfigDict(frozen=True)
    item: ChecklistItem
    label: str
    done: bool
    set_t: float | None
    set_by: str | None


class ChecklistState(BaseModel):
    """The whole checklist of one stay; ``complete`` when every item is done."""

    model_config = ConfigDict(frozen=True)
    admission_id: int
    items: list[TeachingEntry]
    complete: bool
    started: bool
    completed_t: float | None


def checklist_state(admission_id: int, trail: Sequence[tuple[str, bool, float, str]]) -> ChecklistState:
    """The checklist from the store's trail (oldest first); an item name this code does not know
    (written by a newer version) is left out rather than failing the bed page."""
    last: dict[ChecklistItem, tuple[bool, float, str]] = {}
    for name, done, t, who in trail:
        try:
            last[ChecklistItem(name)] = (done, t, who)
        except ValueError:
            continue
    items = [
        TeachingEntry(
            item=i,
            label=i.label,
            done=i in last and last[i][0],
            set_t=last[i][1] if i in last else None,
            set_by=last[i][2] if i in last else None,
        )
        for i in ChecklistItem
    ]
    complete = all(e.done for e in items)
    return ChecklistState(
        admission_id=admission_id,
        items=items,
        complete=complete,
        started=bool(last),
        completed_t=max(e.set_t or 0.0 for e in items) if complete else None,
    )
