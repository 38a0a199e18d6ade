"""The FHIR export's builder: a bed's range in a real SQLite store turned into a Bundle, checked
against values worked out by hand (codes, units, periods in ward time, sessions as components, alarms
as Flags), and every resource validated twice: with SMART's ``fhirclient`` models of FHIR R4 (4.0.1),
strict, and with ``fhir.resources``.

``fhir.resources`` (8.x) models FHIR R4B, not R4: R4B changed only resources this export does not use
(the medication definition and evidence modules, subscriptions), so Patient, Device, Observation,
Flag and Bundle are the same. The library checks structure, cardinality (a missing ``status`` or
``subject``) and data types, not required value-set bindings or the units: :func:`check_bundle`
adds those for what this export writes, and the last tests show each check failing on a broken
bundle.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhirclient.models.bundle import Bundle as R4Bundle
from fhirclient.models.fhirabstractbase import FHIRValidationError
from pydantic import ValidationError

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.alarms import AlarmBoard
from kmc_monitor.service.export import fhir_inputs, load_export_inputs, parse_range
from kmc_monitor.service.fhir import SKIN_OF_TRUNK, FhirInputs, build_bundle, core_site
from kmc_monitor.service.reports import alarm_entries
from kmc_monitor.service.store import Store
from kmc_monitor.service.ward import Ward
from kmc_monitor.service.ward_model import AdmissionDetails, GestationalAge
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.signal.report import AlarmKind

#: 2026-01-01 10:00 UTC = 13:00 in Nairobi (UTC+3, no DST): ward time shows in every instant.
T0 = 1767261600.0
TZ = "Africa/Nairobi"
PARAMS = RuleParams(ward_tz=TZ)
MAC = "54:48:e6:8f:80:a5"
#: Minute 0's skin temperatures: median 36.25 (between 36.2 and 36.3).
MINUTE0_SKIN = [36.0, 36.1, 36.2, 36.3, 36.4, 36.5]

pytestmark = pytest.mark.timeout(60)


def readings() -> list[Reading]:
    """30 min every 10 s from T0 (k = 0..179), and one reading before the admission.

    - minute 0 (k 0-5): skin 36.0-36.5, ambient 26: median 36.25;
    - minute 2 (k 12-17): ambient 35.5 against skin 36.2: the sensor reads air (gap < 2 °C), so
      minute 2 has no temperature Observation;
    - k 21-23: contact 0.3 (a 30 s break the session bridges);
    - T0-1800: the wrap on the bed before the admission: in no Observation.
    """
    out = [Reading(T0 - 1800, "W1", 35.0, 25.0, 0.0, 90.0)]
    for k in range(180):
        skin = MINUTE0_SKIN[k] if k < 6 else 36.2
        ambient = 35.5 if 12 <= k <= 17 else 26.0
        contact = 0.3 if 21 <= k <= 23 else 1.0
        out.append(Reading(T0 + 10 * k, "W1", skin, ambient, contact, 90.0))
    return out


@pytest.fixture
def ward(tmp_path: Path) -> Iterator[Ward]:
    with Store(tmp_path / "ward.sqlite3") as store:
        w = Ward(store, base_url="http://localhost:8000")
        w.add_bed("1", "Bed 1", position=1, now=T0 - 86400)
        store.add_wrap("W1", MAC, None, now=T0 - 86400)
        w.assign_wrap("W1", "1", now=T0 - 7200, who="nurse")
        details = AdmissionDetails(
            "Baby A",
            1650,
            GestationalAge(32, 4),
            hospital_number="HN-0042",
            daily_goal_s=7200,
            site_offset_c=0.5,
        )
        w.admit("1", details, now=T0 - 60, who="nurse")
        store.append_readings(readings())
        board = AlarmBoard()
        key = ("W1", "cold_stress", round((T0 + 200) * US))
        board.condition_started(key, AlarmKind.COLD_STRESS, "1", "W1", round((T0 + 200) * US), extreme_c=35.9)
        (alarm,) = board.visible(round((T0 + 200) * US))
        board.acknowledge(alarm.alarm_id, "staff-1a2b3c4d", round((T0 + 260) * US))
        board.condition_ended(key, round((T0 + 400) * US))
        store.save_alarm_board(board.snapshot(), board.drain_audit(), now=T0 + 1800)
        yield w


def inputs_of(ward: Ward, now: float = T0 + 1800, board: AlarmBoard | None = None) -> FhirInputs:
    rng = parse_range("2026-01-01", "2026-01-01", TZ, round(now * US))
    loaded, wraps = load_export_inputs(ward, PARAMS, "1", rng, now=now)
    return fhir_inputs(loaded, alarm_entries(loaded, board, round(now * US)), wraps, PARAMS)


def bundle_of(ward: Ward, **kw: Any) -> dict[str, Any]:
    return build_bundle(inputs_of(ward), generated_us=round((T0 + 1800) * US), **kw)


def of_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def temperatures(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        r for r in of_type(bundle, "Observation") if r["category"][0]["coding"][0]["code"] == "vital-signs"
    ]


# Validation ------------------------------------------------------------------------------------
#: Required bindings of the elements this export writes (R4), which the library does not check.
REQUIRED_CODES = {
    ("Observation", "status"): {
        "registered", "preliminary", "final", "amended", "corrected", "cancelled",
        "entered-in-error", "unknown",
    },
    ("Flag", "status"): {"active", "inactive", "entered-in-error"},
    ("Device", "status"): {"active", "inactive", "entered-in-error", "unknown"},
}  # fmt: skip
UCUM = "http://unitsofmeasure.org"


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def check_bundle(bundle: dict[str, Any]) -> None:
    """Raise (ValidationError or AssertionError) unless the bundle is a valid R4 collection of what
    the export promises: every resource parses with its ``fhir.resources`` model, required codes are
    from their value sets, every Quantity with a code is UCUM, temperatures are in ``Cel`` and
    durations in ``min``, extensions have a value or sub-extensions (ext-1), fullUrls are unique
    (bdl-7) and every reference points at an entry of the bundle."""
    Bundle.model_validate(bundle)
    # And against the R4 (4.0.1) models themselves: SMART's fhirclient, strict (a missing required
    # element, an unknown element or a wrong type raises FHIRValidationError).
    R4Bundle(copy.deepcopy(bundle), strict=True)
    assert bundle["type"] == "collection"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls)), "bdl-7: fullUrl must be unique"
    for entry in bundle["entry"]:
        res = entry["resource"]
        kind = res["resourceType"]
        get_fhir_model_class(kind).model_validate(res)
        for (rtype, element), allowed in REQUIRED_CODES.items():
            if kind == rtype:
                assert res.get(element) in allowed, f"{kind}.{element} = {res.get(element)!r}"
        for path, node in _walk(res):
            if "reference" in node:
                assert node["reference"] in urls, f"{kind}{path}: dangling reference {node['reference']}"
            if path.endswith("Quantity") or path.endswith("valueQuantity"):
                assert node.get("system") == UCUM, f"{kind}{path}: not UCUM"
            if re.search(r"\.extension\[\d+\]$", path):
                values = [k for k in node if k.startswith("value")]
                assert (len(values) == 1) != bool(node.get("extension")), f"ext-1 at {kind}{path}"
        if kind == "Observation" and res["category"][0]["coding"][0]["code"] == "vital-signs":
            assert res["valueQuantity"]["code"] == "Cel", "a temperature must be in UCUM Cel"
        if kind == "Observation" and res["category"][0]["coding"][0]["code"] == "therapy":
            assert res["valueQuantity"]["code"] == "min", "a duration must be in UCUM min"


def test_every_resource_validates(ward: Ward) -> None:
    bundle = bundle_of(ward)
    check_bundle(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    # 1 baby, 1 wrap and the gateway, the wrap's 4 sensors, 29 minutes with a temperature (30 minus
    # the detached one), 1 day, 1 alarm.
    assert (kinds.count("Patient"), kinds.count("Device"), kinds.count("Flag")) == (1, 2, 1)
    assert kinds.count("DeviceMetric") == 4
    assert len(temperatures(bundle)) == 29
    assert kinds.count("Observation") == 30


def test_core_site_bundle_validates_too(ward: Ward) -> None:
    check_bundle(bundle_of(ward, site=core_site("91470000", "Axillary region structure")))


# Temperatures ----------------------------------------------------------------------------------
def test_temperature_observation_by_hand(ward: Ward) -> None:
    bundle = bundle_of(ward)
    (patient_url,) = [e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    entries = [(e["fullUrl"], e["resource"]) for e in bundle["entry"]]
    (skin_url,) = [u for u, r in entries if r.get("type", {}).get("coding", [{}])[0].get("code") == "150388"]
    (gateway_url,) = [
        u for u, r in entries if r.get("identifier", [{}])[0].get("system", "").endswith("gateway-id")
    ]
    first = temperatures(bundle)[0]
    assert first["status"] == "final"
    assert first["code"]["coding"] == [
        {"system": "http://loinc.org", "code": "61008-9", "display": "Body surface temperature"}
    ]
    assert first["bodySite"]["coding"] == [
        {"system": "http://snomed.info/sct", "code": "86381001", "display": "Skin structure of trunk"}
    ]
    assert first["category"][0]["coding"][0]["system"] == (
        "http://terminology.hl7.org/CodeSystem/observation-category"
    )
    # The skin as read (no site offset for a skin-surface reading), median of the minute.
    assert first["valueQuantity"] == {"value": 36.25, "unit": "°C", "system": UCUM, "code": "Cel"}
    assert first["effectivePeriod"] == {
        "start": "2026-01-01T13:00:00+03:00",
        "end": "2026-01-01T13:01:00+03:00",
    }
    assert first["subject"] == {"reference": patient_url}
    # The sensor that measured it (PoCD: Observation.device is the DeviceMetric), and the gateway
    # that relayed it (PHD: the observation-gatewayDevice extension).
    assert first["device"] == {"reference": skin_url}
    assert first["extension"] == [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice",
            "valueReference": {"reference": gateway_url},
        }
    ]
    assert first["method"]["text"].startswith("median of 6 ")
    assert "meta" not in first  # no R4 profile claimed for 61008-9


def test_detached_and_unadmitted_readings_make_no_observation(ward: Ward) -> None:
    starts = [o["effectivePeriod"]["start"] for o in temperatures(bundle_of(ward))]
    assert "2026-01-01T13:02:00+03:00" not in starts  # minute 2: the sensor read air
    assert "2026-01-01T13:01:00+03:00" in starts and "2026-01-01T13:03:00+03:00" in starts
    assert all(s >= "2026-01-01T13:00:00+03:00" for s in starts)  # not the reading before admission


def test_core_site_is_8310_5_with_the_site_offset(ward: Ward) -> None:
    site = core_site("91470000", "Axillary region structure")
    first = temperatures(bundle_of(ward, site=site))[0]
    assert first["code"]["coding"][0]["code"] == "8310-5"
    assert first["meta"] == {"profile": ["http://hl7.org/fhir/StructureDefinition/bodytemp"]}
    assert first["valueQuantity"]["value"] == 36.75  # 36.25 + the stay's 0.5 °C offset
    assert first["bodySite"]["coding"][0]["code"] == "91470000"
    assert SKIN_OF_TRUNK.core is False and site.core is True


# Contact ---------------------------------------------------------------------------------------
def contact_of(bundle: dict[str, Any]) -> dict[str, Any]:
    (obs,) = [r for r in of_type(bundle, "Observation") if r["category"][0]["coding"][0]["code"] == "therapy"]
    return obs


def test_daily_contact_observation_by_hand(ward: Ward) -> None:
    obs = contact_of(bundle_of(ward))
    assert obs["status"] == "preliminary"  # made at 13:30: the ward day is still running
    assert obs["code"]["coding"][0]["code"] == "skin-to-skin-contact-duration"
    # 1760 s of contact (1790 s observed minus the 30 s break) = 29.3 min.
    assert obs["valueQuantity"] == {"value": 29.3, "unit": "min", "system": UCUM, "code": "min"}
    assert obs["effectivePeriod"] == {
        "start": "2026-01-01T00:00:00+03:00",
        "end": "2026-01-02T00:00:00+03:00",
    }
    by_code: dict[str, list[dict[str, Any]]] = {}
    for c in obs["component"]:
        by_code.setdefault(c["code"]["coding"][0]["code"], []).append(c)
    assert by_code["daily-contact-goal"][0]["valueQuantity"]["value"] == 120.0
    (session,) = by_code["skin-to-skin-session"]  # the 30 s break is bridged: one session
    assert session["valuePeriod"] == {
        "start": "2026-01-01T13:00:00+03:00",
        "end": "2026-01-01T13:29:50+03:00",
    }
    ext = {e["url"].rsplit("/", 1)[-1]: e for e in session["extension"]}
    assert ext["session-contact-duration"]["valueQuantity"]["value"] == 29.3
    assert ext["session-short"]["valueBoolean"] is True


def test_a_finished_day_is_final(ward: Ward) -> None:
    later = T0 + 86400
    bundle = build_bundle(inputs_of(ward, now=later), generated_us=round(later * US))
    assert contact_of(bundle)["status"] == "final"
    check_bundle(bundle)


# Alarms ----------------------------------------------------------------------------------------
def alert_of(flag: dict[str, Any]) -> dict[str, Any]:
    (ext,) = [e for e in flag["extension"] if e["url"].endswith("/device-alert")]
    return {e["url"]: e for e in ext["extension"]}


def test_stored_alarm_as_flag(ward: Ward) -> None:
    bundle = bundle_of(ward)
    (flag,) = of_type(bundle, "Flag")
    assert flag["status"] == "inactive"  # ended and acknowledged: gone from the screen
    assert flag["code"]["coding"][0]["code"] == "cold_stress"
    assert flag["period"] == {"start": "2026-01-01T13:03:20+03:00", "end": "2026-01-01T13:06:40+03:00"}
    (priority,) = [
        e for e in flag["extension"] if e["url"] == "http://hl7.org/fhir/StructureDefinition/flag-priority"
    ]
    assert priority["valueCodeableConcept"]["coding"][0]["code"] == "PL"
    alert = alert_of(flag)
    assert alert["priority"]["valueCode"] == "low"
    assert alert["presence"]["valueBoolean"] is False
    assert alert["acknowledged"]["valueBoolean"] is True
    assert alert["acknowledgedTime"]["valueDateTime"] == "2026-01-01T13:04:20+03:00"
    assert alert["acknowledgedBy"]["valueReference"]["identifier"]["value"] == "staff-1a2b3c4d"
    assert alert["activationState"]["valueCode"] == "off"
    assert alert["extremeValue"]["valueQuantity"] == {
        "value": 35.9,
        "unit": "°C",
        "system": UCUM,
        "code": "Cel",
    }
    assert [c["coding"][0]["code"] for c in flag["category"]] == ["clinical", "physiological"]


def test_live_high_alarm_is_active_and_sounding(ward: Ward) -> None:
    board = AlarmBoard()
    t = round((T0 + 600) * US)
    board.condition_started(("W1", "severe", t), AlarmKind.HYPOTHERMIA_SEVERE, "1", "W1", t, extreme_c=31.4)
    bundle = build_bundle(inputs_of(ward, board=board), generated_us=round((T0 + 1800) * US))
    check_bundle(bundle)
    (flag,) = [f for f in of_type(bundle, "Flag") if f["code"]["coding"][0]["code"] == "hypothermia_severe"]
    assert flag["status"] == "active" and "end" not in flag["period"]
    alert = alert_of(flag)
    assert (alert["priority"]["valueCode"], alert["presence"]["valueBoolean"]) == ("high", True)
    assert alert["activationState"]["valueCode"] == "on"
    assert alert["acknowledged"]["valueBoolean"] is False and "acknowledgedTime" not in alert


# Patient and device ----------------------------------------------------------------------------
def test_patient_and_device_identifiers(ward: Ward) -> None:
    bundle = bundle_of(ward, patient_identifier_system="urn:oid:1.2.3.4")
    (patient,) = of_type(bundle, "Patient")
    (ident,) = patient["identifier"]
    assert (ident["value"], ident["system"], ident["type"]["coding"][0]["code"]) == (
        "HN-0042",
        "urn:oid:1.2.3.4",
        "MR",
    )
    assert patient["name"] == [{"use": "usual", "text": "Baby A"}]
    (device,) = [d for d in of_type(bundle, "Device") if "wrap-id" in d["identifier"][0]["system"]]
    mac = next(
        i for i in device["identifier"] if i.get("type", {}).get("coding", [{}])[0].get("code") == "BTMAC"
    )
    assert mac["value"] == "54-48-E6-8F-80-A5"


def test_wrap_sensors_and_gateway_follow_the_phd_and_pocd_guides(ward: Ward) -> None:
    bundle = bundle_of(ward)
    mdc = "urn:iso:std:iso:11073:10101"
    urls = {id(e["resource"]): e["fullUrl"] for e in bundle["entry"]}
    devices = of_type(bundle, "Device")
    (wrap,) = [d for d in devices if "wrap-id" in d["identifier"][0]["system"]]
    (gateway,) = [d for d in devices if d is not wrap]
    # The wrap: a PHD (11073-20601 simple MDS) that is a thermometer; the gateway: the PHG.
    assert wrap["type"]["coding"] == [{"system": mdc, "code": "65573", "display": "MDC_MOC_VMS_MDS_SIMP"}]
    assert wrap["specialization"][0]["systemType"]["coding"][0]["code"] == "528392"
    assert gateway["type"]["coding"][0]["code"] == "531981"
    assert gateway["version"][0]["value"]
    metrics = of_type(bundle, "DeviceMetric")
    kinds = {m["identifier"][0]["value"].split("/", 1)[1] for m in metrics}
    assert kinds == {"skin-temperature", "ambient-temperature", "skin-contact", "battery"}
    for m in metrics:
        assert m["source"] == m["parent"] == {"reference": urls[id(wrap)]}
        assert (m["category"], m["operationalStatus"]) == ("measurement", "on")
    (skin,) = [m for m in metrics if m["type"]["coding"][0]["code"] == "150388"]
    assert {(c["system"], c["code"]) for c in skin["unit"]["coding"]} == {
        (mdc, "268192"),
        ("http://unitsofmeasure.org", "Cel"),
    }
    # The day's contact came from the wrap's contact sensor.
    (contact_metric,) = [m for m in metrics if m["identifier"][0]["value"].endswith("/skin-contact")]
    (day,) = [o for o in of_type(bundle, "Observation") if o["category"][0]["coding"][0]["code"] == "therapy"]
    assert day["device"] == {"reference": urls[id(contact_metric)]}


def test_same_range_same_resources(ward: Ward) -> None:
    """UUID v5 ids: a second export of the range names every resource the same."""
    a, b = bundle_of(ward), bundle_of(ward)
    assert [e["fullUrl"] for e in a["entry"]] == [e["fullUrl"] for e in b["entry"]]


def test_nothing_for_a_range_without_a_stay(ward: Ward) -> None:
    rng = parse_range("2025-12-01", "2025-12-02", TZ, round(T0 * US))
    loaded, wraps = load_export_inputs(ward, PARAMS, "1", rng, now=T0)
    bundle = build_bundle(fhir_inputs(loaded, [], wraps, PARAMS), generated_us=round(T0 * US))
    assert bundle["entry"] == []
    check_bundle(bundle)


# The checks can fail ---------------------------------------------------------------------------
def broken(bundle: dict[str, Any], kind: str, change: Any) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    res = next(e["resource"] for e in out["entry"] if e["resource"]["resourceType"] == kind)
    change(res)
    return out


@pytest.mark.parametrize(
    ("kind", "change", "error"),
    [
        ("Observation", lambda r: r["valueQuantity"].update(code="degC"), AssertionError),
        ("Observation", lambda r: r["valueQuantity"].pop("system"), AssertionError),
        ("Observation", lambda r: r.pop("status"), ValidationError),
        ("Observation", lambda r: r.update(status="done"), AssertionError),
        ("Observation", lambda r: r["valueQuantity"].update(value="warm"), ValidationError),
        ("Flag", lambda r: r.pop("subject"), ValidationError),
        ("Flag", lambda r: r.pop("code"), ValidationError),
        ("Flag", lambda r: r.update(status="sounding"), AssertionError),
        ("Patient", lambda r: r.update(nickname="x"), ValidationError),
        ("Device", lambda r: r["identifier"][0].update(value=7), ValidationError),
        ("Flag", lambda r: r["subject"].update(reference="urn:uuid:00000000-0000-0000-0000-000000000000"),
         AssertionError),
    ],
)  # fmt: skip
def test_check_fails_on_a_broken_bundle(ward: Ward, kind: str, change: Any, error: type[Exception]) -> None:
    bundle = bundle_of(ward)
    check_bundle(bundle)
    with pytest.raises(error):
        check_bundle(broken(bundle, kind, change))


def test_parse_range_in_ward_time() -> None:
    rng = parse_range("2026-01-01", "2026-01-02", TZ, 0)
    assert (rng.first_day, rng.last_day) == (dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    assert rng.start_us == round((T0 - 13 * 3600) * US)  # Nairobi midnight = 21:00 UTC the day before
    assert rng.end_us - rng.start_us == 2 * 86400 * US
    naive = parse_range("2026-01-01T13:00", "2026-01-01T13:30:00+03:00", TZ, 0)
    assert (naive.start_us, naive.end_us) == (round(T0 * US), round((T0 + 1800) * US))


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("Observation", lambda r: r.pop("status")),  # required in R4
        ("Observation", lambda r: r.update(valueTemperature=36.5)),  # no such element
        ("Flag", lambda r: r.pop("code")),
        ("Device", lambda r: r["identifier"][0].update(value=7)),  # a string in R4
    ],
)
def test_the_r4_models_refuse_a_broken_bundle(ward: Ward, kind: str, change: Any) -> None:
    bundle = bundle_of(ward)
    R4Bundle(copy.deepcopy(bundle), strict=True)
    with pytest.raises(FHIRValidationError):
        R4Bundle(broken(bundle, kind, change), strict=True)
