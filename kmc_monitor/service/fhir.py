"""One bed's record over a time range as a FHIR R4 ``Bundle`` (type ``collection``).

Pure functions: everything the bundle says is in :class:`FhirInputs` (``export.py`` reads it from the
store); no I/O, no clock. The mapping, the codes and their sources, and the choices below are laid
out in ``docs/fhir.md``; in short:

- each admission on the bed in the range is a ``Patient`` (the hospital number as an ``MR``
  identifier when the nurses entered one; the name as they typed it), and each wrap that delivered a
  reading is a ``Device`` (its ward id, and its Bluetooth address typed ``BTMAC``), typed as the
  Personal Health Device guide types a PHD (``MDC_MOC_VMS_MDS_SIMP``, a thermometer specialization);
- each of the wrap's sensors (skin and ambient thermistors, the contact sensor, the battery gauge)
  is a ``DeviceMetric`` whose ``source`` and ``parent`` are the wrap, as the Point-of-Care Device
  guide describes a device's metrics; a temperature Observation's ``device`` is the skin
  thermistor's DeviceMetric;
- the service that received the wrap's packets is the gateway ``Device`` (the PHD guide's PHG,
  ``MDC_MOC_VMS_MDS_AHD``), named by every temperature Observation's ``observation-gatewayDevice``
  extension; a day's contact Observation's ``device`` is the contact sensor's DeviceMetric;
- temperatures are one ``Observation`` per wrap and minute: the median of the minute's readings.
  Why not one per reading: a wrap measures every few seconds, so a day is tens of thousands of
  readings per baby, which no receiving record wants; clinical charts keep far fewer points (a
  nursing chart records a temperature every few hours, a monitor's trend one value a minute), and
  the median of a minute is what the ward's own chart shows. Readings outside the plausible range,
  or taken while the skin sensor read no warmer than the air by the detachment gap (it was reading
  air), are left out;
- the wrap's thermistor lies on the skin of the baby's trunk: by default the value is that skin
  temperature, coded LOINC 61008-9 "Body surface temperature" with the body site SNOMED CT 86381001
  "Skin structure of trunk". Only when the caller names a core temperature site (:func:`core_site`)
  is it LOINC 8310-5 "Body temperature" (the R4 ``bodytemp`` vital-signs profile's code), valued as
  the rules' core-equivalent temperature (skin plus the stay's site offset);
- skin-to-skin contact is one ``Observation`` per admission and ward day (category ``therapy``):
  the day's contact time in minutes, with a component per session (its period, its contact time,
  whether it was short) plus the day's goal and unknown time. LOINC has no code for this, so the code
  is from the service's own code system;
- each alarm is an R4 ``Flag`` (R4 has no DeviceAlert: that resource exists only in the R6 build),
  with the core ``flag-priority`` extension and a complex extension shaped after DeviceAlert's
  elements (condition, priority, presence, signal activation, acknowledgement).

Identifiers are ``urn:uuid:`` values derived from the bed, the admission, the wrap and the time
(UUID version 5), so exporting the same range twice gives the same resources, which lets a
receiving system recognise what it already has.
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo

from kmc_monitor import __version__
from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.alarm_model import BoardAlarmKind, WardAlarmKind, board_alarm_kind
from kmc_monitor.service.ward import StayDay, StaySession
from kmc_monitor.service.ward_model import Admission, WrapInfo
from kmc_monitor.service.ward_time import day_bounds
from kmc_monitor.signal.params import US, RuleParams
from kmc_monitor.signal.report import AlarmKind, Category

__all__ = [
    "DEFAULT_BASE",
    "LOINC",
    "MDC",
    "SKIN_OF_TRUNK",
    "SNOMED",
    "UCUM",
    "FhirInputs",
    "TemperatureSite",
    "build_bundle",
    "core_site",
    "device_metrics",
    "gateway_device",
]

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/flag-category"
#: R4 core extension for a Flag's priority, with its code system (PN, PL, PM, PH after IHE PCD's
#: alert priorities): http://hl7.org/fhir/R4/extension-flag-priority.html
FLAG_PRIORITY_EXT: Final = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY_CODES: Final = "http://hl7.org/fhir/flag-priority-code"
#: v2 table 0203 identifier types (MR: medical record number).
IDENTIFIER_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
#: Device identifier types of the Personal Health Device IG (BTMAC: Bluetooth MAC address), and the
#: identifier system that IG gives a Bluetooth address (EUI-48, hex pairs joined by dashes):
#: http://hl7.org/fhir/uv/phd/ (CodeSystem ContinuaDeviceIdentifiers).
DEVICE_IDENTIFIER_TYPE: Final = "http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers"
BLUETOOTH_ADDRESS: Final = "http://hl7.org/fhir/sid/eui-48/bluetooth"
#: ISO/IEEE 11073-10101 nomenclature, the system FHIR names "urn:iso:std:iso:11073:10101".
MDC: Final = "urn:iso:std:iso:11073:10101"
#: R4 core extension: the gateway that relayed an Observation from the device that measured it.
GATEWAY_DEVICE_EXT: Final = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
#: Where this service's own code systems and extensions are named. ``example.org`` is reserved for
#: examples (RFC 2606): a hospital that publishes these definitions passes its own base.
DEFAULT_BASE: Final = "https://kmc-monitor.example.org/fhir"

_UUID_NAMESPACE: Final = uuid.UUID("3f6c1b52-6f0e-5a43-9a57-0c0f4d1e2b7a")

#: Displays without the band limits: a hospital may configure other limits than WHO's. One list for
#: every interface that names an alarm in words (FHIR here, HL7 v2 in hl7.py).
ALARM_DISPLAY: Final[Mapping[BoardAlarmKind, str]] = {
    AlarmKind.HYPOTHERMIA_SEVERE: "Severe hypothermia",
    AlarmKind.HYPOTHERMIA_MODERATE: "Moderate hypothermia",
    AlarmKind.COLD_STRESS: "Cold stress",
    AlarmKind.HYPERTHERMIA: "Hyperthermia",
    AlarmKind.COOLING_TREND: "Cooling trend",
    AlarmKind.SENSOR_DETACHED: "Skin sensor detached",
    AlarmKind.NO_DATA: "No data from the wrap",
    AlarmKind.LOW_BATTERY: "Wrap battery low",
    AlarmKind.LOW_DAILY_CONTACT: "Low daily skin-to-skin contact",
    WardAlarmKind.STORAGE_FAILURE: "Ward database cannot be written",
    WardAlarmKind.HL7_LINK_FAILURE: "HL7 interface engine not acknowledging",
}
_ALARM_DISPLAY: Final = ALARM_DISPLAY
#: IEC 60601-1-8 priority -> the flag-priority code system's code and display.
_FLAG_PRIORITY: Final = {
    "high": ("PH", "High priority"),
    "medium": ("PM", "Medium priority"),
    "low": ("PL", "Low priority"),
}


@dataclass(frozen=True, slots=True)
class TemperatureSite:
    """What a temperature Observation says it measured: its LOINC code, the body site, and whether
    the value is the skin temperature as read or the rules' core-equivalent (skin + site offset)."""

    loinc_code: str
    loinc_display: str
    site_code: str
    site_display: str
    core: bool
    #: The R4 profile the Observation claims, if any.
    profile: str | None = None


