"""How long a month's programme indicators take on a busy ward (issue #16).

A 30-bed ward for 31 days: each bed has three stays of about ten days, each day four sessions by
two caregivers and four "who is holding" changes (about 3,700 sessions, 3,700 holding steps, 90
admissions, 600 alarms), in a real SQLite file. Prints the time of ``compute_indicators`` for the
month (best of 3) and of the printable page with its charts.

    .venv/bin/python benchmarks/indicators.py
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kmc_monitor.programme.charts import indicators_html  # noqa: E402
from kmc_monitor.programme.indicators import Period, compute_indicators  # noqa: E402
from kmc_monitor.service.store import SessionRecord, Store  # noqa: E402
from kmc_monitor.service.ward import Ward  # noqa: E402
from kmc_monitor.service.ward_model import (  # noqa: E402
    AdmissionDetails,
    CaregiverRole,
    DischargeStatus,
    FamilyMember,
    GestationalAge,
)
from kmc_monitor.signal.report import Session  # noqa: E402

H = 3600.0
US = 1_000_000
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()


def build(data_dir: Path, beds: int = 30) -> Store:
    store = Store.in_data_dir(data_dir)
    ward = Ward(store, base_url="http://127.0.0.1")
    alarms = []
    for b in range(beds):
        bed, wrap = f"B{b:02d}", f"W{b:02d}"
        ward.add_bed(bed, now=T0 - 86400)
        ward.add_wrap(wrap, f"AA:BB:CC:00:{b // 256:02X}:{b % 256:02X}", now=T0 - 86400)
        for stay in range(3):
            start = T0 + stay * 10.3 * 86400 + b * 600
            family = (FamilyMember(CaregiverRole.MOTHER), FamilyMember(CaregiverRole.FATHER))
            adm, _ = ward.admit(
                bed,
                AdmissionDetails(
                    f"Baby {b}-{stay}", 1500, GestationalAge(32), birth_t=start - 5 * H, family=family
                ),
                now=start,
                who="bench",
            )
            ward.assign_wrap(wrap, bed, now=start, who="bench")
            mother, father = (m.caregiver_id for m in ward.caregivers(adm.admission_id))
            records = []
            for day in range(10):
                d0 = start + day * 86400
                for k, (s, e) in enumerate(((1, 6), (7, 9), (11, 16), (18, 22))):
                    ward.set_holder(
                        adm.admission_id,
                        mother if k % 2 == 0 else father,
                        from_t=d0 + (s - 0.5) * H,
                        now=d0 + s * H,
                        who="bench",
                        source="family",
                    )
                    records.append(
                        SessionRecord(
                            wrap,
                            Session(
                                round((d0 + s * H) * US),
                                round((d0 + e * H) * US),
                                round((e - s) * H * US),
                                False,
                            ),
                        )
                    )
                alarms.append(
                    {
                        "id": len(alarms) + 1,
                        "kind": "cold_stress",
                        "bed_id": bed,
                        "wrap_id": wrap,
                        "raised_us": round((d0 + 3 * H) * US),
                        "acked_us": round((d0 + 3 * H + 40) * US),
                    }
                )
                alarms.append(
                    {
                        "id": len(alarms) + 1,
                        "kind": "no_data",
                        "bed_id": bed,
                        "wrap_id": wrap,
                        "raised_us": round((d0 + 5 * H) * US),
                        "acked_us": None,
                    }
                )
            store.save_sessions(records)
            ward.discharge(
                adm.admission_id, now=start + 10 * 86400, who="bench", status=DischargeStatus.HOME_ON_KMC
            )
    store.save_alarm_board({"alarms": alarms}, now=T0 + 40 * 86400)
    return store


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kmc-bench-") as tmp:
        t0 = time.perf_counter()
        store = build(Path(tmp))
        print(f"built the month in {time.perf_counter() - t0:.1f} s")
        period = Period.parse("2026-12")
        now = T0 + 40 * 86400
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            ind = compute_indicators(store, period, ward_tz="Africa/Nairobi", now=now)
            best = min(best, time.perf_counter() - t0)
        print(f"indicators for 2026-12: {best * 1000:.0f} ms (best of 3), {len(ind.values)} values")
        t0 = time.perf_counter()
        page = indicators_html(ind)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        page = indicators_html(ind)
        again = time.perf_counter() - t0
        print(
            f"printable page with 4 charts: {first * 1000:.0f} ms the first time (matplotlib loads), "
            f"then {again * 1000:.0f} ms; {len(page) / 1024:.0f} KiB"
        )
        store.close()


if __name__ == "__main__":
    main()
