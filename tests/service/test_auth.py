"""Staff authentication without a web framework: tokens, sessions, what identifies a request."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from kmc_monitor.service.auth import (
    SESSION_COOKIE,
    Identity,
    RedactTokens,
    Role,
    SignInLimiter,
    StaffAuth,
    redact,
)

TOKEN = "staff-token-0123456789abcdef"
OTHER = "other-staff-token-fedcba9876543210"


def auth(*tokens: str) -> StaffAuth:
    return StaffAuth([SecretStr(t) for t in tokens])


def test_a_valid_token_gives_a_fingerprint_never_the_token() -> None:
    a = auth(TOKEN, OTHER)
    who = a.check_token(TOKEN)
    assert who is not None and who.startswith("staff-") and TOKEN not in who
    assert a.check_token(OTHER) not in (None, who)
    for bad in ("wrong", "", None, TOKEN + "x", TOKEN[:-1], "x" * 600):
        assert a.check_token(bad) is None


def test_identify_by_bearer_cookie_or_query() -> None:
    a = auth(TOKEN)
    who = a.check_token(TOKEN)
    assert a.identify({"authorization": f"Bearer {TOKEN}"}, {}, {}) == who
    assert a.identify({"authorization": "Bearer wrong"}, {}, {}) is None
    # A wrong bearer token is not rescued by a valid query token: the header decides.
    assert a.identify({"authorization": "Bearer wrong"}, {}, {"token": TOKEN}) is None
    assert a.identify({}, {}, {"token": TOKEN}) == who
    assert a.identify({}, {}, {"token": "wrong"}) is None
    sid = a.new_session(TOKEN)
    assert TOKEN not in sid
    assert a.identify({}, {SESSION_COOKIE: sid}, {}) == who  # the cookie works without the token
    assert a.identify({}, {SESSION_COOKIE: "made-up"}, {}) is None
    assert a.identify({}, {}, {}) is None


def test_a_withdrawn_token_ends_its_sessions_at_once() -> None:
    a = auth(TOKEN, OTHER)
    sid, other_sid = a.new_session(TOKEN), a.new_session(OTHER)
    a.set_tokens([SecretStr(OTHER)])
    assert a.check_session(sid) is None and a.check_token(TOKEN) is None
    assert a.check_session(other_sid) == a.check_token(OTHER)


def test_sessions_are_signed_so_they_survive_a_restart_but_not_a_new_secret_or_tampering() -> None:
    secret = b"k" * 32
    clock = lambda: 1_700_000_100.0  # noqa: E731
    a = StaffAuth([SecretStr(TOKEN)], secret=secret, clock=clock)
    sid = a.new_session(TOKEN, now=1_700_000_000)
    assert TOKEN not in sid
    # The service restarts with the secret kept in its data directory: the wall screen stays in.
    assert StaffAuth([SecretStr(TOKEN)], secret=secret, clock=clock).check_session(sid) == a.check_token(
        TOKEN
    )
    # Another ward's (or a wiped data directory's) secret does not accept it.
    assert StaffAuth([SecretStr(TOKEN)], secret=b"x" * 32, clock=clock).check_session(sid) is None
    issued, fp, device, mac = sid.split(".")
    for forged in (
        f"{int(issued) + 1}.{fp}.{device}.{mac}",  # another issue time
        f"{issued}.{'0' * 8}.{device}.{mac}",  # another token's fingerprint
        f"{issued}.{fp}.other.{mac}",  # another device
        f"{issued}.{fp}.{device}.{mac[:-2]}AA",  # another signature
        f"{issued}.{fp}.{device}.",
        "not-a-session",
        "1." * 100,
    ):
        assert a.check_session(forged) is None
    # A session made from a token that was never configured is refused too.
    assert a.check_session(auth(OTHER).new_session(OTHER)) is None


def test_no_token_configured_lets_nobody_in() -> None:
    a = auth()
    assert not a.configured
    assert a.check_token("") is None and a.check_token("anything") is None


def test_tokens_are_redacted_from_log_lines() -> None:
    family = "A" * 43
    line = f'"GET /?token={TOKEN}&x=1" "WebSocket /ws/bed/{family}" http://h/family#{family}'
    out = redact(line)
    assert TOKEN not in out and family not in out
    assert "token=***" in out and "/ws/bed/***" in out and "/family#***" in out
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, "%s %s", (f"/?token={TOKEN}", 1), None)
    assert RedactTokens().filter(record)
    assert record.args == ("/?token=***", 1)


def test_sessions_expire_after_a_shift_are_renewed_in_use_and_one_device_can_sign_out() -> None:
    # Finding 8: a cookie signed in 1970 was accepted, and there was no per-device sign-out.
    now = [1_800_000_000.0]
    a = StaffAuth([SecretStr(TOKEN)], session_s=12 * 3600, clock=lambda: now[0])
    old = a.new_session(TOKEN, now=0)
    assert a.check_session(old) is None
    wall, phone = a.new_session(TOKEN), a.new_session(TOKEN)
    assert a.renewal(wall) is None  # fresh: nothing to renew yet
    now[0] += 11 * 3600
    renewed = a.renewal(wall)
    assert renewed is not None and a.check_session(renewed) == a.check_token(TOKEN)
    # The page read its anti-forgery token once: it stays valid across the renewal, and only
    # for this device's session.
    assert a.check_csrf(renewed, a.csrf_for(wall)) and not a.check_csrf(phone, a.csrf_for(wall))
    now[0] += 2 * 3600  # 13 h after sign-in: the unused cookie has expired, the renewed one not
    assert a.check_session(wall) is None and a.check_session(renewed) is not None
    assert a.sign_out(phone) is False  # expired already
    assert a.sign_out(renewed) is True
    assert a.check_session(renewed) is None  # that device is out (every renewal of it too)
    assert a.check_token(TOKEN) is not None  # the token itself still works elsewhere


def test_roles_and_a_back_off_for_failed_sign_ins() -> None:
    scraper = "metrics-scraper-token-0123456789abcdef"
    a = StaffAuth([SecretStr(TOKEN)], roles={Role.METRICS: [SecretStr(scraper)]})
    assert a.token_identity(scraper) == Identity(a.check_token(scraper) or "", Role.METRICS)
    assert a.token_identity(TOKEN) is not None and a.token_identity(TOKEN).role is Role.ADMIN  # type: ignore[union-attr]
    t = [0.0]
    limiter = SignInLimiter(free=3, clock=lambda: t[0])
    for _ in range(3):
        limiter.failed("10.0.0.9")
    assert limiter.retry_after("10.0.0.9") == 0  # a few typos cost nothing
    limiter.failed("10.0.0.9")
    assert limiter.retry_after("10.0.0.9") == 1.0
    t[0] += 1.0
    limiter.failed("10.0.0.9")
    assert limiter.retry_after("10.0.0.9") == 2.0  # doubling
    assert limiter.retry_after("10.0.0.10") == 0  # another device is not punished
    limiter.succeeded("10.0.0.9")
    assert limiter.retry_after("10.0.0.9") == 0
