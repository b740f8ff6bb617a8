"""Rows that could crash RDKit's native code are refused up front; the batch and its output survive.

Issue 15, point 2: RDKit's SMILES writer segfaulted (rc 139, nothing written) on a 20,000-carbon
chain, so one such row lost the whole batch. The test runs the CLI in a fresh process, because a
segfault would otherwise take pytest down with it.
"""

import subprocess
import sys

import pandas as pd
import pytest

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.reactions import parse_reaction
from chemnoether.reactions.parse import MAX_MOLECULE_ATOMS, ReactionSizeError


def test_huge_molecule_is_a_row_error_and_the_rest_is_written(tmp_path):
    chain = "C" * 20000  # the repro of issue 15
    source, target = tmp_path / "h.csv", tmp_path / "o.csv"
    source.write_text("reaction\nCCO>>CC=O\n" + chain + ">>" + chain[:-1] + "O\nCC=O>>CCO\n")
    result = subprocess.run(
        [sys.executable, "-m", "chemnoether.cli", "score-reactions", str(source), "-o", str(target), "-q"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = pd.read_csv(target, keep_default_na=False)
    assert out["ok"].tolist() == [True, False, True]
    assert out["reaction"].iloc[1] == chain + ">>" + chain[:-1] + "O"  # the input cell repeated as read
    assert out["error_type"].iloc[1] == "ReactionSizeError"
    message = out["error"].iloc[1]
    assert "20000 atoms" in message and f"limit of {MAX_MOLECULE_ATOMS}" in message
    assert len(message) < 1000  # the 40,000-character input is not pasted into the message
    assert "ReactionSizeError 1" in result.stdout


def test_limit_counts_atoms_per_molecule():
    at_limit = "C" * MAX_MOLECULE_ATOMS
    parse_reaction(f"{at_limit}>>{at_limit[:-1]}O")  # exactly at the limit: accepted
    with pytest.raises(ReactionSizeError, match=r"product 2: 1001 atoms"):
        parse_reaction(f"CC>>CC.{at_limit}C")
