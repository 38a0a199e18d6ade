"""``kmc-monitor decode``, run as a real process: one JSON object per input, in order, never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

KMC = shutil.which("kmc-monitor", path=str(Path(sys.executable).parent)) or "kmc-monitor"
KEY = "231d39c1d7cc1ab1aee224cd096db932"
MAC = "54:48:E6:8F:80:A5"
# bthome-ble tests/test_parser_v2.py test_bindkey_correct: 25.06 degC, 50.55 % (key and MAC above).
ENCRYPTED = "41a47266c95f730011223378237214"
PLAIN_TWO_TEMPERATURES = "4002ca0902cf09"  # bthome-ble test_bthome_double_temperature: 25.06, 25.11
NORDIC_HTS = "06B00E00FEDC070C050B321B04"  # 37.60 degC, 2012-12-05 11:50:27, finger


def decode(*args: str, stdin: str | bytes | None = None) -> tuple[int, list[dict[str, Any]], str]:
    proc = subprocess.run(
        [KMC, "decode", *args],
        input=stdin.encode() if isinstance(stdin, str) else stdin,
        capture_output=True,
        timeout=60,
    )
    stderr = proc.stderr.decode()
    assert "Traceback" not in stderr, stderr
    lines = proc.stdout.decode().splitlines()
    return proc.returncode, [json.loads(line) for line in lines], stderr


def test_plain_bthome() -> None:
    code, (doc,), _ = decode(PLAIN_TWO_TEMPERATURES)
    assert code == 0
    assert doc["skin_temp_c"] == 25.06 and doc["ambient_temp_c"] == 25.11
    assert doc["temperatures_c"] == [25.06, 25.11] and doc["encrypted"] is False
    assert [o["id"] for o in doc["objects"]] == ["0x02", "0x02"]


def test_encrypted_bthome_with_key_and_mac() -> None:
    code, (doc,), _ = decode("--key", KEY, "--mac", MAC, ENCRYPTED)
    assert code == 0
    assert doc["skin_temp_c"] == 25.06 and doc["encrypted"] is True and doc["counter"] == 0x33221100
    assert {"id": "0x03", "name": "humidity", "value": 50.55, "unit": "%"} in doc["objects"]


def test_hts_golden_and_its_truncation() -> None:
    code, docs, _ = decode("--kind", "hts", NORDIC_HTS, NORDIC_HTS[:-2])
    assert code == 1
    assert docs[0]["temperature_c"] == 37.6
    assert docs[0]["timestamp"] == "2012-12-05T11:50:27"
    assert (docs[0]["temperature_type"], docs[0]["temperature_site"]) == (4, "finger")
    assert set(docs[1]) == {"error"} and "cut off" in docs[1]["error"]


def test_fahrenheit_is_reported_in_celsius() -> None:
    code, (doc,), _ = decode("--kind", "hts", "01 6E 03 00 FF")  # 878 x 10^-1 = 87.8 degF = 31 degC
    assert code == 0 and doc["fahrenheit"] is True and doc["temperature_c"] == 31.0


def test_hts_nan_is_null_with_its_reason() -> None:
    code, (doc,), _ = decode("--kind", "hts", "00ffff7f00")
    assert code == 0 and doc["temperature_c"] is None and doc["special"] == "nan"


def test_every_bad_input_gets_an_error_object_in_order() -> None:
    inputs = [
        PLAIN_TWO_TEMPERATURES,
        "",  # empty
        "4",  # odd length
        "zz",  # not hex
        "40fe01",  # unknown object
        "4002ca",  # truncated
        ENCRYPTED,  # encrypted, no key given
        "0x40 02 ca 09",  # spaces and prefix are fine
    ]
    code, docs, _ = decode(*inputs)
    assert code == 1
    assert len(docs) == len(inputs)
    assert "error" not in docs[0] and "error" not in docs[-1]
    for doc, word in zip(docs[1:-1], ["empty", "odd", "hex", "0xfe", "cut off", "key"], strict=True):
        assert set(doc) == {"error"} and word in doc["error"], doc


def test_wrong_key_is_an_error_not_a_reading() -> None:
    code, (doc,), _ = decode("--key", "814aac74c4f17b6c1581e1ab87816b99", "--mac", MAC, ENCRYPTED)
    assert code == 1 and "integrity" in doc["error"]


@pytest.mark.parametrize(("option", "value"), [("--key", "abc"), ("--mac", "54:48")])
def test_badly_written_key_or_mac_is_reported_per_input(option: str, value: str) -> None:
    code, docs, _ = decode(option, value, PLAIN_TWO_TEMPERATURES, ENCRYPTED)
    assert code == 1 and len(docs) == 2 and all(set(d) == {"error"} for d in docs)


def test_stdin_one_per_line() -> None:
    stdin = f"{PLAIN_TWO_TEMPERATURES}\n\n{ENCRYPTED}\n4002ca\n"
    code, docs, _ = decode("--key", KEY, "--mac", MAC, "-", stdin=stdin)
    assert code == 1
    assert [("error" in d) for d in docs] == [False, False, True]
    assert docs[1]["skin_temp_c"] == 25.06


def test_stdin_that_is_not_text_is_an_error_not_a_traceback() -> None:
    code, (doc,), _ = decode("-", stdin=b"\xff\xfe\x00\n")
    assert code == 1 and "hex" in doc["error"]


def test_all_good_exits_zero() -> None:
    code, docs, _ = decode("-", stdin=f"{PLAIN_TWO_TEMPERATURES}\n{PLAIN_TWO_TEMPERATURES}\n")
    assert code == 0 and len(docs) == 2


def test_options_for_the_other_kind_are_a_usage_error() -> None:
    code, docs, stderr = decode("--kind", "hts", "--key", KEY, NORDIC_HTS)
    assert code == 2 and docs == [] and "--key" in stderr
