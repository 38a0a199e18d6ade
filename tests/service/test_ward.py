"""The ward: admissions, discharges, wraps on beds, family links and their QR codes."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno

from kmc_monitor.service.config import Settings
from kmc_monitor.service.store import Store, family_links
from kmc_monitor.service.ward import (
    FAMILY_TOKEN_BYTES,
    Ward,
    family_link_url,
    hash_family_token,
    new_family_token,
    qr_png,
    qr_svg,
    token_matches,
)
from kmc_monitor.service.ward_model import (
    AdmissionDetails,
    AlreadyDischargedError,
    BedOccupiedError,
    GestationalAge,
    InvalidAdmissionError,
    NotFoundError,
    WardConflictError,
    WardError,
    WrapInUseError,
)

T0 = 1_750_000_000.0
MACS = ["54:48:E6:8F:80:A5", "54:48:E6:8F:80:A6", "54:48:E6:8F:80:A7"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "ward.sqlite3") as s:
        yield s


@pytest.fixture
def ward(store: Store) -> Ward:
    w = Ward(store, base_url="https://kmc.example.org/")
    for bed in ("1", "2", "3"):
        w.add_bed(bed, f"Bed {bed}", position=int(bed), now=T0)
    for i, mac in enumerate(MACS, start=1):
        store.add_wrap(f"W{i}", mac, bytes(range(16)) if i == 1 else None, now=T0)
    return w


def baby(name: str = "Baby Amani", number: str | None = None) -> AdmissionDetails:
    return AdmissionDetails(name, 1650, GestationalAge(32, 4), hospital_number=number)


# Admission and discharge -----------------------------------------------------------------------
def test_admit_stores_everything_and_uses_ward_defaults(ward: Ward) -> None:
    details = AdmissionDetails(
        "  Baby Amani ", 1650, GestationalAge.parse("32+4"), hospital_number="H-1001", site_offset_c=0.4
    )
    admission, link = ward.admit("1", details, now=T0 + 10, who="nurse Wanjiru")
    assert admission.display_name == "Baby Amani"
    assert admission.gestational_age == GestationalAge(32, 4)
    assert admission.daily_goal_s == 20 * 3600  # the ward's default
    assert admission.site_offset_c == 0.4
    assert admission.admitted_by == "nurse Wanjiru" and admission.current
    assert ward.admission(admission.admission_id) == admission
    assert [b.admission for b in ward.overview()] == [admission, None, None]
    assert link.admission_id == admission.admission_id

    own_goal = AdmissionDetails("Baby B", 2100, GestationalAge(35), daily_goal_s=16 * 3600)
    assert ward.admit("2", own_goal, now=T0, who="n")[0].daily_goal_s == 16 * 3600


def test_admitting_to_an_occupied_bed_is_refused(ward: Ward, store: Store) -> None:
    ward.admit("1", baby("Baby Amani"), now=T0, who="n")
    with pytest.raises(BedOccupiedError, match=r"bed 1 is occupied by Baby Amani .*discharge first"):
        ward.admit("1", baby("Baby Baraka"), now=T0 + 1, who="n")
    assert [a.display_name for a in store.current_admissions()] == ["Baby Amani"]
    with pytest.raises(NotFoundError, match="no bed '9'"):
        ward.admit("9", baby(), now=T0, who="n")


def test_same_hospital_number_cannot_be_admitted_twice(ward: Ward) -> None:
    ward.admit("1", baby("Twin A", "H-7"), now=T0, who="n")
    with pytest.raises(WardConflictError, match="hospital number H-7 is already admitted at bed 1"):
        ward.admit("2", baby("Twin A again", "H-7"), now=T0, who="n")
    ward.admit("2", baby("Twin B", "H-8"), now=T0, who="n")


def test_hospital_number_policy(store: Store) -> None:
    settings = Settings.load(require_hospital_number=True, public_url="https://kmc.example.org")
    ward = Ward.from_settings(store, settings)
    ward.add_bed("1", now=T0)
    with pytest.raises(InvalidAdmissionError, match="requires the baby's hospital number"):
        ward.admit("1", baby(), now=T0, who="n")
    _, link = ward.admit("1", baby(number="H-1"), now=T0, who="n")
    assert link.url.startswith("https://kmc.example.org/family#")


def test_discharge_frees_bed_wrap_and_link_and_twice_is_refused(ward: Ward, store: Store) -> None:
    admission, link = ward.admit("1", baby(), now=T0, who="n")
    ward.assign_wrap("W1", "1", now=T0 + 1, who="n")
    done = ward.discharge(admission.admission_id, now=T0 + 3600, who="dr Otieno")
    assert (done.discharged_t, done.discharged_by, done.current) == (T0 + 3600, "dr Otieno", False)
    assert store.current_assignments() == {}  # the wrap goes for cleaning
    assert ward.admission_for_family_token(link.token) is None
    assert ward.past_admissions() == [done]
    assert ward.current_admissions() == []
    with pytest.raises(AlreadyDischargedError, match=r"already discharged at .* by dr Otieno"):
        ward.discharge(admission.admission_id, now=T0 + 3700, who="n")
    with pytest.raises(NotFoundError):
        ward.discharge(999, now=T0, who="n")
    # The bed takes the next baby.
    ward.admit("1", baby("Baby Next"), now=T0 + 7200, who="n")


def test_past_admissions_by_time(ward: Ward) -> None:
    for i, bed in enumerate(("1", "2", "3")):
        a, _ = ward.admit(bed, baby(f"Baby {i}"), now=T0 + i * 86400, who="n")
        ward.discharge(a.admission_id, now=T0 + i * 86400 + 3600, who="n")
    names = [a.display_name for a in ward.past_admissions(since_t=T0 + 86400)]
    assert names == ["Baby 2", "Baby 1"]
    assert [a.display_name for a in ward.past_admissions(until_t=T0 + 1)] == ["Baby 0"]
    assert len(ward.past_admissions(limit=1)) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"birth_weight_g": 1.8}, "entered in kilograms"),
        ({"birth_weight_g": 9000}, "200 to 7000 g"),
        ({"display_name": "   "}, "display name"),
        ({"daily_goal_s": 30 * 3600}, "between 1 and 24 h"),
        ({"site_offset_c": 5.0}, "site offset"),
        ({"hospital_number": "x" * 40}, "hospital number"),
    ],
)
def test_invalid_details(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "display_name": "Baby",
        "birth_weight_g": 1500,
        "gestational_age": GestationalAge(30),
    }
    with pytest.raises(InvalidAdmissionError, match=message):
        AdmissionDetails(**{**fields, **kwargs})  # type: ignore[arg-type]


def test_gestational_age() -> None:
    assert GestationalAge.parse("32+4") == GestationalAge(32, 4)
    assert GestationalAge.parse("34w2d") == GestationalAge(34, 2)
    assert GestationalAge.parse("36") == GestationalAge(36, 0)
    assert GestationalAge.from_days(GestationalAge(29, 6).total_days) == GestationalAge(29, 6)
    assert str(GestationalAge(32, 4)) == "32+4"
    for bad in ("32+7", "3 weeks", "12+0"):
        with pytest.raises(InvalidAdmissionError):
            GestationalAge.parse(bad)


def test_actions_need_a_name(ward: Ward) -> None:
    with pytest.raises(WardError, match="name of the member of staff"):
        ward.admit("1", baby(), now=T0, who=" ")


# Wraps on beds ---------------------------------------------------------------------------------
def test_assign_and_conflicts(ward: Ward, store: Store) -> None:
    ward.assign_wrap("W1", "1", now=T0, who="n")
    ward.assign_wrap("W1", "1", now=T0 + 5, who="n")  # already there: nothing to do
    with pytest.raises(WrapInUseError, match="wrap W1 is on bed 1: take it off there first, or swap"):
        ward.assign_wrap("W1", "2", now=T0, who="n")
    with pytest.raises(WrapInUseError, match="bed 1 already has wrap W1"):
        ward.assign_wrap("W2", "1", now=T0, who="n")
    with pytest.raises(NotFoundError, match="no wrap 'W9'"):
        ward.assign_wrap("W9", "1", now=T0, who="n")
    with pytest.raises(NotFoundError, match="no bed"):
        ward.assign_wrap("W2", "9", now=T0, who="n")
    ward.assign_wrap("W2", "1", now=T0 + 10, who="n", replace=True)  # a spare for a broken wrap
    assert store.current_assignments() == {"W2": "1"}
    assert {w.wrap_id: w.bed_id for w in ward.wraps()} == {"W1": None, "W2": "1", "W3": None}
    assert ward.unassign_wrap("W2", now=T0 + 20, who="n") is True
    assert ward.unassign_wrap("W2", now=T0 + 21, who="n") is False


def test_swap_and_move(ward: Ward, store: Store) -> None:
    ward.assign_wrap("W1", "1", now=T0, who="n")
    ward.assign_wrap("W2", "2", now=T0, who="n")
    ward.swap_wraps("1", "2", now=T0 + 60, who="n")
    assert store.current_assignments() == {"W1": "2", "W2": "1"}
    ward.swap_wraps("2", "3", now=T0 + 120, who="n")  # bed 3 had none: W1 moves
    assert store.current_assignments() == {"W1": "3", "W2": "1"}
    ward.add_bed("4", now=T0, position=4)
    with pytest.raises(WardConflictError, match="neither bed 2 nor bed 4 has a wrap"):
        ward.swap_wraps("2", "4", now=T0, who="n")
    with pytest.raises(WardError, match="two different beds"):
        ward.swap_wraps("1", "1", now=T0, who="n")
    assert [b.wrap_id for b in ward.overview()] == ["W2", None, "W1", None]


def test_wraps_never_show_their_key(ward: Ward) -> None:
    info = {w.wrap_id: w for w in ward.wraps()}
    assert info["W1"].has_key and not info["W2"].has_key
    assert bytes(range(16)).hex() not in repr(ward.wraps())


# Family links ----------------------------------------------------------------------------------
def test_tokens_are_long_random_and_urlsafe() -> None:
    tokens = {new_family_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) == FAMILY_TOKEN_BYTES >= 16  # >= 128 bits
        assert len(token) >= 22 and set(token) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
    assert len(new_family_token(16)) == 22
    with pytest.raises(ValueError, match="128 bits"):
        new_family_token(15)


def test_only_the_hash_is_stored(ward: Ward, store: Store) -> None:
    _, link = ward.admit("1", baby(), now=T0, who="n")
    assert link.url == f"https://kmc.example.org/family#{link.token}"  # fragment: not sent to servers
    assert link.token not in repr(link) and "family#" not in repr(link)
    store.close()
    raw = b"".join(p.read_bytes() for p in store.path.parent.iterdir())
    assert link.token.encode() not in raw  # not in the database, its WAL or its shared memory
    with sqlite3.connect(store.path) as db:
        (digest,) = db.execute("SELECT token_sha256 FROM family_links").fetchone()
    assert digest == hashlib.sha256(link.token.encode()).digest() == hash_family_token(link.token)
    assert token_matches(link.token, digest) and not token_matches(link.token + "x", digest)


def test_token_validation_and_immediate_revocation(
    ward: Ward, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    admission, link = ward.admit("1", baby(), now=T0, who="n")
    compared: list[bytes] = []
    real = family_links.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real(a, b)

    monkeypatch.setattr(family_links.hmac, "compare_digest", spy)
    assert ward.admission_for_family_token(link.token) == admission
    assert compared, "the stored hash must be compared in constant time"
    assert ward.admission_for_family_token(link.token[:-1] + ("A" if link.token[-1] != "A" else "B")) is None
    assert ward.admission_for_family_token("") is None
    assert ward.admission_for_family_token("x" * 10_000) is None

    assert ward.revoke_family_link(admission.admission_id, now=T0 + 60, who="n") is True
    assert ward.admission_for_family_token(link.token) is None  # at once, no cache
    assert ward.revoke_family_link(admission.admission_id, now=T0 + 61, who="n") is False

    renewed = ward.renew_family_link(admission.admission_id, now=T0 + 120, who="n")
    assert renewed.token != link.token
    assert ward.admission_for_family_token(renewed.token) == admission
    assert ward.admission_for_family_token(link.token) is None  # revoked stays revoked
    again = ward.renew_family_link(admission.admission_id, now=T0 + 180, who="n")
    assert ward.admission_for_family_token(renewed.token) is None
    assert ward.admission_for_family_token(again.token) == admission

    ward.discharge(admission.admission_id, now=T0 + 240, who="n")
    assert ward.admission_for_family_token(again.token) is None
    with pytest.raises(AlreadyDischargedError):
        ward.renew_family_link(admission.admission_id, now=T0 + 300, who="n")


def test_revocation_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    with Store(path) as s:
        ward = Ward(s, base_url="http://localhost:8000")
        ward.add_bed("1", now=T0)
        admission, link = ward.admit("1", baby(), now=T0, who="n")
        ward.revoke_family_link(admission.admission_id, now=T0 + 1, who="n")
    with Store(path) as s:
        assert Ward(s, base_url="http://localhost:8000").admission_for_family_token(link.token) is None


# QR codes --------------------------------------------------------------------------------------
def _png_pixels(data: bytes) -> tuple[int, int, list[list[int]]]:
    """A minimal PNG reader for segno's output (greyscale or palette, 1 bit, no interlace)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        assert zlib.crc32(kind + body) == crc
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, _colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 1 and interlace == 0
    raw = zlib.decompress(idat)
    stride = (width + 7) // 8
    rows, prev = [], bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        ftype, cur = line[0], bytearray(line[1:])
        for i in range(stride):  # filters for 1-byte "pixels" (bpp rounds up to 1)
            a = cur[i - 1] if i else 0
            b, c = prev[i], prev[i - 1] if i else 0
            if ftype == 1:
                cur[i] = (cur[i] + a) & 0xFF
            elif ftype == 2:
                cur[i] = (cur[i] + b) & 0xFF
            elif ftype == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append([(cur[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
        prev = cur
    return width, height, rows


def test_qr_png_holds_the_link(ward: Ward) -> None:
    _, link = ward.admit("1", baby(), now=T0, who="n")
    png = link.qr_png(scale=4)
    width, height, rows = _png_pixels(png)
    matrix = segno.make(link.url, error="m", micro=False).matrix
    size = len(matrix)
    assert width == height == (size + 8) * 4  # 4-module quiet zone each side
    # Every module of the code the link makes is in the image (dark = 0 in a greyscale PNG,
    # whatever the encoding of the colour: compare against the corner, which is light).
    light = rows[0][0]
    for y, line in enumerate(matrix):
        for x, dark in enumerate(line):
            assert (rows[(y + 4) * 4 + 1][(x + 4) * 4 + 1] != light) == bool(dark)
    assert qr_png(link.url) == link.qr_png()


def test_qr_svg_is_xml(ward: Ward) -> None:
    _, link = ward.admit("1", baby(), now=T0, who="n")
    svg = link.qr_svg(scale=5)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    size = (len(segno.make(link.url, error="m", micro=False).matrix) + 8) * 5
    assert float(root.attrib["width"]) == float(root.attrib["height"]) == size
    assert root.find("{http://www.w3.org/2000/svg}path") is not None
    assert qr_svg(link.url, scale=5) == svg


def test_family_link_url() -> None:
    assert family_link_url("http://127.0.0.1:8000/", "abc") == "http://127.0.0.1:8000/family#abc"


def test_bed_ids(ward: Ward) -> None:
    with pytest.raises(WardConflictError, match="bed 1 exists already"):
        ward.add_bed("1", now=T0)
    with pytest.raises(WardError, match="bed id 'a/b'"):
        ward.add_bed("a/b", now=T0)
    assert [b.label for b in ward.beds()] == ["Bed 1", "Bed 2", "Bed 3"]
