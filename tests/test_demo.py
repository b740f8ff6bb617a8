"""`make demo` runs end to end on the shipped molecules and reports every failure with a reason."""

import pandas as pd
import pytest

from chemnoether.demo import demo_molecules, main


@pytest.mark.slow  # the whole demo, MD17 quick preset included: about 60 s
def test_demo_runs_and_writes_its_tables(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    summary = pd.read_csv(tmp_path / "summary.csv")
    table = demo_molecules()
    assert len(summary) == len(table)
    # the rows the demo set marks as bad input are exactly the rows that failed
    expected_bad = table["note"].str.startswith("bad input").tolist()
    assert (~summary["ok"]).tolist() == expected_bad
    assert summary.loc[summary["name"] == "cubane", "rings"].item() == 6
    assert "every atom has [12] neighbours" in printed
    assert (tmp_path / "graphs.bin").exists() and (tmp_path / "graphs.bin.status.csv").exists()
    # the MD part: a real trajectory with its energy report, and windows split in time
    assert (tmp_path / "md" / "manifest.json").exists() and (tmp_path / "md" / "energy_report.json").exists()
    assert "total energy drift" in printed and "split in time without overlap" in printed
    # the MD17 quick preset ran end to end: both models trained and evaluated, a table written
    table = pd.read_csv(tmp_path / "md17" / "aspirin-quick" / "table.csv")
    assert table["model"].tolist() == ["equivariant (ours)", "egnn", "constant velocity"]
    assert (tmp_path / "md17" / "aspirin-quick" / "equivariant" / "eval" / "metrics.json").exists()
