"""The DHIS2 payload and its push, against a local stand-in DHIS2 (http.server on loopback) that
checks Basic authentication and the shape of a data value set, and answers with import counts."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kmc_monitor.cli import main
from kmc_monitor.programme.dhis2 import Dhis2Error, data_value_set, load_mapping, push
from kmc_monitor.programme.indicators import Period, compute_indicators
from tests.programme.month import NOW, build_month

USER, PASSWORD = "kmc-reporter", "s3cret-Pass"
ORG_UNIT = "DiszpKrYNg8"
_UID = re.compile(r"^[A-Za-z0-9]{11}$")

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


class StandIn:
    """What the stand-in received, and the data values it holds (to tell imported from updated)."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str, str, str], str] = {}
        self.requests: list[dict[str, Any]] = []


def _check_set(doc: Any) -> list[str]:
    """The conflicts a DHIS2 server would report for this document's shape (empty: valid)."""
    problems = []
    if not isinstance(doc, dict) or not isinstance(doc.get("dataValues"), list):
        return ["not a data value set: no dataValues list"]
    for i, v in enumerate(doc["dataValues"]):
        if not isinstance(v, dict):
            problems.append(f"dataValues[{i}] is not an object")
            continue
        for key in ("dataElement", "period", "orgUnit"):
            if not isinstance(v.get(key, doc.get(key)), str):
                problems.append(f"dataValues[{i}] has no {key}")
        if not _UID.match(str(v.get("dataElement", ""))):
            problems.append(f"dataValues[{i}]: dataElement is not a UID")
        if "categoryOptionCombo" in v and not _UID.match(str(v["categoryOptionCombo"])):
            problems.append(f"dataValues[{i}]: categoryOptionCombo is not a UID")
        if not re.fullmatch(r"\d{6}", str(v.get("period", ""))):
            problems.append(f"dataValues[{i}]: period is not yyyyMM")
        if not isinstance(v.get("value"), str):
            problems.append(f"dataValues[{i}]: value is not a string")
    return problems


@pytest.fixture
def dhis2() -> Iterator[tuple[str, StandIn]]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._answer(401, {"httpStatus": "Unauthorized", "httpStatusCode": 401})
                return
            if self.path != "/api/dataValueSets" or self.headers.get("Content-Type") != "application/json":
                self._answer(404, {"httpStatusCode": 404})
                return
            doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(doc)
            problems = _check_set(doc)
            if problems:
                self._answer(409, {"httpStatusCode": 409, "status": "ERROR", "message": "; ".join(problems)})
                return
            imported = updated = 0
            for v in doc["dataValues"]:
                key = (v["dataElement"], v["period"], v["orgUnit"], v.get("categoryOptionCombo", "default"))
                if key in state.stored:
                    updated += 1
                else:
                    imported += 1
                state.stored[key] = v["value"]
            summary = {
                "responseType": "ImportSummary",
                "status": "SUCCESS",
                "importCount": {"imported": imported, "updated": updated, "ignored": 0, "deleted": 0},
                "conflicts": [],
            }
            self._answer(
                200, {"httpStatus": "OK", "httpStatusCode": 200, "status": "OK", "response": summary}
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


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
