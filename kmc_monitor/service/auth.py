"""Staff authentication for the web layer, and keeping tokens out of the logs.

A staff member's device proves itself with a staff token from the settings: as
``Authorization: Bearer <token>``, or once as ``?token=<token>`` (the link printed at start-up),
which the app trades for an HttpOnly session cookie. Sessions live in memory and are tied to the
token they came from: a token withdrawn from the settings ends its sessions at once. Tokens are
compared in constant time and only their SHA-256 digests are kept; the staff member's id in the
audit trail is a short fingerprint of the token, never the token.

Family tokens (one bed's page) are checked by :meth:`Ward.admission_for_family_token` and open
nothing here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Final

from pydantic import SecretStr

__all__ = ["SESSION_COOKIE", "RedactTokens", "StaffAuth", "install_log_redaction"]

SESSION_COOKIE: Final = "kmc_session"

_TOKEN_IN_TEXT = re.compile(r"((?:token|access_token)=)[^&\s\"']+|(/ws/bed/)[^?\s\"'/]+|(/family#)\S+")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class StaffAuth:
    """Which requests come from staff; see the module docstring."""

    def __init__(self, tokens: Iterable[SecretStr]) -> None:
        self._digests: tuple[bytes, ...] = tuple(_digest(t.get_secret_value()) for t in tokens)
        self._sessions: dict[str, bytes] = {}

    @property
    def configured(self) -> bool:
        return bool(self._digests)

    def set_tokens(self, tokens: Iterable[SecretStr]) -> None:
        """Replace the accepted tokens (a withdrawn token's sessions stop working at once)."""
        self._digests = tuple(_digest(t.get_secret_value()) for t in tokens)

    def _match(self, digest: bytes) -> bool:
        ok = False
        for d in self._digests:  # no early exit: the time taken says nothing about which matched
            ok |= hmac.compare_digest(d, digest)
        return ok

    def check_token(self, token: str | None) -> str | None:
        """The staff id of a valid token (``staff-<fingerprint>``), else None."""
        if not token or len(token) > 512:
            return None
        digest = _digest(token)
        return _staff_id(digest) if self._match(digest) else None

    def new_session(self, token: str) -> str:
        """A session id for a valid token (the cookie's value)."""
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = _digest(token)
        return sid

    def check_session(self, sid: str | None) -> str | None:
        if not sid:
            return None
        digest = self._sessions.get(sid)
        if digest is None:
            return None
        if not self._match(digest):
            del self._sessions[sid]
            return None
        return _staff_id(digest)

    def identify(
        self, headers: Mapping[str, str], cookies: Mapping[str, str], query: Mapping[str, str]
    ) -> str | None:
        """The staff id behind a request (bearer header, session cookie or ``?token=``), else None."""
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return self.check_token(value.strip())
        who = self.check_session(cookies.get(SESSION_COOKIE))
        if who is not None:
            return who
        return self.check_token(query.get("token"))


def _staff_id(digest: bytes) -> str:
    return f"staff-{digest[:4].hex()}"


class RedactTokens(logging.Filter):
    """Replace tokens in a log record's message and arguments (uvicorn logs paths with queries)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact(text: str) -> str:
    return _TOKEN_IN_TEXT.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "***", text)


def install_log_redaction(names: Iterable[str] = ("uvicorn.access", "uvicorn.error", "uvicorn")) -> None:
    """Put :class:`RedactTokens` on the loggers that print request paths (once each)."""
    for name in names:
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in log.filters):
            log.addFilter(RedactTokens())
