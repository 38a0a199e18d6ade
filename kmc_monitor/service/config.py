"""The ward service's configuration: ``KMC_*`` environment variables and an optional TOML file.

Everything here belongs to the responsible organisation (the hospital), not to a nurse at the screen:
the clinical numbers of ``clinical-rules.md``, the ward's name and time zone, how long readings are
kept, and the staff tokens. Sources, strongest first:

1. keyword arguments (``Settings(port=8001)``, ``Settings.load(path, port=8001)``): tests and the CLI;
2. environment variables ``KMC_<FIELD>``, nested ones with ``__`` (``KMC_CLINICAL__DAILY_GOAL_S``);
   ``KMC_STAFF_TOKENS`` takes a comma-separated list;
3. the TOML file named by ``Settings.load(path)`` or by ``KMC_CONFIG``; clinical numbers go in a
   ``[clinical]`` table;
4. the defaults below (the clinical ones are :class:`~kmc_monitor.signal.params.RuleParams`' own).

Nothing is read at import time: the service builds one :class:`Settings` in its entry point and hands
it down (``create_app(settings)``). Staff tokens are :class:`~pydantic.SecretStr`, so neither ``repr``,
``str``, a log line nor a validation error ever shows them (``hide_input_in_errors``).

An example file::

    ward_name = "Neonatal unit, KMC room"
    ward_tz = "Africa/Nairobi"
    data_dir = "/var/lib/kmc-monitor"
    retention_days = 30

    [clinical]
    daily_goal_s = 72000        # 20 h
    cold_stress_below_c = 36.5
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from kmc_monitor.errors import KmcError
from kmc_monitor.service.shifts import parse_shift_starts
from kmc_monitor.signal.params import RuleParams

__all__ = ["CONFIG_ENV", "ClinicalParams", "ConfigError", "Settings"]

#: The environment variable naming the TOML configuration file.
CONFIG_ENV: Final = "KMC_CONFIG"
_ENV_PREFIX: Final = "KMC_"
_NESTED: Final = "__"

#: The file chosen by :meth:`Settings.load` for the settings being built right now. A context
#: variable rather than a class attribute so that two threads loading two files do not mix them up.
_config_file: ContextVar[Path | None] = ContextVar("kmc_config_file", default=None)

_DEFAULTS: Final = RuleParams()


class ConfigError(KmcError, ValueError):
    """The configuration cannot be used: a missing or malformed file, or values out of range.

    The message lists every problem, one per line, each with the setting's name and environment
    variable, so an operator can fix them all in one go.
    """


def _between(name: str, value: float, lo: float, hi: float, unit: str, hint: str = "") -> float:
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo:g} and {hi:g} {unit}; got {value:g}{hint}")
    return value


class ClinicalParams(BaseModel):
    """The clinical numbers of ``clinical-rules.md``, field for field those of :class:`RuleParams`.

    The one field of :class:`RuleParams` not here is ``ward_tz``: the ward's time zone is a property
    of the ward (:attr:`Settings.ward_tz`), shared with everything else that shows local times.
    Ranges are wide enough for any hospital's policy and narrow enough to catch a unit mistake
    (hours typed where seconds are expected, Fahrenheit for Celsius).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    stale_after_s: Annotated[float, Field(gt=0, le=3600)] = _DEFAULTS.stale_after_s
    gap_tolerance_s: Annotated[float, Field(gt=0, le=3600)] = _DEFAULTS.gap_tolerance_s
    goal_sessions_at_least_s: Annotated[float, Field(ge=0, le=86_400)] = _DEFAULTS.goal_sessions_at_least_s
    no_data_clear_s: Annotated[float, Field(gt=0, le=3600)] = _DEFAULTS.no_data_clear_s
    earliest_t_s: Annotated[float, Field(ge=0)] = _DEFAULTS.earliest_t_s
    #: The offline analysis's allowed lead over the machine's clock; the live service uses the
    #: tighter ``live_clock_lead_s``.
    max_clock_lead_s: Annotated[float, Field(gt=0, le=30 * 86_400)] = _DEFAULTS.max_clock_lead_s

    contact_on: Annotated[float, Field(ge=0, le=1)] = _DEFAULTS.contact_on
    contact_off: Annotated[float, Field(ge=0, le=1)] = _DEFAULTS.contact_off
    contact_first: Annotated[float, Field(ge=0, le=1)] = _DEFAULTS.contact_first
    bridge_gap_s: Annotated[float, Field(ge=0, le=3600)] = _DEFAULTS.bridge_gap_s
    min_session_s: Annotated[float, Field(ge=0, le=3600)] = _DEFAULTS.min_session_s
    short_session_s: Annotated[float, Field(gt=0, le=86400)] = _DEFAULTS.short_session_s

    daily_goal_s: float = _DEFAULTS.daily_goal_s
    min_daily_contact_s: float = _DEFAULTS.min_daily_contact_s

    smooth_s: Annotated[float, Field(gt=0, le=600)] = _DEFAULTS.smooth_s
    cold_stress_below_c: float = _DEFAULTS.cold_stress_below_c
    moderate_below_c: float = _DEFAULTS.moderate_below_c
    severe_below_c: float = _DEFAULTS.severe_below_c
    hyperthermia_above_c: float = _DEFAULTS.hyperthermia_above_c
    hysteresis_c: Annotated[float, Field(ge=0, le=1)] = _DEFAULTS.hysteresis_c
    recovery_s: Annotated[float, Field(ge=0, le=3600)] = _DEFAULTS.recovery_s
    cold_stress_delay_s: Annotated[float, Field(ge=0, le=3600)] = _DEFAULTS.cold_stress_delay_s
    moderate_delay_s: Annotated[float, Field(ge=0, le=3600)] = _DEFAULTS.moderate_delay_s
    severe_delay_s: Annotated[float, Field(ge=0, le=600)] = _DEFAULTS.severe_delay_s
    hyperthermia_delay_s: Annotated[float, Field(ge=0, le=3600)] = _DEFAULTS.hyperthermia_delay_s

    plausible_min_c: float = _DEFAULTS.plausible_min_c
    plausible_max_c: float = _DEFAULTS.plausible_max_c

    detach_gap_c: Annotated[float, Field(ge=0, le=20)] = _DEFAULTS.detach_gap_c
    detach_fall_c: Annotated[float, Field(gt=0, le=20)] = _DEFAULTS.detach_fall_c
    detach_fall_window_s: Annotated[float, Field(gt=0, le=3600)] = _DEFAULTS.detach_fall_window_s
    reattach_gap_c: Annotated[float, Field(ge=0, le=20)] = _DEFAULTS.reattach_gap_c
    reattach_rise_c: Annotated[float, Field(gt=0, le=20)] = _DEFAULTS.reattach_rise_c
    settle_s: Annotated[float, Field(gt=0, le=3600)] = _DEFAULTS.settle_s
    sensor_detached_delay_s: Annotated[float, Field(ge=0, le=3600)] = _DEFAULTS.sensor_detached_delay_s

    low_battery_pct: Annotated[float, Field(ge=0, le=100)] = _DEFAULTS.low_battery_pct
    battery_recovered_pct: Annotated[float, Field(ge=0, le=100)] = _DEFAULTS.battery_recovered_pct
    cooling_rate_c_per_h: Annotated[float, Field(gt=0, le=10)] = _DEFAULTS.cooling_rate_c_per_h
    cooling_clear_rate_c_per_h: Annotated[float, Field(ge=0, le=10)] = _DEFAULTS.cooling_clear_rate_c_per_h
    cooling_window_s: Annotated[float, Field(gt=0, le=6 * 3600)] = _DEFAULTS.cooling_window_s
    cooling_below_c: float = _DEFAULTS.cooling_below_c
    cooling_delay_s: Annotated[float, Field(ge=0, le=3600)] = _DEFAULTS.cooling_delay_s

    @field_validator("daily_goal_s")
    @classmethod
    def _daily_goal(cls, v: float) -> float:
        # The WHO asks for 8-24 h a day; a goal under an hour is a unit mistake (hours typed for s).
        hint = f" ({v / 3600:.3g} h)" if math.isfinite(v) else ""
        return _between("the daily goal daily_goal_s", v, 3600, 86400, "s (1 to 24 h)", hint)

    @field_validator("min_daily_contact_s")
    @classmethod
    def _min_daily(cls, v: float) -> float:
        return _between("min_daily_contact_s", v, 0, 86400, "s (0 to 24 h)")

    @field_validator(
        "cold_stress_below_c",
        "moderate_below_c",
        "severe_below_c",
        "hyperthermia_above_c",
        "plausible_min_c",
        "plausible_max_c",
        "cooling_below_c",
    )
    @classmethod
    def _celsius(cls, v: float) -> float:
        # 10-50 °C holds every clinical threshold; 96.8 (°F) or 309.6 (K) does not.
        return _between("a temperature threshold", v, 10.0, 50.0, "°C (degrees Celsius)")

    @model_validator(mode="after")
    def _ordered(self) -> ClinicalParams:
        problems: list[str] = []
        if not self.severe_below_c < self.moderate_below_c < self.cold_stress_below_c:
            problems.append(
                "cold thresholds must be ordered severe_below_c < moderate_below_c < cold_stress_below_c; "
                f"got {self.severe_below_c:g} / {self.moderate_below_c:g} / {self.cold_stress_below_c:g} °C"
            )
        if self.cold_stress_below_c + self.hysteresis_c > self.hyperthermia_above_c - self.hysteresis_c:
            problems.append(
                "the normal band is empty: cold_stress_below_c + hysteresis_c must not exceed "
                f"hyperthermia_above_c - hysteresis_c (got {self.cold_stress_below_c:g} and "
                f"{self.hyperthermia_above_c:g} °C with hysteresis {self.hysteresis_c:g} °C)"
            )
        if not self.contact_off <= self.contact_first <= self.contact_on:
            problems.append(
                "contact thresholds must be ordered contact_off <= contact_first <= contact_on; got "
                f"{self.contact_off:g} / {self.contact_first:g} / {self.contact_on:g}"
            )
        if self.plausible_min_c >= self.plausible_max_c:
            problems.append("plausible_min_c must be below plausible_max_c")
        if self.detach_gap_c >= self.reattach_gap_c:
            problems.append("detach_gap_c must be below reattach_gap_c (so a sensor does not flap)")
        if self.low_battery_pct > self.battery_recovered_pct:
            problems.append("battery_recovered_pct must be at least low_battery_pct")
        if self.cooling_clear_rate_c_per_h > self.cooling_rate_c_per_h:
            problems.append("cooling_clear_rate_c_per_h must not exceed cooling_rate_c_per_h")
        if self.min_daily_contact_s > self.daily_goal_s:
            problems.append("min_daily_contact_s (the advisory floor) must not exceed daily_goal_s")
        if problems:
            raise ValueError("; ".join(problems))
        try:
            # Whatever RuleParams itself refuses is refused here too, at start-up, not mid-shift.
            self.rule_params()
        except ValueError as exc:
            raise ValueError(f"clinical parameters rejected: {exc}") from None
        return self

    def rule_params(self, ward_tz: str = "UTC") -> RuleParams:
        """These numbers as the :class:`RuleParams` the signal core computes with."""
        return RuleParams(ward_tz=ward_tz, **self.model_dump())


