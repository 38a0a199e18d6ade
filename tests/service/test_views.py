"""``views.py``: each builder makes exactly its model's shape (same keys, accepted by the model, the
same JSON after the model's round trip), on a running ward with an alarm acknowledged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.config import Settings
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.service.views import (
    AdmissionOut,
    AlarmEventOut,
    AlarmOut,
    AuditOut,
    BedOut,
    UnassignedWrapOut,
    admission_json,
    alarm_json,
    audit_json,
    bed_json,
    event_json,
    unassigned_json,
)
from kmc_monitor.signal.params import US
from tests.clock import Clock
from tests.service.routes.conftest import T0, TwoWraps


def same_shape(model: type[BaseModel], built: dict[str, Any]) -> None:
    assert set(built) == set(model.model_fields), model.__name__
    assert model.model_validate(built).model_dump(mode="json") == built, model.__name__


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WardRuntime:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = Settings(data_dir=tmp_path / "data", staff_token="t" * 32, ward_tz="UTC", beds=3)
    clock = Clock(T0)
    rt = WardRuntime(settings, source=TwoWraps(), clock=clock, tick_s=None)
    rt.open()
    for _ in range(12):
        clock.t += 10.0
        rt.step()
    return rt


def test_every_builder_makes_its_models_shape(rt: WardRuntime) -> None:
    views = rt.engine.views(rt.now_us())
    assert views and any(v.alarms for v in views), "the ward should have W2's low-battery alarm"
    for v in views:
        same_shape(BedOut, bed_json(v))
    alarm = rt.engine.board.visible(rt.now_us())[0]
    same_shape(AlarmOut, rt.alarm_json(alarm))
    rt.acknowledge(alarm.alarm_id, "nurse-a")
    acked = rt.engine.board.alarm(alarm.alarm_id, rt.now_us())
    same_shape(AlarmOut, alarm_json(acked, "words"))
    for record in rt.engine.board.audit:
        same_shape(AuditOut, audit_json(record))
    for adm in rt.ward.current_admissions():
        same_shape(AdmissionOut, admission_json(adm))


def test_events_and_unassigned_wraps_keep_their_shape(rt: WardRuntime) -> None:
    events = rt.engine.board.acknowledge(rt.engine.board.visible(rt.now_us())[0].alarm_id, "n", rt.now_us())
    assert events
    for e in events:
        same_shape(AlarmEventOut, event_json(e))
    now_s = rt.clock()
    rt.engine.ingest([Reading(now_s, "W9", 36.8, 30.0, 1.0, 80.0, -70.0)], now_us=round(now_s * US))
    rt.step()
    heard = rt.engine.unassigned_wraps()
    assert [u.wrap_id for u in heard] == ["W9"]
    same_shape(UnassignedWrapOut, unassigned_json(heard[0]))
