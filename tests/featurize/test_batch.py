"""Batch featurization: a status for every row, graphs equal to the single-item functions, options once."""

import re

import dgl
import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.errors import ChemNoetherError, ConfigError
from chemnoether.featurize import (
    DEFAULT_ATOM_FEATURIZER,
    Feature,
    Featurizer,
    featurize_dataframe,
    featurize_mols,
    featurize_smiles,
    mol_to_graph,
    smiles_to_graph,
)
from chemnoether.testing import assert_graphs_equal as check

# (input, error type or None if it featurises)
ROWS = [
    ("CCO", None),
    (None, "InvalidMoleculeError"),
    ("c1ccccc1O", None),
    ("", "InvalidMoleculeError"),
    ("C1CC", "InvalidMoleculeError"),
    ("c1cccc1", "InvalidMoleculeError"),
    ("[Th]", "UnsupportedElementError"),
    ("CC(=O)[O-].[Na+]", None),
    ("C12C3C4C1C5C2C3C45", None),
]
INPUTS = [s for s, _ in ROWS]
OK = [e is None for _, e in ROWS]


def assert_graphs_equal(a, b):
    check(a, b, batched=True)


def assert_results_equal(a, b):
    pd.testing.assert_frame_equal(a.status, b.status)
    assert_graphs_equal(a.batched(), b.batched())


def test_every_row_gets_a_status_in_order():
    result = featurize_smiles(INPUTS)
    status = result.status
    assert list(status.columns) == ["row", "input", "ok", "error_type", "error"]
    assert status["row"].tolist() == list(range(len(ROWS)))
    assert status["input"].tolist() == [s if isinstance(s, str) else repr(s) for s in INPUTS]
    assert status["ok"].tolist() == OK and result.ok.tolist() == OK
    assert result.num_failed == OK.count(False)
    for row, ((smiles, error_type), got_type, error) in enumerate(zip(ROWS, status["error_type"], status["error"])):
        if error_type is None:
            assert pd.isna(got_type) and pd.isna(error)
        else:
            assert got_type == error_type
            assert error.startswith(f"row {row}: ") and repr(smiles) in error
    assert result.failures()["row"].tolist() == [i for i, ok in enumerate(OK) if not ok]
    assert "parse" in status["error"][4] and "sanitis" in status["error"][5]


@pytest.mark.parametrize("options", [{}, {"explicit_hydrogens": True, "subgraphs": ("brics",)}], ids=["default", "h"])
def test_graphs_are_the_single_item_graphs(options):
    result = featurize_smiles(INPUTS, **options)
    assert len(result.graphs) == len(ROWS)
    expected = []
    for (smiles, error_type), graph in zip(ROWS, result.graphs):
        if error_type is not None:
            assert graph is None
        else:
            expected.append(smiles_to_graph(smiles, **options))
            assert_graphs_equal(graph, expected[-1])
    assert_graphs_equal(result.batched(), dgl.batch(expected))


def test_chunking_does_not_change_the_result():
    whole = featurize_smiles(INPUTS)
    assert_results_equal(featurize_smiles(INPUTS, chunk_size=2), whole)
    assert_results_equal(featurize_smiles(INPUTS, chunk_size=1), whole)


@pytest.mark.slow  # worker processes: 15 s on a shared 2-core machine
def test_processes_give_the_same_result():
    inputs = ["CCO", None, "c1ccccc1O", "C1CC", "CC(=O)N"]
    assert_results_equal(featurize_smiles(inputs, n_jobs=2, chunk_size=2), featurize_smiles(inputs))


def test_3d_options_reach_every_row():
    smiles = ["CCO", "CC(=O)O"]
    options = {"positions": "embed", "seed": 3, "cutoff": 3.0, "dtype": torch.float64}
    result = featurize_smiles(smiles, **options)
    for s, graph in zip(smiles, result.graphs):
        assert_graphs_equal(graph, smiles_to_graph(s, **options))
    assert result.batched().nodes[keys.ATOM].data[keys.POS].dtype == torch.float64


