"""The layer table in docs/architecture.md is the import rule, and this test holds the code to it.

The table ("The import rule") names each layer, the module prefixes that belong to it, and the layers
it may import. Every module of ``kmc_monitor`` must belong to a layer (the longest prefix wins), and
every import of another ``kmc_monitor`` module (top-level, deferred inside a function, or under
``TYPE_CHECKING``: a deferred import is still a dependency) must stay within its own layer or go to one
the table allows. A new module or an upward import fails here with the file, line and both layers, so
the document and the tree cannot drift apart. Modules over 800 lines fail too: issue #15's limit, with
the few that still exceed it listed by name so the list can only shrink.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kmc_monitor"
DOC = ROOT / "docs" / "architecture.md"

#: Modules still over the line limit. Each is a debt: splitting one removes it from here.
OVER_THE_LIMIT: frozenset[str] = frozenset()
MAX_LINES = 800


@dataclass(frozen=True)
class Layer:
    name: str
    prefixes: tuple[str, ...]
    may_import: frozenset[str]


def _ticks(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def layer_table(text: str) -> list[Layer]:
    """The rows of the table under "### The import rule" (three columns: layer, modules, may import)."""
    section = text.split("### The import rule", 1)
    assert len(section) == 2, "docs/architecture.md lost its '### The import rule' table"
    layers: list[Layer] = []
    for line in section[1].splitlines():
        if not line.startswith("|"):
            if layers:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("layer", "---") or set(cells[0]) <= {"-", " "}:
            continue
        names = _ticks(cells[0])
        assert len(names) == 1, f"layer cell without one `name`: {line}"
        layers.append(Layer(names[0], tuple(_ticks(cells[1])), frozenset(_ticks(cells[2]))))
    return layers


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts)


def owner(module: str, layers: list[Layer]) -> Layer | None:
    best: tuple[int, Layer] | None = None
    for layer in layers:
        for prefix in layer.prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), layer)
    return None if best is None else best[1]


def imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute ``kmc_monitor`` module this file imports, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("kmc_monitor"):
                    found.append((node.lineno, _as_module(a.name) or a.name))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("kmc_monitor"):
                # ``from kmc_monitor.devices import trace`` imports the submodule when there is one.
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.append((node.lineno, _as_module(sub) or _as_module(node.module) or node.module))
    return found


def _as_module(dotted: str) -> str | None:
    """The module file a dotted name names: ``pkg.__init__`` for a package, None for a name in one."""
    path = ROOT / Path(*dotted.split("."))
    if path.with_suffix(".py").exists():
        return dotted
    if (path / "__init__.py").exists():
        return dotted + ".__init__"
    return None


LAYERS = layer_table(DOC.read_text(encoding="utf-8"))
FILES = sorted(PACKAGE.rglob("*.py"))


def test_the_table_is_read() -> None:
    names = [layer.name for layer in LAYERS]
    assert len(names) == len(set(names)), f"a layer is named twice: {names}"
    assert {"signal", "service core", "web"} <= set(names)
    for layer in LAYERS:
        unknown = layer.may_import - set(names)
        assert not unknown, f"{layer.name} may import unknown layers {sorted(unknown)}"


def test_every_module_belongs_to_a_layer() -> None:
    homeless = [module_name(f) for f in FILES if owner(module_name(f), LAYERS) is None]
    assert not homeless, f"modules in no layer of docs/architecture.md: {homeless}"


def test_no_module_imports_a_layer_it_may_not() -> None:
    broken: list[str] = []
    for path in FILES:
        here = owner(module_name(path), LAYERS)
        assert here is not None
        for line, target in imports(path):
            there = owner(target, LAYERS)
            if there is None or there.name == here.name or there.name in here.may_import:
                continue
            broken.append(f"{path.relative_to(ROOT)}:{line} ({here.name}) imports {target} ({there.name})")
    assert not broken, "imports against the layer table:\n" + "\n".join(broken)


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a signal module importing the service would be reported."""
    signal = next(layer for layer in LAYERS if layer.name == "signal")
    service = owner("kmc_monitor.service.runtime", LAYERS)
    assert service is not None and service.name not in signal.may_import
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from kmc_monitor.service.runtime import WardRuntime\n", encoding="utf-8")
    assert imports(fake) == [(2, "kmc_monitor.service.runtime")]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_the_line_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    name = module_name(path)
    if name in OVER_THE_LIMIT:
        assert lines > MAX_LINES, f"{name} is {lines} lines now: take it off OVER_THE_LIMIT"
        return
    assert lines <= MAX_LINES, f"{name} has {lines} lines (limit {MAX_LINES}): split it by purpose"
