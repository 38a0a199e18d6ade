"""Ward administration from the screen: the first run, beds, admissions, wraps and acknowledgements.

Everything a nurse or the ward's admin used to do with ``curl``: set up a new ward (the first-run
page), add, rename, reorder and remove beds; admit, correct and discharge a baby; register a wrap
(typed, or read from its label's QR code), put it on a bed, replace a flat one, swap two beds'
wraps, take one off. Each action is audited with who did it (the ward-admin audit, beside the
wrap assignments' own ``assigned_by``/``ended_by`` and the alarm audit); acknowledge, admit and
discharge are confirmed by a nurse with her initials and PIN where the ward has nurses
(``routes/nurses.py``).

**Undo** is offered where it is safe: taking a wrap off a bed and swapping two beds' wraps can be
undone for a minute (:data:`UNDO_S`), and only while nothing else changed those beds and wraps
(the undo is refused, with why, otherwise). An admission, a discharge or an acknowledgement has
no undo: each has its own correction (edit the admission, re-admit, the alarm's audit).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import weakref
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from kmc_monitor.errors import AlarmError, UnknownAlarmError
from kmc_monitor.service.auth import StaffAuth
from kmc_monitor.service.deps import Admin, Nurse, RowId, Runtime, Staff, audit_identity
from kmc_monitor.service.firstrun import (
    SETUP_KEY,
    LinkKeeper,
    WardSetup,
    loopback_warning,
    overlay,
    stored_setup,
)
from kmc_monitor.service.routes.nurses import NurseConfirm, confirmed_who
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.schemas import (
    AdmitBody,
    AdmittedOut,
    AssignWrapBody,
    BedBody,
    BedChangeOut,
    BedDetailOut,
    DischargeBody,
    SwapWrapsBody,
    WrapBody,
    WrapOut,
)
from kmc_monitor.service.store import StoreError
from kmc_monitor.service.views import AdmissionOut, AlarmOut, admission_json, bed_json
from kmc_monitor.service.ward_model import (
    AdmissionDetails,
    CaregiverRole,
    FamilyMember,
    GestationalAge,
    InvalidAdmissionError,
    KmcMode,
    WardConflictError,
)

__all__ = [
    "UNDO_S",
    "bed_detail",
    "keep_family_links",
    "keep_family_links_soon",
    "restore_family_links",
    "ward_admin_router",
]

logger = logging.getLogger(__name__)

#: An unassign or a swap can be undone for this long (ward seconds).
UNDO_S: Final = 60.0


def bed_detail(rt: WardRuntime, bed_id: str) -> dict[str, Any]:
    """A bed's tile with its current admission and wrap in full: the bed-detail screen's header."""
    status = rt.ward.bed_status(bed_id)  # 404 for an unknown bed
    view = rt.bed_view(bed_id)
    tile = bed_json(view) if view is not None else {"bed_id": bed_id, "label": status.bed.label}
    wrap = None
    if status.wrap_id is not None:
        info = rt.ward.wrap(status.wrap_id)
        wrap = {"wrap_id": info.wrap_id, "mac": info.mac, "has_key": info.has_key}
    return {
        **tile,
        "label": status.bed.label,
        "admission": None if status.admission is None else admission_json(status.admission),
        "wrap": wrap,
        # Whether the family link's QR can be shown: the token is kept sealed (firstrun.py), so a
        # link made before a restart can be printed again; a discharged stay's cannot.
        "family_qr_available": status.admission is not None
        and status.admission.admission_id in rt.family_links,
    }


#: One keeper per runtime (its data directory's key), made on first use.
_KEEPERS: weakref.WeakKeyDictionary[WardRuntime, LinkKeeper] = weakref.WeakKeyDictionary()


def _keeper(rt: WardRuntime) -> LinkKeeper:
    keeper = _KEEPERS.get(rt)
    if keeper is None:
        keeper = _KEEPERS[rt] = LinkKeeper(rt.settings.data_dir)
    return keeper


def keep_family_links(rt: WardRuntime, now: float) -> int:
    """Seal the family links this process holds (off the event loop; see firstrun.LinkKeeper)."""
    return _keeper(rt).keep(rt, now)


async def keep_family_links_soon(rt: WardRuntime) -> None:
    """Seal the links now if the database takes the write; otherwise say so and carry on: the action
    that made the link is done (a 503 would make a nurse admit twice), the link works, and the next
    admission, renewal or start seals every link not kept yet."""
    try:
        await rt.write(lambda now: keep_family_links(rt, now))
    except (StoreError, OSError, ValueError) as exc:
        logger.warning("family links not kept for a restart this time (kept at the next change): %s", exc)


def restore_family_links(rt: WardRuntime, base_url: str) -> int:
    """At start: the kept links of the current admissions back into ``rt.family_links``. A ward
    whose kept links cannot be read (a damaged key file, the database refusing) starts anyway,
    saying so: its families' links still work, only their cards cannot be printed again."""
    try:
        return _keeper(rt).restore(rt, base_url)
    except (StoreError, OSError, ValueError) as exc:
        logger.warning("kept family links not restored: %s", exc)
        return 0


