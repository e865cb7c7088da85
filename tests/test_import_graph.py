"""The package's modules depend on each other one way: no import cycles (imports inside
functions count) and no private name taken from another module."""

from __future__ import annotations

import ast
from pathlib import Path

import zoomhard

ROOT = Path(zoomhard.__file__).parent


def _modules() -> dict[str, Path]:
    mods = {}
    for f in ROOT.rglob("*.py"):
        parts = list(f.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """module -> the package modules it imports; and 'a imports b._name' for each private name."""
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private = []
    for m, f in mods.items():
        package = m.split(".") if f.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(f.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in mods else base)
                    if alias.name.startswith("_") and not alias.name.startswith("__") and base in mods and base != m:
                        private.append(f"{m} imports {base}.{alias.name}")
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                # a package's own __init__ is where its modules are gathered, not a dependency
                if t and t != m and t != "zoomhard" and not m.startswith(t + "."):
                    edges[m].add(t)
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_the_checker_sees_a_cycle_and_a_private_name():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    edges, _ = _graph()
    assert "zoomhard.grid" in edges["zoomhard.crops"]          # crops builds on grid
    assert "zoomhard.pipeline" in edges["zoomhard.tta.run"]    # tta decodes through the pipeline


def test_no_import_cycles():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_no_private_names_across_modules():
    _, private = _graph()
    assert private == []


# The layers, lowest first. A module imports only modules of its own layer or below: the core
# (geometry, statistics, the run folder) knows no dataset, model or command; the adapters (data
# sources, model backends, the protocols that wrap them) know no engine or command; the engine
# (a sweep's config, pipeline and sessions) knows no command. Every module is in one layer.
LAYERS = {
    "core": ("errors", "checks", "spec", "stats", "grid", "crops", "labels", "net", "resources", "runs",
             "analysis", "paper"),
    "adapters": ("data", "models", "protocols", "protocol"),
    "engine": ("config", "pipeline", "sweep"),
    "commands": ("", "__main__", "cli", "library", "results", "bench", "look", "curate", "mistakes", "report",
                 "reproduce", "tta"),
}
RANK = {name: i for i, name in enumerate(LAYERS)}


def _layer(module: str) -> str | None:
    """The layer a module belongs to: the longest listed name it is or lives under."""
    name = module.removeprefix("zoomhard").removeprefix(".")
    best = None
    for layer, names in LAYERS.items():
        for n in names:
            if (name == n or (n and name.startswith(n + "."))) and (best is None or len(n) > len(best[1])):
                best = (layer, n)
    return best and best[0]


def _climbs(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} ({_layer(m)}) imports {t} ({_layer(t)})" for m, ts in edges.items() for t in ts
                  if RANK[_layer(t)] > RANK[_layer(m)])


def test_every_module_has_a_layer():
    edges, _ = _graph()
    assert [m for m in edges if _layer(m) is None] == []


def test_no_module_imports_a_layer_above_its_own():
    edges, _ = _graph()
    assert _climbs(edges) == []


def test_the_layer_check_sees_a_climb():
    assert _layer("zoomhard.runs.store") == "core" and _layer("zoomhard.report.html") == "commands"
    assert _layer("zoomhard") == "commands" and _layer("zoomhard.sweep.session") == "engine"
    assert _climbs({"zoomhard.grid": {"zoomhard.cli"}, "zoomhard.cli": {"zoomhard.grid"}}) == [
        "zoomhard.grid (core) imports zoomhard.cli (commands)"]
