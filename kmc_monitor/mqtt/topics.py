"""MQTT topic names of a hospital's wrap gateways: build, parse, validate. Pure, no I/O.

The layout (one broker per hospital, one *site* per ward)::

    kmc/<site>/<gateway>/wrap/<wrap_id>/reading   a decoded reading (QoS 1)
    kmc/<site>/<gateway>/status                   the gateway's presence (retained; its Last Will)

Every name segment is restricted to :data:`ID_PATTERN`: letters, digits, ``.``, ``_`` and ``-``,
starting with a letter or digit, at most 32 characters. That keeps the MQTT wildcards (``+``,
``#``), the level separator (``/``), ``$`` (reserved for broker topics such as ``$SYS`` and
``$share``, MQTT 5.0 §4.7.2) and control characters out of every topic, so a wrap id can never widen
a subscription or impersonate another level. Wrap ids with spaces (which the ward's registry allows)
cannot be published; the gateway refuses them with a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from kmc_monitor.errors import KmcError

__all__ = [
    "ID_PATTERN",
    "ReadingTopic",
    "StatusTopic",
    "TopicError",
    "TopicReason",
    "check_id",
    "parse_topic",
    "reading_filter",
    "reading_topic",
    "shared",
    "status_filter",
    "status_topic",
]

#: A site, gateway or wrap id as it may appear in a topic.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}"
_ID_RE = re.compile(ID_PATTERN)
ROOT = "kmc"


class TopicReason(StrEnum):
    """Why a topic was refused (the metric label of the subscriber's ``rejected`` counter)."""

    BAD_TOPIC = "bad_topic"
    BAD_ID = "bad_id"
    WRONG_SITE = "wrong_site"


class TopicError(KmcError, ValueError):
    """A topic or topic id that is not one of ours; ``reason`` says which rule it broke."""

    def __init__(self, message: str, reason: TopicReason) -> None:
        super().__init__(message)
        self.reason = reason


def check_id(kind: str, value: str) -> str:
    """``value`` if it is a valid ``kind`` id (site, gateway, wrap); otherwise :class:`TopicError`."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        shown = repr(value) if isinstance(value, str) and len(value) <= 40 else f"{type(value).__name__}"
        raise TopicError(
            f"{kind} id {shown} cannot be used in an MQTT topic: use 1 to 32 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit",
            TopicReason.BAD_ID,
        )
    return value


@dataclass(frozen=True, slots=True)
class ReadingTopic:
    """``kmc/<site>/<gateway>/wrap/<wrap_id>/reading``."""

    site: str
    gateway: str
    wrap_id: str


@dataclass(frozen=True, slots=True)
class StatusTopic:
    """``kmc/<site>/<gateway>/status``."""

    site: str
    gateway: str


def reading_topic(site: str, gateway: str, wrap_id: str) -> str:
    """The topic a gateway publishes a wrap's readings on."""
    return (
        f"{ROOT}/{check_id('site', site)}/{check_id('gateway', gateway)}"
        f"/wrap/{check_id('wrap', wrap_id)}/reading"
    )


def status_topic(site: str, gateway: str) -> str:
    """The topic of a gateway's retained presence (and of its Last Will)."""
    return f"{ROOT}/{check_id('site', site)}/{check_id('gateway', gateway)}/status"


def reading_filter(site: str) -> str:
    """Every gateway's readings of the site's wraps."""
    return f"{ROOT}/{check_id('site', site)}/+/wrap/+/reading"


def status_filter(site: str) -> str:
    """Every gateway's presence on the site."""
    return f"{ROOT}/{check_id('site', site)}/+/status"


def shared(group: str, topic_filter: str) -> str:
    """A shared subscription of ``group`` (MQTT 5.0 §4.8.2: ``$share/<ShareName>/<filter>``)."""
    return f"$share/{check_id('share group', group)}/{topic_filter}"


def parse_topic(topic: str, site: str | None = None) -> ReadingTopic | StatusTopic:
    """What a received topic names; :class:`TopicError` for anything that is not exactly one of ours.

    With ``site``, a topic of another site is refused too (a broker shared by several wards, and a
    subscription that matched more than it should).
    """
    parts = topic.split("/")
    if len(parts) == 6 and parts[0] == ROOT and parts[3] == "wrap" and parts[5] == "reading":
        out: ReadingTopic | StatusTopic = ReadingTopic(
            check_id("site", parts[1]), check_id("gateway", parts[2]), check_id("wrap", parts[4])
        )
    elif len(parts) == 4 and parts[0] == ROOT and parts[3] == "status":
        out = StatusTopic(check_id("site", parts[1]), check_id("gateway", parts[2]))
    else:
        shown = topic if len(topic) <= 120 else topic[:117] + "..."
        raise TopicError(f"not a kmc-monitor topic: {shown!r}", TopicReason.BAD_TOPIC)
    if site is not None and out.site != site:
        raise TopicError(f"topic of site {out.site!r}, this ward is {site!r}", TopicReason.WRONG_SITE)
    return out
