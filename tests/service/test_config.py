"""Settings from defaults, environment, TOML and arguments; readable errors; secrets kept secret."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from kmc_monitor.service import config
from kmc_monitor.service.config import ClinicalParams, ConfigError, Settings, token_bits
from kmc_monitor.signal.params import RuleParams

TOKEN = "s3cret-staff-token-7f2c9a"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees no KMC_* variables but those it sets (a developer's shell may have some)."""
    for name in list(os.environ):
        if name.startswith("KMC_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "kmc.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_clinical_rules() -> None:
    s = Settings.load()
    assert s.host == "127.0.0.1"
    assert s.port == 8000
    assert s.retention_days == 30
    assert s.allow_unencrypted is False
    assert s.simulate == 0
    assert s.all_staff_tokens == ()
    assert s.rule_params() == RuleParams()
    assert s.base_url == "http://127.0.0.1:8000"


def test_clinical_model_maps_one_to_one_onto_rule_params() -> None:
    rule_fields = {f.name: f.default for f in dataclasses.fields(RuleParams)}
    assert set(ClinicalParams.model_fields) == set(rule_fields) - {"ward_tz"}
    for name, field in ClinicalParams.model_fields.items():
        assert field.default == rule_fields[name], name
    params = Settings.load(ward_tz="Africa/Nairobi", clinical={"daily_goal_s": 16 * 3600}).rule_params()
    assert params.ward_tz == "Africa/Nairobi"
    assert params.daily_goal_s == 16 * 3600


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMC_PORT", "8123")
    monkeypatch.setenv("KMC_HOST", "0.0.0.0")
    monkeypatch.setenv("KMC_WARD_NAME", "KMC room 2")
    monkeypatch.setenv("KMC_WARD_TZ", "Asia/Kolkata")
    monkeypatch.setenv("KMC_DATA_DIR", "/var/lib/kmc")
    monkeypatch.setenv("KMC_RETENTION_DAYS", "14")
    monkeypatch.setenv("KMC_ALLOW_UNENCRYPTED", "true")
    monkeypatch.setenv("KMC_SIMULATE", "6")
    monkeypatch.setenv("KMC_STAFF_TOKEN", TOKEN)
    monkeypatch.setenv("KMC_STAFF_TOKENS", "second-token-aaaa-0123456, third-token-bbbb-01234567,")
    monkeypatch.setenv("KMC_CLINICAL__DAILY_GOAL_S", "57600")
    monkeypatch.setenv("KMC_CLINICAL__SEVERE_DELAY_S", "10")
    s = Settings.load()
    assert (s.port, s.host, s.ward_name, s.ward_tz) == (8123, "0.0.0.0", "KMC room 2", "Asia/Kolkata")
    assert s.data_dir == Path("/var/lib/kmc")
    assert s.retention_days == 14 and s.allow_unencrypted and s.simulate == 6
    assert [t.get_secret_value() for t in s.all_staff_tokens] == [
        TOKEN,
        "second-token-aaaa-0123456",
        "third-token-bbbb-01234567",
    ]
    assert s.rule_params().daily_goal_s == 57600
    assert s.rule_params().severe_delay_s == 10


def test_toml_file_by_argument_and_by_kmc_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        """
        ward_name = "Neonatal KMC"
        ward_tz = "Europe/Berlin"
        port = 9000
        staff_tokens = ["token-from-file-1-0123456", "token-from-file-2-0123456"]
        public_url = "https://kmc.example.org/"

        [clinical]
        daily_goal_s = 64800
        cold_stress_below_c = 36.4
        """,
    )
    s = Settings.load(path)
    assert (s.ward_name, s.ward_tz, s.port) == ("Neonatal KMC", "Europe/Berlin", 9000)
    assert s.clinical.daily_goal_s == 64800
    assert s.rule_params().cold_stress_below_c == 36.4
    assert len(s.all_staff_tokens) == 2
    assert s.base_url == "https://kmc.example.org"

    monkeypatch.setenv("KMC_CONFIG", str(path))
    assert Settings().ward_name == "Neonatal KMC"  # KMC_CONFIG is honoured by a plain Settings() too
    # Environment beats the file; arguments beat both.
    monkeypatch.setenv("KMC_PORT", "9100")
    monkeypatch.setenv("KMC_CLINICAL__DAILY_GOAL_S", "61200")
    s = Settings.load()
    assert s.port == 9100 and s.clinical.daily_goal_s == 61200 and s.ward_tz == "Europe/Berlin"
    assert Settings.load(port=9200).port == 9200


