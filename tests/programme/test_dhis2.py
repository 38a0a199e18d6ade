"""The DHIS2 payload and its push, against a local stand-in DHIS2 (http.server on loopback) that
checks Basic authentication and the shape of a data value set, and answers with import counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmc_monitor.cli import main
from kmc_monitor.programme.dhis2 import Dhis2Error, data_value_set, load_mapping, push
from kmc_monitor.programme.indicators import Period, compute_indicators
from tests.programme.dhis2_standin import PASSWORD, USER, StandIn, serve_dhis2
from tests.programme.month import NOW, build_month

ORG_UNIT = "DiszpKrYNg8"

MAPPING = f"""\
orgUnit: {ORG_UNIT}
dataSet: KmcMonthly1
dataElements:
  admissions: {{dataElement: KmcAdmissn1}}
  initiations: {{dataElement: KmcInitiat1}}
  baby_days_ge_8h_pct: {{dataElement: KmcDose8h01}}
  contact_h.mother: {{dataElement: KmcHoursCg1, categoryOptionCombo: CocMother01}}
  contact_h.father: {{dataElement: KmcHoursCg1, categoryOptionCombo: CocFather01}}
  discharges.died: {{dataElement: KmcDschDie1}}
  time_to_initiation_from_birth_median_h: {{dataElement: KmcTtiBirth}}
"""


@pytest.fixture
def dhis2() -> Iterator[tuple[str, StandIn]]:
    with serve_dhis2() as served:
        yield served


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    build_month(tmp_path / "data").store.close()
    return tmp_path / "data"


def test_payload_is_accepted_and_counted(tmp_path: Path, data_dir: Path, dhis2: tuple[str, StandIn]) -> None:
    url, state = dhis2
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text(MAPPING)
    from kmc_monitor.service.store import Store

    with Store.in_data_dir(data_dir) as store:
        ind = compute_indicators(store, Period.parse("2026-12"), ward_tz="UTC", now=NOW)
    payload = data_value_set(ind, load_mapping(mapping_file, {v.key for v in ind.values}))
    doc = payload.json_payload()
    assert doc["period"] == "202612" and doc["orgUnit"] == ORG_UNIT and doc["dataSet"] == "KmcMonthly1"
    values = {(v["dataElement"], v.get("categoryOptionCombo")): v["value"] for v in doc["dataValues"]}
    assert values[("KmcAdmissn1", None)] == "4"
    assert values[("KmcInitiat1", None)] == "2"
    assert values[("KmcHoursCg1", "CocMother01")] == "117"
    assert values[("KmcHoursCg1", "CocFather01")] == "15"
    assert values[("KmcDschDie1", None)] == "1"
    assert values[("KmcTtiBirth", None)] == "9"
    assert all(v["period"] == "202612" and v["orgUnit"] == ORG_UNIT for v in doc["dataValues"])

    first = push(payload, url, USER, PASSWORD)
    assert first.status == "SUCCESS"
    assert first.importCount.model_dump() == {"imported": 7, "updated": 0, "ignored": 0, "deleted": 0}
    again = push(payload, url, USER, PASSWORD)
    assert again.importCount.imported == 0 and again.importCount.updated == 7
    assert len(state.requests) == 2


def test_wrong_password_is_a_clear_error(tmp_path: Path, data_dir: Path, dhis2: tuple[str, StandIn]) -> None:
    url, state = dhis2
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text(MAPPING)
    from kmc_monitor.service.store import Store

    with Store.in_data_dir(data_dir) as store:
        ind = compute_indicators(store, Period.parse("2026-12"), ward_tz="UTC", now=NOW)
    payload = data_value_set(ind, load_mapping(mapping_file))
    with pytest.raises(Dhis2Error, match="HTTP 401.*user name and password"):
        push(payload, url, USER, "wrong")
    assert state.requests == []


def test_unknown_values_are_not_sent(tmp_path: Path, data_dir: Path) -> None:
    mapping_file = tmp_path / "mapping.json"
    mapping_file.write_text(
        json.dumps(
            {"orgUnit": ORG_UNIT, "dataElements": {"baby_days_ge_8h_pct": {"dataElement": "KmcDose8h01"}}}
        )
    )
    from kmc_monitor.service.store import Store

    with Store.in_data_dir(data_dir) as store:
        october = compute_indicators(store, Period.parse("2026-10"), ward_tz="UTC", now=NOW)
    assert data_value_set(october, load_mapping(mapping_file)).dataValues == []


def test_bad_mapping_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("orgUnit: ok\ndataElements: {admissions: {dataElemnt: X}}\n")
    with pytest.raises(Dhis2Error, match="dataElements.admissions"):
        load_mapping(f)
    f.write_text("orgUnit: ok\ndataElements: {admision: {dataElement: X}}\n")
    with pytest.raises(Dhis2Error, match="unknown indicator.*admision"):
        load_mapping(f, {"admissions"})
    with pytest.raises(Dhis2Error, match="cannot read"):
        load_mapping(tmp_path / "missing.yaml")


def test_cli_prints_and_pushes(
    tmp_path: Path,
    data_dir: Path,
    dhis2: tuple[str, StandIn],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, state = dhis2
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text(MAPPING)
    base = ["indicators", "--data-dir", str(data_dir), "--period", "2026-12", "--as-of", "2027-01-02T09:00Z"]
    assert main([*base, "--format", "csv"]) == 0
    csv_text = capsys.readouterr().out
    assert "2026-12,admissions,4,count," in csv_text
    assert main([*base, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "kmc-indicators/1"
    assert main([*base, "--format", "dhis2"]) == 2  # no mapping
    assert "--mapping" in capsys.readouterr().err
    monkeypatch.setenv("KMC_DHIS2_PASSWORD", PASSWORD)
    code = main(
        [*base, "--format", "dhis2", "--mapping", str(mapping_file), "--push", url, "--dhis2-user", USER]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["period"] == "202612"
    assert "7 imported, 0 updated, 0 ignored, 0 deleted" in err
    assert len(state.stored) == 7
    assert main(["indicators", "--data-dir", str(tmp_path / "nowhere"), "--period", "2026-12"]) == 2
    assert "no ward database" in capsys.readouterr().err