#: The default: the wrap's skin thermistor on the trunk, a skin-surface reading.
#: LOINC 61008-9 "Body surface temperature" (https://loinc.org/61008-9); SNOMED CT 86381001
#: "Skin structure of trunk (body structure)" (SNOMED CT International Edition; as used, for
#: instance, by the New Zealand terminology service's ValueSet canshare-skin-trunk-topography,
#: defined as descendants of 86381001).
SKIN_OF_TRUNK: Final = TemperatureSite(
    "61008-9", "Body surface temperature", "86381001", "Skin structure of trunk", core=False
)


def core_site(snomed_code: str, display: str) -> TemperatureSite:
    """A core temperature site configured by the hospital (say the axilla, where a ward's site offset
    was calibrated against): LOINC 8310-5 "Body temperature" (https://loinc.org/8310-5, the code of
    FHIR R4's ``bodytemp`` profile), valued as the core-equivalent temperature."""
    return TemperatureSite(
        "8310-5",
        "Body temperature",
        snomed_code,
        display,
        core=True,
        profile="http://hl7.org/fhir/StructureDefinition/bodytemp",
    )


@dataclass(frozen=True, slots=True)
class FhirInputs:
    """What the bundle is made of (read from the store by ``export.py``).

    ``alarms`` are in the shape of ``views.alarm_json`` / ``reports.stored_alarm_json``;
    ``days`` and ``sessions`` are the ward's contact history (``Ward.contact_history``) of the ward
    days the range touches, whole days.
    """

    bed_id: str
    bed_label: str
    ward_tz: str
    start_us: int
    end_us: int
    admissions: Sequence[Admission]
    readings: Sequence[Reading]
    days: Sequence[StayDay]
    sessions: Sequence[StaySession]
    alarms: Sequence[Mapping[str, Any]]
    wraps: Sequence[WrapInfo]
    params: RuleParams = field(default_factory=RuleParams)
    #: The gateway Device's id: the ward service that heard the wraps.
    gateway_id: str = "ward-service"