# Bodies and answers -------------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ConfirmedAdmitBody(AdmitBody):
    """An admission, confirmed by the admitting nurse where the ward has nurses."""

    nurse: NurseConfirm | None = None


class ConfirmedDischargeBody(DischargeBody):
    nurse: NurseConfirm | None = None


class ConfirmedAckBody(_Body):
    """Who acknowledges: a nurse's confirmation, or (without nurses) a name kept beside the token's id."""

    who: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    nurse: NurseConfirm | None = None


class BedChangeBody(_Body):
    """A bed's new label (what the screen shows; the id printed on the bed stays)."""

    label: Annotated[str, Field(min_length=1, max_length=64)]


class BedOrderBody(_Body):
    """Every bed of the ward once, in the order the screen shows them."""

    order: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=32)]], Field(min_length=1, max_length=200)
    ]


class AdmissionChangeBody(_Body):
    """Corrections to a current admission (what is left out stays as it is)."""

    display_name: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    hospital_number: Annotated[str | None, Field(min_length=1, max_length=32)] = None
    birth_weight_g: Annotated[int | None, Field(ge=200, le=7000)] = None
    gestational_age_weeks: Annotated[int | None, Field(ge=22, le=44)] = None
    gestational_age_days: Annotated[int | None, Field(ge=0, le=6)] = None
    daily_goal_s: Annotated[float | None, Field(ge=3600, le=86400)] = None
    birth_t: Annotated[float | None, Field(ge=1_420_070_400, le=4_102_444_800)] = None


class UndoOut(_Out):
    """How to undo an action for a while: ``POST /api/ward-admin/undo/{undo_id}`` before ``until_t``."""

    undo_id: str
    until_t: float
    what: str


class WrapActionOut(_Out):
    """What a wrap action did, in words naming the baby (for the confirmation), and its undo."""

    done: str
    beds: list[dict[str, Any]]
    undo: UndoOut | None = None


class NetworkOut(_Out):
    base_url: str
    host: str
    loopback_only: bool
    warning: str | None


class WardStatusOut(_Out):
    """What the admin page and the first-run page need to know first."""

    ward_name: str
    setup_needed: bool
    setup: WardSetup | None
    role: str | None
    nurses_required: bool
    network: NetworkOut
    beds: int


class AdminAuditOut(_Out):
    at_t: float
    who: str
    action: str
    subject: str
    detail: str


class AckOut(_Out):
    alarm: dict[str, Any]
    who: str


@dataclass(frozen=True, slots=True)
class _Undo:
    kind: Literal["unassign", "swap"]
    until_t: float
    who: str
    wrap_id: str | None
    bed_a: str
    bed_b: str | None
    #: The wraps on bed_a and bed_b right after the action: an undo needs them still there.
    after: tuple[str | None, str | None]


def _undo_book(request: Request) -> dict[str, _Undo]:
    state = request.app.state
    book: dict[str, _Undo] | None = getattr(state, "ward_undo", None)
    if book is None:
        book = {}
        state.ward_undo = book
    return book


def _baby(rt: WardRuntime, bed_id: str) -> str:
    adm = rt.ward.bed_status(bed_id).admission
    label = rt.ward.bed(bed_id).label
    return f"{adm.display_name} ({label})" if adm is not None else f"{label} (no baby)"


def _needs_setup(rt: WardRuntime) -> bool:
    """A ward not set up yet: nothing stored from the first-run page, a real source (a demo ward is
    set up by itself) and nobody admitted."""
    if rt.source is None or rt.source.demo:
        return False
    return stored_setup(rt.store) is None and not rt.ward.current_admissions()


