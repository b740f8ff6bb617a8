"""An import inside a function stays only where it keeps a heavy or optional library lazy, and says
so: ``# lazy: keeps <libraries> out of `import chemnoether.<module>``` (or `` `chemnoether --help` ``),
or ``# lazy: optional <library> (extra "<extra>")`` (docs/architecture.md, "Layers")."""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "chemnoether"
LIBRARIES = {"DGL": "dgl", "RDKit": "rdkit", "ASE": "ase", "SciPy": "scipy", "pandas": "pandas", "e3nn": "e3nn",
             "matplotlib": "matplotlib", "tblite": "tblite", "gpytorch": "gpytorch", "tensorboard": "tensorboard"}
KEEPS = re.compile(r"lazy: keeps (?P<libraries>.+?) out of `(?P<target>import chemnoether[\w.]*|chemnoether --help)`")
OPTIONAL = re.compile(r'lazy: optional (?P<library>\S+) \(extra "(?P<extra>[\w-]+)"\)')


def local_imports(source: str) -> list[tuple[int, str]]:
    """(line, comment text of the statement's lines) of every import inside a function of ``source``."""
    lines = source.splitlines()
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                text = " ".join(lines[child.lineno - 1 : child.end_lineno])
                found.append((child.lineno, text.partition("#")[2]))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(source), False)
    return found


def reason(comment: str) -> tuple[str, list[str], str] | None:
    """('keeps', module names, target) or ('optional', [module name], extra); None if it gives none."""
    if match := KEEPS.search(comment):
        names = re.split(r", | and ", match["libraries"])
        return "keeps", [LIBRARIES.get(name, name) for name in names], match["target"]
    if match := OPTIONAL.search(comment):
        return "optional", [LIBRARIES.get(match["library"], match["library"])], match["extra"]
    return None


def _package_imports():
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for line, comment in local_imports(path.read_text()):
            yield f"{path.relative_to(REPO)}:{line}", module, comment


def test_every_local_import_says_why_it_is_lazy():
    bad = [f"{where}: #{comment}" for where, _, comment in _package_imports() if reason(comment) is None]
    assert not bad, "function-local imports without a '# lazy:' reason (move them to module level):\n" + "\n".join(bad)


def test_the_reasons_name_known_libraries_and_real_extras():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for where, _, comment in _package_imports():
        kind, libraries, rest = reason(comment)
        assert set(libraries) <= set(LIBRARIES.values()), f"{where}: unknown library in {comment!r}"
        if kind == "optional":
            assert any(req.startswith(libraries[0]) for req in extras.get(rest, ())), f"{where}: extra {rest!r} lacks it"


def test_the_check_sees_a_missing_or_malformed_reason():
    source = (
        "import os\n"
        "def f():\n    import dgl\n"
        "def g():\n    import dgl  # noqa: PLC0415 - DGL on use\n"
        "def h():\n    from dgl import nn  # lazy: keeps DGL out of `import chemnoether.core`\n"
        "def i():\n    from matplotlib.figure import (  # lazy: optional matplotlib (extra \"plots\")\n        Figure,\n    )\n"
    )
    found = local_imports(source)
    assert [line for line, _ in found] == [3, 5, 7, 9]  # the module-level import is not one
    assert [reason(comment) for _, comment in found] == [
        None, None, ("keeps", ["dgl"], "import chemnoether.core"), ("optional", ["matplotlib"], "plots")
    ]


def _loaded_after(target: str) -> set[str]:
    if target == "chemnoether --help":
        code = "import contextlib, io\nfrom chemnoether.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n" \
               "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
    else:
        code = target + "\n"
    code += f"import sys\nprint(' '.join(name for name in {sorted(LIBRARIES.values())!r} if name in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    return set(out.split())


def _claims() -> dict[str, set[str]]:
    """For each import (or command) a reason names: the libraries it must not load."""
    claims: dict[str, set[str]] = {}
    for _, module, comment in _package_imports():
        kind, libraries, rest = reason(comment) or ("", [], "")
        target = rest if kind == "keeps" else f"import {module}" if kind == "optional" else None
        if target is not None:
            claims.setdefault(target, set()).update(libraries)
    return claims


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(_claims()))
def test_each_lazy_import_keeps_what_it_says_out(target):
    assert _loaded_after(target).isdisjoint(_claims()[target])


def test_a_claim_that_does_not_hold_is_seen():
    # the negative control of the test above: the data layer does load DGL and ASE
    assert {"dgl", "ase"} <= _loaded_after("import chemnoether.data")