# Small shapes ----------------------------------------------------------------------------------------
def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)], "text": text or display}


def celsius(value: float) -> dict[str, Any]:
    """A temperature as a UCUM Quantity (``Cel``), to the hundredth of a degree."""
    return {"value": round(value, 2), "unit": "°C", "system": UCUM, "code": "Cel"}


def minutes(seconds: float) -> dict[str, Any]:
    """A duration as a UCUM Quantity in minutes (``min``), to the tenth of a minute."""
    return {"value": round(seconds / 60.0, 1), "unit": "min", "system": UCUM, "code": "min"}


def instant(t_us: int, tz: ZoneInfo) -> str:
    """A FHIR dateTime to the second, in ward time with its UTC offset."""
    return dt.datetime.fromtimestamp(t_us / US, tz).isoformat(timespec="seconds")


def _period(start_us: int, end_us: int | None, tz: ZoneInfo) -> dict[str, str]:
    out = {"start": instant(start_us, tz)}
    if end_us is not None:
        out["end"] = instant(end_us, tz)
    return out


def _urn(*parts: object) -> str:
    return f"urn:uuid:{uuid.uuid5(_UUID_NAMESPACE, '/'.join(str(p) for p in parts))}"


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    # The resource's id is the UUID of its fullUrl: one identity, whichever a receiver keeps.
    return {
        "fullUrl": full_url,
        "resource": {
            "resourceType": resource.pop("resourceType"),
            "id": full_url.removeprefix("urn:uuid:"),
            **resource,
        },
    }


def _stay_of(admissions: Sequence[Admission], t: float) -> Admission | None:
    for a in admissions:
        if a.admitted_t <= t and (a.discharged_t is None or t < a.discharged_t):
            return a
    return None


def _mac_eui48(mac: str) -> str:
    """``54:48:E6:8F:80:A5`` -> ``54-48-E6-8F-80-A5`` (the PHD IG's spelling of an EUI-48)."""
    return mac.replace(":", "-").upper()


# Resources -----------------------------------------------------------------------------------------
def patient(a: Admission, *, identifier_system: str | None = None) -> dict[str, Any]:
    """The baby of one admission. The hospital number, when entered, is an ``MR`` identifier (in the
    hospital's identifier system when the caller names it); the name is the one the nurses typed."""
    out: dict[str, Any] = {"resourceType": "Patient", "active": a.discharged_t is None}
    if a.hospital_number:
        ident: dict[str, Any] = {
            "use": "usual",
            "type": _concept(IDENTIFIER_TYPE, "MR", "Medical record number"),
            "value": a.hospital_number,
        }
        if identifier_system:
            ident["system"] = identifier_system
        out["identifier"] = [ident]
    out["name"] = [{"use": "usual", "text": a.display_name}]
    return out


def device(w: WrapInfo, *, base: str = DEFAULT_BASE) -> dict[str, Any]:
    """A wrap: its ward id and its Bluetooth address (the MAC that signs its advertisements), typed
    as a Personal Health Device (an IEEE 11073-20601 "simple" MDS) that is a thermometer."""
    return {
        "resourceType": "Device",
        "identifier": [
            {"system": f"{base}/wrap-id", "value": w.wrap_id},
            {
                "type": _concept(DEVICE_IDENTIFIER_TYPE, "BTMAC", "Bluetooth MAC address"),
                "system": BLUETOOTH_ADDRESS,
                "value": _mac_eui48(w.mac),
            },
        ],
        "status": "active",
        "deviceName": [{"name": w.wrap_id, "type": "user-friendly-name"}],
        "type": {
            "coding": [_coding(MDC, "65573", "MDC_MOC_VMS_MDS_SIMP")],
            "text": "Kangaroo Mother Care wrap with skin and ambient thermistors",
        },
        "specialization": [
            {"systemType": _concept(MDC, "528392", "MDC_DEV_SPEC_PROFILE_TEMP", "Thermometer")}
        ],
    }


