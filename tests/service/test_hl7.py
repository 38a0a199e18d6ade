"""PCD-01, PCD-04, the watchdog and acknowledgements, each checked by hl7apy against HL7 v2.6."""

from __future__ import annotations

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message

from kmc_monitor.service.alarms import AlarmBoard, WardAlarmKind
from kmc_monitor.service.hl7 import (
    AlarmReport,
    BedObservation,
    EventPhase,
    Hl7Error,
    Identity,
    Patient,
    SessionSummary,
    alarm_report,
    build_ack,
    build_pcd01,
    build_pcd04,
    build_watchdog,
    parse,
    parse_ack,
)
from kmc_monitor.signal.params import US
from kmc_monitor.signal.report import AlarmKind, Priority

T0_US = 1_767_268_800 * US  # 2026-01-01T12:00:00Z
IDENT = Identity(facility="Neonatal ward", receiving_application="ENGINE", receiving_facility="HOSP")
PATIENT = Patient(42, "Baby A", "HN-0042", "B01", "Bed 1", "Neonatal ward")


def obs(**kw: object) -> BedObservation:
    base: dict[str, object] = {
        "at_us": T0_US,
        "wrap_id": "W01",
        "temperature_c": 36.84,
        "band": "normal",
        "judging": "judged",
        "contact": True,
        "session_state": "running",
        "session_s": 1800.0,
        "contact_today_s": 7200.0,
        "rolling_24h_s": 9000.0,
        "battery_pct": 80.0,
    }
    base.update(kw)
    return BedObservation(**base)  # type: ignore[arg-type]


def strict(text: str) -> Message:
    """Parsed by the library itself, strictly, as a receiver would."""
    msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert msg.validate()
    return msg


def segments(text: str, name: str) -> list[list[str]]:
    return [s.split("|") for s in text.split("\r") if s.startswith(name + "|")]


def obx(text: str) -> dict[str, list[str]]:
    """OBX-3's name -> the OBX's fields."""
    return {f[3].split("^")[1]: f for f in segments(text, "OBX")}


def test_pcd01_carries_the_temperature_in_mdc_units_and_the_patient() -> None:
    text = build_pcd01("KMC1", IDENT, PATIENT, obs())
    msg = strict(text)
    assert msg.msh.msh_9.value == "ORU^R01^ORU_R01"
    assert msg.msh.msh_12.value == "2.6"
    (msh,) = segments(text, "MSH")
    assert msh[2:6] == ["KMC_MONITOR", "Neonatal ward", "ENGINE", "HOSP"]
    assert msh[14:16] == ["AL", "NE"] and msh[17] == "UNICODE UTF-8"
    assert msh[20].startswith("IHE_PCD_001^")
    (pid,) = segments(text, "PID")
    assert pid[3] == "HN-0042^^^Neonatal ward^MR~A42^^^KMC_MONITOR^PI"
    assert pid[5] == "Baby A"
    (pv1,) = segments(text, "PV1")
    assert pv1[3] == "Neonatal ward^^Bed 1" and pv1[19].startswith("A42^")
    values = obx(text)
    temp = values["MDC_TEMP_SKIN"]
    assert temp[2] == "NM" and temp[3] == "150388^MDC_TEMP_SKIN^MDC"
    assert (temp[5], temp[6], temp[7], temp[8], temp[11]) == (
        "36.84", "268192^MDC_DIM_DEGC^MDC", "36.5-37.5", "N", "F"
    )  # fmt: skip
    assert temp[18] == "W01^KMC_MONITOR"
    assert values["Skin-to-skin contact"][5] == "Y^Yes^HL70136"
    assert values["Current session"][5:7] == ["1800", "264320^MDC_DIM_SEC^MDC"]
    assert values["Contact today"][5] == "7200"
    assert values["Wrap battery"][5:7] == ["80", "262688^MDC_DIM_PERCENT^MDC"]
    assert "Session duration" not in values


def test_a_temperature_not_judged_is_said_so_never_left_as_normal() -> None:
    text = build_pcd01("KMC2", IDENT, PATIENT, obs(temperature_c=None, band=None, judging="detached"))
    strict(text)
    values = obx(text)
    assert values["MDC_TEMP_SKIN"][5] == "" and values["MDC_TEMP_SKIN"][11] == "X"
    assert values["Temperature not judged"][5] == "detached"


@pytest.mark.parametrize(("band", "flag"), [("cold_stress", "L"), ("severe", "L"), ("hyperthermia", "H")])
def test_abnormal_flag_follows_the_band(band: str, flag: str) -> None:
    text = build_pcd01("KMC3", IDENT, PATIENT, obs(band=band, temperature_c=35.0))
    assert obx(text)["MDC_TEMP_SKIN"][8] == flag


def test_a_finished_session_goes_with_its_summary() -> None:
    ended = SessionSummary(T0_US - 5400 * US, T0_US - 60 * US)
    text = build_pcd01("KMC4", IDENT, PATIENT, obs(session_state="none", session_s=0.0, ended_session=ended))
    strict(text)
    values = obx(text)
    assert values["Session duration"][5] == "5340"
    assert values["Session start"][5] == "20260101103000.000+0000"
    assert values["Session end"][5] == "20260101115900.000+0000"


def test_hostile_names_are_escaped_not_injected() -> None:
    patient = Patient(7, "Baby|B^C\r\nOBX|99", "HN|1~2", "B01", "Bed ^1", "Ward & co")
    text = build_pcd01("KMC5", IDENT, patient, obs())
    strict(text)
    assert len(segments(text, "PID")) == 1 and "OBX|99" not in text
    (pid,) = segments(text, "PID")
    assert pid[5] == "Baby\\F\\B\\S\\C OBX\\F\\99"


