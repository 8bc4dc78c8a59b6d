"""The package's layers: no module imports a higher layer, at module level or inside a function, and no two
modules import each other (directly or around a circle).

Layers, low to high (``docs/layers.md``): the core (``snnrl/*.py``) < ``hardware``, ``continual`` < ``envs`` <
``agents`` < ``exact`` < the top (``reports``, ``sweeps``, ``cli``, ``demo``, ``__main__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "snnrl"

LAYERS = {"hardware": 1, "continual": 1, "envs": 2, "agents": 3, "exact": 4,
          "reports": 5, "sweeps": 5, "cli": 5, "demo": 5, "__main__": 5}
"""Layer of each subpackage / top-level module below ``snnrl``; every other ``snnrl/*.py`` is the core (0)."""


def layer_of(module: str) -> int:
    """Layer of a dotted module name inside ``snnrl``."""
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = PACKAGE) -> list[tuple[str, int]]:
    """Every ``snnrl`` module imported anywhere in ``path`` (function bodies included), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]  # `from snnrl import x`
    return [(name, line) for name, line in found if name == root.name or name.startswith(root.name + ".")]


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def upward_imports(root: Path = PACKAGE) -> list[str]:
    """``file:line: a (layer i) imports b (layer j > i)`` for every upward import below ``root``."""
    known = modules(root)
    out = []
    for name, path in known.items():
        for target, line in imports_of(path, root):
            if target not in known:          # `from snnrl.x import name`: the name is not a module
                continue
            if layer_of(target) > layer_of(name):
                out.append(f"{path.relative_to(root.parent)}:{line}: {name} (layer {layer_of(name)}) imports "
                           f"{target} (layer {layer_of(target)})")
    return out


def import_cycles(root: Path = PACKAGE) -> list[list[str]]:
    """Strongly connected groups of more than one module in the import graph (each is an import circle)."""
    known = modules(root)
    graph = {name: sorted({t for t, _ in imports_of(path, root) if t in known and t != name
                           and not name.startswith(t + ".")})   # a submodule's parent package is not a cycle
             for name, path in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return groups


def test_no_module_imports_a_higher_layer():
    violations = upward_imports()
    assert not violations, "upward imports:\n" + "\n".join(violations)


def test_no_import_circles():
    cycles = import_cycles()
    assert not cycles, "import circles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_every_subpackage_has_a_layer():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} - {"zoo"}
    assert subpackages <= set(LAYERS), f"give these subpackages a layer in LAYERS: {subpackages - set(LAYERS)}"


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A copy of the package's layout with one planted upward import inside a function and one circle."""
    root = tmp_path / "snnrl"
    for sub in ("hardware", "agents", "exact"):
        (root / sub).mkdir(parents=True)
        (root / sub / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "neurons.py").write_text("def f():\n    x = 1\n    from snnrl.agents.policy import P\n    return x\n")
    (root / "agents" / "policy.py").write_text("from snnrl.neurons import f\nP = 1\n")
    (root / "exact" / "a.py").write_text("from . import b\n")
    (root / "exact" / "b.py").write_text("def g():\n    from snnrl.exact import a\n")
    return root


def test_the_layer_check_names_a_planted_upward_import(planted: Path):
    assert upward_imports(planted) == [
        "snnrl/neurons.py:3: snnrl.neurons (layer 0) imports snnrl.agents.policy (layer 3)"]


def test_the_cycle_check_finds_a_planted_circle(planted: Path):
    assert ["snnrl.exact.a", "snnrl.exact.b"] in import_cycles(planted)


def test_the_layer_doc_names_every_module():
    doc = (PACKAGE.parent / "docs" / "layers.md").read_text(encoding="utf-8")
    missing = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.name != "__init__.py" and f"`{p.name}`" not in doc and f"/{p.name}`" not in doc]
    assert not missing, f"docs/layers.md has no line for: {missing}"
