"""The ``kmc-monitor`` command line.

Bad input never shows a Python traceback: a trace that cannot be read ends the command with exit
status 2 and one plain sentence; invalid readings are counted and warned about on stderr.
``scan``, ``record`` and ``serve --ble`` without a usable Bluetooth adapter end with exit status 1
and one line saying why (no adapter, no BlueZ, powered off), never a traceback either.
``gateway`` and ``serve --mqtt`` with a broker URL they cannot use end with exit status 2 and one
line (never showing the password); a broker that is merely unreachable is retried, not an error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from kmc_monitor import __version__
from kmc_monitor.errors import KmcError

__all__ = ["main"]

#: Inputs larger than this get a progress bar (when stderr is a terminal); KMC_PROGRESS_MIN_BYTES
#: overrides it (tests use it to see the bar on a small file).
_PROGRESS_MIN_BYTES = 20 * 1024 * 1024


def _err(msg: str) -> None:
    print(f"kmc-monitor: {msg}", file=sys.stderr)


def _progress_bars(paths: Sequence[str], stream: TextIO) -> tuple[Callable[[int, int], None] | None, Any]:
    """A byte progress bar for reading, if stderr is a terminal and the input is large."""
    try:
        total = sum(os.path.getsize(p) for p in paths)
    except OSError:
        return None, None
    threshold = int(os.environ.get("KMC_PROGRESS_MIN_BYTES", _PROGRESS_MIN_BYTES))
    if not stream.isatty() or total < threshold:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, desc="reading", file=stream, leave=False)

    def update(done: int, _total: int) -> None:
        bar.update(max(0, done - bar.n))

    return update, bar


def _cmd_analyze(args: argparse.Namespace) -> int:
    from kmc_monitor._memory import keep_freed_memory
    from kmc_monitor.analysis import analyze_all, render_table, report_json
    from kmc_monitor.devices.trace import read_traces
    from kmc_monitor.signal import RuleParams

    keep_freed_memory()
    try:
        params = RuleParams(ward_tz=args.tz)
    except ValueError as exc:
        _err(f"error: {exc}")
        return 2
    progress, bar = _progress_bars(args.traces, sys.stderr)
    # Clock faults are judged against this machine's clock (clinical-rules.md): read here, at the
    # edge, never inside the rules.
    latest_us = round((time.time() + params.max_clock_lead_s) * 1_000_000)
    try:
        traces = read_traces(args.traces, params, progress=progress, latest_us=latest_us)
    finally:
        if bar is not None:
            bar.close()
    for warning in traces.warnings:
        _err(f"warning: {warning}")
    total_invalid = sum(s.invalid for s in traces.series) + traces.skipped_rows
    if total_invalid:
        shown = ", ".join(f"{name}:{line}" for name, line in traces.invalid_lines)
        where = f": {shown}" if shown else ""
        more = " and more" if total_invalid > len(traces.invalid_lines) else ""
        _err(
            f"warning: {total_invalid} invalid reading(s) (not a number, out of range, a clock fault, "
            f"or no t/wrap_id); their bad values were treated as missing{where}{more}"
        )
    analysis_bar = None
    if bar is not None:
        from tqdm import tqdm

        analysis_bar = tqdm(
            total=traces.rows, unit=" readings", desc="analysing", file=sys.stderr, leave=False
        )
    try:
        reports = analyze_all(
            list(traces.series),
            params,
            until_us=traces.end_us,
            progress=analysis_bar.update if analysis_bar is not None else None,
        )
    finally:
        if analysis_bar is not None:
            analysis_bar.close()
    if args.json:
        json.dump(report_json(reports, params), sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_table(reports, params))
        sys.stdout.write("\n")
    return 0


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _parse_hex(text: str) -> bytes:
    """Hex bytes as an engineer pastes them: ``4002ca09``, ``40 02 CA 09``, ``0x4002ca09``, ``40:02:ca``."""
    digits = "".join(text.split()).replace(":", "").replace("-", "")
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if not digits:
        raise ValueError("empty input: expected hex bytes such as 4002ca09")
    bad = next((c for c in digits if c not in _HEX_DIGITS), None)
    if bad is not None:
        raise ValueError(f"not hex: {bad!r} is not a hex digit")
    if len(digits) % 2:
        raise ValueError(f"odd number of hex digits ({len(digits)}): every byte is two digits")
    return bytes.fromhex(digits)


def _json_number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null (the caller says why alongside)."""
    import math

    return value if value is None or math.isfinite(value) else None


def _bthome_json(advert: Any) -> dict[str, Any]:
    from kmc_monitor.devices.protocol.bthome import OBJECT_SPECS

    objects = []
    temperatures_c = []
    for obj in advert.objects:
        unit = OBJECT_SPECS[obj.object_id].unit
        value = obj.value.hex() if isinstance(obj.value, bytes) else obj.value
        objects.append({"id": f"{obj.object_id:#04x}", "name": obj.name, "value": value, "unit": unit})
        if unit == "°C":
            temperatures_c.append(value)
    return {
        "kind": "bthome",
        "encrypted": advert.encrypted,
        "trigger_based": advert.trigger_based,
        "counter": advert.counter,
        "mac": advert.mac,
        "packet_id": advert.packet_id,
        "battery_pct": advert.battery_pct,
        "skin_temp_c": advert.skin_temp_c,
        "ambient_temp_c": advert.ambient_temp_c,
        "contact_level": advert.contact_level,
        "contact": advert.contact,
        "temperatures_c": temperatures_c,
        "objects": objects,
    }


def _hts_json(m: Any) -> dict[str, Any]:
    from kmc_monitor.devices.protocol.hts import TemperatureType

    site = m.temperature_type
    try:
        site_name = None if site is None else TemperatureType(site).name.lower()
    except ValueError:  # a reserved code: reported as a number only
        site_name = None
    return {
        "kind": "hts",
        "temperature_c": _json_number(m.temperature_c),
        "special": None if m.special is None else m.special.value,
        "fahrenheit": m.fahrenheit,
        "timestamp": None if m.timestamp is None else m.timestamp.isoformat(),
        "temperature_type": site,
        "temperature_site": site_name,
        "intermediate": m.intermediate,
    }


def _decode_inputs(args: argparse.Namespace) -> Iterator[str]:
    for item in args.payloads:
        if item == "-":
            if hasattr(sys.stdin, "reconfigure"):
                # Bytes that are not UTF-8 become U+FFFD and that line a "not hex" error, not a traceback.
                sys.stdin.reconfigure(errors="replace")
            for line in sys.stdin:
                if line.strip():
                    yield line
        else:
            yield item


def _cmd_decode(args: argparse.Namespace) -> int:
    from kmc_monitor.devices.errors import DecodeError
    from kmc_monitor.devices.protocol.bthome import decode_service_data, parse_key, parse_mac
    from kmc_monitor.devices.protocol.hts import decode_temperature_measurement

    if args.kind == "hts" and (args.key is not None or args.mac is not None):
        _err("error: --key and --mac apply to BTHome advertisements only, not to --kind hts")
        return 2
    if args.kind == "bthome" and args.intermediate:
        _err("error: --intermediate applies to --kind hts only")
        return 2
    # A badly written --key or --mac is reported against every input, so that the output keeps its
    # promise of exactly one JSON object per input, in order.
    setup_error: str | None = None
    key: bytes | None = None
    mac: bytes | None = None
    try:
        key = None if args.key is None else parse_key(args.key)
        mac = None if args.mac is None else parse_mac(args.mac)
    except KmcError as exc:
        setup_error = str(exc)
    failures = 0
    for text in _decode_inputs(args):
        doc: dict[str, Any]
        try:
            if setup_error is not None:
                raise ValueError(setup_error)
            data = _parse_hex(text)
            if args.kind == "hts":
                doc = _hts_json(decode_temperature_measurement(data, intermediate=args.intermediate))
            else:
                doc = _bthome_json(decode_service_data(data, mac=mac, key=key))
        except (DecodeError, ValueError) as exc:
            failures += 1
            doc = {"error": str(exc)}
        sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
        sys.stdout.flush()
    return 1 if failures else 0