def test_pcd04_start_of_a_severe_hypothermia() -> None:
    board = AlarmBoard()
    (raised,) = board.condition_started(
        ("W01", "cold"), AlarmKind.HYPOTHERMIA_SEVERE, "B01", "W01", T0_US, extreme_c=31.4
    )
    assert raised.alarm is not None
    report = alarm_report(raised.alarm, EventPhase.START, raised.at_us, "W01")
    text = build_pcd04("KMC6", IDENT, PATIENT, report)
    msg = strict(text)
    assert msg.msh.msh_9.value == "ORU^R40^ORU_R01"
    assert segments(text, "MSH")[0][20].startswith("IHE_PCD_ACM_001^")
    (obr,) = segments(text, "OBR")
    assert obr[3] == f"alarm-{raised.alarm.alarm_id}^KMC_MONITOR"
    assert obr[4].startswith("196616^MDC_EVT_ALARM")
    values = obx(text)
    event = values["MDC_EVT_ALARM"]
    assert event[5] == "hypothermia_severe^Severe hypothermia^99KMC"
    assert event[8] == "L~PH~SP"  # abnormality, priority, alert type (repetitions)
    assert values["MDC_TEMP_SKIN"][5:7] == ["31.40", "268192^MDC_DIM_DEGC^MDC"]
    assert values["MDC_ATTR_EVENT_PHASE"][5] == "start"
    assert values["MDC_ATTR_ALARM_STATE"][5] == "active"
    assert values["MDC_ATTR_ALARM_INACTIVATION_STATE"][5] == "enabled"
    assert values["MDC_ATTR_ALARM_PRIORITY"][5] == "PH"
    assert values["MDC_ATTR_ALERT_TYPE"][5] == "SP"
    # The facets share the alarm's sub-id and are numbered 1..7 after it (as IHE ACM lays out).
    subs = [f[4] for f in segments(text, "OBX")]
    assert subs == [f"1.1.1.1.{n}" for n in (1, 2, 3, 4, 5, 6, 7)]


def test_acknowledged_then_ended_latched_alarm() -> None:
    board = AlarmBoard()
    (raised,) = board.condition_started(("W01", "cold"), AlarmKind.HYPOTHERMIA_SEVERE, "B01", "W01", T0_US)
    assert raised.alarm is not None
    ended = board.condition_ended(("W01", "cold"), T0_US + 60 * US)
    end = next(e for e in ended if e.action.value == "ended")
    assert end.alarm is not None
    report = alarm_report(end.alarm, EventPhase.END, end.at_us, "W01")
    assert (report.state, report.inactivation) == ("latched", "enabled")  # high: stays until acknowledged
    acked = board.acknowledge(raised.alarm.alarm_id, "nurse-a", T0_US + 90 * US)
    ack_view = acked[0].alarm
    assert ack_view is not None
    report = alarm_report(ack_view, EventPhase.UPDATE, T0_US + 90 * US, "W01")
    assert report.inactivation == "alert-acknowledged"
    strict(build_pcd04("KMC7", IDENT, PATIENT, report))


def test_technical_ward_alarm_has_no_patient_and_names_its_source() -> None:
    kind, phase = WardAlarmKind.STORAGE_FAILURE, EventPhase.START
    report = AlarmReport(9, kind, phase, "active", "enabled", Priority.MEDIUM, T0_US, T0_US, None, None)
    text = build_pcd04("KMC8", IDENT, None, report)
    strict(text)
    assert not segments(text, "PID")
    values = obx(text)
    assert values["MDC_EVT_ALARM"][8] == "PM~ST"
    assert values["MDC_ATTR_ALERT_SOURCE"][5] == "ward^Ward service^99KMC"


def test_watchdog_is_a_valid_r40_that_is_no_alarm() -> None:
    text = build_watchdog("W1", IDENT, T0_US)
    strict(text)
    values = obx(text)
    assert values["MDC_ATTR_ALARM_PRIORITY"][5] == "PN"
    assert values["MDC_ATTR_EVENT_PHASE"][5] == "continue"
    assert values["MDC_ATTR_ALARM_STATE"][5] == "inactive"
    assert not segments(text, "PID")


def test_parse_refuses_what_is_not_hl7() -> None:
    with pytest.raises(Hl7Error):
        parse("hello")
    assert parse(build_watchdog("W2", IDENT, T0_US)).msh.msh_10.value == "W2"


@pytest.mark.parametrize("code", ["AA", "CA", "AE", "AR"])
def test_acknowledgements_round_trip(code: str) -> None:
    message = build_pcd01("KMC9", IDENT, PATIENT, obs())
    ack_text = build_ack(message, code, text="" if code in ("AA", "CA") else "unknown patient")
    strict(ack_text)
    ack = parse_ack(ack_text)
    assert (ack.code, ack.control_id, ack.accepted) == (code, "KMC9", code in ("AA", "CA"))
    if not ack.accepted:
        assert "unknown patient" in ack.text


@pytest.mark.parametrize(
    "answer",
    [
        "not hl7 at all",
        "MSH|^~\\&|E||||20260101||ACK^R01^ACK|1|P|2.6",  # no MSA
        "MSH|^~\\&|E||||20260101||ACK^R01^ACK|1|P|2.6\rMSA|XX|KMC1",  # not an acknowledgement code
    ],
)
def test_an_answer_that_is_no_acknowledgement_is_an_error(answer: str) -> None:
    with pytest.raises(Hl7Error):
        parse_ack(answer)
