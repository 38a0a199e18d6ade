"""Reading the pairing code printed at discharge (from the command line or the home page).

The code is the QR's text: base64url of the :class:`~kmc_monitor.station.wire.PairingCode` JSON
(the JSON itself is accepted too, for a code copied from the station's screen). A code that does
not read gives one sentence saying what to do, never a traceback.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import ValidationError

from kmc_monitor.errors import KmcError
from kmc_monitor.station.wire import PairingCode

__all__ = ["MAX_CODE_CHARS", "PairingError", "decode_pairing"]

#: A pairing code with twins' keys is well under 2 kB of base64url; anything longer is not one.
MAX_CODE_CHARS = 8192


class PairingError(KmcError):
    """The pairing code cannot be read."""


def decode_pairing(text: str) -> PairingCode:
    """A pairing code from the QR's text (base64url of the JSON) or the JSON itself."""
    text = text.strip()
    if len(text) > MAX_CODE_CHARS:
        raise PairingError("that is far too long for a pairing code: copy only the code itself")
    if not text.startswith("{"):
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
            text = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise PairingError(
                "the pairing code is neither JSON nor base64url text: scan or copy the whole code "
                "printed at discharge"
            ) from None
    try:
        return PairingCode.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "code"
        raise PairingError(
            f"the pairing code is not valid ({where}: {first['msg']}): ask the station to print it again"
        ) from None
