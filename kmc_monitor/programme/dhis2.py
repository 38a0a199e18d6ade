"""DHIS2 aggregate reporting: the indicators as a ``dataValueSets`` payload, and its push.

DHIS2 takes aggregate data as a data value set: ``dataValues`` entries, each with ``dataElement``,
``period`` (``yyyyMM`` for a month), ``orgUnit``, ``categoryOptionCombo`` where the element is
disaggregated, and ``value`` (a string). A server imports it at ``POST /api/dataValueSets`` and
answers with an import summary whose ``importCount`` holds ``imported``, ``updated``, ``ignored``
and ``deleted`` (newer servers wrap the summary in ``response``).

Which indicator is which data element is the hospital's choice (each country's HMIS has its own
metadata), so it comes from a mapping file (YAML or JSON), checked here before anything is sent::

    orgUnit: DiszpKrYNg8           # the hospital's organisation unit id
    dataSet: kmcMonthly01          # optional
    dataElements:
      admissions: {dataElement: KmcAdm00001}
      contact_h.mother: {dataElement: KmcHours001, categoryOptionCombo: Mother00001}

An indicator that is not mapped is not sent; one whose value cannot be known (None) is not sent
either — an empty cell in DHIS2, never a false 0.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kmc_monitor.errors import KmcError
from kmc_monitor.programme.indicators import Indicators, Period

__all__ = [
    "DataValue",
    "DataValueSet",
    "Dhis2Error",
    "Dhis2Mapping",
    "ImportCount",
    "ImportSummary",
    "Mapped",
    "data_value_set",
    "load_mapping",
    "push",
]

#: DHIS2 identifiers (UIDs and codes): letters, digits and a few separators.
_UID = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.\-]+$")]


class Dhis2Error(KmcError):
    """The mapping file or the DHIS2 server refused; the message says what to fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mapped(_Strict):
    dataElement: _UID
    categoryOptionCombo: _UID | None = None


class Dhis2Mapping(_Strict):
    """The hospital's mapping file."""

    orgUnit: _UID
    dataSet: _UID | None = None
    attributeOptionCombo: _UID | None = None
    dataElements: dict[str, Mapped] = Field(min_length=1)


class DataValue(_Strict):
    dataElement: str
    period: str
    orgUnit: str
    categoryOptionCombo: str | None = None
    value: str


class DataValueSet(_Strict):
    dataSet: str | None = None
    period: str
    orgUnit: str
    attributeOptionCombo: str | None = None
    dataValues: list[DataValue]

    def json_payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ImportCount(BaseModel):
    model_config = ConfigDict(extra="ignore")
    imported: int = 0
    updated: int = 0
    ignored: int = 0
    deleted: int = 0


class ImportSummary(BaseModel):
    """What the server answered (the parts a person acts on)."""

    model_config = ConfigDict(extra="ignore")
    status: str = "UNKNOWN"
    importCount: ImportCount = Field(default_factory=ImportCount)
    conflicts: list[dict[str, Any]] = []


def load_mapping(path: str | Path, known_keys: set[str] | None = None) -> Dhis2Mapping:
    """Read and check a mapping file; a key that names no indicator is refused (a typo would
    otherwise silently leave a data element empty)."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Dhis2Error(f"cannot read the DHIS2 mapping file {p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise Dhis2Error(f"the DHIS2 mapping file {p} is not valid YAML or JSON: {exc}") from None
    try:
        mapping = Dhis2Mapping.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise Dhis2Error(f"the DHIS2 mapping file {p} is wrong: {problems}") from None
    if known_keys is not None:
        unknown = sorted(set(mapping.dataElements) - known_keys)
        if unknown:
            raise Dhis2Error(
                f"the DHIS2 mapping file {p} maps unknown indicator(s) {', '.join(unknown[:5])} "
                "(see docs/indicators.md for the keys)"
            )
    return mapping


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def data_value_set(indicators: Indicators, mapping: Dhis2Mapping) -> DataValueSet:
    """The indicators as DHIS2 data values (only mapped ones with a known value)."""
    period = Period(indicators.first_day, indicators.last_day).dhis2
    values = []
    for v in indicators.values:
        m = mapping.dataElements.get(v.key)
        if m is None or v.value is None:
            continue
        values.append(
            DataValue(
                dataElement=m.dataElement,
                period=period,
                orgUnit=mapping.orgUnit,
                categoryOptionCombo=m.categoryOptionCombo,
                value=_text(v.value),
            )
        )
    return DataValueSet(
        dataSet=mapping.dataSet,
        period=period,
        orgUnit=mapping.orgUnit,
        attributeOptionCombo=mapping.attributeOptionCombo,
        dataValues=values,
    )


def push(
    payload: DataValueSet, base_url: str, username: str, password: str, *, timeout_s: float = 30.0
) -> ImportSummary:
    """POST the payload to ``{base_url}/api/dataValueSets`` with Basic authentication.

    Raises :class:`Dhis2Error` with the server's reason (wrong password, unreachable server, a
    refusal); returns the import summary otherwise (check its ``ignored`` and ``conflicts``).
    """
    if not re.match(r"^https?://", base_url):
        raise Dhis2Error(f"the DHIS2 address {base_url!r} must start with http:// or https://")
    url = base_url.rstrip("/") + "/api/dataValueSets"
    body = json.dumps(payload.json_payload()).encode("utf-8")
    auth = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Basic {auth}",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            answer = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        hint = " (check the DHIS2 user name and password)" if exc.code in (401, 403) else ""
        raise Dhis2Error(f"DHIS2 at {url} refused the data values: HTTP {exc.code}{hint} {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Dhis2Error(f"cannot reach DHIS2 at {url}: {reason}") from None
    try:
        doc = json.loads(answer)
    except ValueError:
        raise Dhis2Error(f"DHIS2 at {url} answered something that is not JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("response"), dict):
        doc = doc["response"]
    try:
        return ImportSummary.model_validate(doc)
    except ValidationError:
        raise Dhis2Error(f"DHIS2 at {url} answered without an import summary") from None