@dataclass(frozen=True, slots=True)
class _Metric:
    key: str
    system: str
    code: str
    display: str
    text: str
    unit: tuple[tuple[str, str, str], ...]


#: The wrap's sensors as DeviceMetrics. Codes from ISO/IEEE 11073-10101 where it has one (skin
#: temperature, battery charge; units MDC_DIM_DEGC / MDC_DIM_PERCENT with their UCUM twins); the
#: ambient thermistor and the skin-contact sensor have none and use the service's own code system.
_METRICS: Final = (
    _Metric("skin-temperature", MDC, "150388", "MDC_TEMP_SKIN", "Skin thermistor (trunk)",
            ((MDC, "268192", "MDC_DIM_DEGC"), (UCUM, "Cel", "°C"))),
    _Metric("ambient-temperature", "", "ambient-temperature", "Ambient temperature next to the wrap",
            "Outer thermistor (air next to the wrap)",
            ((MDC, "268192", "MDC_DIM_DEGC"), (UCUM, "Cel", "°C"))),
    _Metric("skin-contact", "", "skin-contact-level", "Skin-to-skin contact level",
            "Skin-contact sensor", ((MDC, "262688", "MDC_DIM_PERCENT"), (UCUM, "%", "%"))),
    _Metric("battery", MDC, "67996", "MDC_ATTR_VAL_BATT_CHARGE", "Battery gauge",
            ((MDC, "262688", "MDC_DIM_PERCENT"), (UCUM, "%", "%"))),
)  # fmt: skip
SKIN_METRIC: Final = "skin-temperature"
CONTACT_METRIC: Final = "skin-contact"


def device_metrics(
    w: WrapInfo, device_ref: str, *, base: str = DEFAULT_BASE
) -> list[tuple[str, dict[str, Any]]]:
    """``(key, DeviceMetric)`` for each of the wrap's sensors; ``source`` and ``parent`` the wrap."""
    out = []
    for m in _METRICS:
        system = m.system or f"{base}/CodeSystem/kmc"
        out.append(
            (
                m.key,
                {
                    "resourceType": "DeviceMetric",
                    "identifier": [{"system": f"{base}/device-metric", "value": f"{w.wrap_id}/{m.key}"}],
                    "type": _concept(system, m.code, m.display, m.text),
                    "unit": {"coding": [_coding(s, c, d) for s, c, d in m.unit]},
                    "source": {"reference": device_ref},
                    "parent": {"reference": device_ref},
                    "operationalStatus": "on",
                    "category": "measurement",
                },
            )
        )
    return out


def gateway_device(gateway_id: str, *, base: str = DEFAULT_BASE) -> dict[str, Any]:
    """The ward service as the gateway the wraps' packets reach the hospital through: the Personal
    Health Device guide's PHG (an "application hosting device", MDC_MOC_VMS_MDS_AHD)."""
    return {
        "resourceType": "Device",
        "identifier": [{"system": f"{base}/gateway-id", "value": gateway_id}],
        "status": "active",
        "manufacturer": "kmc-monitor",
        "deviceName": [{"name": f"kmc-monitor {gateway_id}", "type": "user-friendly-name"}],
        "type": {
            "coding": [_coding(MDC, "531981", "MDC_MOC_VMS_MDS_AHD")],
            "text": "Ward service receiving the wraps' Bluetooth packets (gateway)",
        },
        "version": [{"value": __version__}],
    }


@dataclass(slots=True)
class _Minute:
    temps: list[float] = field(default_factory=list)
    readings: int = 0


