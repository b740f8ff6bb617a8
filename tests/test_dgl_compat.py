"""`import dgl` works on this torch through chemnoether's one import fix, in workers too.

The fix run by `import chemnoether` itself; the start-up hook that runs it before an `import dgl`
is tested in test_import_order.py, and turned off here (``CHEMNOETHER_DGL_HOOK=0``) where a test
needs DGL as it is without the fix."""

import multiprocessing
import os
import subprocess
import sys

import pytest

import chemnoether
from chemnoether import _dgl_compat
from chemnoether.featurize import smiles_to_graph


def _run(code: str, hook: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CHEMNOETHER_DGL_HOOK"}
    if not hook:
        env["CHEMNOETHER_DGL_HOOK"] = "0"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_placeholder_registered_exactly_when_library_missing():
    import dgl  # noqa: F401

    registered = getattr(sys.modules["dgl.graphbolt"], _dgl_compat.PLACEHOLDER_ATTR, False)
    assert registered == _dgl_compat.graphbolt_needs_placeholder()


@pytest.mark.skipif(not _dgl_compat.graphbolt_needs_placeholder(), reason="DGL ships graphbolt for this torch")
def test_plain_import_fails_without_the_fix():
    # the reason the fix exists: if this starts passing, DGL fixed itself and the fix can go
    result = _run("import dgl", hook=False)
    assert result.returncode != 0
    assert "graphbolt" in result.stderr or "torchdata" in result.stderr


def test_import_chemnoether_first_makes_dgl_work_in_a_fresh_interpreter():
    result = _run(
        "import chemnoether, dgl, torch\n"
        "from dgl.nn import EGNNConv\n"
        "from dgl.dataloading import GraphDataLoader\n"
        "g = dgl.graph((torch.tensor([0, 1]), torch.tensor([1, 2])))\n"
        "print(dgl.batch([g, g]).num_edges())"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4"


def test_torch_first_then_chemnoether_then_dgl():
    # the usual notebook order: torch is already loaded when chemnoether registers the fix
    result = _run("import torch\nimport chemnoether\nimport dgl\nprint(dgl.graph(([0], [1])).num_edges())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


@pytest.mark.skipif(not _dgl_compat.graphbolt_needs_placeholder(), reason="DGL ships graphbolt for this torch")
def test_a_failed_dgl_import_recovers_once_chemnoether_is_imported():
    # with the start-up hook off, `import dgl` first fails inside DGL itself (no chemnoether code
    # has run yet); importing chemnoether afterwards, in the same interpreter, makes the next
    # `import dgl` work
    result = _run(
        # DGL's own error depends on the torchdata installed (no datapipes) or the missing library
        "try:\n    import torch, dgl\nexcept (ImportError, OSError):\n    print('first: failed')\n"
        "import chemnoether, dgl\n"
        "from dgl.dataloading import GraphDataLoader\n"
        "g = dgl.graph((torch.tensor([0, 1]), torch.tensor([1, 2])))\n"
        "print(dgl.batch([g, g]).num_edges())",
        hook=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["first:", "failed", "4"]


def test_explanation_logged_once_on_first_use():
    code = (
        "import logging; logging.basicConfig(level=logging.INFO)\n"
        "import chemnoether, importlib; importlib.reload(chemnoether)\n"
        "import dgl"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    expected = 1 if _dgl_compat.graphbolt_needs_placeholder() else 0
    assert result.stderr.count("registered an empty dgl.graphbolt") == expected


def test_spawned_worker_featurizes():
    # spawn starts a fresh interpreter; unpickling the task imports chemnoether (workers that
    # import dgl first: test_import_order.py)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        graph = pool.apply(smiles_to_graph, ("c1ccccc1O",))
    assert graph.num_nodes("atom") == 7
    assert graph.num_nodes("ring") == 1


def test_version_is_exposed():
    assert chemnoether.__version__.count(".") == 2
