"""The package's import graph: no cycles (counting imports inside functions) and no package
importing another package's private module (docs/architecture.md, "Layers")."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "chemnoether"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """chemnoether modules imported anywhere in ``path`` (inside functions too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import module` imports the module; `from module import name` the module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t.startswith("chemnoether"))
    return found


def _graph() -> dict[str, set[str]]:
    paths = sorted(ROOT.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) & modules for p in paths}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    edges: dict[str, set[str]] = {}
    for a, targets in graph.items():
        for b in targets:
            if package(a) != package(b):
                edges.setdefault(package(a), set()).add(package(b))
    return edges


def test_no_module_import_cycle():
    assert _cycles(_graph()) == []


def test_no_package_import_cycle():
    assert _cycles(_packages(_graph())) == []


def test_no_private_module_of_another_package():
    offending = []
    for module, targets in _graph().items():
        for target in targets:
            parts = target.split(".")
            private = [i for i, part in enumerate(parts) if i > 0 and part.startswith("_") and not part.startswith("__")]
            if private:
                owner = ".".join(parts[: private[0]])
                if module != owner and not module.startswith(owner + "."):
                    offending.append(f"{module} -> {target}")
    assert offending == []


@pytest.mark.parametrize(
    "graph, expected",
    [({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]), ({"a": {"b"}, "b": set()}, [])],
)
def test_the_cycle_finder_finds_cycles(graph, expected):
    # the negative control of the checks above
    assert _cycles(graph) == expected
