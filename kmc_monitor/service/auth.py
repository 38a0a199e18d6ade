"""Staff authentication for the web layer, and keeping tokens out of the logs.

A staff member's device proves itself with a staff token from the settings: as
``Authorization: Bearer <token>``, or once as ``?token=<token>`` (the link printed at start-up),
which the app trades for an HttpOnly session cookie. Tokens are compared in constant time and only
their SHA-256 digests are kept; the staff member's id in the audit trail is a short fingerprint of
the token, never the token.

A session cookie is *signed*, not remembered: ``<issued>.<fingerprint>.<device>.<HMAC-SHA256(secret,
issued, device, token digest)>``. It expires a shift (``session_s``) after it was issued and is
re-issued while the device is in use; signing out ends one device's session (its ``device`` nonce
is remembered until the cookie would have expired) without withdrawing the token from the others.
Each token has a :class:`Role`. The secret is kept with the ward's data (the app passes it in),
so a wall screen stays signed in across a restart of the service (a power cut must not leave the
ward screen asking for a token at 3 a.m.), and a session is still tied to the token it came from:
a token withdrawn from the settings ends its sessions at once, since no configured digest
verifies them any more.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from pydantic import SecretStr

__all__ = [
    "DEFAULT_SESSION_S",
    "SESSION_COOKIE",
    "Identity",
    "RedactTokens",
    "Role",
    "SignInLimiter",
    "StaffAuth",
    "install_log_redaction",
]

SESSION_COOKIE: Final = "kmc_session"
#: A session cookie lasts a shift (12 h) from its issue, renewed while the device is in use.
DEFAULT_SESSION_S: Final = 12 * 3600.0

_TOKEN_IN_TEXT = re.compile(r"((?:token|access_token)=)[^&\s\"']+|(/ws/bed/)[^?\s\"'/]+|(/family#)\S+")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class Role(IntEnum):
    """What a token may do; each role includes the ones below it.

    ``metrics`` reads ``/metrics`` (a Prometheus scraper); ``screen`` views the ward, acknowledges
    alarms and pauses audio (a wall screen); ``nurse`` also admits, discharges and assigns wraps;
    ``admin`` also adds beds, registers and re-keys wraps and feeds readings in.
    """

    METRICS = 1
    SCREEN = 2
    NURSE = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request comes from: the token's fingerprint id (what the audit records) and its role."""

    who: str
    role: Role
    session: str | None = None