def minute_temperatures(
    readings: Sequence[Reading],
    admissions: Sequence[Admission],
    params: RuleParams,
    *,
    core: bool,
    bin_s: int = 60,
) -> dict[tuple[int, str, int], tuple[float, int]]:
    """``(admission_id, wrap_id, minute_start_us) -> (median °C, readings used)`` for every minute of
    the epoch with at least one usable reading of an admitted baby.

    Usable: a plausible skin temperature, and not one the detachment rule calls air (skin less than
    ``params.detach_gap_c`` above ambient, where both are known). ``core`` adds the stay's site offset.
    """
    bins: dict[tuple[int, str, int], _Minute] = {}
    bin_us = bin_s * US
    for r in readings:
        skin = r.skin_temp_c
        if skin is None or not params.plausible_min_c <= skin <= params.plausible_max_c:
            continue
        if r.ambient_temp_c is not None and skin - r.ambient_temp_c < params.detach_gap_c:
            continue
        stay = _stay_of(admissions, r.t)
        if stay is None:
            continue
        t_us = round(r.t * US)
        key = (stay.admission_id, r.wrap_id, t_us - t_us % bin_us)
        b = bins.setdefault(key, _Minute())
        b.temps.append(skin + (stay.site_offset_c if core else 0.0))
        b.readings += 1
    return {k: (statistics.median(b.temps), b.readings) for k, b in sorted(bins.items())}


