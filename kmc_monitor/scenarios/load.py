"""Scenario files (YAML) into :class:`~kmc_monitor.scenarios.model.Scenario` values.

A file holds one scenario, or several as YAML documents separated by ``---``. It is read with
PyYAML's safe loader (no Python objects from a file), then validated by the pydantic schema; an
error is one :class:`ScenarioError` sentence naming the file, the line and the field, because the
person fixing it is editing that file in an editor, not reading a validation tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kmc_monitor.errors import KmcError
from kmc_monitor.scenarios.model import Scenario

__all__ = ["LoadedScenario", "ScenarioError", "load_file", "load_text"]

#: A scenario file is hand-written text; anything much larger is a trace given by mistake.
MAX_FILE_BYTES = 1 << 20


class ScenarioError(KmcError):
    """A scenario file that cannot be used: unreadable, not YAML, or not a valid scenario."""


@dataclass(frozen=True, slots=True)
class LoadedScenario:
    """A validated scenario with where it came from (traces are relative to ``path``'s folder)."""

    scenario: Scenario
    path: Path
    index: int
    line: int

    @property
    def name(self) -> str:
        """The scenario's name, or the file's stem (with the document number when several)."""
        if self.scenario.name:
            return self.scenario.name
        return self.path.stem if self.index == 0 else f"{self.path.stem}[{self.index}]"


#: PyYAML's safe loader, in C when libyaml is there (the same documents, ten times faster).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str) -> list[yaml.Node]:
    """The documents' nodes. On an error, the pure-Python parser says what is wrong: its messages
    name the character at fault ("found character '\\t' that cannot start any token"; libyaml's
    leaves it out), and a tab is the mistake a hand-edited file makes most."""
    try:
        return list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError:
        if _Loader is yaml.SafeLoader:
            raise
        return list(yaml.compose_all(text, Loader=yaml.SafeLoader))


def load_file(path: str | os.PathLike[str]) -> list[LoadedScenario]:
    """Every scenario in the file, in order. Raises :class:`ScenarioError`."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{p}: {p.stat().st_size} bytes is too large for a scenario file")
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{p}: not UTF-8 text (is it a scenario file?)") from None
    except OSError as exc:
        raise ScenarioError(f"cannot read {p}: {exc.strerror or exc}") from None
    return load_text(text, p)


def load_text(text: str, path: Path) -> list[LoadedScenario]:
    """Scenarios from YAML text; ``path`` names it in errors and anchors relative trace paths."""
    try:
        # Parsed once, with libyaml when PyYAML has it: the nodes give errors their lines, and each
        # document is built from its node (the pure-Python parser, twice over, was most of the time
        # pytest spends collecting the scenario files).
        nodes = _compose(text)
        docs = [_Loader("").construct_document(n) for n in nodes]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{path}{where}: not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    pairs = [(d, n) for d, n in zip(docs, nodes, strict=True) if d is not None]
    if not pairs:
        raise ScenarioError(f"{path}: holds no scenario")
    out: list[LoadedScenario] = []
    for index, (doc, node) in enumerate(pairs):
        line = node.start_mark.line + 1
        if not isinstance(doc, dict):
            raise ScenarioError(f"{path}:{line}: a scenario is a mapping (trace or generate, expect, ...)")
        try:
            scenario = Scenario.model_validate(doc)
        except ValidationError as exc:
            raise ScenarioError(_first_error(exc, node, path)) from None
        out.append(LoadedScenario(scenario, path, index, line))
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScenarioError(f"{path}: two scenarios are named {dupes[0]!r}: names must be unique in a file")
    return out


def _first_error(exc: ValidationError, root: yaml.Node, path: Path) -> str:
    """``file:line: field.path: message`` for the first error, and how many more there are."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    if len(loc) > 1 and loc[0] == "generate" and loc[1] in _TAGS:
        loc = loc[:1] + loc[2:]  # the union's tag pydantic puts in the location, not a key of the file
    if len(loc) > 1 and loc[0] == "expect" and loc[1] == 0 and _is_mapping_at(root, "expect"):
        loc = loc[:1] + loc[2:]  # one expect block written as a mapping, not a list
    node = _node_at(root, loc)
    shown = ".".join(str(p) for p in loc) or "(scenario)"
    msg = str(first.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if first.get("type") == "extra_forbidden":
        msg = "unknown key (misspelt? docs/scenarios.md lists every key)"
    more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    return f"{path}:{node.start_mark.line + 1}: {shown}: {msg}{more}"


_TAGS = frozenset({"builder", "simulator"})


def _is_mapping_at(root: yaml.Node, key: str) -> bool:
    """Whether the document's ``key`` holds a mapping (rather than a list)."""
    if not isinstance(root, yaml.MappingNode):
        return False
    value = next((v for k, v in root.value if getattr(k, "value", None) == key), None)
    return isinstance(value, yaml.MappingNode)


def _node_at(root: yaml.Node, loc: tuple[Any, ...]) -> yaml.Node:
    """The deepest YAML node along ``loc`` (parts the file does not have, such as a union's tag or a
    model's internal name, are skipped: the line is then the nearest enclosing one)."""
    node = root
    for n, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if pair is not None:
                # the key's own line for the last part: where the field is written
                node = pair[0] if n == len(loc) - 1 else pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
    return node
