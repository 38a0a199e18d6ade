"""Advertisement throughput: BTHome service data through ``AdvertVerifier`` to ``Reading``, on one core.

Every advertisement takes the full path a gateway runs: registry lookup by MAC, AES-CCM
authentication (encrypted case), table-driven object decoding, replay and duplicate checks, and the
``Reading``. Payloads are built beforehand (encoding is not measured), each with a new counter and
packet id so none is short-circuited as a duplicate. Target (issue brief): >= 50,000 encrypted
advertisements/s. Run: ``python benchmarks/decode.py [--wraps 200 --per-wrap 500]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import pin_one_core  # noqa: E402
from kmc_monitor.devices.protocol.bthome import encode_service_data, format_mac, wrap_objects  # noqa: E402
from kmc_monitor.devices.protocol.verify import AdvertVerifier, WrapEntry, WrapRegistry  # noqa: E402
from kmc_monitor.devices.reading import Reading  # noqa: E402

TARGET_ENCRYPTED_PER_S = 50_000


def _stream(n_wraps: int, per_wrap: int, encrypted: bool) -> tuple[WrapRegistry, list[tuple[str, bytes]]]:
    """A ward's worth of advertisements, interleaved across wraps as a gateway would hear them."""
    entries = []
    for w in range(n_wraps):
        mac = format_mac(bytes((0xC0, 0xFF, 0xEE, 0x00, w >> 8, w & 0xFF)))
        key = bytes((w + i) & 0xFF for i in range(16)) if encrypted else None
        entries.append(WrapEntry(f"W{w:04d}", mac, key))
    stream: list[tuple[str, bytes]] = []
    for i in range(per_wrap):
        for w, entry in enumerate(entries):
            objects = wrap_objects(
                packet_id=i % 256,
                battery_pct=90 - i % 50,
                skin_temp_c=36.0 + (i + w) % 100 / 100,
                ambient_temp_c=25.0 + (i * 7 + w) % 300 / 100,
                contact_level=(i + w) % 101,
                contact=(i + w) % 2 == 0,
            )
            data = encode_service_data(
                objects, key=entry.key, mac=entry.mac, counter=i if encrypted else None
            )
            stream.append((entry.mac, data))
    return WrapRegistry(entries, allow_unencrypted=not encrypted), stream


def _rate(registry: WrapRegistry, stream: list[tuple[str, bytes]], repeats: int) -> float:
    """Best of ``repeats`` runs, in advertisements per second (a fresh verifier each run)."""
    best = float("inf")
    for _ in range(repeats):
        verifier = AdvertVerifier(registry)
        process = verifier.process
        t = 1_767_225_600.0
        started = time.perf_counter()
        for mac, data in stream:
            process(mac, data, t, -60.0)
        best = min(best, time.perf_counter() - started)
        accepted = sum(s.decoded for s in verifier.all_stats().values())
        if accepted != len(stream):
            raise SystemExit(f"benchmark stream not fully accepted: {accepted} of {len(stream)}")
    return len(stream) / best


def bench_decode(n_wraps: int = 200, per_wrap: int = 500, repeats: int = 5) -> dict[str, float]:
    """Print and return encrypted and plain advertisements/s through ``AdvertVerifier`` on one core."""
    pin = pin_one_core()
    print(f"advertisement decoding ({pin}): {n_wraps} wraps x {per_wrap} advertisements", flush=True)
    results: dict[str, float] = {}
    for name, encrypted in (("encrypted", True), ("plain", False)):
        registry, stream = _stream(n_wraps, per_wrap, encrypted)
        # Warm the caches (cipher per key, state per wrap) the way a running gateway has them.
        warm = AdvertVerifier(registry)
        assert isinstance(warm.process(stream[0][0], stream[0][1], 0.0), Reading)
        results[name] = _rate(registry, stream, repeats)
        print(f"  {name:9s}: {results[name]:>10,.0f} advertisements/s", flush=True)
    verdict = "meets" if results["encrypted"] >= TARGET_ENCRYPTED_PER_S else "MISSES"
    print(f"  target >= {TARGET_ENCRYPTED_PER_S:,} encrypted/s: {verdict}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wraps", type=int, default=200)
    parser.add_argument("--per-wrap", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bench_decode(args.wraps, args.per_wrap, args.repeats)


if __name__ == "__main__":
    main()