def ward_admin_router() -> APIRouter:
    router = APIRouter()

    # Status and the first run ----------------------------------------------------------------
    @router.get("/api/ward-admin/status", tags=["ward admin"])
    async def status(request: Request, who: Staff, rt: Runtime) -> WardStatusOut:
        """Whether the first-run page is due, this device's role, whether actions need a nurse's
        PIN, and whether phones can reach the links this service makes."""
        auth: StaffAuth = request.app.state.auth
        ident = auth.identity(request.headers, request.cookies, {})

        def read() -> tuple[bool, WardSetup | None, bool, int]:
            return _needs_setup(rt), stored_setup(rt.store), bool(rt.store.nurses()), len(rt.ward.beds())

        needed, setup, nurses, beds = await asyncio.to_thread(read)
        s = rt.settings
        warning = loopback_warning(s.host, s.public_url)
        return WardStatusOut(
            ward_name=s.ward_name,
            setup_needed=needed,
            setup=setup,
            role=None if ident is None else ident.role.label,
            nurses_required=nurses,
            network=NetworkOut(
                base_url=rt.ward.base_url, host=s.host, loopback_only=warning is not None, warning=warning
            ),
            beds=beds,
        )

    @router.post("/api/ward-admin/setup", tags=["ward admin"])
    async def setup(body: WardSetup, request: Request, who: Admin, rt: Runtime) -> WardStatusOut:
        """Keep the first-run answers and give the ward its number of beds (empty beds beyond it are
        removed; a bed with a baby or a wrap is kept). Name, clock format and daily goal apply at
        once; the time zone at once for pages and reports, and for the rules' days at the next start."""

        def step(now: float) -> tuple[list[str], list[str]]:
            rt.store.set_setting(SETUP_KEY, body.model_dump())
            beds = rt.ward.beds()
            added: list[str] = []
            removed: list[str] = []
            taken = {b.bed_id for b in beds}
            n = len(beds)
            i = 1
            while n < body.beds:
                bed_id = f"B{i:02d}"
                i += 1
                if bed_id in taken:
                    continue
                try:
                    rt.ward.add_bed(bed_id, f"Bed {n + 1}", position=n + 1, now=now)
                except WardConflictError:
                    continue  # a bed of that id was removed once: its history keeps the id
                added.append(bed_id)
                n += 1
            for bed in reversed(beds):
                if n <= body.beds:
                    break
                try:
                    rt.store.retire_bed(bed.bed_id, now=now, who=who)
                except WardConflictError:
                    continue
                removed.append(bed.bed_id)
                n -= 1
            rt.store.admin_audit(
                now,
                who,
                "ward_set_up",
                body.ward_name,
                f"tz {body.ward_tz}, {body.clock_format}, {body.beds} beds, goal {body.daily_goal_h:g} h, "
                f"languages {','.join(body.languages)}",
            )
            return added, removed

        (added, removed), now_s = await rt.write(step)
        rt.settings = overlay(rt.settings, body)
        rt.ward._default_goal_s = body.daily_goal_h * 3600.0  # the default goal of the next admissions
        rt._relayout(now_s)
        logger.info("ward set up by %s: %s (beds added %s, removed %s)", who, body.ward_name, added, removed)
        return await status(request, who, rt)

    @router.get("/api/ward-admin/audit", tags=["ward admin"])
    async def admin_audit(who: Admin, rt: Runtime) -> list[AdminAuditOut]:
        """The last 200 ward-admin actions, newest first: who, when, what, to whom."""
        lines = await asyncio.to_thread(rt.store.admin_audit_log)
        return [AdminAuditOut(**dataclasses.asdict(x)) for x in lines]

    # Beds -------------------------------------------------------------------------------------
    @router.post(
        "/api/beds",
        status_code=201,
        tags=["ward"],
        response_model=BedDetailOut,
        response_model_exclude_unset=True,
    )
    async def add_bed(body: BedBody, who: Admin, rt: Runtime) -> dict[str, Any]:
        """Add a bed to the ward (409 if the id exists); its tile appears at the next update."""
        position = body.position or len(rt.ward.beds()) + 1
        await rt.add_bed(body.bed_id, body.label, position)
        await rt.write(lambda now: rt.store.admin_audit(now, who, "bed_added", body.bed_id, body.label or ""))
        return bed_detail(rt, body.bed_id)

    @router.patch(
        "/api/beds/{bed_id}", tags=["ward"], response_model=BedDetailOut, response_model_exclude_unset=True
    )
    async def rename_bed(bed_id: str, body: BedChangeBody, who: Admin, rt: Runtime) -> dict[str, Any]:
        """Give a bed a new label on the screen (the bed's id, printed on it, stays)."""
        _, now_s = await rt.write(lambda now: rt.store.rename_bed(bed_id, body.label, now=now, who=who))
        rt._relayout(now_s)
        return bed_detail(rt, bed_id)

    @router.put(
        "/api/beds/order", tags=["ward"], response_model=list[BedDetailOut], response_model_exclude_unset=True
    )
    async def reorder_beds(body: BedOrderBody, who: Admin, rt: Runtime) -> list[dict[str, Any]]:
        """Put the beds in this order on the screen (every bed of the ward, each once)."""
        _, now_s = await rt.write(lambda now: rt.store.reorder_beds(body.order, now=now, who=who))
        rt._relayout(now_s)
        return [bed_detail(rt, b.bed_id) for b in rt.ward.beds()]

    @router.delete("/api/beds/{bed_id}", tags=["ward"])
    async def remove_bed(bed_id: str, who: Admin, rt: Runtime) -> dict[str, str]:
        """Take an empty bed off the ward (409 with a baby or a wrap on it); its history stays."""
        _, now_s = await rt.write(lambda now: rt.store.retire_bed(bed_id, now=now, who=who))
        rt._relayout(now_s)
        return {"removed": bed_id}

    # Admissions -------------------------------------------------------------------------------
    @router.post("/api/admissions", status_code=201, tags=["admissions"], response_model=AdmittedOut)
    async def admit(body: ConfirmedAdmitBody, request: Request, who: Nurse, rt: Runtime) -> dict[str, Any]:
        """Admit a baby to a free bed (with a wrap at once if given); confirmed by the nurse's PIN
        where the ward has nurses. The answer carries the family link (shown once; kept sealed)."""
        person = await confirmed_who(request, rt, who, body.nurse)
        try:
            details = AdmissionDetails(
                display_name=body.display_name,
                birth_weight_g=body.birth_weight_g,
                gestational_age=GestationalAge(body.gestational_age_weeks, body.gestational_age_days),
                hospital_number=body.hospital_number,
                daily_goal_s=body.daily_goal_s,
                site_offset_c=body.site_offset_c,
                kmc_mode=KmcMode(body.kmc_mode),
                birth_t=body.birth_t,
                family=tuple(FamilyMember(CaregiverRole(m.role), m.name) for m in body.family),
            )
        except (InvalidAdmissionError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        adm, link = await rt.admit(body.bed_id, details, person, wrap_id=body.wrap_id)
        await keep_family_links_soon(rt)
        return {**admission_json(adm), "family_url": link.url}

    @router.patch("/api/admissions/{admission_id}", tags=["admissions"], response_model=AdmissionOut)
    async def edit_admission(
        admission_id: RowId, body: AdmissionChangeBody, who: Nurse, rt: Runtime
    ) -> dict[str, Any]:
        """Correct a current admission: the name, hospital number, weight, gestational age, daily
        goal or birth time (audited: from what to what)."""
        current = rt.ward.admission(admission_id)
        # null clears only what may be empty (the hospital number, the birth time); a name, weight
        # or goal sent as null is left as it is.
        changes: dict[str, object] = {
            k: v
            for k, v in body.model_dump(exclude_unset=True).items()
            if k not in ("gestational_age_weeks", "gestational_age_days")
            and (v is not None or k in ("hospital_number", "birth_t"))
        }
        if body.gestational_age_weeks is not None or body.gestational_age_days is not None:
            weeks = (
                body.gestational_age_weeks
                if body.gestational_age_weeks is not None
                else current.gestational_age.total_days // 7
            )
            days = body.gestational_age_days if body.gestational_age_days is not None else 0
            changes["gestational_age_days"] = GestationalAge(weeks, days).total_days
        if not changes:
            raise HTTPException(422, "nothing to change: give at least one field")
        _, now_s = await rt.write(
            lambda now: rt.store.edit_admission(admission_id, changes, now=now, who=who)
        )
        rt._relayout(now_s)
        return admission_json(rt.ward.admission(admission_id))

    @router.post("/api/admissions/{admission_id}/discharge", tags=["admissions"], response_model=AdmissionOut)
    async def discharge(
        admission_id: RowId,
        request: Request,
        who: Nurse,
        rt: Runtime,
        body: ConfirmedDischargeBody | None = None,
    ) -> dict[str, Any]:
        """Discharge: the stay ends, the family link stops, the bed's wrap comes off (confirmed by
        the nurse's PIN where the ward has nurses)."""
        person = await confirmed_who(request, rt, who, None if body is None else body.nurse)
        return admission_json(await rt.discharge(admission_id, person, None if body is None else body.status))

    # Acknowledgement --------------------------------------------------------------------------
    @router.post("/api/alarms/{alarm_id}/ack", tags=["alarms"], response_model=AlarmOut)
    async def ack(
        alarm_id: RowId, request: Request, who: Staff, rt: Runtime, body: ConfirmedAckBody | None = None
    ) -> dict[str, Any]:
        """Acknowledge an alarm; the audit names the nurse who confirmed it (where the ward has
        nurses), else the device's identity with any name given beside it."""
        if body is not None and body.nurse is not None:
            person = await confirmed_who(request, rt, who, body.nurse)
        else:
            person = await confirmed_who(request, rt, audit_identity(who, body.who if body else None), None)
        try:
            view = rt.acknowledge(alarm_id, person)
        except UnknownAlarmError as exc:
            raise HTTPException(404, str(exc)) from None
        except AlarmError as exc:
            raise HTTPException(409, str(exc)) from None
        return rt.alarm_json(view)

    # Wraps ------------------------------------------------------------------------------------
    @router.post("/api/wraps", status_code=201, tags=["wraps"])
    async def register_wrap(body: WrapBody, who: Admin, rt: Runtime) -> WrapOut:
        """Register a wrap (409 if its id or MAC is registered already); then put it on a bed."""
        info = await rt.add_wrap(body.wrap_id, body.mac, body.key)
        await rt.write(
            lambda now: rt.store.admin_audit(
                now,
                who,
                "wrap_registered",
                info.wrap_id,
                f"{info.mac}, {'key' if info.has_key else 'no key'}",
            )
        )
        logger.info("wrap %s (%s) registered by %s", info.wrap_id, info.mac, who)
        return WrapOut(
            wrap_id=info.wrap_id,
            mac=info.mac,
            has_key=info.has_key,
            bed_id=None,
            last_heard_us=None,
            last_heard_s=None,
            rssi_dbm=None,
            battery_pct=None,
        )

    @router.post(
        "/api/beds/{bed_id}/wrap",
        tags=["wraps"],
        response_model=BedChangeOut,
        response_model_exclude_unset=True,
    )
    async def assign_wrap(bed_id: str, body: AssignWrapBody, who: Nurse, rt: Runtime) -> dict[str, Any]:
        """Put a registered wrap on the bed. A bed with another wrap is a conflict unless
        ``replace`` (then that wrap comes off: a flat battery); a wrap on another bed must come off
        there first, or the two beds' wraps be swapped."""
        before = rt.ward.bed_status(bed_id).wrap_id
        await rt.assign_wrap(body.wrap_id, bed_id, who, replace=body.replace)
        baby = _baby(rt, bed_id)
        if before is not None and before != body.wrap_id:
            done = f"wrap {body.wrap_id} replaces {before} on {baby}"
        else:
            done = f"wrap {body.wrap_id} is on {baby}"
        await rt.write(lambda now: rt.store.admin_audit(now, who, "wrap_assigned", bed_id, done))
        return {**bed_detail(rt, bed_id), "done": done}

    @router.delete(
        "/api/beds/{bed_id}/wrap",
        tags=["wraps"],
        response_model=BedChangeOut,
        response_model_exclude_unset=True,
    )
    async def unassign_wrap(request: Request, bed_id: str, who: Nurse, rt: Runtime) -> dict[str, Any]:
        """Take the bed's wrap off (for cleaning or charging); 409 if the bed has none. Can be
        undone for a minute."""
        status = rt.ward.bed_status(bed_id)
        if status.wrap_id is None or not await rt.unassign_wrap(status.wrap_id, who):
            raise WardConflictError(f"bed {bed_id} has no wrap to take off")
        done = f"wrap {status.wrap_id} taken off {_baby(rt, bed_id)}"
        _, now_s = await rt.write(lambda now: rt.store.admin_audit(now, who, "wrap_unassigned", bed_id, done))
        undo = _offer(
            request, _Undo("unassign", now_s + UNDO_S, who, status.wrap_id, bed_id, None, (None, None))
        )
        return {
            **bed_detail(rt, bed_id),
            "removed_wrap_id": status.wrap_id,
            "done": done,
            "undo": undo.model_dump(),
        }

    @router.post("/api/beds/swap-wraps", tags=["wraps"])
    async def swap_wraps(request: Request, body: SwapWrapsBody, who: Nurse, rt: Runtime) -> WrapActionOut:
        """Exchange two beds' wraps at one instant (one bed may have none: the wrap moves). Can be
        undone for a minute."""
        await rt.swap_wraps(body.bed_a, body.bed_b, who)
        a, b = rt.ward.bed_status(body.bed_a), rt.ward.bed_status(body.bed_b)
        done = (
            f"wraps swapped: {_baby(rt, body.bed_a)} now has {a.wrap_id or 'no wrap'}, "
            f"{_baby(rt, body.bed_b)} now has {b.wrap_id or 'no wrap'}"
        )
        _, now_s = await rt.write(
            lambda now: rt.store.admin_audit(now, who, "wraps_swapped", body.bed_a, done)
        )
        undo = _offer(
            request, _Undo("swap", now_s + UNDO_S, who, None, body.bed_a, body.bed_b, (a.wrap_id, b.wrap_id))
        )
        return WrapActionOut(
            done=done, beds=[bed_detail(rt, body.bed_a), bed_detail(rt, body.bed_b)], undo=undo
        )

    @router.post("/api/ward-admin/undo/{undo_id}", tags=["wraps"])
    async def undo(undo_id: str, request: Request, who: Nurse, rt: Runtime) -> WrapActionOut:
        """Undo a wrap taken off or a swap, within a minute and while nothing else changed those
        beds and wraps (409 saying why otherwise); audited."""
        book = _undo_book(request)
        entry = book.get(undo_id)
        if entry is None or entry.until_t < rt.clock():
            book.pop(undo_id, None)
            raise HTTPException(410, "this can no longer be undone (a minute has passed, or it was undone)")
        if entry.kind == "unassign":
            assert entry.wrap_id is not None
            status = rt.ward.bed_status(entry.bed_a)
            if status.wrap_id is not None or rt.ward.wrap(entry.wrap_id).bed_id is not None:
                raise WardConflictError(
                    f"cannot undo: bed {entry.bed_a} or wrap {entry.wrap_id} has changed since; "
                    "put the wrap on again"
                )
            await rt.assign_wrap(entry.wrap_id, entry.bed_a, who)
            done = f"undone: wrap {entry.wrap_id} is back on {_baby(rt, entry.bed_a)}"
            beds = [bed_detail(rt, entry.bed_a)]
        else:
            assert entry.bed_b is not None
            now_wraps = (rt.ward.bed_status(entry.bed_a).wrap_id, rt.ward.bed_status(entry.bed_b).wrap_id)
            if now_wraps != entry.after:
                raise WardConflictError("cannot undo: those beds' wraps have changed since; swap them again")
            await rt.swap_wraps(entry.bed_a, entry.bed_b, who)
            done = f"undone: the wraps of {_baby(rt, entry.bed_a)} and {_baby(rt, entry.bed_b)} are back"
            beds = [bed_detail(rt, entry.bed_a), bed_detail(rt, entry.bed_b)]
        book.pop(undo_id, None)
        await rt.write(lambda now: rt.store.admin_audit(now, who, "undone", entry.bed_a, done))
        return WrapActionOut(done=done, beds=beds)

    return router


def _offer(request: Request, entry: _Undo) -> UndoOut:
    book = _undo_book(request)
    for key in [k for k, v in book.items() if v.until_t < entry.until_t - UNDO_S]:
        del book[key]  # expired ones
    undo_id = secrets.token_urlsafe(9)
    book[undo_id] = entry
    what = "put the wrap back" if entry.kind == "unassign" else "swap the wraps back"
    return UndoOut(undo_id=undo_id, until_t=entry.until_t, what=what)
