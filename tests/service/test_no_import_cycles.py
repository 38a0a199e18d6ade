"""No import cycle among kmc_monitor's modules, the store's above all (issue #15).

Every ``import`` and ``from ... import`` of a kmc_monitor module counts, wherever it is written:
at the top, inside a function (a deferred import still runs, and is the usual way a cycle hides) or
under ``if TYPE_CHECKING:`` (a cycle there is a cycle in the design, and breaks as soon as someone
needs the name at run time). A cycle is a strongly connected component of that graph; the test
names one closed path through each, so a failure says which imports to cut.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import kmc_monitor

PACKAGE = Path(kmc_monitor.__file__).resolve().parent

#: Cycles that may remain for now: none since issue #15 split the web layer (routes/station.py no
#: longer reaches back into the app for the audit identity). Keep it empty.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["kmc_monitor", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    """The kmc_monitor modules ``name`` imports (``from pkg import sub`` counts as importing ``sub``)."""
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[: len(base) - (node.level - 1)]
                module = ".".join([*parent, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if sub in modules:
                    found.add(sub)
                elif module in modules:
                    found.add(module)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[frozenset[str]]:
    """Tarjan's components of more than one module (iterative: no recursion limit to meet)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(frozenset(component))
    return out


def a_cycle(graph: Mapping[str, Iterable[str]], component: frozenset[str]) -> list[str]:
    """One closed import path inside ``component``: ``[a, b, ..., a]``."""
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for nxt in sorted(graph[node]):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, node, start]
            if nxt in component and nxt not in parents:
                parents[nxt] = node
                frontier.append(nxt)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_the_graph_finds_a_cycle_and_names_its_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    (component,) = strongly_connected(graph)
    assert component == {"a", "b", "c"}
    assert a_cycle(graph, component) == ["a", "b", "c", "a"]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_the_package_and_deferred_imports() -> None:
    graph = import_graph()
    assert "kmc_monitor.service.store.facade" in graph["kmc_monitor.service.store"]
    assert "kmc_monitor.service.store.connection" in graph["kmc_monitor.service.store.readings"]
    # reports.py imports the programme's checklist inside a function: still an import.
    assert "kmc_monitor.programme.discharge" in graph["kmc_monitor.service.reports"]


def test_the_store_does_not_import_the_ward() -> None:
    graph = import_graph()
    for name, imported in graph.items():
        if name == "kmc_monitor.service.store" or name.startswith("kmc_monitor.service.store."):
            assert "kmc_monitor.service.ward" not in imported, f"{name} imports the ward"


def test_no_new_import_cycle() -> None:
    graph = import_graph()
    found = strongly_connected(graph)
    new = [c for c in found if c not in KNOWN_CYCLES]
    assert not new, "import cycles: " + "; ".join(" -> ".join(a_cycle(graph, c)) for c in new)
    for component in found:
        assert not any(".store" in m for m in component), f"the store is in a cycle: {sorted(component)}"
