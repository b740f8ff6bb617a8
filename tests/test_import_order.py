"""`import dgl` works whether or not chemnoether was imported first (the start-up hook
``chemnoether-dgl.pth`` -> ``chemnoether_dgl_hook``), in fresh interpreters and spawned workers."""

import ast
import importlib.metadata
import importlib.util
import os
import site
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import chemnoether_dgl_hook as hook
from chemnoether import _dgl_compat

PTH_NAME = "chemnoether-dgl.pth"
REPO = Path(__file__).resolve().parent.parent


def _installed_pth() -> Path | None:
    folders = {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}
    return next((Path(f) / PTH_NAME for f in sorted(folders) if (Path(f) / PTH_NAME).is_file()), None)


needs_installed_hook = pytest.mark.skipif(
    _installed_pth() is None,
    reason=f"{PTH_NAME} is not installed in this environment: reinstall chemnoether with `make env` "
    "(or `pip install -e .`)",
)


def _hook_on_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != hook.DISABLE_ENV}


def _run_python(code: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """A fresh interpreter of this environment, outside the checkout (so it sees what is installed)."""
    return subprocess.run(
        [sys.executable, *args, "-c", code], cwd=cwd, env=_hook_on_env(), capture_output=True, text=True, timeout=300
    )


# ---- the finder, with fakes (no DGL import) ----


@pytest.fixture
def dgl_not_yet_imported(monkeypatch):
    """As before the first ``import dgl``, hook not turned off; the modules of this process come back afterwards."""
    monkeypatch.delenv(hook.DISABLE_ENV, raising=False)
    originals = {name: sys.modules.get(name) for name in ("dgl", "dgl.graphbolt")}
    for name in originals:
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield
    for name, module in originals.items():
        if module is None:
            sys.modules.pop(name, None)


def test_finder_prepares_only_the_first_top_level_dgl_import_and_leaves(dgl_not_yet_imported):
    calls = []
    meta_path = [object()]
    finder = hook.install(meta_path, prepare=lambda: calls.append(1))
    assert meta_path[0] is finder
    assert finder.find_spec("numpy") is None
    assert finder.find_spec("dgl.nn") is None
    assert calls == [] and finder in meta_path
    assert finder.find_spec("dgl") is None  # never loads DGL itself
    assert calls == [1] and finder not in meta_path
    assert finder.find_spec("dgl") is None
    assert calls == [1]


def test_finder_leaves_the_meta_path_before_preparing(dgl_not_yet_imported):
    # the fix looks DGL up through the meta path; the finder must not see that look-up
    meta_path = []
    seen = []
    finder = hook.install(meta_path, prepare=lambda: seen.append(list(meta_path)))
    finder.find_spec("dgl")
    assert seen == [[]]


def test_install_is_idempotent_and_can_be_turned_off(monkeypatch, dgl_not_yet_imported):
    meta_path = []
    assert hook.install(meta_path, prepare=lambda: None) is not None
    assert hook.install(meta_path, prepare=lambda: None) is None
    assert len(meta_path) == 1
    monkeypatch.setenv(hook.DISABLE_ENV, "0")
    other = []
    assert hook.install(other, prepare=lambda: None) is None
    assert other == []


def test_install_does_nothing_once_dgl_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "dgl", object())
    meta_path = []
    assert hook.install(meta_path, prepare=lambda: None) is None
    assert meta_path == []


def test_install_never_raises(dgl_not_yet_imported):
    class Broken(list):
        def insert(self, index, item):
            raise RuntimeError("broken meta path")

    assert hook.install(Broken(), prepare=lambda: None) is None


def test_a_failing_fix_does_not_break_the_import(caplog, dgl_not_yet_imported):
    def missing():
        raise ImportError("No module named 'chemnoether'")

    def broken():
        raise RuntimeError("unexpected")

    assert hook.install([], prepare=missing).find_spec("dgl") is None
    with caplog.at_level("WARNING", logger="chemnoether"):
        assert hook.install([], prepare=broken).find_spec("dgl") is None
    assert "`import chemnoether` before dgl" in caplog.text


@pytest.mark.parametrize(
    ("case", "expected"), [("dgl absent", False), ("library present", False), ("library missing", True)]
)
def test_the_hook_runs_the_one_fix_which_acts_only_when_the_library_is_missing(
    case, expected, tmp_path, monkeypatch, dgl_not_yet_imported
):
    library = tmp_path / "libgraphbolt_pytorch_0.0.0.so"
    if case == "library present":
        library.write_bytes(b"")
    monkeypatch.setattr(_dgl_compat, "_graphbolt_library_path", lambda: None if case == "dgl absent" else str(library))
    monkeypatch.setattr(sys, "platform", "linux")
    hook.install([]).find_spec("dgl")  # the default prepare: chemnoether._dgl_compat
    registered = sys.modules.get("dgl.graphbolt")
    assert (registered is not None and getattr(registered, _dgl_compat.PLACEHOLDER_ATTR, False)) == expected


# ---- the installed hook, in fresh interpreters ----


@needs_installed_hook
def test_installed_and_recorded_for_uninstall():
    recorded = {Path(f.name) for f in importlib.metadata.files("chemnoether") or []}
    assert Path(PTH_NAME) in recorded  # pip uninstall removes what RECORD lists
    assert _installed_pth().read_text() == (REPO / PTH_NAME).read_text()