def temperature_observation(
    *,
    median_c: float,
    used: int,
    start_us: int,
    end_us: int,
    patient_ref: str,
    device_ref: str | None,
    site: TemperatureSite,
    tz: ZoneInfo,
    gateway_ref: str | None = None,
) -> dict[str, Any]:
    """One minute's temperature (see the module docstring for the code and the value).

    ``device_ref`` is the sensor that measured it (the skin thermistor's DeviceMetric),
    ``gateway_ref`` the gateway Device that relayed it."""
    out: dict[str, Any] = {"resourceType": "Observation"}
    if gateway_ref is not None:
        out["extension"] = [{"url": GATEWAY_DEVICE_EXT, "valueReference": {"reference": gateway_ref}}]
    if site.profile:
        out["meta"] = {"profile": [site.profile]}
    out |= {
        "status": "final",
        "category": [_concept(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
        "code": _concept(LOINC, site.loinc_code, site.loinc_display),
        "subject": {"reference": patient_ref},
        "effectivePeriod": _period(start_us, end_us, tz),
        "valueQuantity": celsius(median_c),
        "bodySite": _concept(SNOMED, site.site_code, site.site_display),
        "method": {
            "text": f"median of {used} wrap thermistor reading{'s' if used != 1 else ''} in the minute"
            + (" plus the stay's site offset (core-equivalent)" if site.core else "")
        },
    }
    if device_ref is not None:
        out["device"] = {"reference": device_ref}
    return out


def contact_observation(
    day: StayDay,
    sessions: Sequence[StaySession],
    *,
    patient_ref: str,
    day_start_us: int,
    day_end_us: int,
    tz: ZoneInfo,
    base: str = DEFAULT_BASE,
    device_ref: str | None = None,
) -> dict[str, Any]:
    """One admission's skin-to-skin contact on one ward day, with a component per session
    (``device_ref``: the contact sensor's DeviceMetric, when one wrap measured the whole day).

    ``status`` is ``preliminary`` while the day is still running (its total still grows).
    """
    codes = f"{base}/CodeSystem/kmc"
    components: list[dict[str, Any]] = [
        {
            "code": _concept(codes, "daily-contact-goal", "Daily skin-to-skin contact goal"),
            "valueQuantity": minutes(day.daily_goal_s),
        },
        {
            "code": _concept(codes, "unknown-duration", "Time with no data from the wrap"),
            "valueQuantity": minutes(day.unknown_s),
        },
    ]
    for s in sessions:
        components.append(
            {
                "extension": [
                    {
                        "url": f"{base}/StructureDefinition/session-contact-duration",
                        "valueQuantity": minutes(s.contact_us / US),
                    },
                    {"url": f"{base}/StructureDefinition/session-short", "valueBoolean": s.short},
                ],
                "code": _concept(codes, "skin-to-skin-session", "Skin-to-skin contact session"),
                "valuePeriod": _period(s.start_us, s.end_us, tz),
            }
        )
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "preliminary" if day.ongoing else "final",
        "category": [_concept(OBSERVATION_CATEGORY, "therapy", "Therapy")],
        "code": _concept(
            codes,
            "skin-to-skin-contact-duration",
            "Skin-to-skin contact duration in the ward day",
            "Kangaroo Mother Care: skin-to-skin contact time in the ward day",
        ),
        "subject": {"reference": patient_ref},
        "effectivePeriod": _period(day_start_us, day_end_us, tz),
        "valueQuantity": minutes(day.contact_s),
        "component": components,
    }
    if device_ref is not None:
        out["device"] = {"reference": device_ref}
    return out


def alarm_flag(
    alarm: Mapping[str, Any],
    *,
    patient_ref: str,
    device_ref: str | None,
    tz: ZoneInfo,
    base: str = DEFAULT_BASE,
) -> dict[str, Any]:
    """One alarm as an R4 ``Flag`` shaped after the R6 DeviceAlert draft (see ``docs/fhir.md``).

    ``status`` is ``active`` while the alarm is on the ward screen (condition present, or latched
    until acknowledged), ``inactive`` once it has gone; ``period`` runs from the raise to the end of
    the condition.
    """
    kind_text = str(alarm["kind"])
    try:
        kind: BoardAlarmKind | None = board_alarm_kind(kind_text)
    except ValueError:
        kind = None
    display = _ALARM_DISPLAY.get(kind, kind_text) if kind is not None else kind_text
    condition = _concept(f"{base}/CodeSystem/kmc-alarm", kind_text, display)
    category = None if kind is None else kind.category
    priority = alarm.get("priority")
    state = alarm.get("state")
    present = alarm.get("ended_us") is None
    shown = state in ("active", "acknowledged", "latched") or (state is None and present)
    acknowledged = alarm.get("acknowledged_us") is not None
    audible = shown and not acknowledged
    categories = []
    if category is not None:
        if category is not Category.TECHNICAL:
            categories.append(_concept(FLAG_CATEGORY, "clinical", "Clinical"))
        categories.append(
            _concept(
                f"{base}/CodeSystem/kmc-alarm-category",
                category.value,
                f"{category.value.capitalize()} alarm (IEC 60601-1-8)",
            )
        )
    alert: list[dict[str, Any]] = [
        {"url": "condition", "valueCodeableConcept": condition},
        {"url": "presence", "valueBoolean": present},
        {"url": "activationState", "valueCode": "on" if audible else "off"},
        {"url": "acknowledged", "valueBoolean": acknowledged},
    ]
    if priority in _FLAG_PRIORITY:
        alert.insert(1, {"url": "priority", "valueCode": priority})
    if acknowledged:
        alert.append({"url": "acknowledgedTime", "valueDateTime": instant(int(alarm["acknowledged_us"]), tz)})
        if alarm.get("acknowledged_by"):
            alert.append(
                {
                    "url": "acknowledgedBy",
                    "valueReference": {
                        "identifier": {"system": f"{base}/staff-id", "value": str(alarm["acknowledged_by"])},
                        "display": str(alarm["acknowledged_by"]),
                    },
                }
            )
    if alarm.get("escalated_us") is not None:
        alert.append({"url": "escalatedTime", "valueDateTime": instant(int(alarm["escalated_us"]), tz)})
    if alarm.get("extreme_c") is not None:
        alert.append({"url": "extremeValue", "valueQuantity": celsius(float(alarm["extreme_c"]))})
    extensions: list[dict[str, Any]] = []
    if priority in _FLAG_PRIORITY:
        code, text = _FLAG_PRIORITY[priority]
        extensions.append(
            {"url": FLAG_PRIORITY_EXT, "valueCodeableConcept": _concept(FLAG_PRIORITY_CODES, code, text)}
        )
    extensions.append({"url": f"{base}/StructureDefinition/device-alert", "extension": alert})
    out: dict[str, Any] = {
        "resourceType": "Flag",
        "identifier": [{"system": f"{base}/alarm-id", "value": str(alarm["alarm_id"])}],
        "extension": extensions,
        "status": "active" if shown else "inactive",
    }
    if categories:
        out["category"] = categories
    out |= {
        "code": condition,
        "subject": {"reference": patient_ref},
        "period": _period(int(alarm["raised_us"]), alarm.get("ended_us"), tz),
    }
    if device_ref is not None:
        out["author"] = {"reference": device_ref}
    return out


# The bundle ----------------------------------------------------------------------------------------
def build_bundle(
    inputs: FhirInputs,
    *,
    generated_us: int,
    site: TemperatureSite = SKIN_OF_TRUNK,
    base: str = DEFAULT_BASE,
    patient_identifier_system: str | None = None,
) -> dict[str, Any]:
    """The bed's range as a FHIR R4 ``collection`` Bundle (JSON-ready dict).

    Resources in order: Patients, the gateway Device, each wrap's Device and its sensors'
    DeviceMetrics, then per admission its temperature Observations (by minute), its daily contact
    Observations and its alarm Flags. What happened outside any admission
    (a wrap on an empty bed) describes no patient and is left out.
    """
    tz = ZoneInfo(inputs.ward_tz)
    bed = inputs.bed_id
    entries: list[dict[str, Any]] = []
    patients: dict[int, str] = {}
    for a in inputs.admissions:
        patients[a.admission_id] = _urn("patient", bed, a.admission_id)
        entries.append(
            _entry(patients[a.admission_id], patient(a, identifier_system=patient_identifier_system))
        )
    # The gateway is there when wraps are: it relayed what they measured.
    gateway = _urn("gateway", inputs.gateway_id) if inputs.wraps else None
    if gateway is not None:
        entries.append(_entry(gateway, gateway_device(inputs.gateway_id, base=base)))
    devices: dict[str, str] = {}
    skin_metrics: dict[str, str] = {}
    contact_metrics: dict[str, str] = {}
    for w in sorted(inputs.wraps, key=lambda w: w.wrap_id):
        devices[w.wrap_id] = _urn("device", w.wrap_id, w.mac)
        entries.append(_entry(devices[w.wrap_id], device(w, base=base)))
        for key, metric in device_metrics(w, devices[w.wrap_id], base=base):
            url = _urn("device-metric", w.wrap_id, w.mac, key)
            if key == SKIN_METRIC:
                skin_metrics[w.wrap_id] = url
            elif key == CONTACT_METRIC:
                contact_metrics[w.wrap_id] = url
            entries.append(_entry(url, metric))

    minutes_of = minute_temperatures(inputs.readings, inputs.admissions, inputs.params, core=site.core)
    for (admission_id, wrap_id, start_us), (median_c, used) in minutes_of.items():
        lo, hi = max(start_us, inputs.start_us), min(start_us + 60 * US, inputs.end_us)
        obs = temperature_observation(
            median_c=median_c,
            used=used,
            start_us=lo,
            end_us=hi,
            patient_ref=patients[admission_id],
            device_ref=skin_metrics.get(wrap_id),
            site=site,
            tz=tz,
            gateway_ref=gateway,
        )
        entries.append(
            _entry(_urn("temperature", bed, admission_id, wrap_id, start_us, site.loinc_code), obs)
        )

    for d in inputs.days:
        if d.admission_id not in patients:
            continue
        day_start_t, day_end_t = day_bounds(d.day, inputs.ward_tz)
        start_us, end_us = round(day_start_t * US), round(day_end_t * US)
        sessions = [
            s for s in inputs.sessions if s.admission_id == d.admission_id and start_us <= s.start_us < end_us
        ]
        wraps_of_day = {s.wrap_id for s in sessions}
        only = next(iter(wraps_of_day)) if len(wraps_of_day) == 1 else None
        obs = contact_observation(
            d,
            sessions,
            patient_ref=patients[d.admission_id],
            day_start_us=start_us,
            day_end_us=end_us,
            tz=tz,
            base=base,
            device_ref=None if only is None else contact_metrics.get(only),
        )
        entries.append(_entry(_urn("contact", bed, d.admission_id, d.day.isoformat()), obs))

    for alarm in inputs.alarms:
        raised = alarm.get("raised_us")
        if raised is None:
            continue
        stay = _stay_of(inputs.admissions, int(raised) / US)
        if stay is None:
            continue
        flag = alarm_flag(
            alarm,
            patient_ref=patients[stay.admission_id],
            device_ref=devices.get(str(alarm.get("wrap_id"))),
            tz=tz,
            base=base,
        )
        entries.append(_entry(_urn("alarm", bed, alarm["alarm_id"], raised), flag))

    return {
        "resourceType": "Bundle",
        "id": _urn("bundle", bed, inputs.start_us, inputs.end_us, generated_us).removeprefix("urn:uuid:"),
        "meta": {
            "tag": [
                {
                    "system": f"{base}/export",
                    "code": "bed-export",
                    "display": f"bed {bed} ({inputs.bed_label})",
                }
            ]
        },
        "identifier": {"system": f"{base}/export", "value": f"{bed}/{inputs.start_us}/{inputs.end_us}"},
        "type": "collection",
        "timestamp": instant(generated_us, tz),
        "entry": entries,
    }
