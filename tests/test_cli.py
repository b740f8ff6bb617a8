"""`chemnoether featurize` from the shell: every input row in the status table, in order."""

import subprocess
import sys

import pandas as pd

from chemnoether.cli import main
from chemnoether.featurize.io import load_graphs, status_path


def _write_csv(path, smiles):
    pd.DataFrame({"id": range(len(smiles)), "mol": smiles}).to_csv(path, index=False)


def test_featurize_writes_graphs_and_status(tmp_path, capsys):
    source = tmp_path / "in.csv"
    _write_csv(source, ["CCO", "C1CC", "", "c1ccccc1"])
    out = tmp_path / "graphs.bin"
    code = main(["featurize", str(source), "--smiles-column", "mol", "-o", str(out), "-q"])
    assert code == 0
    status = pd.read_csv(status_path(out), keep_default_na=False)
    assert status["row"].tolist() == [0, 1, 2, 3]
    assert status["ok"].tolist() == [True, False, False, True]
    assert "C1CC" in status.loc[1, "error"]
    printed = capsys.readouterr().out
    assert "featurised 2 of 4 rows" in printed
    assert load_graphs(out).batched().batch_size == 2


def test_strict_mode_fails_on_any_bad_row(tmp_path):
    source = tmp_path / "in.csv"
    _write_csv(source, ["CCO", "C1CC"])
    assert main(["featurize", str(source), "--smiles-column", "mol", "-o", str(tmp_path / "g.bin"), "-q", "--strict"]) == 1


def test_smi_input_and_options(tmp_path):
    source = tmp_path / "in.smi"
    source.write_text("CCO ethanol\nc1ccccc1 benzene\n")
    out = tmp_path / "g.bin"
    code = main(["featurize", str(source), "-o", str(out), "-q", "--positions", "embed", "--subgraphs", "none", "--no-rings"])
    assert code == 0
    graph = load_graphs(out).batched()
    assert graph.nodes["atom"].data["pos"].shape == (9, 3)
    assert graph.num_nodes("ring") == 0 and graph.num_nodes("subgraph") == 0


def test_missing_column_is_a_clear_error(tmp_path, capsys):
    source = tmp_path / "in.csv"
    _write_csv(source, ["CCO"])
    assert main(["featurize", str(source), "--smiles-column", "smiles", "-o", str(tmp_path / "g.bin")]) == 2
    err = capsys.readouterr().err
    assert "no column 'smiles'" in err and "--smiles-column" in err


def test_console_script_runs_in_a_fresh_process(tmp_path):
    source = tmp_path / "in.csv"
    _write_csv(source, ["CCO", "CC(=O)O"])
    result = subprocess.run(
        [sys.executable, "-m", "chemnoether.cli", "featurize", str(source), "--smiles-column", "mol", "-o", str(tmp_path / "g.bin")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "featurised 2 of 2 rows" in result.stdout
