"""The ward's runtime settings (any JSON value by key) and the secret that signs staff sessions."""

from __future__ import annotations

import json
import secrets
from typing import Any, Final

from kmc_monitor.service.store.codec import encode_json
from kmc_monitor.service.store.connection import StoreConnection

__all__ = ["SettingsStore"]

#: Runtime settings under this prefix are secrets: never listed by :meth:`SettingsStore.settings`.
_SECRET_PREFIX: Final = "secret."


class SettingsStore(StoreConnection):
    """The ``settings`` table."""

    def set_setting(self, key: str, value: object) -> None:
        """Keep a runtime setting (any JSON value), durably."""
        text = encode_json(value)
        with self._write(f"saving setting {key!r}", durable=True) as c:
            c.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    def get_setting(self, key: str, default: object = None) -> Any:
        rows = self._read("reading a setting", "SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def settings(self) -> dict[str, Any]:
        """Every runtime setting except secrets (see :meth:`session_secret`)."""
        rows = self._read("reading settings", "SELECT key, value FROM settings ORDER BY key")
        return {k: json.loads(v) for k, v in rows if not k.startswith(_SECRET_PREFIX)}

    def session_secret(self) -> bytes:
        """The key that signs staff session cookies, made on first use and kept with the ward.

        Kept here (the database is readable by the service user only) so that ward screens stay
        signed in across restarts; a new data directory signs everyone out.
        """
        key = f"{_SECRET_PREFIX}session"
        value = self.get_setting(key)
        if isinstance(value, str) and len(value) == 64:
            return bytes.fromhex(value)
        secret = secrets.token_bytes(32)
        self.set_setting(key, secret.hex())
        return secret
