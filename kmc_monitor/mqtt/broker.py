"""Where the broker is: ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://`` (TLS).

The URL is parsed once, at the entry point, into a :class:`BrokerUrl`; every log line and error
message shows :meth:`BrokerUrl.display`, which never includes the password (the dataclass ``repr``
hides it too). Credentials in the URL may be percent-encoded (``p%40ss`` for ``p@ss``).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from kmc_monitor.errors import KmcError

__all__ = ["BrokerUrl", "BrokerUrlError"]

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class BrokerUrlError(KmcError, ValueError):
    """A broker URL that cannot be used; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """A parsed broker address. ``password`` is kept out of ``repr``."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str) -> BrokerUrl:
        """Parse ``mqtt://host[:port]`` (``mqtts://`` for TLS); :class:`BrokerUrlError` otherwise."""
        example = "use mqtt://HOST[:PORT] or mqtts://USER:PASSWORD@HOST[:PORT]"
        text = text.strip()
        if "://" not in text:
            raise BrokerUrlError(f"the broker URL has no scheme: {example}")
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise BrokerUrlError(f"the broker URL has a bad port (1 to 65535): {example}") from None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise BrokerUrlError(f"the broker URL scheme must be mqtt or mqtts, not {scheme!r}: {example}")
        if not parts.hostname:
            raise BrokerUrlError(f"the broker URL names no host: {example}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise BrokerUrlError(f"the broker URL must not have a path, query or fragment: {example}")
        if port == 0:
            raise BrokerUrlError(f"the broker URL has a bad port (1 to 65535): {example}")
        username = None if parts.username is None else unquote(parts.username)
        password = None if parts.password is None else unquote(parts.password)
        return cls(
            parts.hostname, port or _DEFAULT_PORTS[scheme], scheme == "mqtts", username or None, password
        )

    def display(self) -> str:
        """The URL for logs and messages: the user name if any, never the password."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"

    def __str__(self) -> str:
        return self.display()

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``aiomqtt.Client``: address, credentials and, for mqtts, a TLS
        context that verifies the broker's certificate against the system's CAs."""
        kwargs: dict[str, Any] = {"hostname": self.host, "port": self.port}
        if self.username is not None:
            kwargs["username"] = self.username
            kwargs["password"] = self.password
        if self.tls:
            kwargs["tls_context"] = ssl.create_default_context()
        return kwargs