def test_a_failure_inside_the_shared_pass_fails_only_its_row():
    # a feature that breaks on chlorine: the chunk's joint featurisation fails, and the rows are
    # then retried one by one so that only the chlorinated molecule is reported
    def no_chlorine(atom):
        if atom.GetAtomicNum() == 17:
            raise ValueError("chlorine is not allowed here")
        return atom.GetAtomicNum()

    featurizer = Featurizer([Feature("z", no_chlorine)])
    smiles = ["CCO", "CCCl", "c1ccccc1"]
    result = featurize_smiles(smiles, atom_featurizer=featurizer)
    assert result.ok.tolist() == [True, False, True]
    assert result.status["error_type"][1] == "ValueError"
    assert re.search(r"row 1: .*'CCCl'.*chlorine", result.status["error"][1])
    for s, graph in zip(smiles, result.graphs):
        if graph is not None:
            assert_graphs_equal(graph, smiles_to_graph(s, atom_featurizer=featurizer))


def test_mols_with_none_and_non_molecule_entries():
    mols = [Chem.MolFromSmiles("CCO"), None, "CCO", Chem.MolFromSmiles("c1ccccc1")]
    result = featurize_mols(mols)
    assert result.ok.tolist() == [True, False, False, True]
    assert result.status["input"].tolist()[:2] == ["CCO", "None"]
    assert result.status["error_type"][1] == "InvalidMoleculeError"
    assert result.status["error"][1].startswith("row 1: ") and "None" in result.status["error"][1]
    assert result.status["error"][2].startswith("row 2: ")
    assert result.graphs[1] is None and result.graphs[2] is None
    assert_graphs_equal(result.graphs[3], mol_to_graph(mols[3]))


def test_dataframe_keeps_its_index():
    df = pd.DataFrame({"smiles": ["CCO", np.nan, "C1CC", "c1ccccc1"], "y": [1, 2, 3, 4]}, index=[10, 20, 30, 40])
    result = featurize_dataframe(df, "smiles")
    assert result.status["index"].tolist() == [10, 20, 30, 40]
    assert result.ok.tolist() == [True, False, False, True]
    assert result.status["error"][2].startswith("row 2: ")
    assert_graphs_equal(result.graphs[3], smiles_to_graph("c1ccccc1"))
    # a column of molecules
    df["mol"] = [Chem.MolFromSmiles("CCO"), None, Chem.MolFromSmiles("CC"), Chem.MolFromSmiles("C")]
    mols = featurize_dataframe(df, "mol")
    assert mols.ok.tolist() == [True, False, True, True]
    assert mols.status["index"].tolist() == [10, 20, 30, 40]
    with pytest.raises(KeyError, match="smile"):
        featurize_dataframe(df, "smile")


def test_dataframe_string_column_with_missing_values():
    df = pd.DataFrame({"smiles": pd.Series(["CCO", None, "c1ccccc1"], dtype="string")})
    assert featurize_dataframe(df, "smiles").ok.tolist() == [True, False, True]


def test_a_bad_option_fails_once_not_per_row():
    for call in (
        lambda: featurize_smiles(["CCO", "CC"], positions="bogus"),
        lambda: featurize_mols([Chem.MolFromSmiles("CCO")], fragments="bogus"),
        lambda: featurize_dataframe(pd.DataFrame({"s": ["CCO"]}), "s", cutoff=2.0),
    ):
        with pytest.raises(ConfigError):
            call()


def test_a_bad_cutoff_fails_once_not_per_row():
    with pytest.raises(ConfigError):
        featurize_smiles(["CCO", "CC"], positions="embed", cutoff=-1.0)


def test_bad_n_jobs_is_a_config_error():
    with pytest.raises(ConfigError):
        featurize_smiles(["CCO"], n_jobs=0)


def test_a_single_string_is_refused():
    with pytest.raises((TypeError, ConfigError)):
        featurize_smiles("CCO")


def test_nothing_featurised():
    result = featurize_smiles([None, "C1CC"])
    assert result.graphs == [None, None]
    with pytest.raises(ChemNoetherError, match="no row featurised"):
        result.batched()
    empty = featurize_smiles([])
    assert len(empty.status) == 0 and empty.graphs == []


def test_graphs_of_a_result_do_not_share_memory():
    result = featurize_smiles(["CCO", "CCN"])
    before = result.batched().nodes[keys.ATOM].data[keys.NODE_ATTRS].clone()
    result.graphs[0].nodes[keys.ATOM].data[keys.NODE_ATTRS].zero_()
    result.batched().nodes[keys.ATOM].data[keys.NODE_ATTRS].add_(1.0)
    assert torch.equal(result.batched().nodes[keys.ATOM].data[keys.NODE_ATTRS], before)


def test_status_width_matches_featurizer():
    result = featurize_smiles(["CCO"])
    assert result.batched().nodes[keys.ATOM].data[keys.NODE_ATTRS].shape == (3, DEFAULT_ATOM_FEATURIZER.width)
