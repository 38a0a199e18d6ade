"""The QR code on a wrap's label: its id, MAC and key, so registering it is a scan, not typing.

The label's text (also printed under the code, for a screen without a camera) is::

    KMCWRAP1;ID=<wrap id>;MAC=<12 hex digits>;KEY=<32 hex digits, or empty for a keyless wrap>;

Fields are ``;``-separated ``NAME=value`` pairs after a version tag, so a scanner or a person
typing it cannot mix the fields up, and a later version can add fields (unknown ones are
ignored). ``kmc-monitor wrap label WRAP`` makes it (SVG, with segno); the ward admin page reads it
with the browser's ``BarcodeDetector`` where there is one, or from the text typed or pasted.

The key is a secret: a label belongs on the wrap (whoever holds the wrap can read its key off
the wrap's memory anyway), not on a poster.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import segno

from kmc_monitor.devices.errors import CredentialError
from kmc_monitor.devices.protocol.bthome import format_mac
from kmc_monitor.errors import KmcError

__all__ = ["LABEL_TAG", "LabelError", "WrapLabel", "parse_label"]

LABEL_TAG: Final = "KMCWRAP1"
_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}$")
_KEY: Final = re.compile(r"^([0-9A-Fa-f]{32})?$")


class LabelError(KmcError, ValueError):
    """Text that is not a wrap label, with what is wrong."""


@dataclass(frozen=True, slots=True)
class WrapLabel:
    wrap_id: str
    mac: str
    key_hex: str | None = field(default=None, repr=False)

    def text(self) -> str:
        mac = self.mac.replace(":", "")
        return f"{LABEL_TAG};ID={self.wrap_id};MAC={mac};KEY={self.key_hex or ''};"

    def svg(self, *, scale: int = 6) -> bytes:
        """The label's QR code (error correction M: a label gets scratched)."""
        import io

        out = io.BytesIO()
        segno.make_qr(self.text(), error="m").save(out, kind="svg", scale=scale, border=2)
        return out.getvalue()


def parse_label(text: str) -> WrapLabel:
    """A label's fields from its text; :class:`LabelError` says what is wrong (never the key)."""
    parts = [p for p in text.strip().split(";") if p]
    if not parts or parts[0] != LABEL_TAG:
        raise LabelError(f"not a wrap label: it must start with {LABEL_TAG};")
    fields: dict[str, str] = {}
    for part in parts[1:]:
        name, sep, value = part.partition("=")
        if sep:
            fields[name.strip().upper()] = value.strip()
    wrap_id = fields.get("ID", "")
    if not _ID.match(wrap_id):
        raise LabelError(
            "the label's ID is missing or not a wrap id (1-32 letters, digits, ' ', '.', '_', '-')"
        )
    try:
        mac = format_mac(fields.get("MAC", ""))
    except CredentialError:
        raise LabelError("the label's MAC is not 12 hex digits") from None
    key = fields.get("KEY", "")
    if not _KEY.match(key):
        raise LabelError(f"the label's KEY must be 32 hex digits or empty; it has {len(key)} characters")
    return WrapLabel(wrap_id, mac, key.lower() or None)


def wrap_label_command(args: Any, say: Callable[[str], None]) -> int:
    """``kmc-monitor wrap label WRAP [--mac MAC --key HEX] [--data-dir D] [--out FILE.svg]``: the
    label of a registered wrap (from the ward's database), or of one given by MAC and key."""
    from pathlib import Path

    if not args.wrap_id:
        raise LabelError("wrap label needs the wrap's id")
    if args.mac:
        key = None if not args.key or args.key.lower() == "none" else args.key
        label = parse_label(WrapLabel(args.wrap_id, args.mac.replace(":", "").replace("-", ""), key).text())
    else:
        from kmc_monitor.service.config import Settings
        from kmc_monitor.service.store import Store

        overrides: dict[str, Any] = {} if args.data_dir is None else {"data_dir": args.data_dir}
        settings = Settings.load(args.config, **overrides)
        with Store.from_settings(settings) as store:
            entry = next((w for w in store.wrap_registry() if w.wrap_id == args.wrap_id), None)
        if entry is None:
            raise LabelError(f"no wrap {args.wrap_id!r} registered there: give --mac (and --key) instead")
        label = WrapLabel(entry.wrap_id, entry.mac, None if entry.key is None else entry.key.hex())
    out = Path(args.out or f"{label.wrap_id}-label.svg")
    out.write_bytes(label.svg())
    out.chmod(0o600)  # it holds the wrap's key
    say(f"label of wrap {label.wrap_id} written to {out} (it holds the key: print it, then delete the file)")
    return 0
