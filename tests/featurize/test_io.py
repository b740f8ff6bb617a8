"""save_graphs / load_graphs: graphs and status round-trip, atomically, and mismatches are caught."""

import dgl
import pandas as pd
import pytest

from chemnoether import keys
from chemnoether.errors import GraphFormatError
from chemnoether.featurize import featurize_smiles
from chemnoether.featurize.io import load_graphs, save_graphs, status_path
from chemnoether.testing import assert_graphs_equal

MIXED = ["CCO", "not a smiles", "c1ccc2ccccc2c1", None, "CC(=O)[O-].[Na+]", "C(C)(C)(C)(C)C"]


def test_round_trip_keeps_every_row_and_graph(tmp_path):
    result = featurize_smiles(MIXED)
    path = save_graphs(tmp_path / "out" / "graphs.bin", result)
    loaded = load_graphs(path)

    pd.testing.assert_frame_equal(
        loaded.status[["row", "input", "ok"]], result.status[["row", "input", "ok"]], check_dtype=False
    )
    assert loaded.status["error"].isna().tolist() == result.status["error"].isna().tolist()
    assert loaded.status.loc[1, "error"] == result.status.loc[1, "error"]
    for before, after in zip(result.graphs, loaded.graphs, strict=True):
        assert (before is None) == (after is None)
        if before is not None:
            assert_graphs_equal(before, after)
    batched = loaded.batched()
    assert batched.batch_size == 3
    assert batched.batch_num_nodes(keys.RING).tolist() == [0, 2, 0]


def test_plain_dgl_reads_the_graph_file(tmp_path):
    result = featurize_smiles(["CCO", "c1ccccc1"])
    path = save_graphs(tmp_path / "g.bin", result)
    graphs, labels = dgl.load_graphs(str(path))
    assert len(graphs) == 1
    assert labels["num_nodes:atom"].tolist() == [3, 6]


def test_all_rows_failed_still_writes_status(tmp_path):
    result = featurize_smiles(["", "C1CC"])
    path = save_graphs(tmp_path / "g.bin", result)
    loaded = load_graphs(path)
    assert loaded.batch is None and loaded.num_failed == 2
    assert loaded.graphs == [None, None]


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    result = featurize_smiles(["CCO"])

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(dgl, "save_graphs", broken)
    with pytest.raises(OSError, match="disk full"):
        save_graphs(tmp_path / "g.bin", result)
    assert list(tmp_path.iterdir()) == []


def test_mismatched_files_are_refused(tmp_path):
    two = save_graphs(tmp_path / "two.bin", featurize_smiles(["CCO", "CC"]))
    three = save_graphs(tmp_path / "three.bin", featurize_smiles(["CCO", "CC", "CCC"]))
    status_path(two).write_text(status_path(three).read_text())
    with pytest.raises(GraphFormatError, match="do not belong together"):
        load_graphs(two)


def test_missing_status_file_is_named(tmp_path):
    path = save_graphs(tmp_path / "g.bin", featurize_smiles(["CCO"]))
    status_path(path).unlink()
    with pytest.raises(FileNotFoundError, match="status.csv"):
        load_graphs(path)
