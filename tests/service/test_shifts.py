"""Shift boundaries in ward time (#14): a night crossing midnight, a zone without daylight saving
and one with it (the night of the change is an hour shorter or longer), the default shift."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kmc_monitor.service.shifts import (
    HANDOVER_GRACE_S,
    default_shift,
    parse_shift_starts,
    shift_at,
    shift_starting,
)

DAY_NIGHT = parse_shift_starts(["07:00", "19:00"])


def at(tz: str, *args: int) -> float:
    return dt.datetime(*args, tzinfo=ZoneInfo(tz)).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize("tz", ["UTC", "Africa/Nairobi", "Asia/Ho_Chi_Minh"])
def test_the_night_shift_crosses_midnight_without_dst(tz: str) -> None:
    for moment in (at(tz, 2026, 3, 1, 23, 30), at(tz, 2026, 3, 2, 0, 0), at(tz, 2026, 3, 2, 6, 59)):
        s = shift_at(moment, DAY_NIGHT, tz)
        assert s.start_local == dt.datetime(2026, 3, 1, 19, 0, tzinfo=ZoneInfo(tz))
        assert s.end_local == dt.datetime(2026, 3, 2, 7, 0, tzinfo=ZoneInfo(tz))
        assert s.length_s == 12 * 3600 and s.key == "2026-03-01T19:00"


def test_boundaries_are_half_open() -> None:
    tz = "Africa/Nairobi"
    assert shift_at(at(tz, 2026, 3, 2, 7, 0), DAY_NIGHT, tz).key == "2026-03-02T07:00"
    assert shift_at(at(tz, 2026, 3, 2, 7, 0) - 0.001, DAY_NIGHT, tz).key == "2026-03-01T19:00"
    assert shift_at(at(tz, 2026, 3, 2, 19, 0), DAY_NIGHT, tz).key == "2026-03-02T19:00"


def test_spring_forward_night_is_an_hour_shorter() -> None:
    tz = "Europe/Paris"  # clocks go 02:00 -> 03:00 on 2026-03-29
    night = shift_at(at(tz, 2026, 3, 29, 1, 30), DAY_NIGHT, tz)
    assert night.key == "2026-03-28T19:00"
    assert night.length_s == 11 * 3600
    assert night.end_local.hour == 7 and night.end_local.utcoffset() == dt.timedelta(hours=2)
    day = shift_at(at(tz, 2026, 3, 29, 12, 0), DAY_NIGHT, tz)
    assert day.length_s == 12 * 3600


def test_fall_back_night_is_an_hour_longer() -> None:
    tz = "Europe/London"  # 02:00 BST -> 01:00 GMT on 2026-10-25
    night = shift_at(at(tz, 2026, 10, 25, 4, 0), DAY_NIGHT, tz)
    assert night.key == "2026-10-24T19:00"
    assert night.length_s == 13 * 3600


def test_a_start_in_the_skipped_hour_begins_after_the_change() -> None:
    tz = "Europe/Paris"
    starts = parse_shift_starts(["02:30", "14:30"])
    s = shift_at(at(tz, 2026, 3, 29, 5, 0), starts, tz)
    # 02:30 does not exist that night: the shift begins at 03:30 summer time (01:30 UTC).
    assert s.start_t == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC).timestamp()
    assert s.end_local == dt.datetime(2026, 3, 29, 14, 30, tzinfo=ZoneInfo(tz))


def test_three_shifts_and_one() -> None:
    tz = "UTC"
    three = parse_shift_starts(["22:00", "06:00", "14:00"])
    assert [shift_at(at(tz, 2026, 1, 1, h), three, tz).key[-5:] for h in (5, 6, 13, 14, 21, 22, 23)] == [
        "22:00",
        "06:00",
        "06:00",
        "14:00",
        "14:00",
        "22:00",
        "22:00",
    ]
    one = parse_shift_starts(["08:00"])
    s = shift_at(at(tz, 2026, 1, 1, 7), one, tz)
    assert (s.key, s.length_s) == ("2025-12-31T08:00", 86400)


def test_default_is_the_shift_just_ended_early_in_a_shift_else_the_running_one() -> None:
    tz = "Africa/Nairobi"
    start = at(tz, 2026, 3, 2, 19, 0)
    assert default_shift(start + 600, DAY_NIGHT, tz).key == "2026-03-02T07:00"
    assert default_shift(start + HANDOVER_GRACE_S - 1, DAY_NIGHT, tz).key == "2026-03-02T07:00"
    assert default_shift(start + HANDOVER_GRACE_S, DAY_NIGHT, tz).key == "2026-03-02T19:00"


def test_shift_starting_names_only_real_starts() -> None:
    tz = "UTC"
    assert shift_starting(dt.datetime(2026, 3, 1, 19, 0), DAY_NIGHT, tz).key == "2026-03-01T19:00"
    with pytest.raises(ValueError, match=r"shifts start at 07:00, 19:00"):
        shift_starting(dt.datetime(2026, 3, 1, 18, 0), DAY_NIGHT, tz)


@pytest.mark.parametrize(
    "bad", [["7"], ["25:00"], ["07:00:30"], ["07:00+03:00"], [], [f"{h:02d}:00" for h in range(7)], ["x"]]
)
def test_bad_starts_say_how_to_write_them(bad: list[str]) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|1 to 6"):
        parse_shift_starts(bad)


def test_settings_take_starts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from kmc_monitor.service.config import ConfigError, Settings

    monkeypatch.setenv("KMC_SHIFT_STARTS", "19:00, 07:00")
    assert Settings.load().shift_starts == ("07:00", "19:00")
    monkeypatch.setenv("KMC_SHIFT_STARTS", "7pm")
    with pytest.raises(ConfigError, match="HH:MM"):
        Settings.load()
    monkeypatch.delenv("KMC_SHIFT_STARTS")
    assert Settings.load().shift_starts == ("07:00", "19:00")