class StaffAuth:
    """Which requests come from staff, and with which role; see the module docstring.

    ``tokens`` are admin tokens (the ``staff_token`` settings); ``roles`` adds tokens of other roles.
    A session cookie lasts ``session_s`` (a shift) from its issue and is renewed while in use
    (:meth:`renewal`); :meth:`sign_out` ends one device's session, not the token's others.
    """

    def __init__(
        self,
        tokens: Iterable[SecretStr] = (),
        *,
        secret: bytes | None = None,
        roles: Mapping[Role, Iterable[SecretStr]] | None = None,
        session_s: float = DEFAULT_SESSION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._digests: tuple[tuple[bytes, Role], ...] = ()
        self.set_tokens(tokens, roles)
        #: Signs session cookies; a fresh one (sessions end with the process) unless given.
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        if len(self._secret) < 16:
            raise ValueError("the session secret must have at least 16 bytes")
        if not session_s > 0:
            raise ValueError("session_s must be positive")
        self.session_s = float(session_s)
        self._clock = clock
        #: Session nonces signed out, with when (forgotten once their cookie would have expired).
        self._signed_out: dict[str, float] = {}

    @property
    def configured(self) -> bool:
        return bool(self._digests)

    def set_tokens(
        self, tokens: Iterable[SecretStr], roles: Mapping[Role, Iterable[SecretStr]] | None = None
    ) -> None:
        """Replace the accepted tokens (a withdrawn token's sessions stop working at once)."""
        pairs: dict[bytes, Role] = {}
        for role, group in (roles or {}).items():
            for t in group:
                pairs[_digest(t.get_secret_value())] = Role(role)
        for t in tokens:
            pairs[_digest(t.get_secret_value())] = Role.ADMIN
        self._digests = tuple(pairs.items())

    def add_digest(self, digest: bytes, role: Role) -> None:
        """Accept a token known only by its SHA-256 digest: the ward's own credential, kept hashed
        in the data directory (``credential.py``)."""
        self._digests = (*((d, r) for d, r in self._digests if d != digest), (digest, Role(role)))

    def _match(self, digest: bytes) -> Role | None:
        found: Role | None = None
        for d, role in self._digests:  # no early exit: the time taken says nothing about which
            if hmac.compare_digest(d, digest):
                found = role
        return found

    def token_identity(self, token: str | None) -> Identity | None:
        """The identity of a valid token, else None."""
        if not token or len(token) > 512:
            return None
        digest = _digest(token)
        role = self._match(digest)
        return None if role is None else Identity(_staff_id(digest), role)

    def check_token(self, token: str | None) -> str | None:
        """The staff id of a valid token (``staff-<fingerprint>``), else None."""
        ident = self.token_identity(token)
        return None if ident is None else ident.who

    def _sign(self, issued: str, nonce: str, digest: bytes) -> str:
        msg = issued.encode() + b"." + nonce.encode() + b"." + digest
        mac = hmac.new(self._secret, msg, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def new_session(self, token: str, now: float | None = None, *, nonce: str | None = None) -> str:
        """A session cookie value for a valid token: ``<issued>.<fingerprint>.<device>.<mac>``;
        ``nonce`` keeps a device's id when its session is renewed."""
        digest = _digest(token)
        issued = str(int(self._clock() if now is None else now))
        device = nonce or secrets.token_urlsafe(9)
        return f"{issued}.{digest[:4].hex()}.{device}.{self._sign(issued, device, digest)}"

    def session_identity(self, sid: str | None) -> Identity | None:
        """The identity of a session cookie signed for a token still configured, not expired and
        not signed out; else None."""
        if not sid or len(sid) > 160:
            return None
        parts = sid.split(".")
        if len(parts) != 4:
            return None
        issued, fingerprint, nonce, mac = parts
        if not (issued.isdigit() and nonce and mac) or len(issued) > 12:
            return None
        age = self._clock() - int(issued)
        if not -60 <= age <= self.session_s or nonce in self._signed_out:
            return None  # expired, issued in the future, or signed out
        found: Identity | None = None
        for d, role in self._digests:  # every configured token is tried: the time says nothing
            same = hmac.compare_digest(d[:4].hex(), fingerprint)
            if same & hmac.compare_digest(self._sign(issued, nonce, d), mac):
                found = Identity(_staff_id(d), role, nonce)
        return found

    def check_session(self, sid: str | None) -> str | None:
        """The staff id of a valid session cookie (see :meth:`session_identity`), else None."""
        ident = self.session_identity(sid)
        return None if ident is None else ident.who

    def renewal(self, sid: str | None) -> str | None:
        """A fresh cookie for a valid session in use that is older than a tenth of its life (the
        screen stays signed in while it is used); None when no renewal is due."""
        ident = self.session_identity(sid)
        if ident is None or sid is None or ident.session is None:
            return None
        issued = int(sid.split(".", 1)[0])
        if self._clock() - issued < self.session_s / 10:
            return None
        for d, _role in self._digests:
            if _staff_id(d) == ident.who:
                now = str(int(self._clock()))
                return f"{now}.{d[:4].hex()}.{ident.session}.{self._sign(now, ident.session, d)}"
        return None

    def sign_out(self, sid: str | None) -> bool:
        """End this device's session (its cookie and every renewal of it); whether it was valid."""
        ident = self.session_identity(sid)
        if ident is None or ident.session is None:
            return False
        now = self._clock()
        self._signed_out = {n: t for n, t in self._signed_out.items() if now - t <= self.session_s}
        self._signed_out[ident.session] = now
        return True

    @property
    def signed_out(self) -> dict[str, float]:
        """Signed-out devices (nonce -> when): the app keeps them with the ward's data."""
        return dict(self._signed_out)

    def restore_signed_out(self, entries: Mapping[str, float]) -> None:
        now = self._clock()
        self._signed_out = {str(n): float(t) for n, t in entries.items() if now - float(t) <= self.session_s}

    def csrf_for(self, sid: str) -> str:
        """The anti-forgery token of a session cookie: bound to its device session (the token's
        fingerprint and the device nonce, which renewals keep, so a wall screen's page that read
        it once keeps working for days), so a token read by one device works for no other, and
        derivable only with the ward's secret."""
        parts = sid.split(".")
        bound = f"{parts[1]}.{parts[2]}" if len(parts) == 4 else sid
        mac = hmac.new(self._secret, b"csrf." + bound.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()

    def check_csrf(self, sid: str | None, token: str | None) -> bool:
        """Whether ``token`` is the anti-forgery token of session ``sid``."""
        if not sid or not token or len(token) > 64:
            return False
        return hmac.compare_digest(self.csrf_for(sid), token)

    def identity(
        self, headers: Mapping[str, str], cookies: Mapping[str, str], query: Mapping[str, str]
    ) -> Identity | None:
        """Who is behind a request (bearer header, session cookie or ``?token=``), else None."""
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return self.token_identity(value.strip())
        ident = self.session_identity(cookies.get(SESSION_COOKIE))
        if ident is not None:
            return ident
        return self.token_identity(query.get("token"))

    def identify(
        self, headers: Mapping[str, str], cookies: Mapping[str, str], query: Mapping[str, str]
    ) -> str | None:
        """The staff id behind a request (bearer header, session cookie or ``?token=``), else None."""
        ident = self.identity(headers, cookies, query)
        return None if ident is None else ident.who


class SignInLimiter:
    """Failed sign-ins per client address, with a doubling back-off.

    The first :attr:`free` failures cost nothing (a mistyped token); each further one blocks that
    address for twice as long as the last (1 s, 2 s, 4 s, ... at most :attr:`max_block_s`). A
    success clears the address. Guessing a 128-bit token is hopeless anyway; this keeps a
    scripted guesser from filling the log and the CPU. Bounded: at most :attr:`max_clients`
    addresses are remembered (the oldest forgotten).
    """

    def __init__(
        self,
        *,
        free: int = 5,
        max_block_s: float = 300.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.max_block_s = max_block_s
        self.max_clients = max_clients
        self._clock = clock
        self._state: dict[str, tuple[int, float]] = {}  # address -> (failures, blocked until)
        self.refused = 0

    def retry_after(self, client: str) -> float:
        """Seconds this address must wait before its next try (0: it may try now)."""
        failures, until = self._state.get(client, (0, 0.0))
        return max(0.0, until - self._clock())

    def failed(self, client: str) -> None:
        failures, _ = self._state.pop(client, (0, 0.0))
        failures += 1
        until = 0.0
        if failures > self.free:
            until = self._clock() + min(self.max_block_s, 2.0 ** (failures - self.free - 1))
        self._state[client] = (failures, until)
        while len(self._state) > self.max_clients:
            del self._state[next(iter(self._state))]

    def succeeded(self, client: str) -> None:
        self._state.pop(client, None)


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
