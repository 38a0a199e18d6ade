"""The home page speaks every language the ward's family view does (issue #17: "in the family's
language"): the home's own strings exist in each, with the same placeholders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "dashboard" / "assets"
WARD = sorted(p.stem for p in (ROOT / "i18n").glob("*.json"))
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _load(lang: str) -> dict[str, str]:
    out: dict[str, str] = json.loads((ROOT / "home" / "i18n" / f"{lang}.json").read_text("utf-8"))
    return out


def test_the_home_has_the_ward_family_views_languages() -> None:
    assert len(WARD) >= 6
    assert sorted(p.stem for p in (ROOT / "home" / "i18n").glob("*.json")) == WARD


@pytest.mark.parametrize("lang", WARD)
def test_every_home_string_is_translated_with_its_placeholders(lang: str) -> None:
    en, other = _load("en"), _load(lang)
    assert other.keys() == en.keys()
    for key, text in en.items():
        assert other[key].strip(), (lang, key)
        assert set(PLACEHOLDER.findall(other[key])) == set(PLACEHOLDER.findall(text)), (lang, key)
        if lang != "en" and key != "home_pair_button":
            assert other[key] != text, f"{lang}: {key} is still English"
