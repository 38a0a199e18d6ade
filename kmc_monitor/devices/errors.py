"""What can go wrong between a radio packet and a :class:`~kmc_monitor.devices.reading.Reading`.

Every decoder in ``kmc_monitor.devices`` raises only the exceptions below (all under
:class:`~kmc_monitor.errors.KmcError`), so a caller that catches :class:`DecodeError` has caught every
way a payload can fail, and nothing else. The clinical rule behind the strictness: a garbled, forged or
replayed packet must never become a reading, because a false "baby is warm" is as harmful as a false
alarm. Decoders therefore refuse a whole packet rather than guess at part of it.

Each :class:`DecodeError` subclass names the :class:`RejectReason` under which
:class:`~kmc_monitor.devices.protocol.verify.AdvertVerifier` counts it, so the per-wrap counters an engineer
reads map one to one onto these classes::

    KmcError
    ├── DecodeError (also ValueError)   a payload cannot be turned into values
    │   ├── TruncatedPayload            shorter than its own header says (radio cut it off)
    │   ├── MalformedPayload            every byte present but a value is impossible
    │   ├── UnsupportedFormat           a format version or flag this decoder does not implement
    │   ├── UnknownObject               a BTHome object id with no known length
    │   ├── MissingKey                  encrypted, but no key or no MAC address to decrypt with
    │   └── AuthenticationFailed        the AES-CCM tag does not match: wrong key, forged or corrupted
    ├── EncodeError (also ValueError)   a value cannot be put on the wire as asked
    └── CredentialError (also ValueError)  a key or MAC address is written wrongly
        └── RegistryError               the ward's wrap registry file cannot be used (says where)
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from kmc_monitor.errors import KmcError

__all__ = [
    "AuthenticationFailed",
    "CredentialError",
    "DecodeError",
    "EncodeError",
    "MalformedPayload",
    "MissingKey",
    "RegistryError",
    "RejectReason",
    "TruncatedPayload",
    "UnknownObject",
    "UnsupportedFormat",
]


class RejectReason(StrEnum):
    """Why an advertisement did not become a reading; the key of the verifier's counters."""

    #: The sender's MAC address is not in the ward's wrap registry.
    UNKNOWN_DEVICE = "unknown_device"
    #: Plaintext advertisement from a wrap without a key on a ward that requires encryption.
    UNENCRYPTED = "unencrypted"
    #: Plaintext advertisement from a wrap that has a key: an attempt to bypass authentication.
    DOWNGRADE = "downgrade"
    #: The MAC address carried inside the payload differs from the address the radio saw.
    MAC_MISMATCH = "mac_mismatch"
    #: Encrypted advertisement that cannot be checked (no key registered for the wrap).
    MISSING_KEY = "missing_key"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    UNSUPPORTED_FORMAT = "unsupported_format"
    UNKNOWN_OBJECT = "unknown_object"
    AUTHENTICATION_FAILED = "authentication_failed"
    #: Authentic, but its counter is not above the last accepted one (an old packet sent again).
    REPLAYED = "replayed"
    #: The same packet as the last accepted one (same bytes, or same BTHome packet id).
    DUPLICATE = "duplicate"
    #: Decodes, but its objects are not the wrap's fixed layout 00 01 02 02 09 25 (PROTOCOL.md §2.6):
    #: a garbled plaintext packet (say skin's 0x02 turned into 0x03 would make ambient read as skin)
    #: or a device that is not a kmc wrap.
    UNEXPECTED_LAYOUT = "unexpected_layout"
    #: Authentic and new, but carries none of skin, ambient, contact or battery (only checked when
    #: the verifier accepts layouts other than the wrap's).
    NO_MEASUREMENT = "no_measurement"


class DecodeError(KmcError, ValueError):
    """A payload cannot be turned into values; nothing from it may be used."""

    reason: ClassVar[RejectReason] = RejectReason.MALFORMED


class TruncatedPayload(DecodeError):
    """The payload ends before a field its own header announces (a cut-off or corrupted packet)."""

    reason: ClassVar[RejectReason] = RejectReason.TRUNCATED


class MalformedPayload(DecodeError):
    """Every byte is present but a field holds an impossible value (reserved flag, 31 February...)."""

    reason: ClassVar[RejectReason] = RejectReason.MALFORMED


class UnsupportedFormat(DecodeError):
    """A format version or feature this decoder does not implement (e.g. BTHome v1, HTS reserved flags)."""

    reason: ClassVar[RejectReason] = RejectReason.UNSUPPORTED_FORMAT


class UnknownObject(DecodeError):
    """A BTHome object id missing from the object table.

    BTHome does not say how long an object is, only its id does; after an unknown id the rest of the
    payload cannot be parsed, so the whole advertisement is refused rather than half-read.
    """

    reason: ClassVar[RejectReason] = RejectReason.UNKNOWN_OBJECT

    def __init__(self, message: str, object_id: int) -> None:
        super().__init__(message)
        self.object_id = object_id


class MissingKey(DecodeError):
    """An encrypted advertisement arrived without the key (or the MAC address) needed to open it."""

    reason: ClassVar[RejectReason] = RejectReason.MISSING_KEY


class AuthenticationFailed(DecodeError):
    """The AES-CCM message integrity check failed: wrong key, wrong MAC address, forged or corrupted."""

    reason: ClassVar[RejectReason] = RejectReason.AUTHENTICATION_FAILED


class EncodeError(KmcError, ValueError):
    """A value cannot be encoded as asked (out of range for its field, NaN where none exists...)."""


class CredentialError(KmcError, ValueError):
    """A key or a MAC address is written wrongly; the message says what was expected."""


class RegistryError(CredentialError):
    """The ward's wrap registry (file or entries) cannot be used; the message names the file and entry."""