@needs_installed_hook
def test_start_up_installs_the_finder_and_loads_nothing_heavy(tmp_path):
    code = (
        "import sys, chemnoether_dgl_hook as h\n"
        "print(any(isinstance(f, h.DglFirstImportFinder) for f in sys.meta_path))\n"
        "print(sorted({'torch', 'dgl', 'chemnoether'} & set(sys.modules)))"
    )
    result = _run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["True", "[]"]


@needs_installed_hook
@pytest.mark.parametrize(
    "first", ["import dgl", "import torch, dgl", "import dgl\nimport chemnoether"], ids=["dgl", "torch-dgl", "dgl-chemnoether"]
)
def test_dgl_first_in_a_fresh_interpreter(first, tmp_path):
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "print('chemnoether' in sys.modules)\n"
        f"{first}\n"
        "import torch\n"
        "from dgl.dataloading import GraphDataLoader\n"
        "g = dgl.graph((torch.tensor([0, 1]), torch.tensor([1, 2])))\n"
        "print(dgl.batch([g, g]).num_edges())"
    )
    result = _run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "4"]
    # the fix ran once (not again when chemnoether is imported afterwards)
    expected = 1 if _dgl_compat.graphbolt_needs_placeholder() else 0
    assert result.stderr.count("registered an empty dgl.graphbolt") == expected


@needs_installed_hook
def test_dgl_then_chemnoether_featurizes(tmp_path):
    code = (
        "import dgl\nimport chemnoether\nfrom chemnoether.featurize import smiles_to_graph\n"
        "print(smiles_to_graph('c1ccccc1O').num_nodes('atom'))"
    )
    result = _run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7"]


WORKER_SCRIPT = """
import sys


def dgl_first(_):
    loaded_before = "chemnoether" in sys.modules
    import dgl

    return loaded_before, dgl.graph(([0, 1], [1, 2])).num_edges()


if __name__ == "__main__":
    {main}
"""


@pytest.mark.slow
@needs_installed_hook
@pytest.mark.parametrize(
    "main",
    [
        "import multiprocessing\n    with multiprocessing.get_context('spawn').Pool(1) as pool:\n"
        "        print(pool.map(dgl_first, [0]))",
        "import joblib\n    print(joblib.Parallel(n_jobs=2, backend='loky')(joblib.delayed(dgl_first)(i) for i in range(2)))",
    ],
    ids=["spawn", "loky"],
)
def test_dgl_first_in_spawned_workers(main, tmp_path):
    script = tmp_path / "workers.py"
    script.write_text(textwrap.dedent(WORKER_SCRIPT).format(main=main))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_hook_on_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # every task imported dgl in a worker with no chemnoether loaded, and got a working DGL (the
    # negative control, DGL failing with the hook off: test_dgl_compat.py)
    results = ast.literal_eval(result.stdout.strip())
    assert len(results) >= 1 and all(r == (False, 2) for r in results)


def test_a_stale_pth_without_its_module_starts_python_silently(tmp_path):
    # chemnoether removed (or its editable checkout deleted) but the .pth left behind
    (tmp_path / PTH_NAME).write_text((REPO / PTH_NAME).read_text())
    code = (
        "import sys, site\n"
        "class NoHook:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'chemnoether_dgl_hook':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, NoHook())\n"
        f"site.addsitedir({str(tmp_path)!r})\n"
        "print('started')"
    )
    result = _run_python(code, tmp_path, "-S")
    assert result.returncode == 0
    assert (result.stdout.strip(), result.stderr) == ("started", "")


def test_pth_line_runs_install_when_the_module_is_there(tmp_path):
    # the other branch of the same line, without relying on what is installed
    (tmp_path / PTH_NAME).write_text((REPO / PTH_NAME).read_text())
    code = (
        "import sys, site\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        f"site.addsitedir({str(tmp_path)!r})\n"
        "import chemnoether_dgl_hook as h\n"
        "print(sum(isinstance(f, h.DglFirstImportFinder) for f in sys.meta_path))"
    )
    result = _run_python(code, tmp_path, "-S")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def _setup_module():
    spec = importlib.util.spec_from_file_location("chemnoether_setup", REPO / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # setup() itself only runs as __main__
    return module


def test_file_added_to_a_wheel_is_in_its_record(tmp_path):
    import base64  # noqa: PLC0415
    import hashlib  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg.py", "x = 1\n")
        archive.writestr("pkg-1.0.dist-info/RECORD", "pkg.py,sha256=abc,6\npkg-1.0.dist-info/RECORD,,\n")
    data = b"import sys\n"
    setup_module = _setup_module()
    setup_module.add_file_to_wheel(wheel, "extra.pth", data)
    setup_module.add_file_to_wheel(wheel, "extra.pth", data)  # a second call adds nothing
    with zipfile.ZipFile(wheel) as archive:
        assert archive.namelist().count("extra.pth") == 1
        assert archive.read("extra.pth") == data
        record = archive.read("pkg-1.0.dist-info/RECORD").decode().splitlines()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert record == ["pkg.py,sha256=abc,6", "pkg-1.0.dist-info/RECORD,,", f"extra.pth,sha256={digest},{len(data)}"]