def test_missing_and_malformed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(tmp_path / "nope.toml")
    monkeypatch.setenv("KMC_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="KMC_CONFIG"):
        Settings()
    monkeypatch.delenv("KMC_CONFIG")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(write(tmp_path, "port = = 3\n"))


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "[clinical]\ndaily_goal_s = 1800\n",
            r"clinical\.daily_goal_s \(KMC_CLINICAL__DAILY_GOAL_S\).*1 to 24 h",
        ),
        (
            "[clinical]\ndaily_goal_s = 100000\n",
            r"between 3600 and 86400 s \(1 to 24 h\); got 100000 \(27\.8 h\)",
        ),
        (
            "[clinical]\nsevere_below_c = 36.2\n",
            r"cold thresholds must be ordered severe_below_c < moderate_below_c < cold_stress_below_c",
        ),
        ("[clinical]\ncold_stress_below_c = 97.7\n", r"°C \(degrees Celsius\)"),
        ("[clinical]\ncontact_on = 0.3\n", r"contact_off <= contact_first <= contact_on"),
        ("[clinical]\nhyperthermia_above_c = 36.55\n", r"normal band is empty"),
        ('ward_tz = "Mars/Olympus"\n', r"ward_tz \(KMC_WARD_TZ\): 'Mars/Olympus' is not an IANA time zone"),
        ("port = 70000\n", r"port \(KMC_PORT\)"),
        ("retention_days = 0\n", r"retention_days \(KMC_RETENTION_DAYS\)"),
        ('public_url = "kmc.example.org"\n', r"public_url must start with http:// or https://"),
        ('wardname = "typo"\n', r"wardname \(KMC_WARDNAME\): unknown setting"),
        ("[clinical]\ndaily_goal = 3\n", r"clinical\.daily_goal .*unknown setting"),
    ],
)
def test_invalid_values_give_readable_errors(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as info:
        Settings.load(write(tmp_path, toml))
    assert "errors.pydantic.dev" not in str(info.value)  # for an operator, not a developer


def test_every_problem_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMC_PORT", "-1")
    monkeypatch.setenv("KMC_WARD_TZ", "Nowhere")
    with pytest.raises(ConfigError) as info:
        Settings.load(clinical={"daily_goal_s": 10})
    text = str(info.value)
    assert text.startswith("3 configuration problem(s):")
    assert "KMC_PORT" in text and "KMC_WARD_TZ" in text and "KMC_CLINICAL__DAILY_GOAL_S" in text


def test_plain_constructor_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        Settings(simulate=-1)


def test_secrets_never_shown(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("KMC_STAFF_TOKEN", TOKEN)
    monkeypatch.setenv("KMC_STAFF_TOKENS", "other-secret-token-xyz")
    s = Settings.load()
    logger = logging.getLogger("kmc_monitor.test")
    with caplog.at_level(logging.INFO):
        logger.info("settings: %s / %r", s, s)
    shown = [repr(s), str(s), s.model_dump_json(), str(s.model_dump()), caplog.text]
    for text in shown:
        assert TOKEN not in text
        assert "other-secret-token-xyz" not in text
    assert "**********" in repr(s)
    assert s.all_staff_tokens[0].get_secret_value() == TOKEN


def test_invalid_secret_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMC_STAFF_TOKEN", "half a pasted token")
    with pytest.raises(ConfigError, match="must not contain spaces") as info:
        Settings.load()
    assert "half a pasted" not in str(info.value)
    with pytest.raises(ValidationError) as raw:
        Settings(staff_tokens=["leaky secret value"])
    assert "leaky secret" not in str(raw.value)


def test_nothing_is_built_at_import() -> None:
    # A broken environment must not break importing the package, only building settings; a fresh
    # interpreter, so that no other test's imports hide a settings object made at import time.
    env = {**os.environ, "KMC_PORT": "not-a-port", "KMC_CONFIG": "/nonexistent/kmc.toml"}
    code = (
        "import kmc_monitor.service as pkg, kmc_monitor.service.config as c\n"
        "assert not [v for v in vars(c).values() if isinstance(v, c.Settings)]\n"
        "assert not [v for v in vars(pkg).values() if isinstance(v, c.Settings)]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not [v for v in vars(config).values() if isinstance(v, Settings)]


@pytest.mark.parametrize("weak", ["x", "t" * 24, "0123456789abcdef", "staff-token-1"])
def test_a_token_under_128_bits_is_refused_at_start_with_one_line(weak: str) -> None:
    # Finding 6: a one-character staff token was accepted.
    with pytest.raises(ConfigError) as info:
        Settings.load(staff_token=weak)
    assert "at least 128 bits" in str(info.value) and weak not in str(info.value)
    with pytest.raises(ConfigError):
        Settings.load(staff_tokens=["a-strong-token-0123456789abcdef", weak])
    assert token_bits(secrets.token_urlsafe(24)) >= 128