# --- scan and record: the Bluetooth gateway ---------------------------------------------------------

#: Readings are flushed to a recording at least this often (seconds of recording), so that a
#: recording cut short by Ctrl-C, a crash or a power cut keeps all but the last moments.
_RECORD_FLUSH_S = 1.0
#: A simulated recording flushes every this many simulated seconds (it runs far faster than real time).
_SIM_FLUSH_S = 60.0
#: Recording columns: trace-format.md's, with the diagnostic RSSI.
_RECORD_COLUMNS = ("t", "wrap_id", "skin_temp_c", "ambient_temp_c", "contact", "battery_pct", "rssi_dbm")
#: Exit status when no Bluetooth adapter can be used (bad input keeps 2).
_NO_ADAPTER_EXIT = 1


def _number(value: float | None, digits: int) -> str:
    """A value as short decimal text (empty when missing): ``36.8`` rather than ``36.800000``."""
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class _TraceStream:
    """Writes readings to a trace file as they arrive (gzip if the name ends with ``.gz``)."""

    def __init__(self, path: str, comment: str) -> None:
        import csv
        import gzip

        self.path = path
        self.rows = 0
        if path.endswith(".gz"):
            self._file: TextIO = gzip.open(path, "wt", encoding="utf-8", newline="")
        else:
            self._file = open(path, "w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file, lineterminator="\n")
        for line in comment.splitlines():
            self._file.write(f"# {line}\n")
        self._csv.writerow(_RECORD_COLUMNS)
        self._file.flush()

    def write(self, readings: Sequence[Any]) -> None:
        for r in readings:
            self._csv.writerow(
                (
                    _number(r.t, 6),
                    r.wrap_id,
                    _number(r.skin_temp_c, 3),
                    _number(r.ambient_temp_c, 3),
                    _number(r.contact, 4),
                    _number(r.battery_pct, 1),
                    _number(r.rssi_dbm, 0),
                )
            )
        self.rows += len(readings)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _sim_start(args: argparse.Namespace) -> float:
    """Where a simulated ward's clock starts: ``--start``, or now (the CLI is the one place that may
    read the wall clock; everything below it is handed this time)."""
    import time

    return float(args.start) if args.start is not None else float(int(time.time()))


def _cmd_scan(args: argparse.Namespace) -> int:
    import asyncio

    from kmc_monitor.devices.protocol.verify import WrapRegistry
    from kmc_monitor.devices.radio.gateway import AdapterUnavailableError

    registry = WrapRegistry.load(args.registry) if args.registry else None
    try:
        heard = asyncio.run(_scan(args, registry))
    except AdapterUnavailableError as exc:
        _err(str(exc))
        return _NO_ADAPTER_EXIT
    if not heard:
        sys.stdout.write(f"no BTHome advertisements heard in {_number(args.seconds, 1)} s\n")
        return 0
    head = ("MAC", "WRAP", "RSSI", "ADVERTS", "SKIN_C", "AMBIENT_C", "CONTACT", "BATTERY", "STATUS")
    rows = [head] + [
        (
            mac,
            h["wrap_id"] or "-",
            str(h["rssi"]),
            str(h["adverts"]),
            _number(h["skin"], 2),
            _number(h["ambient"], 2),
            _number(h["contact"], 2),
            _number(h["battery"], 0),
            h["status"],
        )
        for mac, h in sorted(heard.items(), key=lambda kv: (kv[1]["wrap_id"] or "~", kv[0]))
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n")
    return 0


async def _scan(args: argparse.Namespace, registry: Any) -> dict[str, dict[str, Any]]:
    """Listen for ``--seconds`` and return what each BTHome advertiser last sent, by MAC address."""
    import asyncio
    import time

    from kmc_monitor.devices.errors import DecodeError, MissingKey
    from kmc_monitor.devices.protocol.bthome import decode_service_data
    from kmc_monitor.devices.protocol.gatt import BTHOME_SERVICE_UUID
    from kmc_monitor.devices.protocol.verify import AdvertVerifier
    from kmc_monitor.devices.radio.gateway import start_scanner
    from kmc_monitor.devices.reading import Reading

    radio = None
    backend = None
    clock: Callable[[], float] = time.time
    if args.simulate:
        from kmc_monitor.devices.radio.backends import SimRadio
        from kmc_monitor.devices.simulation.simulator import WardSimulator

        ward = WardSimulator(args.simulate, start_s=_sim_start(args), seed=args.seed)
        radio = SimRadio(ward)
        backend, clock = radio.scanner_backend, radio.now
        registry = registry or ward.registry()
    verifier = AdvertVerifier(registry) if registry is not None else None
    heard: dict[str, dict[str, Any]] = {}

    def on_advert(device: Any, adv: Any) -> None:
        data = adv.service_data.get(BTHOME_SERVICE_UUID)
        if data is None:
            return
        mac = str(device.address)
        h = heard.get(mac)
        if h is None:
            h = heard[mac] = dict.fromkeys(("wrap_id", "skin", "ambient", "contact", "battery"))
            h.update(rssi=0, adverts=0, status="")
        h["rssi"] = adv.rssi
        h["adverts"] += 1
        values: Any = None
        if verifier is not None and registry.by_mac(mac) is not None:
            result = verifier.process(mac, data, clock(), adv.rssi)
            h["wrap_id"] = registry.by_mac(mac).wrap_id
            if isinstance(result, Reading):
                values = result
                h["status"] = "ok"
            elif not h["status"]:
                h["status"] = result.reason.value
        else:
            try:
                advert = decode_service_data(data, mac=mac)
            except MissingKey:
                h["status"] = "encrypted, not in the registry"
            except DecodeError as exc:
                h["status"] = exc.reason.value
            else:
                h["status"] = "plain BTHome, not in the registry" if verifier else "plain BTHome"
                level = advert.contact_level
                values = Reading(
                    clock(),
                    "-",
                    advert.skin_temp_c,
                    advert.ambient_temp_c,
                    None if level is None else level / 100,
                    advert.battery_pct,
                )
        if values is not None:
            h["skin"], h["ambient"] = values.skin_temp_c, values.ambient_temp_c
            h["contact"], h["battery"] = values.contact, values.battery_pct

    scanner, _mode = await start_scanner(on_advert, backend=backend, adapter=args.adapter)
    try:
        if radio is not None:
            await radio.run_until(radio.now() + args.seconds)
        else:
            await asyncio.sleep(args.seconds)
    finally:
        try:
            await scanner.stop()
        except Exception:  # the adapter went away while scanning: nothing left to stop
            pass
    return heard


def _cmd_record(args: argparse.Namespace) -> int:
    import asyncio

    from kmc_monitor.devices.radio.gateway import AdapterUnavailableError

    if args.simulate is None and not args.registry:
        _err("error: record needs the ward's wrap registry (--registry FILE), or --simulate N")
        return 2
    if args.seconds is not None and not args.seconds > 0:
        _err("error: --seconds must be a positive number")
        return 2
    try:
        rows = asyncio.run(_record(args))
    except AdapterUnavailableError as exc:
        _err(str(exc))
        return _NO_ADAPTER_EXIT
    except OSError as exc:
        _err(f"error: cannot write {args.out}: {exc.strerror or exc}")
        return 2
    _err(f"recorded {rows} reading(s) to {args.out}")
    return 0


async def _record(args: argparse.Namespace) -> int:
    """Run a gateway and stream its readings into ``--out``; return the rows written."""
    import asyncio
    import math
    import time

    from kmc_monitor.devices.protocol.verify import WrapRegistry
    from kmc_monitor.devices.radio.gateway import Gateway

    radio = None
    if args.simulate is not None:
        from kmc_monitor.devices.radio.backends import SimRadio
        from kmc_monitor.devices.simulation.simulator import WardSimulator

        start = _sim_start(args)
        ward = WardSimulator(args.simulate, start_s=start, seed=args.seed)
        radio = SimRadio(ward)
        gateway = Gateway(
            WrapRegistry.load(args.registry) if args.registry else ward.registry(),
            clock=radio.now,
            sleep=radio.sleep,
            scanner_backend=radio.scanner_backend,
            client_backend=radio.client_backend,
            connected=[w.wrap_id for w in ward.wraps if w.mode == "connected"],
        )
        source = f"{args.simulate} simulated wrap(s), seed {args.seed}, start {_number(start, 3)}"
    else:
        gateway = Gateway(WrapRegistry.load(args.registry), clock=time.time, adapter=args.adapter)
        source = f"the Bluetooth adapter {args.adapter or '(default)'}, registry {args.registry}"
    await gateway.start()  # no adapter: fails here, before any file is created
    try:
        out = _TraceStream(args.out, f"recorded by kmc-monitor {__version__} from {source}")
        try:
            if radio is not None:
                end = radio.now() + (args.seconds if args.seconds is not None else 600.0)
                while radio.now() < end:
                    await radio.run_until(min(end, radio.now() + _SIM_FLUSH_S))
                    out.write(gateway.drain())
                    out.flush()
            else:
                end = math.inf if args.seconds is None else time.monotonic() + args.seconds
                while (left := end - time.monotonic()) > 0:
                    await asyncio.sleep(min(_RECORD_FLUSH_S, left))
                    out.write(gateway.drain())
                    out.flush()
        finally:
            # Also on Ctrl-C: what was heard up to the interruption is kept.
            out.write(gateway.drain())
            out.close()
    finally:
        await gateway.stop()
    return out.rows


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number; got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {text}")
    return value


def _radio_arguments(p: argparse.ArgumentParser) -> None:
    """Where ``scan`` and ``record`` listen: a real adapter, or a simulated ward."""
    p.add_argument("--registry", metavar="FILE", help="the ward's wrap registry (TOML or JSON)")
    p.add_argument("--adapter", metavar="NAME", help="Bluetooth adapter, e.g. hci0 (default: the system's)")
    p.add_argument(
        "--simulate",
        type=_positive_int,
        metavar="N",
        help="listen to N simulated wraps instead of an adapter (simulated time runs as fast as it can)",
    )
    p.add_argument("--seed", type=int, default=0, help="with --simulate: the ward's random seed (default 0)")
    p.add_argument(
        "--start",
        type=float,
        metavar="T",
        help="with --simulate: simulated start time, seconds since the epoch (default: now); "
        "with --seed it makes the output identical on every run",
    )


#: How long ``serve`` waits for a Bluetooth adapter to start scanning before deciding it has none.
_PROBE_S = 2.0


def _probe_adapter(adapter: str | None) -> str | None:
    """Whether a Bluetooth adapter can scan: ``None`` if it can, else one line saying why not.

    The probe starts and stops a scanner, bounded by :data:`_PROBE_S`: without BlueZ it fails at
    once; an adapter that hangs (a wedged USB dongle) must not hold up the ward's start either.
    """
    import asyncio
    import contextlib

    from kmc_monitor.devices.radio.gateway import AdapterUnavailableError, start_scanner

    async def probe() -> None:
        scanner, _mode = await asyncio.wait_for(
            start_scanner(lambda _device, _adv: None, adapter=adapter), _PROBE_S
        )
        with contextlib.suppress(Exception):
            await scanner.stop()

    try:
        asyncio.run(probe())
    except AdapterUnavailableError as exc:
        return str(exc)
    except TimeoutError:
        where = f" {adapter}" if adapter else ""
        return f"the Bluetooth adapter{where} did not start scanning within {_PROBE_S:g} s"
    return None


def _cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import time

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from kmc_monitor.service.app import create_app
    from kmc_monitor.service.auth import install_log_redaction
    from kmc_monitor.service.config import Settings
    from kmc_monitor.service.connections import guarded_h11
    from kmc_monitor.service.runtime import WardRuntime
    from kmc_monitor.service.sources import (
        GatewaySource,
        ReplayClock,
        ReplaySource,
        SimulatedSource,
        Source,
    )

    ble = args.ble or args.ble_simulated is not None
    if ble and args.speed != 1.0:
        _err("error: --speed is for --simulate and --replay: a radio runs in real time")
        return 2
    if (args.registry or args.adapter) and (args.simulate or args.replay or args.ble_simulated or args.mqtt):
        _err("error: --registry and --adapter are for the Bluetooth adapter (--ble, or no source named)")
        return 2
    if args.mqtt is not None and args.speed != 1.0:
        _err("error: --speed is for --simulate and --replay: a broker's readings come in real time")
        return 2
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.mqtt is not None:
        broker_error = _broker_error(args.mqtt)
        if broker_error is not None:
            _err(f"error: {broker_error}")
            return 2
        overrides["mqtt_url"] = args.mqtt
    if args.hl7 is not None:
        from kmc_monitor.service.mllp import MllpError, MllpUrl

        try:
            MllpUrl.parse(args.hl7)
        except MllpError as exc:
            _err(f"error: {exc}")
            return 2
        overrides["hl7_url"] = args.hl7
    settings = Settings.load(args.config, **overrides)
    demo_token: str | None = None
    if not settings.all_staff_tokens:
        # The ward's own staff credential, kept hashed in the data directory across restarts
        # (made on the first start and shown once below; service/credential.py).
        from kmc_monitor.service import credential

        _, demo_token = credential.ensure(settings.data_dir)
    # JSON logs (--log-format json, or KMC_LOG_FORMAT=json): configured before
    # anything below says something, so every line on stderr is one JSON object.
    log_format = args.log_format or settings.log_format
    log_config: dict[str, Any] | None = None
    if log_format == "json":
        import logging.config

        from kmc_monitor.service.jsonlog import json_log_config

        log_config = json_log_config()
        logging.config.dictConfig(log_config)

    def say(msg: str, level: int = logging.INFO) -> None:
        """A notice on stderr: a plain line, or a JSON log line with --log-format json."""
        if log_config is None:
            _err(msg)
        else:
            logging.getLogger("kmc_monitor.serve").log(level, msg)

    named = args.simulate or args.replay or ble or args.station
    mqtt = args.mqtt is not None or (not named and settings.mqtt_url is not None and args.speed == 1.0)
    if mqtt:
        if not settings.mqtt_gateways and not settings.mqtt_allow_unsealed:
            say(
                "error: serve --mqtt needs the ward's room gateways: set KMC_MQTT_GATEWAYS=room-1,room-2 "
                "(mqtt_gateways in the configuration file); readings of other gateway ids are refused",
                logging.ERROR,
            )
            return 2
        # A hospital ward: its room gateways publish to the broker (a configured broker wins over
        # the adapter probe when no source is named).
        runtime = WardRuntime(settings, source=_mqtt_source(settings, say))
    elif args.ble or (not named and not settings.simulate and args.speed == 1.0):
        # A ward with a Bluetooth adapter listens to it; without one, --ble is an error and a
        # command that named no source runs the simulated ward instead (a laptop demo).
        why = _probe_adapter(args.adapter)
        if why is None:
            ble = True
        elif args.ble:
            say(why, logging.ERROR)
            return _NO_ADAPTER_EXIT
        else:
            n = settings.simulate or 12
            say(f"{why}; running a simulated ward of {n} wraps instead", logging.WARNING)
    if args.station:
        # issue-17b: a health station with no live ward of its own (the station routes and page run
        # on every service; here nothing else does).
        from kmc_monitor.station.service import NoWard

        runtime = WardRuntime(settings, source=NoWard())
        say("running a health station with no live ward")
    elif mqtt:
        pass
    elif ble:
        if args.ble_simulated is not None:
            gateway: Source = GatewaySource.simulated(args.ble_simulated, settings.data_dir)
            say(f"listening to {args.ble_simulated} simulated wrap(s) through the Bluetooth gateway")
        else:
            gateway = GatewaySource(settings.data_dir, registry_file=args.registry, adapter=args.adapter)
            n_wraps = len(gateway.wraps())
            say(
                f"listening to {n_wraps} registered wrap(s) on the Bluetooth adapter "
                f"{args.adapter or '(default)'}"
                + ("" if n_wraps else ": none registered, give the ward's registry with --registry FILE")
            )
        runtime = WardRuntime(settings, source=gateway)
    elif args.replay:
        source = ReplaySource(args.replay, settings.rule_params())
        clock = ReplayClock(source.start_s, args.speed)
        runtime = WardRuntime(settings, source=source, clock=clock)
    else:
        n = args.simulate or settings.simulate or 12
        if args.speed != 1.0:
            clock = ReplayClock(time.time(), args.speed)
            runtime = WardRuntime(
                settings,
                source=SimulatedSource(n, start_s=clock(), measure_s=settings.simulate_measure_s),
                clock=clock,
            )
        else:
            runtime = WardRuntime(
                settings,
                source=SimulatedSource(n, start_s=time.time(), measure_s=settings.simulate_measure_s),
            )
    if args.new_ward:
        # Simulated wraps on a ward set up as a real one: empty beds and the first-run page.
        setattr(runtime.source, "demo", False)  # noqa: B010
    app = create_app(settings, runtime=runtime)
    # permessage-deflate off: it compresses every message again for every connection (the hub
    # encodes each message once, and the updates are small deltas on a ward's LAN), which costs the
    # service CPU per screen and delays the screens served last.
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        lifespan="on",
        ws_per_message_deflate=False,
        # The streams only send: a client has nothing to say beyond a close, so a frame of more
        # than 64 KiB is refused (1009) before it is buffered.
        ws_max_size=64 * 1024,
        # Slow or idle connections cannot hold the sockets a ward screen needs (docs/security.md).
        http=guarded_h11(
            header_timeout_s=settings.header_timeout_s, max_connections=settings.max_connections
        ),
        timeout_keep_alive=int(max(1, round(settings.keep_alive_s))),
        limit_concurrency=settings.max_connections,
        h11_max_incomplete_event_size=16 * 1024,
        ssl_certfile=None if settings.tls_certfile is None else str(settings.tls_certfile),
        ssl_keyfile=None if settings.tls_keyfile is None else str(settings.tls_keyfile),
        log_config=LOGGING_CONFIG if log_config is None else log_config,
    )
    server = uvicorn.Server(config)
    install_log_redaction()

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            port = settings.port
            for s in server.servers:
                for sock in s.sockets:
                    port = sock.getsockname()[1]
            host = f"[{settings.host}]" if ":" in settings.host else settings.host
            scheme = "http" if settings.tls_certfile is None else "https"
            base = f"{scheme}://{host}:{port}"
            print(f"ward service listening on {base}", flush=True)
            from kmc_monitor.service import firstrun
            from kmc_monitor.service.credential import announce

            if settings.public_url is None:
                # The bound port, not the "0" that asked for any; the LAN address on 0.0.0.0.
                base = firstrun.public_base(settings.host, port, public_url=None, tls=scheme == "https")
                runtime.set_base_url(base)
                print(f"links and QR codes point to {base}", flush=True)
            warning = firstrun.loopback_warning(settings.host, settings.public_url)
            if warning is not None:
                say(f"WARNING: {warning}", logging.WARNING)
            if demo_token is not None:
                # On the console (stdout), never in the log (stderr may go to a log collector).
                print(announce(demo_token, base, settings.data_dir), flush=True)
                print(f"ward screen: {base}/ward?token={demo_token}", flush=True)
                print(f"health station: {base}/station?token={demo_token}", flush=True)
            elif not settings.all_staff_tokens:
                say(f"staff credential: kept in {settings.data_dir} (replace: kmc-monitor credential rotate)")
            link = next(iter(runtime.family_links.values()), None)
            demo = bool(getattr(runtime.source, "demo", True))
            if link is None and demo and runtime.ward.current_admissions():
                # Family tokens are kept hashed, so a restarted service has none to show. A demo
                # ward makes bed 1 a fresh one; a real ward never does (it would cut off a parent's
                # open page): the nurse prints a new link from the bed's page when one is needed.
                adm = runtime.ward.current_admissions()[0]
                link = runtime.renew_family_link_now(adm.admission_id, "serve")
            if link is not None:
                token = link.url.rsplit("#", 1)[-1]
                print(f"bedside link: {base}/family#{token}", flush=True)
            elif runtime.ward.current_admissions():
                print(f"bedside links: print a new one from a bed's page ({base}/bed/<bed>)", flush=True)
        await task

    asyncio.run(run())
    return 0


def _broker_error(url: str) -> str | None:
    """Why a ``--mqtt`` URL cannot be used (one line, never the password), or None."""
    from kmc_monitor.mqtt.broker import BrokerUrl, BrokerUrlError

    try:
        BrokerUrl.parse(url)
    except BrokerUrlError as exc:
        return str(exc)
    return None


def _mqtt_source(settings: Any, say: Callable[[str], None] = _err) -> Any:
    """The ward's MQTT source as the settings describe it; says on stderr where it subscribes."""
    from kmc_monitor.mqtt.broker import BrokerUrl
    from kmc_monitor.mqtt.subscriber import MqttSource

    broker = BrokerUrl.parse(settings.mqtt_url.get_secret_value())
    say(f"subscribing to the gateways of site {settings.mqtt_site} on broker {broker}")
    return MqttSource(
        broker,
        site=settings.mqtt_site,
        client_id=settings.mqtt_client_id,
        share_group=settings.mqtt_share_group or None,
        session_expiry_s=settings.mqtt_session_expiry_s,
        gateways=settings.mqtt_gateways or None,
        allow_unsealed=settings.mqtt_allow_unsealed,
    )


# --- gateway: a room gateway publishing to the hospital's broker -------------------------------------


def _cmd_gateway(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import math
    import signal
    import time

    from kmc_monitor.mqtt.broker import BrokerUrl
    from kmc_monitor.mqtt.buffer import Outbox
    from kmc_monitor.mqtt.publisher import GatewayPublisher, ReadingProducer, simulated_ward
    from kmc_monitor.mqtt.topics import TopicError, check_id
    from kmc_monitor.service.config import Settings

    if args.simulate is None and (
        args.seed is not None or args.wrap_prefix is not None or args.speed is not None
    ):
        _err("error: --seed, --wrap-prefix and --speed are for --simulate")
        return 2
    if args.speed is not None and args.seconds is None:
        _err("error: --speed needs --seconds: the simulated time it compresses, ending now")
        return 2
    if args.simulate is not None and (args.registry or args.adapter):
        _err("error: --registry and --adapter are for the Bluetooth adapter, not --simulate")
        return 2
    overrides: dict[str, Any] = {}
    if args.mqtt is not None:
        broker_error = _broker_error(args.mqtt)
        if broker_error is not None:
            _err(f"error: {broker_error}")
            return 2
        overrides["mqtt_url"] = args.mqtt
    if args.site is not None:
        overrides["mqtt_site"] = args.site
    if args.outbox_rows is not None:
        overrides["mqtt_outbox_max_rows"] = args.outbox_rows
    try:
        check_id("gateway", args.gateway_id)
        if args.site is not None:
            check_id("site", args.site)
        if args.wrap_prefix:
            check_id("wrap", args.wrap_prefix + "W01")
    except TopicError as exc:
        _err(f"error: {exc}")
        return 2
    settings = Settings.load(args.config, **overrides)
    if settings.mqtt_url is None:
        _err("error: no broker: give --mqtt mqtt://HOST[:PORT] (or set mqtt_url / KMC_MQTT_URL)")
        return 2
    broker = BrokerUrl.parse(settings.mqtt_url.get_secret_value())
    data_dir = args.data_dir or "kmc-gateway-data"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    source: ReadingProducer
    wall0 = time.time()
    # --speed X --seconds D: D simulated seconds ending now, run X times faster than the wall
    # clock; readings are stamped with their simulated times, so never ahead of the ward's clock.
    start_s = wall0 - args.seconds if args.speed is not None else wall0
    end_s = math.inf if args.seconds is None else start_s + args.seconds
    run_clock: Callable[[], float] = time.time
    if args.speed is not None:
        from kmc_monitor.service.sources import ReplayClock

        run_clock = ReplayClock(start_s, args.speed)

    def clock() -> float:
        return min(run_clock(), end_s)

    if args.simulate is not None:
        source = simulated_ward(
            args.simulate,
            start_s=start_s,
            seed=args.seed or 0,
            measure_s=settings.simulate_measure_s,
            prefix=args.wrap_prefix,
        )
    else:
        from kmc_monitor.service.sources import GatewaySource

        source = GatewaySource(data_dir, registry_file=args.registry, adapter=args.adapter, demo=False)
    outbox = Outbox.in_data_dir(data_dir, max_rows=settings.mqtt_outbox_max_rows)
    trace = None
    if args.record:
        trace = _TraceStream(
            args.record, f"kmc-monitor {__version__} gateway {args.gateway_id}: readings produced"
        )

    def produced(readings: list[Any]) -> None:
        if trace is not None:
            trace.write(readings)
            trace.flush()

    publisher = GatewayPublisher(
        source,
        outbox,
        broker,
        site=settings.mqtt_site,
        gateway_id=args.gateway_id,
        on_produced=produced,
        clock=clock,
        # With --seconds everything produced is meant to arrive: wait for the broker's PUBACKs.
        drain_s=5.0 if args.seconds is None else 120.0,
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, publisher.stop)
        if args.seconds is not None:
            loop.call_later(args.seconds / (args.speed or 1.0), publisher.stop)
        print(
            f"gateway {args.gateway_id} of site {settings.mqtt_site} publishing {len(source.wraps())} "
            f"wrap(s) to {broker} (outbox in {data_dir})",
            flush=True,
        )
        await publisher.run()

    from kmc_monitor.devices.radio.gateway import AdapterUnavailableError

    try:
        asyncio.run(run())
    except AdapterUnavailableError as exc:
        _err(str(exc))
        return _NO_ADAPTER_EXIT
    finally:
        left = len(outbox)
        outbox.close()
        if trace is not None:
            trace.close()
    print(
        f"gateway {args.gateway_id} stopped: {publisher.produced} reading(s) produced, "
        f"{publisher.published} published, {left} left on disk",
        flush=True,
    )
    return 0


# --- check: scenario files; replay: a trace into a running ward ------------------------------------


def _cmd_check(args: argparse.Namespace) -> int:
    from kmc_monitor.scenarios import load_file, render_result, render_summary, results_json, run_scenario

    loaded = [s for path in args.scenarios for s in load_file(path)]  # a bad file: exit 2 before any run
    results = []
    for s in loaded:
        result = run_scenario(s)
        results.append(result)
        if not args.json:
            sys.stdout.write(render_result(result) + "\n")
            sys.stdout.flush()
    if args.json:
        json.dump(results_json(results), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_summary(results) + "\n")
    return 0 if all(r.passed for r in results) else 1


def _cmd_replay(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import socket
    import time

    from kmc_monitor.devices.trace import read_traces
    from kmc_monitor.replay import (
        HttpSender,
        MqttSender,
        ReplayRefused,
        ReplayUnreachable,
        replay,
        trace_readings,
    )

    sender: HttpSender | MqttSender
    if args.to is not None:
        if args.gateway_id is not None or args.site is not None:
            _err("error: --gateway-id and --site are for --mqtt")
            return 2
        token = args.token or os.environ.get("KMC_STAFF_TOKEN")
        if not token:
            _err("error: --to needs a staff token: --token TOKEN (or KMC_STAFF_TOKEN)")
            return 2
        try:
            sender = HttpSender(args.to, token)
        except ReplayRefused as exc:
            _err(f"error: {exc}")
            return 2
    else:
        if args.token is not None:
            _err("error: --token is for --to (the broker's credentials go in the --mqtt URL)")
            return 2
        broker_error = _broker_error(args.mqtt)
        if broker_error is not None:
            _err(f"error: {broker_error}")
            return 2
        gateway_id = args.gateway_id or f"replay-{socket.gethostname().split('.')[0]}"
        sender = MqttSender(args.mqtt, site=args.site or "ward", gateway_id=gateway_id)
    # A day ahead of this machine is a clock fault (a 2096 stamp would stall the replay's pacing).
    traces = read_traces(args.traces, latest_us=round((time.time() + 86_400.0) * 1_000_000))
    for warning in traces.warnings:
        _err(f"warning: {warning}")
    if traces.invalid_readings:
        _err(f"warning: {traces.invalid_readings} invalid reading(s); their bad values are sent as missing")
    shift = 0.0
    if args.retime and traces.series:
        first = min((int(s.t_us[0]) for s in traces.series if len(s)), default=None)
        shift = 0.0 if first is None else time.time() - first / 1e6
    readings = trace_readings(traces, shift_s=shift)
    if not readings:
        _err("error: the trace(s) hold no readings to replay")
        return 2
    span_s = readings[-1].t - readings[0].t
    wraps = sorted({r.wrap_id for r in readings})
    if isinstance(sender, HttpSender):
        where = sender.url
    else:
        where = f"{sender.broker} as gateway {sender.gateway_id}"
    _err(
        f"replaying {len(readings)} reading(s) of {len(wraps)} wrap(s), {span_s:.0f} s of trace at "
        f"{args.speed:g}x, to {where}"
    )
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(readings), unit=" readings", desc="replaying", file=sys.stderr, leave=False)
    sent = 0
    interrupted = False

    async def run() -> None:
        nonlocal sent, interrupted
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            nonlocal interrupted
            interrupted = True
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)

        def advance(k: int) -> None:
            nonlocal sent
            sent += k
            if bar is not None:
                bar.update(k)

        if isinstance(sender, MqttSender):
            await sender.open(wraps)
        try:
            await replay(readings, sender, args.speed, stop=stop, progress=advance)
        finally:
            await sender.close()

    started = time.monotonic()
    try:
        asyncio.run(run())
    except ReplayRefused as exc:
        _err(f"error: {exc}")
        return 2
    except ReplayUnreachable as exc:
        _err(f"error: {exc} (sent {sent} of {len(readings)} reading(s))")
        return 1
    finally:
        if bar is not None:
            bar.close()
    took = time.monotonic() - started
    accepted = f", {sender.accepted} accepted" if isinstance(sender, HttpSender) else ""
    if interrupted:
        _err(f"replay stopped: sent {sent} of {len(readings)} reading(s){accepted} in {took:.1f} s")
        return 130
    _err(f"replayed {sent} reading(s){accepted} in {took:.1f} s")
    return 0


def _cmd_indicators(args: argparse.Namespace) -> int:
    from kmc_monitor.programme.dhis2 import Dhis2Error, data_value_set, load_mapping, push
    from kmc_monitor.programme.indicators import Period, compute_indicators, indicators_csv
    from kmc_monitor.service.store import DB_FILENAME, Store

    db = os.path.join(args.data_dir, DB_FILENAME)
    if not os.path.isfile(db):
        _err(
            f"error: no ward database in {args.data_dir} ({DB_FILENAME} not found): "
            "give the service's data directory"
        )
        return 2
    if args.period is None:
        today = dt.date.today()
        period = Period.month(today.year, today.month)
    else:
        period = Period.parse(args.period)
    as_of = time.time()
    if args.as_of is not None:
        try:
            stamp = dt.datetime.fromisoformat(args.as_of.replace("Z", "+00:00"))
        except ValueError:
            _err(f"error: --as-of {args.as_of!r}: give an ISO 8601 time such as 2027-01-01T00:00Z")
            return 2
        as_of = (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp()
    if args.format == "dhis2" and args.mapping is None:
        _err("error: --format dhis2 needs --mapping FILE (which indicator is which DHIS2 data element)")
        return 2
    with Store(db) as store:
        indicators = compute_indicators(store, period, ward_tz=args.tz, now=as_of)
    mapping = None
    if args.mapping is not None:
        mapping = load_mapping(args.mapping, {v.key for v in indicators.values})
    if args.format == "json":
        sys.stdout.write(indicators.model_dump_json(indent=2) + "\n")
    elif args.format == "csv":
        sys.stdout.write(indicators_csv(indicators))
    else:
        assert mapping is not None
        payload = data_value_set(indicators, mapping)
        sys.stdout.write(json.dumps(payload.json_payload(), indent=2) + "\n")
        if args.push is not None:
            password = os.environ.get("KMC_DHIS2_PASSWORD")
            if not args.dhis2_user or password is None:
                _err("error: --push needs --dhis2-user NAME and the password in $KMC_DHIS2_PASSWORD")
                return 2
            try:
                summary = push(payload, args.push, args.dhis2_user, password)
            except Dhis2Error as exc:
                _err(f"error: {exc}")
                return 1
            c = summary.importCount
            _err(
                f"DHIS2 {summary.status}: {c.imported} imported, {c.updated} updated, {c.ignored} ignored, "
                f"{c.deleted} deleted"
            )
            if c.ignored or summary.conflicts:
                return 1
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from kmc_monitor.devices.trace import read_traces
    from kmc_monitor.programme.validation import (
        compare,
        plot_bland_altman,
        read_observations,
        sensor_episodes,
    )
    from kmc_monitor.signal import RuleParams

    try:
        params = RuleParams(ward_tz=args.tz)
    except ValueError as exc:
        _err(f"error: {exc}")
        return 2
    observed, bad = read_observations(args.observations, args.tz)
    for line in bad[:10]:
        _err(f"warning: {line} (row skipped)")
    if len(bad) > 10:
        _err(f"warning: {len(bad) - 10} more bad row(s) skipped")
    latest_us = round((time.time() + params.max_clock_lead_s) * 1_000_000)
    traces = read_traces(args.traces, params, latest_us=latest_us)
    for warning in traces.warnings:
        _err(f"warning: {warning}")
    known = {s.wrap_id for s in traces.series if len(s)}
    unknown = sorted({e.wrap_id for e in observed} - known)
    if unknown:
        _err(
            f"warning: no readings for wrap(s) {', '.join(unknown[:5])} observed in {args.observations}: "
            "their observed time is compared with 0 h of sensor time"
        )
    report = compare(sensor_episodes(traces.series, params), observed, args.tz, bad)
    if args.plot is not None:
        plot_bland_altman(report, args.plot)
    if args.json:
        json.dump(report.to_json(), sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    else:
        e = report.to_json()["episodes"]
        assert isinstance(e, dict)
        lines = [f"{'wrap':<12} {'date':<10} {'sensor h':>9} {'observed h':>10}"]
        lines += [
            f"{d.wrap_id:<12} {d.date.isoformat():<10} {d.sensor_h:>9.2f} {d.observed_h:>10.2f}"
            for d in report.wrap_days
        ]
        if report.bias_h is not None and report.loa_h is not None:
            lines.append(
                f"bias (sensor - observed): {report.bias_h:+.2f} h per wrap-day, 95 % limits of agreement "
                f"{report.loa_h[0]:+.2f} to {report.loa_h[1]:+.2f} h"
            )
        lines.append(
            f"observed episodes matched: {e['observed_matched']} of {e['observed']}; "
            f"sensor sessions matched: {e['sensor_matched']} of {e['sensor']}"
        )
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kmc-monitor",
        description="Skin-to-skin contact timing and hypothermia alarms for Kangaroo Mother Care wraps.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    analyze = sub.add_parser(
        "analyze",
        help="apply the clinical rules to recorded traces",
        description="Apply the clinical rules to recorded trace files (CSV or .csv.gz) and report "
        "contact totals, sessions and alarms per wrap.",
    )
    analyze.add_argument("traces", nargs="+", metavar="TRACE", help="trace files (CSV, optionally gzip)")
    analyze.add_argument("--json", action="store_true", help="print the kmc-analysis/1 JSON document")
    analyze.add_argument(
        "--tz",
        default=os.environ.get("KMC_WARD_TZ", "UTC"),
        help="the ward's IANA time zone for calendar days (default: $KMC_WARD_TZ or UTC)",
    )
    analyze.set_defaults(func=_cmd_analyze)
    decode = sub.add_parser(
        "decode",
        help="decode BTHome advertisements or Health Thermometer measurements given in hex",
        description="Decode wire-format payloads given as hex and print one JSON object per input, in "
        "order: the decoded values (temperatures in degrees Celsius, under keys ending in _c) or "
        '{"error": "..."}. Exit status 0 if every input decoded, 1 otherwise.',
    )
    decode.add_argument(
        "payloads",
        nargs="+",
        metavar="HEX",
        help="payload bytes in hex (spaces, colons or a 0x prefix allowed); "
        "'-' reads one per line from stdin",
    )
    decode.add_argument(
        "--kind",
        choices=("bthome", "hts"),
        default="bthome",
        help="bthome: BTHome v2 service data (UUID 0xFCD2), the default; hts: a Health Thermometer "
        "Temperature Measurement (0x2A1C)",
    )
    decode.add_argument("--key", metavar="HEX", help="the wrap's 16-byte BTHome key (32 hex digits)")
    decode.add_argument("--mac", metavar="MAC", help="the advertiser's MAC address, e.g. 54:48:E6:8F:80:A5")
    decode.add_argument(
        "--intermediate",
        action="store_true",
        help="with --kind hts: the payloads are Intermediate Temperature values (0x2A1E)",
    )
    decode.set_defaults(func=_cmd_decode)
    scan = sub.add_parser(
        "scan",
        help="list the wraps a Bluetooth adapter hears",
        description="Listen for BTHome advertisements and list every advertiser heard: MAC address, "
        "wrap id (with --registry), signal strength and the last values it sent. Without a usable "
        f"Bluetooth adapter: one line on stderr and exit status {_NO_ADAPTER_EXIT}.",
    )
    scan.add_argument("--seconds", type=_positive_float, default=10.0, help="how long to listen (default 10)")
    _radio_arguments(scan)
    scan.set_defaults(func=_cmd_scan)
    record = sub.add_parser(
        "record",
        help="record what the wraps send as a trace file",
        description="Write every verified reading heard to a trace file (trace-format.md), flushed "
        "as it goes so an interrupted recording keeps what was heard. With --simulate N the "
        "readings of N simulated wraps are recorded on an accelerated clock: a test trace for analyze.",
    )
    record.add_argument(
        "--out", required=True, metavar="TRACE.csv", help="trace file to write (.csv or .csv.gz)"
    )
    record.add_argument(
        "--seconds",
        type=_positive_float,
        help="how long to record (default: until Ctrl-C; 600 simulated seconds with --simulate)",
    )
    _radio_arguments(record)
    record.set_defaults(func=_cmd_record)
    serve = sub.add_parser(
        "serve",
        help="run the ward service (web API and WebSocket streams)",
        description="Run the ward service. Its readings come from the Bluetooth adapter (--ble), "
        "simulated wraps (--simulate N, a demo ward with a baby admitted per wrap) or recorded "
        "traces (--replay). With none of these named, it uses the Bluetooth adapter if one can "
        "scan and otherwise says why on stderr and runs 12 simulated wraps. With --ble and no "
        f"usable adapter: one line on stderr and exit status {_NO_ADAPTER_EXIT}. Without a "
        "configured staff token it uses the ward's own credential, kept hashed in the data directory "
        "(made and printed once, on the first start; 'kmc-monitor credential rotate' replaces it). "
        "Listens on 127.0.0.1 unless --host says otherwise.",
    )
    sources = serve.add_mutually_exclusive_group()
    sources.add_argument("--simulate", type=_positive_int, metavar="N", help="N simulated wraps (default 12)")
    sources.add_argument("--replay", nargs="+", metavar="TRACE", help="replay recorded trace files instead")
    sources.add_argument(
        "--ble",
        action="store_true",
        help="listen to the wraps on the Bluetooth adapter: the wraps registered in the data "
        "directory (and --registry); a new ward starts with empty beds",
    )
    sources.add_argument(
        "--ble-simulated",
        dest="ble_simulated",
        type=_positive_int,
        metavar="N",
        help="for engineers and tests: N simulated wraps on a simulated radio, in real time, heard "
        "through the same Bluetooth gateway as --ble (encryption, verification, replay counters); "
        "a new ward admits a baby per wrap, as with --simulate",
    )
    sources.add_argument(
        "--station",
        action="store_true",
        help="a health station with no live ward of its own: the babies at home in its care, their "
        "home gateways' sync, visits (its page is /station; every ward service runs one too)",
    )
    sources.add_argument(
        "--mqtt",
        metavar="URL",
        help="a hospital ward: subscribe to the room gateways' readings on this MQTT 5 broker "
        "(mqtt://[USER:PASSWORD@]HOST[:PORT], mqtts:// for TLS); a new ward starts with empty beds, "
        "and wraps heard appear as unassigned until staff register them and put them on a bed",
    )
    serve.add_argument(
        "--hl7",
        metavar="URL",
        help="send IHE PCD-01 observations and PCD-04 alarms as HL7 v2.6 to the hospital's interface "
        "engine at mllp://HOST:PORT (a durable queue keeps them while it is away; see docs/hl7.md)",
    )
    serve.add_argument(
        "--adapter", metavar="NAME", help="Bluetooth adapter, e.g. hci0 (default: the system's)"
    )
    serve.add_argument(
        "--registry",
        metavar="FILE",
        help="the ward's wrap registry (TOML or JSON): its wraps are added to the data directory's",
    )
    serve.add_argument(
        "--speed", type=_positive_float, default=1.0, help="time runs this many times faster (default 1)"
    )
    serve.add_argument(
        "--new-ward",
        dest="new_ward",
        action="store_true",
        help="with --simulate: set up a fresh data directory as a real ward (empty beds, the "
        "first-run page, the simulated wraps registered but on no bed) to try a ward's first day",
    )
    serve.add_argument(
        "--host", help="interface to listen on (default 127.0.0.1; 0.0.0.0 for phones and screens on the LAN)"
    )
    serve.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--data-dir", dest="data_dir", help="where the ward's database lives")
    serve.add_argument("--config", metavar="FILE", help="the service's TOML configuration file")
    serve.add_argument(
        "--log-format",
        dest="log_format",
        choices=("text", "json"),
        help="text (default) or json: one JSON object per line on stderr, for a log collector",
    )
    serve.set_defaults(func=_cmd_serve)
    gateway = sub.add_parser(
        "gateway",
        help="run a room gateway: publish the wraps' readings to the hospital's MQTT broker",
        description="Listen to the wraps (the Bluetooth adapter, or --simulate N) and publish every "
        "verified reading to an MQTT 5 broker on kmc/SITE/GATEWAY/wrap/WRAP/reading (QoS 1), with "
        "the gateway's presence retained on kmc/SITE/GATEWAY/status (its Last Will says offline). "
        "While the broker is unreachable, readings wait on disk (bounded; the oldest are dropped "
        "past the bound, counted) and are sent in order once it is back. A bad URL or id: one "
        f"line and exit status 2; no usable Bluetooth adapter: exit status {_NO_ADAPTER_EXIT}.",
    )
    gateway.add_argument("--mqtt", metavar="URL", help="the broker (default: mqtt_url of the settings)")
    gateway.add_argument(
        "--gateway-id",
        dest="gateway_id",
        required=True,
        metavar="ID",
        help="this gateway's id, unique on the site",
    )
    gateway.add_argument(
        "--site", metavar="ID", help="the ward's id in the topics (default: mqtt_site, 'ward')"
    )
    gateway.add_argument(
        "--simulate",
        type=_positive_int,
        metavar="N",
        help="N simulated wraps in real time instead of the adapter",
    )
    gateway.add_argument("--seed", type=int, help="with --simulate: the simulated ward's seed (default 0)")
    gateway.add_argument(
        "--wrap-prefix",
        dest="wrap_prefix",
        metavar="TEXT",
        help="with --simulate: put TEXT before the simulated wrap ids (W01 becomes TEXTW01), so two "
        "simulated rooms have different wraps",
    )
    gateway.add_argument(
        "--speed",
        type=_positive_float,
        metavar="X",
        help="with --simulate and --seconds: run the simulated ward X times faster than real time, "
        "over the --seconds of simulated time that end now (readings keep their simulated times: "
        "a backlog delivered fast, for soak tests)",
    )
    gateway.add_argument(
        "--seconds",
        type=_positive_float,
        metavar="S",
        help="stop after S seconds (simulated seconds with --speed), once what was produced is sent",
    )
    gateway.add_argument("--registry", metavar="FILE", help="the wraps' registry (TOML or JSON) to import")
    gateway.add_argument(
        "--adapter", metavar="NAME", help="Bluetooth adapter, e.g. hci0 (default: the system's)"
    )
    gateway.add_argument(
        "--data-dir",
        dest="data_dir",
        help="the gateway's data directory: outbox, registry, replay counters (default kmc-gateway-data)",
    )
    gateway.add_argument(
        "--outbox-rows",
        dest="outbox_rows",
        type=_positive_int,
        metavar="N",
        help="keep at most N unacknowledged readings on disk (default: mqtt_outbox_max_rows, 1000000)",
    )
    gateway.add_argument(
        "--record", metavar="TRACE.csv", help="also write every reading produced to this trace"
    )
    gateway.add_argument("--config", metavar="FILE", help="a TOML configuration file (the mqtt_* settings)")
    gateway.set_defaults(func=_cmd_gateway)
    check = sub.add_parser(
        "check",
        help="run scenario files through the rules and check their expected events",
        description="Run each scenario (a YAML file naming a trace, or generating one, and the "
        "sessions, alarms and totals expected; see docs/scenarios.md) through the batch analysis "
        "and the live engine, and print every expectation with what happened. Exit status 0 if "
        "all hold, 1 if any fails, 2 for a file that is not a valid scenario.",
    )
    check.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files (.yaml)")
    check.add_argument("--json", action="store_true", help="print the kmc-scenarios/1 JSON document")
    check.set_defaults(func=_cmd_check)
    replay_cmd = sub.add_parser(
        "replay",
        help="send recorded traces into a running ward (HTTP) or broker (MQTT)",
        description="Send the readings of trace files, in time order at --speed times their recorded "
        "pace, to a running ward service (--to URL: POST /api/readings with a staff token) or to an "
        "MQTT broker as a room gateway publishes them (--mqtt URL). Ctrl-C stops after the batch in "
        "flight and says how far it got. Bad input: one line and exit status 2; the service or "
        "broker unreachable: exit status 1.",
    )
    replay_cmd.add_argument("traces", nargs="+", metavar="TRACE", help="trace files (CSV, optionally gzip)")
    replay_to = replay_cmd.add_mutually_exclusive_group(required=True)
    replay_to.add_argument("--to", metavar="URL", help="the ward service, e.g. http://127.0.0.1:8000")
    replay_to.add_argument("--mqtt", metavar="URL", help="the broker, mqtt://[USER:PASSWORD@]HOST[:PORT]")
    replay_cmd.add_argument(
        "--speed", type=_positive_float, default=1.0, help="this many times the recorded pace (default 1)"
    )
    replay_cmd.add_argument("--token", help="with --to: a staff token (default: $KMC_STAFF_TOKEN)")
    replay_cmd.add_argument(
        "--gateway-id",
        dest="gateway_id",
        metavar="ID",
        help="with --mqtt: the gateway id (default replay-HOST)",
    )
    replay_cmd.add_argument("--site", metavar="ID", help="with --mqtt: the ward's site id (default 'ward')")
    replay_cmd.add_argument(
        "--retime",
        action="store_true",
        help="shift the trace to start now (for a ward that judges readings in real time)",
    )
    replay_cmd.set_defaults(func=_cmd_replay)
    indicators = sub.add_parser(
        "indicators",
        help="programme indicators of a ward for a period (JSON, CSV or DHIS2 data values)",
        description="Work out the ward's quality indicators (docs/indicators.md) for a period from "
        "its data directory, and print them as JSON, CSV or a DHIS2 dataValueSets document "
        "(--mapping names each indicator's data element). --push sends the DHIS2 document to a "
        "server (password in $KMC_DHIS2_PASSWORD). Bad input: exit status 2; DHIS2 refused or "
        "ignored values: 1.",
    )
    indicators.add_argument(
        "--data-dir", required=True, metavar="DIR", help="the ward service's data directory"
    )
    indicators.add_argument(
        "--period",
        metavar="PERIOD",
        help="2026-12 (default: this month), 2026-12-05 or 2026-12-01..2026-12-15",
    )
    indicators.add_argument("--format", choices=("json", "csv", "dhis2"), default="json")
    indicators.add_argument("--mapping", metavar="FILE", help="the DHIS2 mapping file (YAML or JSON)")
    indicators.add_argument("--push", metavar="URL", help="with --format dhis2: the DHIS2 server to send to")
    indicators.add_argument(
        "--dhis2-user", dest="dhis2_user", metavar="NAME", help="the DHIS2 user for --push"
    )
    indicators.add_argument(
        "--tz",
        default=os.environ.get("KMC_WARD_TZ", "UTC"),
        help="the ward's IANA time zone for calendar days (default: $KMC_WARD_TZ or UTC)",
    )
    indicators.add_argument(
        "--as-of",
        dest="as_of",
        metavar="TIME",
        help="count time up to this ISO 8601 moment (default: now), for a report made again later",
    )
    indicators.set_defaults(func=_cmd_indicators)
    validate = sub.add_parser(
        "validate",
        help="compare the wraps' skin-to-skin time with direct observation (validation study)",
        description="Compare the sessions found in trace files with an observer's log "
        "(OBS.csv: wrap_id,start,end[,observer]; times in epoch seconds or ISO 8601): hours per "
        "wrap-day with Bland-Altman bias and 95 %% limits of agreement, and how many episodes of "
        "each side the other matches. See docs/validation.md.",
    )
    validate.add_argument("traces", nargs="+", metavar="TRACE", help="trace files (CSV, optionally gzip)")
    validate.add_argument("--observations", required=True, metavar="OBS.csv", help="the observer's log")
    validate.add_argument("--json", action="store_true", help="print the kmc-validation/1 JSON document")
    validate.add_argument("--plot", metavar="FILE", help="write the Bland-Altman plot (.png or .svg)")
    validate.add_argument(
        "--tz",
        default=os.environ.get("KMC_WARD_TZ", "UTC"),
        help="the ward's IANA time zone for calendar days (default: $KMC_WARD_TZ or UTC)",
    )
    validate.set_defaults(func=_cmd_validate)
    cred_cmd = sub.add_parser(
        "credential",
        help="replace the ward's staff credential (the old one stops working at the next start)",
        description="The ward's own staff credential is made on the first start and kept hashed in "
        "the data directory. 'rotate' makes a new one, prints it once and replaces the old one: "
        "restart the service, then sign the screens in again with the new one.",
    )
    cred_cmd.add_argument("action", choices=("rotate",))
    cred_cmd.add_argument("--data-dir", dest="data_dir", help="the ward's data directory")
    cred_cmd.add_argument("--config", help="the ward's TOML configuration file")
    cred_cmd.set_defaults(func=_cmd_credential)
    wrap_cmd = sub.add_parser(
        "wrap",
        help="re-key a wrap, or accept its restarted counter after a re-flash (audited)",
        description="Change a registered wrap in the ward's database, recording who did it in the "
        "wrap audit log: 'rekey WRAP --key HEX' after re-provisioning (its counter restarts), "
        "'reset-counter WRAP' after a re-flash restarted its counter (only once an engineer has "
        "checked the wrap itself was reset: a lower counter is otherwise a replay), 'audit' lists "
        "what was done. For a ward service that is running, use its API (POST "
        "/api/wraps/WRAP/key, /api/wraps/WRAP/counter-reset) so that it takes effect at once.",
    )
    wrap_cmd.add_argument("action", choices=("rekey", "reset-counter", "audit", "label"))
    wrap_cmd.add_argument("wrap_id", nargs="?", metavar="WRAP", help="the wrap's id")
    wrap_cmd.add_argument("--key", metavar="HEX", help="rekey: the new key, 32 hex digits ('none': keyless)")
    wrap_cmd.add_argument("--data-dir", dest="data_dir", help="the ward's data directory")
    wrap_cmd.add_argument("--mac", help="label: the wrap's MAC (a wrap not registered yet)")
    wrap_cmd.add_argument(
        "--out", metavar="FILE.svg", help="label: where the QR code goes (default WRAP-label.svg)"
    )
    wrap_cmd.add_argument("--config", help="the ward's TOML configuration file")
    wrap_cmd.set_defaults(func=_cmd_wrap)
    from kmc_monitor.home.cli import add_home_parser  # the home gateway (issue 17)

    add_home_parser(sub)
    return parser


def _cmd_credential(args: argparse.Namespace) -> int:
    """``kmc-monitor credential rotate``: code in service/credential.py."""
    from kmc_monitor.service.credential import command

    return command(args, print)


def _cmd_wrap(args: argparse.Namespace) -> int:
    """``kmc-monitor wrap``: see its description in :func:`_parser`."""
    import getpass
    import time

    from kmc_monitor.service.config import Settings
    from kmc_monitor.service.store import Store

    if args.action != "audit" and not args.wrap_id:
        _err(f"error: wrap {args.action} needs the wrap's id")
        return 2
    if args.action == "rekey" and not args.key:
        _err("error: wrap rekey needs --key HEX (32 hex digits), or --key none for a keyless wrap")
        return 2
    if args.action == "label":
        from kmc_monitor.service.wrap_label import wrap_label_command

        return wrap_label_command(args, print)
    overrides: dict[str, Any] = {} if args.data_dir is None else {"data_dir": args.data_dir}
    settings = Settings.load(args.config, **overrides)
    who = f"cli:{getpass.getuser()}"
    with Store.from_settings(settings) as store:
        if args.action == "rekey":
            key = None if args.key.lower() == "none" else args.key
            store.rekey_wrap(args.wrap_id, key, now=time.time(), who=who)
            print(f"wrap {args.wrap_id} re-keyed; its replay counter starts afresh (recorded as {who})")
        elif args.action == "reset-counter":
            before = store.reset_wrap_counter(args.wrap_id, now=time.time(), who=who)
            print(f"wrap {args.wrap_id}: counter reset (was {before}; recorded as {who})")
        else:
            for row in store.wrap_audit(args.wrap_id):
                when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["at_t"]))
                print(f"{when} {row['wrap_id']} {row['action']} by {row['who']}: {row['detail']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
        return code
    except KmcError as exc:
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
