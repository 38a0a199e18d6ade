"""Staff authentication without a web framework: tokens, sessions, what identifies a request."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from kmc_monitor.service.auth import SESSION_COOKIE, RedactTokens, StaffAuth, redact

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
    a = StaffAuth([SecretStr(TOKEN)], secret=secret)
    sid = a.new_session(TOKEN, now=1_700_000_000)
    assert TOKEN not in sid
    # The service restarts with the secret kept in its data directory: the wall screen stays in.
    assert StaffAuth([SecretStr(TOKEN)], secret=secret).check_session(sid) == a.check_token(TOKEN)
    # Another ward's (or a wiped data directory's) secret does not accept it.
    assert StaffAuth([SecretStr(TOKEN)], secret=b"x" * 32).check_session(sid) is None
    issued, fp, mac = sid.split(".")
    for forged in (
        f"{int(issued) + 1}.{fp}.{mac}",  # another issue time
        f"{issued}.{'0' * 8}.{mac}",  # another token's fingerprint
        f"{issued}.{fp}.{mac[:-2]}AA",  # another signature
        f"{issued}.{fp}.",
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