def _split_tokens(value: object) -> object:
    """``KMC_STAFF_TOKENS=a,b`` from the environment, a list from TOML or code."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything the ward service needs to start; build it with :meth:`load` at the entry point."""

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX,
        env_nested_delimiter=_NESTED,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        validate_default=True,
    )

    #: Interface to listen on. The default serves this machine only; a ward screen on the LAN needs
    #: ``0.0.0.0`` (or the ward network's address) and then TLS in front (a reverse proxy).
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    #: Where the database lives (created on first start, readable by the service user only).
    data_dir: Path = Path("kmc-data")
    #: The staff token (``KMC_STAFF_TOKEN``); more in :attr:`staff_tokens`, e.g. one per shift
    #: device, so one can be withdrawn without re-keying everyone.
    staff_token: SecretStr | None = None
    staff_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    #: Tokens of lesser roles (comma-separated in the environment): ``metrics_tokens`` read
    #: /metrics only (a Prometheus scraper); ``screen_tokens`` view, acknowledge and pause (a wall
    #: screen); ``nurse_tokens`` also admit, discharge and assign wraps. ``staff_token(s)`` are the
    #: admin tokens: also beds, wraps, keys and readings fed in (docs/security.md).
    metrics_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    screen_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    nurse_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    #: A signed-in device's session lasts this long (a shift), renewed while the device is in use.
    session_s: Annotated[float, Field(ge=300, le=7 * 86400)] = 12 * 3600.0
    ward_name: Annotated[str, Field(min_length=1, max_length=80)] = "KMC ward"
    #: IANA time zone of the ward: daily totals run midnight to midnight on the ward's clock.
    ward_tz: str = "UTC"
    #: How every page prints a time of day: ``24h`` ("15:40", the default: no am/pm to misread on
    #: a night shift) or ``12h`` ("3:40 pm"). Set once here, never by a browser's locale.
    clock_format: Literal["24h", "12h"] = "24h"
    #: When the ward's shifts start, ward time (``KMC_SHIFT_STARTS=07:00,19:00``): each shift runs to
    #: the next start, the last one past midnight to the first. The handover report defaults to the
    #: shift just ended or running (docs/rules.md, "Shift handover"). One to six starts.
    shift_starts: Annotated[tuple[str, ...], NoDecode] = ("07:00", "19:00")
    #: The Wi-Fi network families join to open their page, printed on the family card; None: the
    #: card says "the ward Wi-Fi" without a name.
    family_wifi_name: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    #: The address families and screens reach the service at (QR codes point here). Default:
    #: ``http://{host}:{port}``, which only works on this machine.
    public_url: str | None = None
    #: Days of raw readings kept; admissions, sessions and the alarm audit log are kept.
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    #: Accept plaintext advertisements from keyless wraps (bench tests only; never on a ward).
    allow_unencrypted: bool = False
    #: Number of simulated wraps to run instead of (or beside) the radio; 0 on a real ward.
    #: ``json``: one JSON object per log line (for a log collector); ``text`` for people.
    log_format: Literal["text", "json"] = "text"
    simulate: Annotated[int, Field(ge=0, le=500)] = 0
    #: Seconds between a simulated wrap's measurements (a real wrap measures every 2 s).
    simulate_measure_s: Annotated[float, Field(ge=0.5, le=60)] = 2.0
    #: Beds set up when a real (not simulated) ward starts on an empty data directory; staff then
    #: admit babies and assign wraps through the API.
    beds: Annotated[int, Field(ge=1, le=200)] = 12
    #: How long a reading is held so deliveries out of order are fed in order. None: chosen by the
    #: source (0 for every source today: each delivers a wrap's readings in order, and the MQTT
    #: source drops copies from a second gateway by the wrap's counter; see docs/rules.md). Every
    #: held second delays the screen and every alarm.
    reorder_s: Annotated[float | None, Field(ge=0, le=30)] = None
    #: A reading stamped more than this ahead of the service's clock is a clock fault, refused and
    #: counted, whatever its source (radio, MQTT, ``POST /api/readings``, replay): a wrap or gateway
    #: with a wrong clock would otherwise show "heard 0 s ago" for ever. Tighter than the offline
    #: analysis's 24 h, because a ward service knows the time.
    live_clock_lead_s: Annotated[float, Field(ge=1, le=86_400)] = 300.0
    #: Whether an admission must carry the hospital number (some hospitals keep it out of the ward
    #: screen; others need it to match the baby to the chart).
    require_hospital_number: bool = False
    #: The hospital's MQTT broker (``mqtt://[user:password@]host[:port]``, ``mqtts://`` for TLS):
    #: ``serve`` subscribes to it instead of listening to a radio, ``gateway`` publishes to it.
    #: Secret, as it may carry a password; logs show it without one.
    mqtt_url: SecretStr | None = None
    #: The ward's id in the topics (``kmc/<site>/...``): letters, digits, '.', '_', '-'.
    mqtt_site: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")] = "ward"
    #: The service's fixed MQTT client id: its persistent session (one per running service).
    mqtt_client_id: Annotated[str, Field(min_length=1, max_length=64)] = "kmc-ward"
    #: Shared-subscription group for the readings (used where the broker offers them); empty: a
    #: plain subscription, the default, because Mosquitto 2.0 does not restore a persistent
    #: session's shared subscriptions after a broker restart (readings published before the
    #: service re-subscribes would be lost). See kmc_monitor/mqtt/subscriber.py.
    mqtt_share_group: Annotated[str, Field(pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]{0,31})?$")] = ""
    #: How long the broker keeps the service's session (and queues its readings) while it is away.
    mqtt_session_expiry_s: Annotated[int, Field(ge=0, le=4_294_967_295)] = 86_400
    #: A gateway keeps at most this many unacknowledged readings on disk (then drops the oldest).
    mqtt_outbox_max_rows: Annotated[int, Field(ge=100, le=100_000_000)] = 1_000_000
    #: The hospital's HL7 v2 interface engine (``mllp://HOST:PORT``): the service sends it IHE PCD-01
    #: observations and PCD-04 alarms (docs/hl7.md). None: no HL7 interface.
    hl7_url: str | None = None
    #: Ward seconds between two PCD-01 observation messages of one admitted bed.
    hl7_observation_interval_s: Annotated[float, Field(ge=1, le=3600)] = 60.0
    #: Seconds of an idle link between watchdog keep-alives (each must be acknowledged within 5 s).
    hl7_keepalive_s: Annotated[float, Field(ge=1, le=300)] = 10.0
    #: MSH-5 and MSH-6: the receiving application and facility, as the interface engine expects.
    hl7_receiving_application: Annotated[str, Field(max_length=180)] = ""
    hl7_receiving_facility: Annotated[str, Field(max_length=180)] = ""
    #: At most this many HL7 messages wait on disk for an engine that is away (then the oldest
    #: observations are dropped, counted).
    hl7_outbox_max_rows: Annotated[int, Field(ge=100, le=100_000_000)] = 500_000
    #: Health station (#17, issue-17b): the follow-up visits due after a discharge home on KMC,
    #: in days after the discharge (``KMC_STATION_VISIT_DAYS=[1,2,3,5,7,10,14,21,28]``). The default
    #: is the schedule of the community-initiated KMC trial (days 1-3, 5, 7, 10, 14, 21 and 28).
    station_visit_days: tuple[Annotated[int, Field(ge=0, le=365)], ...] = (1, 2, 3, 5, 7, 10, 14, 21, 28)
    #: Worker processes that verify large sync batches (a station catching up on many homes); 0:
    #: in the service's own process (kmc_monitor/station/sync.py says why a pool).
    station_verify_workers: Annotated[int, Field(ge=0, le=16)] = 2
    #: The room gateways registered for this ward (``KMC_MQTT_GATEWAYS=room-1,room-2``): readings
    #: and presence of any other gateway id are refused (``unknown_gateway``). Required by
    #: ``serve --mqtt`` unless :attr:`mqtt_allow_unsealed`; the broker's ACL makes each gateway
    #: publish under its own id only (docs/security.md).
    mqtt_gateways: Annotated[
        tuple[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")], ...], NoDecode
    ] = ()
    #: Lab setting: accept MQTT readings without the wrap's sealed packet (replayed traces, keyless
    #: bench wraps) and from any gateway. Never on a ward: anyone who can publish to the broker
    #: could then show a cold baby as warm.
    mqtt_allow_unsealed: bool = False
    #: TLS served by the service itself (PEM files): a certificate the ward's screens trust and its
    #: key (readable by the service user only). Or leave both unset and put a reverse proxy with
    #: TLS in front (docs/security.md).
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    #: A connection must send a complete request head within this many seconds (slow-header
    #: connections are closed; see kmc_monitor/service/connections.py).
    header_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    #: An idle kept-alive connection is closed after this many seconds (uvicorn's keep-alive).
    keep_alive_s: Annotated[float, Field(gt=0, le=300)] = 5.0
    #: Open connections at most (screens included); beyond it new ones are closed at once, well
    #: before the process's open-file limit (often 1024) is reached.
    max_connections: Annotated[int, Field(ge=10, le=100_000)] = 800
    #: Built per Settings (a factory, not a module-level instance made at import).
    clinical: ClinicalParams = Field(default_factory=ClinicalParams)

    @field_validator("mqtt_url")
    @classmethod
    def _broker(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from kmc_monitor.mqtt.broker import BrokerUrl, BrokerUrlError

            try:
                BrokerUrl.parse(value.get_secret_value())
            except BrokerUrlError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("hl7_url")
    @classmethod
    def _hl7(cls, value: str | None) -> str | None:
        if value is not None:
            from kmc_monitor.service.mllp import MllpError, MllpUrl

            try:
                MllpUrl.parse(value)
            except MllpError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("mqtt_gateways", mode="before")
    @classmethod
    def _gateways_from_text(cls, value: object) -> object:
        return _split_tokens(value)

    @field_validator("station_visit_days")
    @classmethod
    def _visit_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or list(value) != sorted(set(value)):
            raise ValueError("station_visit_days: give at least one day after discharge, in rising order")
        return value

    @field_validator("staff_tokens", "metrics_tokens", "screen_tokens", "nurse_tokens", mode="before")
    @classmethod
    def _tokens_from_text(cls, value: object) -> object:
        return _split_tokens(value)

    @field_validator("shift_starts", mode="before")
    @classmethod
    def _shifts_from_text(cls, value: object) -> object:
        return _split_tokens(value)

    @field_validator("shift_starts")
    @classmethod
    def _shifts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t.strftime("%H:%M") for t in parse_shift_starts(value))

    @field_validator("staff_token")
    @classmethod
    def _one_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_token(value)
        return value

    @field_validator("staff_tokens", "metrics_tokens", "screen_tokens", "nurse_tokens")
    @classmethod
    def _many_tokens(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for token in value:
            _check_token(token)
        return value

    @field_validator("ward_tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone name (use one such as Africa/Nairobi or Asia/Kolkata)"
            ) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
            raise ValueError(f"public_url must start with http:// or https://; got {value!r}")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together: give both, or neither")
        return self

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def all_staff_tokens(self) -> tuple[SecretStr, ...]:
        """Every accepted staff token (``staff_token`` first), without repeats."""
        seen: dict[str, SecretStr] = {}
        for token in (self.staff_token, *self.staff_tokens):
            if token is not None:
                seen.setdefault(token.get_secret_value(), token)
        return tuple(seen.values())

    @property
    def base_url(self) -> str:
        """Where links and QR codes point: :attr:`public_url`, else this host and port."""
        if self.public_url is not None:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "http" if self.tls_certfile is None else "https"
        return f"{scheme}://{host}:{self.port}"

    def rule_params(self) -> RuleParams:
        """The clinical parameters with the ward's time zone, for the signal core."""
        return self.clinical.rule_params(self.ward_tz)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then environment, then the TOML file; no ``.env`` or secrets directory."""
        path = _config_file.get()
        if path is None:
            named = os.environ.get(CONFIG_ENV, "").strip()
            path = Path(named).expanduser() if named else None
        if path is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, _toml_source(settings_cls, path))

    @classmethod
    def load(cls, config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
        """Build the settings from ``config_file`` (else ``KMC_CONFIG``), the environment and overrides.

        Raises :class:`ConfigError` with every problem listed, one per line, naming the setting and
        its environment variable; secret values never appear in the message.
        """
        path = None if config_file is None else Path(config_file).expanduser()
        try:
            with _using_file(path):
                return cls(**overrides)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None


#: A staff token must carry at least this many bits (guessing it at any rate is then hopeless).
MIN_TOKEN_BITS: Final = 128


def token_bits(text: str) -> float:
    """An upper bound of a token's strength: its length times log2 of the alphabet its character
    classes span (lower case, upper case, digits, other). ``secrets.token_urlsafe(24)`` has 192."""
    pool = 0
    pool += 26 if any(c.islower() for c in text) else 0
    pool += 26 if any(c.isupper() for c in text) else 0
    pool += 10 if any(c.isdigit() for c in text) else 0
    pool += 32 if any(not c.isalnum() for c in text) else 0
    return len(text) * math.log2(pool) if pool > 1 else 0.0


def _check_token(token: SecretStr) -> None:
    text = token.get_secret_value()
    if not text.strip():
        raise ValueError("a staff token must not be empty")
    if any(c.isspace() for c in text):
        raise ValueError("a staff token must not contain spaces or line breaks (copy-paste error?)")
    if token_bits(text) < MIN_TOKEN_BITS:
        raise ValueError(
            f"a staff token must have at least {MIN_TOKEN_BITS} bits: use 22 or more random characters, "
            "e.g. the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )


def _toml_source(settings_cls: type[BaseSettings], path: Path) -> TomlConfigSettingsSource:
    # pydantic-settings skips a missing file silently; a configured file that is not there is a
    # mistake the operator must hear about, not a silent fall-back to defaults.
    if not path.is_file():
        raise ConfigError(f"configuration file {path} does not exist or is not a file ({CONFIG_ENV})")
    try:
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"configuration file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror or exc}") from None


@contextmanager
def _using_file(path: Path | None) -> Iterator[None]:
    token = _config_file.set(path)
    try:
        yield
    finally:
        _config_file.reset(token)


def _env_name(loc: tuple[int | str, ...]) -> str:
    return _ENV_PREFIX + _NESTED.join(str(part).upper() for part in loc)


def _describe(exc: ValidationError) -> str:
    """One line per problem: ``data_dir (KMC_DATA_DIR): message``, never the offending value."""
    lines = [f"{exc.error_count()} configuration problem(s):"]
    for error in exc.errors(include_input=False, include_url=False):
        loc = tuple(error["loc"])
        name = ".".join(str(p) for p in loc) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (misspelt? see kmc_monitor/service/config.py for the names)"
        where = f"{name} ({_env_name(loc)})" if loc else name
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)
