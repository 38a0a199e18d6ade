"""Staff authentication for the web layer, and keeping tokens out of the logs.

A staff member's device proves itself with a staff token from the settings: as
``Authorization: Bearer <token>``, or once as ``?token=<token>`` (the link printed at start-up),
which the app trades for an HttpOnly session cookie. Tokens are compared in constant time and only
their SHA-256 digests are kept; the staff member's id in the audit trail is a short fingerprint of
the token, never the token.

A session cookie is *signed*, not remembered: ``<issued>.<fingerprint>.<HMAC-SHA256(secret, issued,
token digest)>``. The secret is kept with the ward's data (the app passes it in), so a wall screen
stays signed in across a restart of the service (a power cut must not leave the ward screen asking
for a token at 3 a.m.), and a session is still tied to the token it came from: a token withdrawn
from the settings ends its sessions at once, since no configured digest verifies them any more.

Family tokens (one bed's page) are checked by :meth:`Ward.admission_for_family_token` and open
nothing here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
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

    def __init__(self, tokens: Iterable[SecretStr], *, secret: bytes | None = None) -> None:
        self._digests: tuple[bytes, ...] = tuple(_digest(t.get_secret_value()) for t in tokens)
        #: Signs session cookies; a fresh one (sessions end with the process) unless given.
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        if len(self._secret) < 16:
            raise ValueError("the session secret must have at least 16 bytes")

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

    def _sign(self, issued: str, digest: bytes) -> str:
        mac = hmac.new(self._secret, issued.encode() + b"." + digest, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def new_session(self, token: str, now: float | None = None) -> str:
        """A session cookie value for a valid token (see the module docstring)."""
        digest = _digest(token)
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{digest[:4].hex()}.{self._sign(issued, digest)}"

    def check_session(self, sid: str | None) -> str | None:
        """The staff id of a session cookie signed for a token still configured, else None."""
        if not sid or len(sid) > 128:
            return None
        issued, _, rest = sid.partition(".")
        fingerprint, _, mac = rest.partition(".")
        if not (issued.isdigit() and mac):
            return None
        who = None
        for d in self._digests:  # every configured token is tried: the time says nothing
            same = hmac.compare_digest(d[:4].hex(), fingerprint)
            if same & hmac.compare_digest(self._sign(issued, d), mac):
                who = _staff_id(d)
        return who

    def csrf_for(self, sid: str) -> str:
        """The anti-forgery token of a session cookie: bound to it, so a token read by one device
        works for no other session, and derivable only with the ward's secret."""
        mac = hmac.new(self._secret, b"csrf." + sid.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()

    def check_csrf(self, sid: str | None, token: str | None) -> bool:
        """Whether ``token`` is the anti-forgery token of session ``sid``."""
        if not sid or not token or len(token) > 64:
            return False
        return hmac.compare_digest(self.csrf_for(sid), token)

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
