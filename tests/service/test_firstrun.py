"""The first run: the LAN address, where links point, the ward's set-up, family links kept sealed."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest

from kmc_monitor.service import firstrun
from kmc_monitor.service.config import Settings
from kmc_monitor.service.firstrun import LinkKeeper, WardSetup, apply_ward_setup, public_base
from kmc_monitor.service.store import Store


def test_the_lan_address_is_the_default_routes_and_never_loopback() -> None:
    addr = firstrun.lan_address()
    # This machine may have no default route (then None); with one, a usable unicast IPv4.
    if addr is not None:
        ip = ipaddress.ip_address(addr)
        assert ip.version == 4 and not ip.is_loopback and not ip.is_unspecified
    assert firstrun.lan_address(probe="not an address") is None


def test_links_point_where_a_phone_can_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(firstrun, "lan_address", lambda: "192.168.4.20")
    assert public_base("0.0.0.0", 8000, public_url=None, tls=False) == "http://192.168.4.20:8000"
    assert public_base("::", 8443, public_url=None, tls=True) == "https://192.168.4.20:8443"
    assert public_base("0.0.0.0", 8000, public_url="https://kmc.ward", tls=False) == "https://kmc.ward"
    assert public_base("10.0.0.5", 8000, public_url=None, tls=False) == "http://10.0.0.5:8000"
    monkeypatch.setattr(firstrun, "lan_address", lambda: None)
    assert public_base("0.0.0.0", 8000, public_url=None, tls=False) == "http://127.0.0.1:8000"
    assert firstrun.loopback_warning("127.0.0.1", None) is not None
    assert firstrun.loopback_warning("::1", None) is not None
    assert firstrun.loopback_warning("0.0.0.0", None) is None
    assert firstrun.loopback_warning("127.0.0.1", "https://kmc.ward") is None


def test_the_stored_setup_is_laid_over_the_configuration_at_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", ward_name="From the file")
    assert apply_ward_setup(settings) is settings  # no database yet
    setup = WardSetup(ward_name="KMC", ward_tz="Africa/Nairobi", clock_format="12h", beds=4, daily_goal_h=6)
    with Store.from_settings(settings) as store:
        store.set_setting(firstrun.SETUP_KEY, setup.model_dump())
    laid = apply_ward_setup(settings)
    assert (laid.ward_name, laid.ward_tz, laid.clock_format) == ("KMC", "Africa/Nairobi", "12h")
    assert laid.clinical.daily_goal_s == 6 * 3600 and laid.clinical.min_daily_contact_s <= 6 * 3600
    with pytest.raises(ValueError, match="time zone"):
        WardSetup(ward_name="x", ward_tz="Nowhere/Land", beds=1)


def test_a_sealed_token_opens_only_with_its_key_and_its_admission(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    keeper = LinkKeeper(tmp_path)
    key = tmp_path / "family-links.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    sealed = keeper.seal(7, "a-family-token-of-enough-length")
    assert b"a-family-token" not in sealed
    assert keeper.open(7, sealed) == "a-family-token-of-enough-length"
    assert keeper.open(8, sealed) is None  # another admission's row
    assert LinkKeeper(tmp_path).open(7, sealed) == "a-family-token-of-enough-length"  # after a restart
    key.unlink()
    assert LinkKeeper(tmp_path).open(7, sealed) is None  # a new key opens nothing old
