"""The light core and the model stack import without the data layer's heavy libraries."""

import subprocess
import sys

import pytest

HEAVY = ("dgl", "rdkit", "ase", "pandas", "scipy", "matplotlib")


def _loaded_after(module: str) -> set[str]:
    code = (
        f"import sys, {module}\n"
        f"print(' '.join(name for name in {HEAVY!r} if name in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "module", ["chemnoether.core", "chemnoether.nn", "chemnoether.models", "chemnoether.noether", "chemnoether.gp"]
)
def test_imports_without_heavy_libraries(module):
    assert _loaded_after(module) == set()


def test_the_data_layer_does_load_them():
    # the negative control: the check above can see a heavy import when there is one
    assert {"dgl", "rdkit", "ase"} <= _loaded_after("chemnoether.data")


def test_graph_tensors_from_a_dgl_graph_still_works():
    from chemnoether import keys
    from chemnoether.core import GraphTensors
    from chemnoether.featurize import smiles_to_graph

    batch = GraphTensors.from_graph([smiles_to_graph("CCO"), smiles_to_graph("c1ccccc1")])
    assert batch.num_graphs == 2
    assert batch.num_atoms.tolist() == [3, 6]
    assert batch.atom[keys.NODE_ATTRS].shape[0] == 9
