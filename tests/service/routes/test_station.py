"""The station's routes: a home's sync (auth before parsing, caps, the contract's 422 without echo,
idempotency, gaps, refused items), discharge home with consent and pairing, the station view and
visits with their CSV export. The app runs in process on a test clock (FastAPI's TestClient) with a
real SQLite file; ``test_sync_refuses_before_reading_the_body`` talks to a real uvicorn on loopback."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import socket
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.exceptions import StarletteDeprecationWarning

from kmc_monitor.devices.reading import Reading
from kmc_monitor.service.app import create_app
from kmc_monitor.service.config import Settings
from kmc_monitor.service.runtime import WardRuntime
from kmc_monitor.sources import ReadingSource
from kmc_monitor.station.sync import POOL_MIN_BYTES
from kmc_monitor.station.wire import MAX_BATCH_READINGS, PairingCode
from tests.clock import Clock
from tests.mqtt.sealing import SealedWrap
from tests.timing import wait_until

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "station-test-staff-token-0123456789"
NURSE = "station-test-nurse-token-0123456789"
SCREEN = "station-test-screen-token-012345678"
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
KEY2 = bytes.fromhex("00112233445566778899aabbccddeeff")
MAC = "54:48:E6:8F:80:A5"
MAC2 = "54:48:E6:8F:80:A6"
#: 2026-01-01 10:00 UTC.
T0 = 1767261600.0

pytestmark = pytest.mark.timeout(120)


class TwoWraps(ReadingSource):
    """Two keyed wraps on two beds (a demo ward admits a baby on each); no readings."""

    demo = True

    def wraps(self) -> list[tuple[str, str, bytes | None]]:
        return [("W1", MAC, KEY), ("W2", MAC2, KEY2)]

    def readings_until(self, t_s: float) -> list[Reading]:
        return []


@dataclass
class Station:
    client: TestClient
    rt: WardRuntime
    clock: Clock

    def post(self, path: str, body: Any, *, token: str = NURSE, status: int = 200) -> Any:
        r = self.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == status, r.text
        return r.json()

    def get(self, path: str) -> Any:
        r = self.client.get(path)
        assert r.status_code == 200, r.text
        return r.json()


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        staff_token=TOKEN,
        nurse_tokens=(NURSE,),
        screen_tokens=(SCREEN,),
        ward_tz="UTC",
        public_url="https://station.example",
    )


@pytest.fixture
def station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Station]:
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = _settings(tmp_path)
    clock = Clock(T0)
    rt = WardRuntime(settings, source=TwoWraps(), clock=clock, tick_s=None)
    with TestClient(create_app(settings, runtime=rt), headers={"Authorization": f"Bearer {SCREEN}"}) as c:
        yield Station(c, rt, clock)


def go_home(s: Station, admission_id: int = 1, **extra: Any) -> PairingCode:
    body = {
        "admission_id": admission_id,
        "consent": {"name": "Nie", "relation": "mother"},
        "tz": "Asia/Ho_Chi_Minh",
        "language": "vi",
        **extra,
    }
    out = s.post("/api/station/homes", body, status=201)
    return PairingCode.model_validate(out["pairing"])


def batch(
    code: PairingCode, readings: list[dict[str, Any]], days: list[dict[str, Any]] = (), **status: Any
) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "home_id": code.home_id,
        "readings": readings,
        "days": list(days),
        "status": {"sent_t": T0, "pending": 0, **status},
    }


def sealed(
    wrap: SealedWrap, seq: int, t: float, temp: float = 36.8, *, key: bytes | None = None
) -> dict[str, Any]:
    r = wrap.reading(t, temp, key=key)
    assert r.sealed is not None
    return {"seq": seq, "wrap_id": wrap.wrap_id, "t": t, "sealed": r.sealed.hex(), "rssi_dbm": -60.0}


def day(
    seq: int, d: dt.date, contact_h: float, *, cold: int = 0, complete: bool = True, wrap_id: str = "W1"
) -> dict[str, Any]:
    return {
        "seq": seq,
        "wrap_id": wrap_id,
        "day": d.isoformat(),
        "contact_s": contact_h * 3600,
        "goal_s": 20 * 3600,
        "measured_s": 86400 if complete else 3600,
        "cold_episodes": cold,
        "complete": complete,
        "battery_pct": 70,
    }


def sync(s: Station, code: PairingCode, body: Any, *, token: str | None = None, status: int = 200) -> Any:
    r = s.client.post(
        f"/api/station/homes/{code.home_id}/sync",
        content=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token or code.token}", "Content-Type": "application/json"},
    )
    assert r.status_code == status, r.text
    return r.json()


def test_discharge_home_records_consent_and_issues_a_pairing_code(station: Station) -> None:
    code = go_home(station)
    assert code.home_id == "home-1" and code.station_url == "https://station.example"
    assert [(w.wrap_id, w.mac, w.key) for w in code.wraps] == [("W1", MAC, KEY.hex())]
    assert (
        code.baby.display_name == "Baby 1"
        and code.baby.tz == "Asia/Ho_Chi_Minh"
        and code.baby.language == "vi"
    )
    assert len(code.token) >= 22
    adm = station.get("/api/admissions/1")
    assert adm["discharged_t"] is not None and adm["discharge_status"] == "home_on_kmc"
    # Stored hashed: the token appears nowhere in the database file.
    db = (station.rt.store.path).read_bytes()
    assert code.token.encode() not in db
    audit = station.rt.store._read("audit", "SELECT action, who, detail FROM station_audit ORDER BY audit_id")
    assert [a for a, _, _ in audit] == ["enrolled", "pairing_issued"]
    assert "mother: Nie" in audit[0][2]
    # The same stay cannot be enrolled twice.
    r = station.client.post(
        "/api/station/homes",
        json={"admission_id": 1, "consent": {"name": "Nie", "relation": "mother"}},
        headers={"Authorization": f"Bearer {NURSE}"},
    )
    assert r.status_code == 409


def test_discharge_home_needs_a_nurse_and_a_keyed_wrap(station: Station) -> None:
    body = {"admission_id": 2, "consent": {"name": "Lan", "relation": "mother"}}
    r = station.client.post("/api/station/homes", json=body)  # the screen token
    assert r.status_code == 403
    r = station.client.post(
        "/api/station/homes",
        json={**body, "consent": {"name": "x", "relation": "unknown"}},
        headers={"Authorization": f"Bearer {NURSE}"},
    )
    assert r.status_code == 422
    r = station.client.post(
        "/api/station/homes",
        json={**body, "tz": "Mars/Olympus"},
        headers={"Authorization": f"Bearer {NURSE}"},
    )
    assert r.status_code == 422 and "Mars" not in r.text
    r = station.client.post(
        "/api/station/homes",
        json={**body, "wrap_ids": ["NOPE"]},
        headers={"Authorization": f"Bearer {NURSE}"},
    )
    assert r.status_code == 422
    r = station.client.post(
        "/api/station/homes",
        json={**body, "wrap_ids": ["W2", "W2"]},
        headers={"Authorization": f"Bearer {NURSE}"},
    )
    assert r.status_code == 422
    future = {**body, "consent": {"name": "Lan", "relation": "mother", "given_t": T0 + 86400}}
    r = station.client.post("/api/station/homes", json=future, headers={"Authorization": f"Bearer {NURSE}"})
    assert r.status_code == 422 and "future" in r.text
    assert station.get("/api/admissions/2")["discharged_t"] is None  # nothing happened


def test_sync_stores_verified_readings_and_acknowledges_without_gaps(station: Station) -> None:
    code = go_home(station)
    w1 = SealedWrap("W1", MAC, KEY)
    first = [sealed(w1, n, T0 + 60 * n) for n in range(1, 6)]
    ack = sync(station, code, batch(code, first, battery_pct=77, power_cuts=2))
    assert ack == {"accepted_through": 5, "refused": 0}
    # The same batch again (a lost acknowledgement): nothing new, nothing refused.
    assert sync(station, code, batch(code, first)) == {"accepted_through": 5, "refused": 0}
    # A gap: 8 and 9 arrive before 6 and 7.
    later = [sealed(w1, n, T0 + 60 * n) for n in (6, 7, 8, 9)]
    assert sync(station, code, batch(code, later[2:])) == {"accepted_through": 5, "refused": 0}
    # 6 and 7 now: their counters are below 8's, which the station has accepted: refused as
    # replayed (counted, stored with the reason), and the sequence still advances past them.
    ack = sync(station, code, batch(code, later[:2]))
    assert ack == {"accepted_through": 9, "refused": 2}
    n_ok, n_refused = station.rt.store._read(
        "count",
        "SELECT count(*) FILTER (WHERE refused IS NULL), count(*) FILTER (WHERE refused IS NOT NULL) "
        "FROM station_items WHERE home_id = ?",
        (code.home_id,),
    )[0]
    assert (n_ok, n_refused) == (7, 2)
    rows = station.rt.store._read(
        "v", "SELECT skin_temp_c FROM station_items WHERE seq = 1 AND home_id = ?", (code.home_id,)
    )
    assert rows[0][0] == pytest.approx(36.8, abs=0.01)
    metrics = station.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'kmc_station_items_refused_total{reason="replayed"} 2.0' in metrics
    assert 'kmc_station_items_total{kind="reading"} 7.0' in metrics
    home = station.get("/api/station")["homes"][0]
    assert home["accepted_through"] == 9 and home["power_cuts"] == 0 and home["refused"] == 2


def test_sync_refuses_forged_and_foreign_items_but_keeps_going(station: Station) -> None:
    code = go_home(station)
    w1 = SealedWrap("W1", MAC, KEY)
    w2 = SealedWrap("W2", MAC2, KEY2)  # on another baby: did not go home with this one
    items = [
        sealed(w1, 1, T0),
        sealed(w1, 2, T0 + 60, key=bytes(16)),  # a forger's key
        sealed(w2, 3, T0 + 120),
        sealed(w1, 4, T0 + 180),
    ]
    ack = sync(station, code, batch(code, items, [day(5, dt.date(2026, 1, 1), 9, wrap_id="W2")]))
    assert ack == {"accepted_through": 5, "refused": 3}
    reasons = station.rt.store._read(
        "r", "SELECT seq, refused FROM station_items WHERE home_id = ? ORDER BY seq", (code.home_id,)
    )
    assert reasons == [
        (1, None),
        (2, "authentication_failed"),
        (3, "unknown_wrap"),
        (4, None),
        (5, "unknown_wrap_day"),
    ]


def test_daily_summaries_are_upserted_by_day_the_latest_winning(station: Station) -> None:
    code = go_home(station)
    d = dt.date(2026, 1, 2)
    sync(station, code, batch(code, [], [day(1, d, 3, complete=False)]))
    sync(station, code, batch(code, [], [day(3, d, 9, complete=True), day(2, d, 5, complete=False)]))
    rows = station.rt.store._read(
        "d", "SELECT seq, contact_s, complete FROM station_days WHERE home_id = ?", (code.home_id,)
    )
    assert rows == [(3, 9 * 3600.0, 1)]


def test_sync_auth_caps_and_contract(station: Station) -> None:
    code = go_home(station)
    good = batch(code, [])
    # No token, a wrong token, a staff token, another home's address: 401, nothing read.
    for token in ("", "wrong-token-wrong-token-wrong", TOKEN):
        r = station.client.post(
            f"/api/station/homes/{code.home_id}/sync", json=good, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 401, r.text
    r = station.client.post(
        "/api/station/homes/home-2/sync", json=good, headers={"Authorization": f"Bearer {code.token}"}
    )
    assert r.status_code == 401
    # Over the cap: 413 on the declared length.
    r = station.client.post(
        f"/api/station/homes/{code.home_id}/sync",
        content=b"x" * (1024 * 1024 + 1),
        headers={"Authorization": f"Bearer {code.token}"},
    )
    assert r.status_code == 413
    # Not the contract: 422 saying where, never echoing what was sent.
    secret = "deadbeefcafe-not-hex-zz"
    bad = batch(code, [{"seq": 1, "wrap_id": "W1", "t": T0, "sealed": secret}])
    r = station.client.post(
        f"/api/station/homes/{code.home_id}/sync", json=bad, headers={"Authorization": f"Bearer {code.token}"}
    )
    assert r.status_code == 422 and secret not in r.text
    assert r.json()["detail"][0]["loc"][:3] == ["body", "readings", 0]
    too_many = batch(
        code, [{"seq": n, "wrap_id": "W1", "t": T0, "sealed": "00"} for n in range(1, MAX_BATCH_READINGS + 2)]
    )
    assert sync(station, code, too_many, status=422)["detail"][0]["loc"] == ["body", "readings"]
    assert sync(station, code, b"{not json", status=422)["detail"]
    other = {**good, "home_id": "home-2"}
    assert sync(station, code, other, status=422)["detail"][0]["loc"] == ["body", "home_id"]
    metrics = station.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'kmc_station_sync_batches_total{kind="invalid"} 4.0' in metrics
    # A new pairing code: the old token stops at once.
    out = station.post(f"/api/station/homes/{code.home_id}/pairing", {"who": "Hoa"})
    new = PairingCode.model_validate(out["pairing"])
    sync(station, code, good, status=401)
    assert sync(station, new, good) == {"accepted_through": 0, "refused": 0}
    actions = [
        r[0] for r in station.rt.store._read("a", "SELECT action FROM station_audit ORDER BY audit_id")
    ]
    assert actions == ["enrolled", "pairing_issued", "pairing_reissued"]


def test_station_view_attention_and_visits_export(station: Station) -> None:
    code = go_home(station)  # discharged 2026-01-01 10:00 UTC = 17:00 in Ho Chi Minh City
    d1 = dt.date(2026, 1, 2)
    days = [
        day(1, d1, 6, cold=0),
        day(2, d1 + dt.timedelta(days=1), 7, cold=1),
        day(3, d1 + dt.timedelta(days=2), 2, complete=False),
    ]
    station.clock.t = T0 + 3 * 86400
    sync(station, code, batch(code, [], days, battery_pct=64, power_cuts=3))
    view = station.get("/api/station")
    (home,) = view["homes"]
    assert home["days_since_discharge"] == 3
    assert home["battery_pct"] == 64 and home["power_cuts"] == 3
    assert home["cold_episodes_7d"] == 1
    assert [d["day"] for d in home["days"]] == ["2026-01-02", "2026-01-03", "2026-01-04"]
    assert home["next_visit"] == {"day_number": 1, "day": "2026-01-02", "overdue_days": 2}
    assert [a["reason"] for a in home["attention"]] == ["low_contact_2_days", "hypothermia_since_visit"]
    assert [h["home_id"] for h in view["attention"]] == ["home-1"]
    # A visit on day 3 (2026-01-04): the next is day 5; the cold episode (day 2) is before it.
    visit = station.post(
        f"/api/station/homes/{code.home_id}/visits",
        {"day": "2026-01-04", "weight_g": 1850, "notes": '=HYPERLINK("x") feeding well', "who": "Hoa"},
        status=201,
    )
    assert visit["day_number"] == 3 and visit["recorded_by"].endswith("[Hoa]")
    home = station.get("/api/station")["homes"][0]
    assert home["next_visit"]["day_number"] == 5 and home["attention"] == []
    # A day later without a sync: silent for 24 h.
    station.clock.t += 86400
    assert [a["reason"] for a in station.get("/api/station")["homes"][0]["attention"]] == ["no_sync_24h"]
    r = station.client.get("/api/station/visits.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:5] == ["home_id", "baby", "visit_day", "day_after_discharge", "weight_g"]
    assert rows[1][:5] == ["home-1", "Baby 1", "2026-01-04", "3", "1850"]
    assert rows[1][5].startswith("'=")  # no spreadsheet runs it
    # A visit before the discharge, or not yet made, is refused.
    for day_text in ("2025-12-31", "2026-01-06"):
        r = station.client.post(
            f"/api/station/homes/{code.home_id}/visits",
            json={"day": day_text},
            headers={"Authorization": f"Bearer {NURSE}"},
        )
        assert r.status_code == 422, r.text
    # Recording a visit is a nurse's; the screen may read.
    r = station.client.post(f"/api/station/homes/{code.home_id}/visits", json={"day": "2026-01-04"})
    assert r.status_code == 403


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sync_refuses_before_reading_the_body(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a real uvicorn: a stranger's headers announce 500 kB and send none of it; the answer
    (401) comes at once, so the body was never waited for, let alone parsed."""
    monkeypatch.delenv("KMC_CONFIG", raising=False)
    settings = _settings(tmp_path)
    rt = WardRuntime(settings, source=TwoWraps(), clock=Clock(T0), tick_s=None)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, runtime=rt), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until("uvicorn started", lambda: server.started, 20)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(10)
            sock.sendall(
                b"POST /api/station/homes/home-1/sync HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer not-a-home-token-not-a-home\r\n"
                b"Content-Type: application/json\r\nContent-Length: 500000\r\n\r\n"
            )
            head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 401"), head
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_large_batch_is_verified_in_the_worker_processes(station: Station) -> None:
    code = go_home(station)
    w1 = SealedWrap("W1", MAC, KEY)
    items = [sealed(w1, n, T0 + 60 * n, 36.0 + (n % 10) / 10) for n in range(1, 1501)]
    items[700] = sealed(w1, 701, T0 + 60 * 701, key=bytes(16))  # one forged among them
    body = json.dumps(batch(code, items)).encode()
    assert len(body) >= POOL_MIN_BYTES
    assert sync(station, code, body) == {"accepted_through": 1500, "refused": 1}
    rows = station.rt.store._read(
        "v",
        "SELECT seq, skin_temp_c, refused FROM station_items WHERE home_id = ? ORDER BY seq",
        (code.home_id,),
    )
    assert len(rows) == 1500
    assert rows[0][1] == pytest.approx(36.1, abs=0.01) and rows[9][1] == pytest.approx(36.0, abs=0.01)
    assert rows[700][2] == "authentication_failed" and rows[701][2] is None
    # The station's counter moved with the batch: the next batch cannot replay an old packet.
    old = sealed(SealedWrap("W1", MAC, KEY, counter=1000), 1501, T0 + 60 * 1501)
    assert sync(station, code, batch(code, [old])) == {"accepted_through": 1501, "refused": 1}
