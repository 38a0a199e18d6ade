"""The ward's own staff credential: one admin token kept across restarts, hashed in the data directory.

Without ``KMC_STAFF_TOKEN`` the service used to make a new token at every start, so every wall
screen said "Signed out" after a power cut and needed a new link from the server's console. Now
the first start makes one 192-bit token, prints it once with what to do with it, and keeps only
its SHA-256 digest in ``<data_dir>/staff-credential.json`` (``0600``). A digest is enough for a
token of this strength (nobody guesses 192 bits, so no slow KDF is needed, unlike a nurse's PIN).
The screens' session cookies are signed with the ward's own secret (in the database), so screens
stay signed in across restarts; ``kmc-monitor credential rotate --data-dir D`` replaces the token
(the old one and every session made from it stop working at the service's next start).

Tokens configured in the settings (``KMC_STAFF_TOKEN(S)``) still work beside it, as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kmc_monitor.errors import KmcError

__all__ = ["CREDENTIAL_FILE", "CredentialFileError", "StaffCredential", "ensure", "load", "rotate"]

CREDENTIAL_FILE: Final = "staff-credential.json"


class CredentialFileError(KmcError):
    """The credential file exists but cannot be used (damaged, unreadable)."""


@dataclass(frozen=True, slots=True)
class StaffCredential:
    """The kept credential: its digest (never the token) and when it was made."""

    sha256: bytes
    created_t: float
    path: Path

    @property
    def fingerprint(self) -> str:
        """The audit's id for it, the same ``staff-<8 hex>`` as a configured token's."""
        return f"staff-{self.sha256[:4].hex()}"


def _path(data_dir: Path) -> Path:
    return Path(data_dir) / CREDENTIAL_FILE


def load(data_dir: Path) -> StaffCredential | None:
    """The kept credential, or None if this data directory has none yet."""
    path = _path(data_dir)
    try:
        raw = json.loads(path.read_text("utf-8"))
        digest = bytes.fromhex(str(raw["sha256"]))
        created = float(raw["created_t"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CredentialFileError(
            f"{path} cannot be read ({exc.__class__.__name__}): replace it with "
            f"`kmc-monitor credential rotate --data-dir {data_dir}`"
        ) from None
    if len(digest) != 32:
        raise CredentialFileError(f"{path} is damaged: replace it with `kmc-monitor credential rotate`")
    return StaffCredential(digest, created, path)


def _write(data_dir: Path, token: str) -> StaffCredential:
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = _path(data_dir)
    digest = hashlib.sha256(token.encode("utf-8")).digest()
    now = time.time()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"sha256": digest.hex(), "created_t": now}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return StaffCredential(digest, now, path)


def ensure(data_dir: Path) -> tuple[StaffCredential, str | None]:
    """The kept credential; on a data directory without one, a new one and its token (to be shown
    once: it is not kept)."""
    found = load(data_dir)
    if found is not None:
        return found, None
    token = secrets.token_urlsafe(24)
    return _write(data_dir, token), token


def rotate(data_dir: Path) -> tuple[StaffCredential, str]:
    """Replace the kept credential with a new one; returns it and its token (shown once)."""
    token = secrets.token_urlsafe(24)
    return _write(data_dir, token), token


def announce(token: str, base_url: str, data_dir: Path) -> str:
    """What the console says once, when a credential is made: the token, where to use it, how to
    replace it."""
    return "\n".join(
        [
            "=" * 72,
            "A staff credential was made for this ward. It is shown this once only:",
            f"    {token}",
            "Keep it on paper in the ward office (it is an admin key). Use it to:",
            f"  - sign in a wall screen or a nurse's station: {base_url}/ward?token={token}",
            "    (the screen then stays signed in across restarts for a shift at a time);",
            "  - make screen or nurse tokens of lesser rights (docs/security.md).",
            "Lost or seen by someone who should not have it? Replace it (the old one stops):",
            f"    kmc-monitor credential rotate --data-dir {data_dir}",
            "=" * 72,
        ]
    )


def command(args: Any, say: Callable[[str], None]) -> int:
    """``kmc-monitor credential rotate --data-dir D``: a new credential, printed once."""
    from kmc_monitor.service.config import Settings

    overrides: dict[str, Any] = {} if args.data_dir is None else {"data_dir": args.data_dir}
    settings = Settings.load(args.config, **overrides)
    old = load(settings.data_dir)
    cred, token = rotate(settings.data_dir)
    say(f"new staff credential for {settings.data_dir} (shown this once; keep it on paper):")
    say(f"    {token}")
    say(
        ("it replaces " + old.fingerprint if old else "there was none before")
        + f"; audit id {cred.fingerprint}. Restart the service, then open on each screen: "
        f"{settings.base_url}/ward?token=<the credential> (the old one's sessions stop at the restart)"
    )
    return 0
