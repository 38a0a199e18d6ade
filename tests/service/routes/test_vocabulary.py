"""``GET /api/vocabulary``: the band limits are the rule parameters in effect (a ward's own
thresholds included), every alarm kind and state has its words, and only staff or a family with a
valid link may ask."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kmc_monitor.service.alarms import AlarmState, WardAlarmKind
from kmc_monitor.service.vocabulary import ALARM_KIND_LABELS
from kmc_monitor.signal.params import RuleParams
from kmc_monitor.signal.report import AlarmKind, Category, Priority
from kmc_monitor.signal.states import Band, Judging, SessionState
from tests.service.routes.conftest import Ward, make_ward


def test_the_bands_are_the_rule_params_in_effect(ward: Ward) -> None:
    p = ward.rt.engine.params
    v = ward.ok("GET", "/api/vocabulary")
    assert v["thresholds"] == {
        "severe_below_c": p.severe_below_c,
        "moderate_below_c": p.moderate_below_c,
        "cold_stress_below_c": p.cold_stress_below_c,
        "hyperthermia_above_c": p.hyperthermia_above_c,
    }
    bands = {b["name"]: (b["low_c"], b["high_c"]) for b in v["bands"]}
    assert bands == {
        "hyperthermia": (p.hyperthermia_above_c, None),
        "normal": (p.cold_stress_below_c, p.hyperthermia_above_c),
        "cold_stress": (p.moderate_below_c, p.cold_stress_below_c),
        "hypothermia_moderate": (p.severe_below_c, p.moderate_below_c),
        "hypothermia_severe": (None, p.severe_below_c),
    }
    assert set(bands) == {b.value for b in Band}
    labels = {b["name"]: b["label"] for b in v["bands"]}
    assert labels["cold_stress"] == "Cold stress" and labels["hypothermia_severe"] == "Severe hypothermia"


@pytest.fixture
def warm_ward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ward]:
    """A ward whose configuration moves the cold-stress and hyperthermia limits."""
    monkeypatch.setenv("KMC_CLINICAL__COLD_STRESS_BELOW_C", "36.6")
    monkeypatch.setenv("KMC_CLINICAL__HYPERTHERMIA_ABOVE_C", "37.7")
    yield from make_ward(tmp_path, monkeypatch)


def test_a_wards_own_thresholds_reach_the_vocabulary(warm_ward: Ward) -> None:
    p = warm_ward.rt.engine.params
    assert (p.cold_stress_below_c, p.hyperthermia_above_c) == (36.6, 37.7), "the setting did not apply"
    v = warm_ward.ok("GET", "/api/vocabulary")
    normal = next(b for b in v["bands"] if b["name"] == "normal")
    assert (normal["low_c"], normal["high_c"]) == (36.6, 37.7)
    assert v["thresholds"]["cold_stress_below_c"] == 36.6
    assert RuleParams().cold_stress_below_c != 36.6


def test_every_kind_and_state_has_its_words(ward: Ward) -> None:
    v = ward.ok("GET", "/api/vocabulary")
    every_kind = [*AlarmKind, *WardAlarmKind]  # the ward's own alarms are listed too
    missing = [k.value for k in every_kind if k.value not in ALARM_KIND_LABELS]
    assert not missing, f"alarm kinds without words in service/vocabulary.py: {missing}"
    kinds = {k["name"]: k for k in v["alarm_kinds"]}
    assert set(kinds) == {k.value for k in every_kind}
    for k in every_kind:
        got = kinds[k.value]
        assert (got["category"], got["priority"]) == (k.category.value, k.priority.value)
        assert got["subject"] == ("ward" if isinstance(k, WardAlarmKind) else "wrap")
    assert kinds["storage_failure"]["label"] == "Storage failure"
    assert kinds["no_data"]["label"] == "No data from wrap"
    assert {p["name"]: (p["rank"], p["mark"]) for p in v["priorities"]} == {
        Priority.HIGH.value: (3, "!!!"),
        Priority.MEDIUM.value: (2, "!!"),
        Priority.LOW.value: (1, "!"),
    }
    for key, enum_type in (
        ("judging", Judging),
        ("alarm_states", AlarmState),
        ("session_states", SessionState),
        ("categories", Category),
    ):
        entries = v[key]
        assert {e["name"] for e in entries} == {m.value for m in enum_type}, key
        assert all(e["label"] for e in entries), key


def test_only_staff_or_a_familys_valid_link_may_ask(ward: Ward) -> None:
    anon = {"Authorization": ""}
    assert ward.client.get("/api/vocabulary", headers=anon).status_code == 401
    bad = {"Authorization": "", "X-Family-Token": "not-a-link"}
    assert ward.client.get("/api/vocabulary", headers=bad).status_code == 401
    link = next(iter(ward.rt.family_links.values()))
    ok = ward.client.get("/api/vocabulary", headers={"Authorization": "", "X-Family-Token": link.token})
    assert ok.status_code == 200 and ok.json()["bands"]
