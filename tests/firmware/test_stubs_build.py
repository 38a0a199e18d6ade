"""The C firmware stubs (firmware_stubs/): their unit tests pass, and their test vectors are well formed.

``stub_vectors()`` is the bridge to the Python decoders: it builds ``firmware_stubs/build/kmc_vectors``
with make, runs it and returns the JSON lines it prints (see firmware_stubs/PROTOCOL.md, section 6).
Decoder tests import it from here. No skip: a missing compiler or mbedTLS is a failure with a
message saying what to install (``make test`` at the repository root installs them when run as root).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "firmware_stubs"
VECTORS_BIN = STUBS / "build" / "kmc_vectors"
INSTALL_HINT = (
    "run `make test` at the repository root as root (it installs gcc, make and libmbedtls-dev), "
    "or `apt-get install gcc make libmbedtls-dev`"
)

BTHOME_FIELDS = {
    "kind", "mac", "key", "counter", "packet_id", "skin_temp_c", "ambient_temp_c",
    "contact_level", "contact", "battery_pct", "hex",
}  # fmt: skip
HTS_FIELDS = {
    "kind", "temperature_c", "fahrenheit", "timestamp", "temperature_type", "mantissa", "exponent", "hex",
}  # fmt: skip
CONTACT_FIELDS = {"kind", "contact_level", "contact", "ambient_temp_c", "counter", "hex"}
FLOAT_FIELDS = {"kind", "value", "special", "mantissa", "exponent", "hex"}
FIELDS = {"bthome": BTHOME_FIELDS, "hts": HTS_FIELDS, "contact": CONTACT_FIELDS, "float": FLOAT_FIELDS}

HEX = re.compile(r"^(?:[0-9a-f]{2})+$")
MAC = re.compile(r"^[0-9A-F]{2}(?::[0-9A-F]{2}){5}$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def _make(target: str) -> subprocess.CompletedProcess[str]:
    """Run ``make -C firmware_stubs TARGET``; fail (never skip) when the toolchain is missing."""
    cc = os.environ.get("CC", "cc")
    missing = [tool for tool in ("make", cc) if shutil.which(tool) is None]
    if missing:
        tools = " and ".join(missing)
        pytest.fail(f"firmware stubs need {tools}, not found on PATH: {INSTALL_HINT}", pytrace=False)
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(STUBS), target],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        hint = f"\n({INSTALL_HINT})" if "not found" in proc.stderr or "No such file" in proc.stderr else ""
        output = f"{proc.stdout}\n{proc.stderr}"
        what = f"`make -C firmware_stubs {target}` exited {proc.returncode}"
        pytest.fail(f"{what}:\n{output}{hint}", pytrace=False)
    return proc


@functools.lru_cache(maxsize=1)
def _vector_text() -> str:
    _make("vectors")
    proc = subprocess.run([str(VECTORS_BIN)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        pytest.fail(f"{VECTORS_BIN} exited {proc.returncode}: {proc.stderr}", pytrace=False)
    return proc.stdout


def stub_vectors() -> list[dict[str, Any]]:
    """The C stubs' test vectors, one dict per JSON line, in the order printed (a fresh list each call).

    Kinds: ``bthome`` (service data hex from the device-info byte on), ``hts`` (Temperature
    Measurement value), ``contact`` (KMC contact characteristic value), ``float`` (IEEE-11073 FLOAT).
    """
    return [json.loads(line) for line in _vector_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def kmc_stub_vectors() -> list[dict[str, Any]]:
    """Fixture form of :func:`stub_vectors`."""
    return stub_vectors()


def test_c_unit_tests_pass() -> None:
    proc = _make("test")
    assert re.search(r"^\d+ passed, 0 failed$", proc.stdout, re.M), proc.stdout


def test_vectors_are_deterministic() -> None:
    _vector_text()
    again = subprocess.run([str(VECTORS_BIN)], capture_output=True, text=True, timeout=60, check=True)
    assert again.stdout == _vector_text()


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _is_uint(x: object, hi: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= hi


def _check_bthome(v: dict[str, Any]) -> None:
    assert MAC.match(v["mac"])
    assert v["key"] is None or re.fullmatch(r"[0-9a-f]{32}", v["key"])
    assert _is_uint(v["counter"], 0xFFFFFFFF) and _is_uint(v["packet_id"], 255)
    assert _is_number(v["skin_temp_c"]) and _is_number(v["ambient_temp_c"])
    assert _is_uint(v["contact_level"], 100) and v["contact"] in (0, 1) and _is_uint(v["battery_pct"], 100)
    data = bytes.fromhex(v["hex"])
    if v["key"] is None:
        # Plain: the whole layout can be checked without crypto (PROTOCOL.md section 2.2).
        skin, ambient = round(v["skin_temp_c"] * 100), round(v["ambient_temp_c"] * 100)
        want = struct.pack(
            "<BBBBBBhBhBBBB", 0x40, 0x00, v["packet_id"], 0x01, v["battery_pct"], 0x02, skin, 0x02, ambient,
            0x09, v["contact_level"], 0x25, v["contact"],
        )  # fmt: skip
        assert data == want, v
    else:
        assert len(data) == 23 and data[0] == 0x41, v
        assert int.from_bytes(data[-8:-4], "little") == v["counter"], v


def _check_hts(v: dict[str, Any]) -> None:
    assert _is_number(v["temperature_c"]) and isinstance(v["fahrenheit"], bool)
    assert v["timestamp"] is None or ISO.match(v["timestamp"])
    assert v["temperature_type"] is None or _is_uint(v["temperature_type"], 9)
    data = bytes.fromhex(v["hex"])
    flags = data[0]
    assert flags & 0x01 == int(v["fahrenheit"])
    assert bool(flags & 0x02) == (v["timestamp"] is not None)
    assert bool(flags & 0x04) == (v["temperature_type"] is not None)
    assert len(data) == 5 + 7 * bool(flags & 0x02) + bool(flags & 0x04)
    raw = int.from_bytes(data[1:5], "little")
    mantissa = (raw & 0xFFFFFF) - ((raw & 0x800000) << 1)
    assert (mantissa, struct.unpack("b", data[4:5])[0]) == (v["mantissa"], v["exponent"])


def _check_contact(v: dict[str, Any]) -> None:
    level, contact, ambient, counter = struct.unpack("<BBhI", bytes.fromhex(v["hex"]))
    assert (level, contact, counter) == (v["contact_level"], v["contact"], v["counter"])
    assert _is_uint(level, 100) and contact in (0, 1)
    if v["ambient_temp_c"] is None:
        assert ambient == -0x8000
    else:
        assert _is_number(v["ambient_temp_c"]) and ambient == round(v["ambient_temp_c"] * 100)


def _check_float(v: dict[str, Any]) -> None:
    assert len(v["hex"]) == 8
    assert (v["value"] is None) == (v["special"] is not None)
    assert v["special"] in (None, "nan", "nres", "+inf", "-inf", "reserved")


def test_vectors_are_well_formed(kmc_stub_vectors: list[dict[str, Any]]) -> None:
    vectors = kmc_stub_vectors
    assert len(vectors) >= 200
    checks = {"bthome": _check_bthome, "hts": _check_hts, "contact": _check_contact, "float": _check_float}
    for v in vectors:
        assert v.get("kind") in FIELDS, v
        assert set(v) == FIELDS[v["kind"]], v
        assert isinstance(v["hex"], str) and HEX.match(v["hex"]), v
        checks[v["kind"]](v)

    by_kind = {k: [v for v in vectors if v["kind"] == k] for k in FIELDS}
    bthome, hts, contact = by_kind["bthome"], by_kind["hts"], by_kind["contact"]
    assert all(by_kind.values())
    # The edges the decoders must see.
    assert any(v["skin_temp_c"] < 0 for v in bthome) and any(v["ambient_temp_c"] < 0 for v in bthome)
    assert {0, 100} <= {v["contact_level"] for v in bthome} and {0, 100} <= {v["battery_pct"] for v in bthome}
    assert {None} < {v["key"] for v in bthome}
    encrypted_counters = {v["counter"] for v in bthome if v["key"] is not None}
    assert {0, 0xFFFFFFFF} <= encrypted_counters
    assert any(v["mac"] == "A4:C1:38:8D:18:B9" for v in bthome)
    assert {True, False} == {v["fahrenheit"] for v in hts}
    assert any(v["timestamp"] is None for v in hts) and any(v["timestamp"] for v in hts)
    assert any(v["temperature_type"] is None for v in hts) and any(v["temperature_type"] for v in hts)
    assert any(v["temperature_c"] < 0 for v in hts)
    assert hts[0]["hex"] == "06b00e00fedc070c050b321b04"  # Nordic's golden Temperature Measurement
    assert {0, 0xFFFFFFFF} <= {v["counter"] for v in contact}
    assert any(v["ambient_temp_c"] is None for v in contact)
    # Per wrap, encrypted counters strictly increase in file order (a gateway replays them in order).
    last: dict[str, int] = {}
    for v in bthome:
        if v["key"] is not None:
            assert v["counter"] > last.get(v["mac"], -1), v
            last[v["mac"]] = v["counter"]
